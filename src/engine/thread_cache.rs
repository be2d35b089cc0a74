//! A per-thread cache of domain references: the get looks here before the
//! map, and the put parks its reference here.
//!
//! A guard needs an owned `Arc<Domain>` (see [`Domain::put`]): once the put
//! has pushed the connection, only the guard's reference keeps the domain
//! alive for the publish that follows. Cloning one on every lend and
//! dropping it on every return would be two locked read-modify-writes on a
//! counter that every thread using the domain shares, and finding the
//! domain in the map costs a hash, the shard's `ArcSwap` load (two more
//! locked operations, on the thread's debt slot) and a probe. So a put
//! parks its reference in this thread's cache, and the next get of that
//! domain on this thread takes it back out — moved, not counted, and
//! without touching the map.
//!
//! ## Layout and lookup
//!
//! Two places per thread, shared by every pool the thread uses (entries are
//! type-erased `Arc<dyn Any>`, downcast on a hit):
//!
//! - **the last put** — one reference, inline in the thread-local: a thread
//!   serving one domain never goes further, and no hashing is needed to
//!   check it (the key is compared in the domain's first cache line);
//! - **a direct-mapped table** behind it: when a put replaces the last put
//!   of another domain, that one moves to slot `hash & (len - 1)`, dropping
//!   whatever other domain was there (an eviction); while lookups find
//!   their domains in the table (a thread cycling through domains), puts
//!   go straight there. The table starts at 64
//!   slots and doubles, up to 4,096 (64 KiB), when more than one move in 32
//!   evicted another domain: a thread cycling through 100 domains settles
//!   at 2,048 slots and finds 95% of its gets there, one cycling through
//!   10,000 at the maximum, where it finds about a fifth (the unit tests
//!   below measure both).
//!
//! A get by key looks at the last put first while that keeps paying (the
//! previous lookup found its domain there), else at the table slot of the
//! key's hash first; an entry counts only if it is of the same pool
//! (pointer) and has the same key (compared as strings) — pointer identity
//! alone could take a domain of another pool reusing a freed address. A hit
//! takes the reference out (the place stays empty while the connection is
//! lent); a miss goes to the map with the hash already computed, and the
//! guard clones the map's reference. A [`DomainHandle`](crate::DomainHandle)
//! looks for its own domain by pointer.
//!
//! ## What it keeps alive
//!
//! Each entry keeps a domain and its pool's shared core (settings,
//! connector) alive — not its connections: closing or dropping a pool
//! drains every domain's idle queue, and a put to a closed domain does not
//! park. Up to 4,097 domains' memory stays with the thread until their
//! places are reused or the thread exits.
//!
//! Under loom the cache is off: every lend clones and every put drops, so
//! the models explore the protocol, not this thread's bookkeeping.

use super::{Domain, Shared};
use crate::sync::Arc;

/// Where a get by key found its domain's reference.
pub(crate) enum Lookup<T: Send + 'static> {
    /// In this thread's cache: the reference is the caller's now.
    Cached(Arc<Domain<T>>),
    /// Not cached: the key's hash and shard, for the map.
    Miss(u64, usize),
}

#[cfg(not(loom))]
mod imp {
    use super::*;
    use std::cell::{Cell, RefCell};

    const FIRST_LEN: usize = 64;
    const MAX_LEN: usize = 4 * 1024;

    /// A domain reference with its connection type erased: one cache
    /// serves every pool the thread uses.
    pub(super) type Parked = std::sync::Arc<dyn std::any::Any + Send + Sync>;

    /// The thread's last put, with its domain's hash (for the table, when
    /// the next put moves it there).
    type Last = Option<(u64, Parked)>;

