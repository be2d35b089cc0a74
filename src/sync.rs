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
//! | `IdleQueue` | `crossbeam_queue::ArrayQueue`     | slots claimed by CAS, published Release    |
//! | `SwapCell`  | `arc_swap::ArcSwap`               | a loom `Mutex<Arc<T>>`                     |
//!
//! crossbeam's `ArrayQueue` is invisible to loom: loom would not see the
//! happens-before edge its push/pop create, and would report false causality
//! violations on the connection handed through it. The loom stand-in has the
//! same signatures and publishes entries as `ArrayQueue` does, with
//! Release/Acquire slot states (see its docs for the alternatives tried).

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
    pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};

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

        /// Adds `n` under the same single-writer rule as `inc_owned`.
        #[inline]
        pub(crate) fn add_owned(&self, n: u64) {
            self.0
                .store(self.0.load(Ordering::Relaxed) + n, Ordering::Relaxed);
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
    use loom::sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    };
    use std::ops::Deref;

    /// The loom stand-in for `ArrayQueue`: same signatures, loom-visible,
    /// and no stronger than the real queue where the pool's protocol cares.
    ///
    /// Each slot has a state word — empty, being written, full, being read —
    /// claimed by a SeqCst CAS and published by a Release store, as
    /// `ArrayQueue` claims its tail by SeqCst CAS and publishes the slot's
    /// stamp with a Release store; a consumer finds a full slot with an
    /// Acquire load. So a push does not become visible to a pop that races
    /// it merely because both happened, which is what lets loom see a
    /// missing fence between a put's push and its waiter-count read. The
    /// value itself sits in a per-slot loom mutex, taken only by the thread
    /// that claimed the slot.
    ///
    /// Two simpler stand-ins were tried: concurrent-queue (its spin loops
    /// exhaust loom's branch budget on the 3-thread close model) and one
    /// FIFO behind a lock (the lock orders every push before every later
    /// pop, hiding the put's fence). Order is not FIFO here; the pool does
    /// not depend on it.
    pub(crate) struct IdleQueue<T> {
        slots: Vec<QueueSlot<T>>,
    }

    struct QueueSlot<T> {
        state: AtomicUsize,
        value: Mutex<Option<T>>,
    }

    const EMPTY: usize = 0;
    const WRITING: usize = 1;
    const FULL: usize = 2;
    const READING: usize = 3;

    impl<T> IdleQueue<T> {
        pub(crate) fn new(cap: usize) -> Self {
            IdleQueue {
                slots: (0..cap)
                    .map(|_| QueueSlot {
                        state: AtomicUsize::new(EMPTY),
                        value: Mutex::new(None),
                    })
                    .collect(),
            }
        }
        pub(crate) fn push(&self, value: T) -> Result<(), T> {
            for slot in &self.slots {
                if slot
                    .state
                    .compare_exchange(EMPTY, WRITING, Ordering::SeqCst, Ordering::Relaxed)
                    .is_ok()
                {
                    *slot.value.lock().unwrap() = Some(value);
                    slot.state.store(FULL, Ordering::Release);
                    return Ok(());
                }
            }
            Err(value)
        }
        pub(crate) fn pop(&self) -> Option<T> {
            for slot in &self.slots {
                if slot.state.load(Ordering::Acquire) == FULL
                    && slot
                        .state
                        .compare_exchange(FULL, READING, Ordering::SeqCst, Ordering::Relaxed)
                        .is_ok()
                {
                    let value = slot.value.lock().unwrap().take();
                    slot.state.store(EMPTY, Ordering::Release);
                    return value;
                }
            }
            None
        }
        pub(crate) fn len(&self) -> usize {
            self.slots
                .iter()
                .filter(|s| s.state.load(Ordering::Acquire) == FULL)
                .count()
        }
        pub(crate) fn is_empty(&self) -> bool {
            self.len() == 0
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
