//! The std/loom facade.
//!
//! Every atomic, `Arc`, `Mutex`, fence, the idle queue and the swap cell the
//! core uses are imported from here and nowhere else, so that building with
//! `RUSTFLAGS="--cfg loom"` (and the `loom` feature, which forwards
//! `event-listener/loom`) swaps the whole core onto loom's model-checked
//! primitives. The loom models in `loom-tests/` rely on this.
//!
//! | name        | std build                         | `cfg(loom)` build                          |
//! |-------------|-----------------------------------|--------------------------------------------|
//! | atomics     | `std::sync::atomic`               | `loom::sync::atomic`                       |
//! | `Arc`       | `std::sync::Arc`                  | `loom::sync::Arc`                          |
//! | `Mutex`     | `std::sync::Mutex`                | `loom::sync::Mutex`                        |
//! | `IdleQueue` | `crossbeam_queue::ArrayQueue`     | a bounded FIFO behind a loom `Mutex`       |
//! | `SwapCell`  | `arc_swap::ArcSwap`               | a loom `Mutex<Arc<T>>`                     |
//!
//! crossbeam's `ArrayQueue` is invisible to loom: loom would not see the
//! happens-before edge its push/pop create, and would report false causality
//! violations on the connection handed through it. The loom stand-in is a
//! lock-based bounded FIFO with the same signatures (see its docs for why
//! not `concurrent-queue`).

#[cfg(not(loom))]
pub(crate) use std::sync::{
    atomic::{fence, AtomicBool, AtomicU64, AtomicUsize, Ordering},
    Arc, Mutex, MutexGuard,
};

#[cfg(loom)]
pub(crate) use loom::sync::{
    atomic::{fence, AtomicBool, AtomicU64, AtomicUsize, Ordering},
    Arc, Mutex, MutexGuard,
};

pub(crate) use self::imp::{IdleQueue, SwapCell};

/// std's `Arc` in every build, for immutable objects shared for the pool's
/// whole life (the connector, as a trait object): loom's `Arc` cannot hold an
/// unsized value, and no protocol depends on these reference counts.
pub(crate) use std::sync::Arc as StdArc;

/// Atomics that no synchronization protocol depends on — statistics counters
/// and run-time settings — stay std atomics even under loom: they carry no
/// happens-before edge the models need, and modelling them would only
/// multiply the interleavings loom explores.
pub(crate) mod unmodeled {
    pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

    /// A statistics counter (`Relaxed` increments).
    #[derive(Debug, Default)]
    pub(crate) struct Counter(AtomicU64);

    impl Counter {
        /// Adds one, from any thread.
        #[inline]
        pub(crate) fn inc(&self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }

        /// Adds one where only the current owner of the counted object
        /// writes: a load and a store, no read-modify-write.
        #[inline]
        pub(crate) fn inc_owned(&self) {
            self.0
                .store(self.0.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        }

        /// Subtracts one, under the same single-writer rule as `inc_owned`.
        #[inline]
        pub(crate) fn dec_owned(&self) {
            self.0.store(
                self.0.load(Ordering::Relaxed).wrapping_sub(1),
                Ordering::Relaxed,
            );
        }

        /// The current value.
        #[inline]
        pub(crate) fn get(&self) -> u64 {
            self.0.load(Ordering::Relaxed)
        }
    }
}

/// Locks a mutex, ignoring poisoning: every critical section in the core
/// leaves its data consistent before anything in it can panic.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    #[cfg(not(loom))]
    {
        m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
    #[cfg(loom)]
    {
        m.lock().unwrap()
    }
}

#[cfg(not(loom))]
mod imp {
    use std::{ops::Deref, sync::Arc};

    /// The per-domain idle queue: a bounded MPMC array queue.
    pub(crate) type IdleQueue<T> = crossbeam_queue::ArrayQueue<T>;