    /// Takes `parked` as a domain of type `T` for which `is_it` holds, or
    /// hands it back.
    #[inline(always)]
    fn claim<T: Send + 'static>(
        parked: Parked,
        is_it: impl Fn(&Domain<T>) -> bool,
    ) -> Result<Arc<Domain<T>>, Parked> {
        match parked.downcast::<Domain<T>>() {
            Ok(d) if is_it(&d) => Ok(d),
            Ok(d) => Err(d),
            Err(other) => Err(other),
        }
    }

    /// The direct-mapped table behind the last put.
    pub(super) struct Table {
        slots: Vec<Option<Parked>>,
        /// Puts into an occupied slot, and evictions of another domain
        /// among them, since the last size check.
        puts: usize,
        evictions: usize,
    }

    impl Table {
        pub(super) const fn new() -> Self {
            Table {
                slots: Vec::new(),
                puts: 0,
                evictions: 0,
            }
        }

        #[inline]
        fn index(&self, hash: u64) -> usize {
            hash as usize & self.slots.len().wrapping_sub(1)
        }

        /// Takes the entry of `hash` if `is_it` holds for it.
        #[inline]
        fn take<T: Send + 'static>(
            &mut self,
            hash: u64,
            is_it: impl Fn(&Domain<T>) -> bool,
        ) -> Option<Arc<Domain<T>>> {
            let i = self.index(hash);
            let slot = self.slots.get_mut(i)?;
            match claim(slot.take()?, is_it) {
                Ok(d) => Some(d),
                Err(back) => {
                    *slot = Some(back);
                    None
                }
            }
        }

        /// The table's length (for tests).
        #[cfg(test)]
        pub(super) fn len(&self) -> usize {
            self.slots.len()
        }

        /// Takes the entry of `hash` if it is `parked` (for tests: the
        /// typed lookup without domains).
        #[cfg(test)]
        pub(super) fn take_parked(&mut self, hash: u64, parked: &Parked) -> Option<Parked> {
            let i = self.index(hash);
            let slot = self.slots.get_mut(i)?;
            slot.take_if(|p| std::sync::Arc::ptr_eq(p, parked))
        }

        /// Stores `parked`; returns the reference it replaced, for the
        /// caller to drop outside the thread-local borrow.
        pub(super) fn put(&mut self, hash: u64, parked: Parked) -> Option<Parked> {
            if self.slots.is_empty() {
                self.slots = (0..FIRST_LEN).map(|_| None).collect();
            }
            let i = self.index(hash);
            let ptr = std::sync::Arc::as_ptr(&parked).cast::<()>();
            let old = self.slots[i].replace(parked)?;
            if std::sync::Arc::as_ptr(&old).cast::<()>() != ptr {
                self.evictions += 1;
            }
            self.puts += 1;
            let len = self.slots.len();
            if self.puts >= len {
                let grow = self.evictions * 32 > len && len < MAX_LEN;
                self.puts = 0;
                self.evictions = 0;
                if grow {
                    self.grow();
                }
            }
            Some(old)
        }

        /// Doubles the table. Its entries are dropped (the table does not
        /// record their hashes): a thread grows its table a handful of
        /// times, and the next puts refill it. They are dropped inside the
        /// borrow; a destructor that re-enters the pool finds the table
        /// borrowed and goes without it.
        fn grow(&mut self) {
            let len = self.slots.len() * 2;
            drop(std::mem::replace(
                &mut self.slots,
                (0..len).map(|_| None).collect(),
            ));
        }
    }

    /// One thread's cache.
    pub(super) struct Cache {
        last: Cell<Last>,
        /// Whether a lookup tries `last` before the table: set when the
        /// last lookup found its domain there (one domain per thread),
        /// cleared when the table had it (a thread cycling through
        /// domains would only pay for the look).
        last_first: Cell<bool>,
        table: RefCell<Table>,
    }

    thread_local! {
        static CACHE: Cache = const {
            Cache {
                last: Cell::new(None),
                last_first: Cell::new(true),
                table: RefCell::new(Table::new()),
            }
        };
    }

    impl Cache {
        /// Takes the last put's reference if `is_it` holds for it.
        #[inline]
        fn take_last<T: Send + 'static>(
            &self,
            is_it: impl Fn(&Domain<T>) -> bool,
        ) -> Option<Arc<Domain<T>>> {
            let (hash, parked) = self.last.take()?;
            match claim(parked, is_it) {
                Ok(d) => Some(d),
                Err(back) => {
                    self.last.set(Some((hash, back)));
                    None
                }
            }
        }

        /// Looks in `last` and the table (in the order `last_first` says)
        /// for the domain `is_it` picks, whose hash `hash` gives (computed
        /// only once `last` missed).
        #[inline]
        fn find<T: Send + 'static>(
            &self,
            hash: impl FnOnce() -> u64,
            is_it: impl Fn(&Domain<T>) -> bool + Copy,
        ) -> Result<Arc<Domain<T>>, u64> {
            let first = self.last_first.get();
            if first {
                if let Some(d) = self.take_last(is_it) {
                    return Ok(d);
                }
            }
            let hash = hash();
            let in_table = match self.table.try_borrow_mut() {
                Ok(mut t) => t.take(hash, is_it),
                Err(_) => None,
            };
            if let Some(d) = in_table {
                self.last_first.set(false);
                return Ok(d);
            }
            if !first {
                if let Some(d) = self.take_last(is_it) {
                    self.last_first.set(true);
                    return Ok(d);
                }
            }
            Err(hash)
        }

        /// Parks `parked` as the last put, moving the previous one to the
        /// table — or, while lookups find their domains in the table (a
        /// thread cycling through domains), straight in the table; returns
        /// what must be dropped outside the borrows.
        #[inline]
        fn put(&self, hash: u64, parked: Parked) -> Option<Parked> {
            if !self.last_first.get() {
                return match self.table.try_borrow_mut() {
                    Ok(mut t) => t.put(hash, parked),
                    Err(_) => Some(parked),
                };
            }
            let ptr = std::sync::Arc::as_ptr(&parked).cast::<()>();
            let (prev_hash, prev) = self.last.replace(Some((hash, parked)))?;
            if std::sync::Arc::as_ptr(&prev).cast::<()>() == ptr {
                // The same domain twice (two of its connections were lent
                // on this thread): one reference is enough.
                return Some(prev);
            }
            match self.table.try_borrow_mut() {
                Ok(mut t) => t.put(prev_hash, prev),
                Err(_) => Some(prev),
            }
        }
    }

    /// A get by key.
    #[inline]
    pub(super) fn take_key<T: Send + 'static>(
        shared: &Arc<Shared<T>>,
        key: &str,
    ) -> Option<Lookup<T>> {
        let is_it = |d: &Domain<T>| Arc::ptr_eq(&d.pool, shared) && d.key_is(key);
        let mut shard = 0;
        let hash = || {
            let (h, s) = shared.locate(key);
            shard = s;
            h
        };
        let found = CACHE.try_with(|c| c.find(hash, is_it)).ok()?;
        Some(match found {
            Ok(d) => Lookup::Cached(d),
            Err(hash) => Lookup::Miss(hash, shard),
        })
    }

    /// A get through a handle.
    #[inline]
    pub(super) fn take<T: Send + 'static>(domain: &Arc<Domain<T>>) -> Option<Arc<Domain<T>>> {
        let is_it = |d: &Domain<T>| std::ptr::eq(d, &**domain);
        CACHE
            .try_with(|c| c.find(|| domain.hash, is_it).ok())
            .ok()
            .flatten()
    }

    /// A put; returns what must be dropped by the caller.
    #[inline]
    pub(super) fn put(hash: u64, parked: Parked) -> Option<Parked> {
        let mut parked = Some(parked);
        match CACHE.try_with(|c| parked.take().and_then(|p| c.put(hash, p))) {
            Ok(dropped) => dropped,
            Err(_) => parked,
        }
    }
}

/// Looks for `key` of the pool `shared` in this thread's cache; on a miss,
/// its hash and shard for the map.
#[inline]
pub(crate) fn take_key<T: Send + 'static>(shared: &Arc<Shared<T>>, key: &str) -> Lookup<T> {
    #[cfg(not(loom))]
    if let Some(found) = imp::take_key(shared, key) {
        return found;
    }
    let (hash, shard) = shared.locate(key);
    Lookup::Miss(hash, shard)
}

/// A reference to `domain` for a guard: this thread's cached one if it has
/// one, else a clone.
#[inline]
pub(crate) fn take<T: Send + 'static>(domain: &Arc<Domain<T>>) -> Arc<Domain<T>> {
    #[cfg(not(loom))]
    if let Some(d) = imp::take(domain) {
        return d;
    }
    domain.clone()
}

/// Parks a put's reference for the next lend on this thread (the put does
/// not call this for a closed domain).
#[inline]
pub(crate) fn put<T: Send + 'static>(domain: Arc<Domain<T>>) {
    #[cfg(not(loom))]
    {
        let hash = domain.hash;
        // Whatever is replaced is dropped here, outside the thread-local
        // borrows: its destructor may run arbitrary code.
        let _dropped = imp::put(hash, domain);
    }
    #[cfg(loom)]
    drop(domain);
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::imp::{Parked, Table};

    /// The table's size after `rounds` of moving `n` domains (random
    /// hashes) through it, each round in a new shuffled order, and its hit
    /// rate in the last round.
    fn settle(n: usize, rounds: usize) -> (usize, f64) {
        let mut rng = fastrand::Rng::with_seed(n as u64);
        let entries: Vec<(u64, Parked)> = (0..n)
            .map(|i| (rng.u64(..), std::sync::Arc::new(i) as Parked))
            .collect();
        let mut order: Vec<usize> = (0..n).collect();
        let mut t = Table::new();
        let mut hits = 0;
        for round in 0..rounds {
            rng.shuffle(&mut order);
            for &i in &order {
                let (hash, parked) = &entries[i];
                let here = t.take_parked(*hash, parked).is_some();
                if round == rounds - 1 && here {
                    hits += 1;
                }
                drop(t.put(*hash, parked.clone()));
            }
        }
        (t.len(), hits as f64 / n as f64)
    }

    #[test]
    fn one_domain_keeps_the_first_size_and_always_hits() {
        assert_eq!(settle(1, 100), (64, 1.0));
    }

    #[test]
    fn a_hundred_domains_grow_the_table_until_evictions_are_rare() {
        let (len, hit) = settle(100, 200);
        assert!((1024..=4096).contains(&len), "len {len}");
        assert!(hit > 0.9, "hit rate {hit}");
    }

    #[test]
    fn ten_thousand_domains_stop_at_the_maximum() {
        let (len, hit) = settle(10_000, 5);
        assert_eq!(len, 4096);
        // 10,000 domains over 4,096 slots, each touched once a round: a
        // get finds its domain only if none of the other two or three of
        // its slot came in between — about a fifth of them.
        assert!(hit > 0.1 && hit < 0.3, "hit rate {hit}");
    }
}