    /// A cell holding an `Arc<T>` that readers load without a lock and
    /// writers replace atomically.
    pub(crate) struct SwapCell<T>(arc_swap::ArcSwap<T>);

    /// A short-lived read guard from [`SwapCell::load`].
    pub(crate) struct SwapGuard<T>(arc_swap::Guard<Arc<T>>);

    impl<T> Deref for SwapGuard<T> {
        type Target = T;
        #[inline]
        fn deref(&self) -> &T {
            &self.0
        }
    }

    impl<T> SwapCell<T> {
        pub(crate) fn new(value: T) -> Self {
            SwapCell(arc_swap::ArcSwap::from_pointee(value))
        }

        /// Lock-free, allocation-free read. Hold the guard briefly.
        #[inline]
        pub(crate) fn load(&self) -> SwapGuard<T> {
            SwapGuard(self.0.load())
        }

        pub(crate) fn load_full(&self) -> Arc<T> {
            self.0.load_full()
        }

        pub(crate) fn store(&self, value: Arc<T>) {
            self.0.store(value)
        }

        /// Read-copy-update: `f` may run more than once under contention.
        pub(crate) fn rcu(&self, mut f: impl FnMut(&T) -> T) {
            self.0.rcu(|cur| f(cur));
        }
    }
}

#[cfg(loom)]
mod imp {
    use loom::sync::{Arc, Mutex};
    use std::ops::Deref;

    /// The loom stand-in for `ArrayQueue`: same signatures, loom-visible.
    ///
    /// A bounded FIFO behind a loom mutex. concurrent-queue (which compiles
    /// against loom) was tried first: its lock-bit and stamp spin loops make
    /// loom report "exceeded maximum number of branches" on the 3-thread
    /// close model, whatever the pool does. The models check the pool's
    /// protocol, for which the queue only needs to be a linearizable bounded
    /// FIFO whose push happens-before the pop that takes the element — which
    /// a lock gives, visibly to loom, with no spinning.
    pub(crate) struct IdleQueue<T> {
        cap: usize,
        items: Mutex<std::collections::VecDeque<T>>,
    }

    impl<T> IdleQueue<T> {
        pub(crate) fn new(cap: usize) -> Self {
            IdleQueue {
                cap,
                items: Mutex::new(std::collections::VecDeque::with_capacity(cap)),
            }
        }
        pub(crate) fn push(&self, value: T) -> Result<(), T> {
            let mut q = self.items.lock().unwrap();
            if q.len() >= self.cap {
                return Err(value);
            }
            q.push_back(value);
            Ok(())
        }
        pub(crate) fn pop(&self) -> Option<T> {
            self.items.lock().unwrap().pop_front()
        }
        pub(crate) fn len(&self) -> usize {
            self.items.lock().unwrap().len()
        }
    }

    /// The loom stand-in for `ArcSwap`: a loom lock around an `Arc`.
    pub(crate) struct SwapCell<T>(Mutex<Arc<T>>);

    /// A read guard: under loom simply a clone of the `Arc`.
    pub(crate) struct SwapGuard<T>(Arc<T>);

    impl<T> Deref for SwapGuard<T> {
        type Target = T;
        fn deref(&self) -> &T {
            &self.0
        }
    }

    impl<T> SwapCell<T> {
        pub(crate) fn new(value: T) -> Self {
            SwapCell(Mutex::new(Arc::new(value)))
        }
        pub(crate) fn load(&self) -> SwapGuard<T> {
            SwapGuard(self.0.lock().unwrap().clone())
        }
        pub(crate) fn load_full(&self) -> Arc<T> {
            self.0.lock().unwrap().clone()
        }
        pub(crate) fn store(&self, value: Arc<T>) {
            *self.0.lock().unwrap() = value;
        }
        pub(crate) fn rcu(&self, mut f: impl FnMut(&T) -> T) {
            let mut cur = self.0.lock().unwrap();
            let new = Arc::new(f(&cur));
            *cur = new;
        }
    }
}
