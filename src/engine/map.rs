//! The sharded domain map and the pool-wide state ([`Shared`]).

use super::*;
use crate::blacklist::Blacklist;
use crate::{
    clock::Ticker,
    config::Config,
    connect::Driver,
    sync::{
        fence, lock, unmodeled, Arc, AtomicBool, AtomicUsize, Mutex, Ordering, StdArc, SwapCell,
    },
};
use crossbeam_utils::CachePadded;
use std::{
    collections::HashMap,
    hash::BuildHasher,
    net::{IpAddr, SocketAddr},
};

// ---------------------------------------------------------------------------
// The pool

pub(super) type Table<T> = hashbrown::HashTable<Arc<Domain<T>>>;

/// Domain-key hashing: seeded per pool (HashDoS-resistant) normally; fixed
/// under loom, where every iteration of a model must make the same choices.
#[cfg(not(loom))]
pub(super) type KeyHasher = foldhash::fast::RandomState;
#[cfg(loom)]
pub(super) type KeyHasher = foldhash::fast::FixedState;

/// The shared core of a pool.
pub(crate) struct Shared<T: Send + 'static> {
    pub(super) shards: Box<[SwapCell<Table<T>>]>,
    pub(super) hasher: KeyHasher,
    pub(super) live: CachePadded<AtomicUsize>,
    /// Pool-level waiters (blocked by `max_conns`) and their event, on a
    /// line of its own: releases write it, every get reads `closed`.
    pub(super) signal: CachePadded<Signal>,
    pub(super) closed: AtomicBool,
    pub(crate) settings: Settings,
    pub(crate) ticker: Ticker,
    pub(crate) driver: StdArc<dyn Driver<T>>,
    pub(super) next_id: unmodeled::AtomicU64,
    pub(super) evict_cursor: unmodeled::AtomicUsize,
    /// The domains that have live connections, for eviction: a domain joins
    /// when its first connection registers and leaves when its last
    /// unregisters (both on the dial and close paths, under the domain's
    /// registry lock, then this one; never the other way round). Its
    /// position is kept in `Domain::active_at`, under this lock.
    pub(super) active: Mutex<Vec<Arc<Domain<T>>>>,
    pub(crate) blacklist: Blacklist,
    /// Addresses set per host (`set_ips`): they apply to the host on every
    /// port, to domains made later too. Also serialises making a domain
    /// with setting a host's addresses, so that neither misses the other.
    pub(super) host_ips: Mutex<HashMap<StdArc<str>, Host<T>>>,
}

/// A host's addresses (if `set_ips` gave them) and its domains (one per
/// port and route it was asked for): `set_ips` reaches them without a walk
/// of every domain.
pub(super) struct Host<T: Send + 'static> {
    ips: Option<Vec<IpAddr>>,
    domains: Vec<Arc<Domain<T>>>,
}

impl<T: Send + 'static> Default for Host<T> {
    fn default() -> Self {
        Host {
            ips: None,
            domains: Vec::new(),
        }
    }
}

impl<T: Send + 'static> Shared<T> {
    pub(crate) fn new(
        config: &Config,
        clock: Option<quanta::Clock>,
        driver: StdArc<dyn Driver<T>>,
    ) -> Self {
        Shared {
            shards: (0..SHARDS).map(|_| SwapCell::new(Table::new())).collect(),
            hasher: KeyHasher::default(),
            live: CachePadded::new(AtomicUsize::new(0)),
            signal: CachePadded::new(Signal::new()),
            closed: AtomicBool::new(false),
            settings: Settings::new(config),
            ticker: Ticker::new(clock),
            driver,
            next_id: unmodeled::AtomicU64::new(0),
            evict_cursor: unmodeled::AtomicUsize::new(0),
            active: Mutex::new(Vec::new()),
            blacklist: Blacklist::new(&config.allow_ips, &config.deny_ips)
                .with_ranges(&config.deny_ranges),
            host_ips: Mutex::new(HashMap::new()),
        }
    }

    /// Blacklists `ip` until `until` (ticks) in every domain. Its idle
    /// connections are closed when next found, lent ones when returned, and
    /// dials skip it. Returns false if the IP is on the allow list.
    pub(crate) fn block(&self, ip: IpAddr, until: u64) -> bool {
        let Some(until) = self.blacklist.block(ip, until) else {
            return false;
        };
        let _ = until;
        for d in self.domains() {
            d.sync_blocked(ip);
        }
        tracing::debug!(%ip, "hotpool: address blacklisted");
        true
    }

    /// Blocks the pair (`d`, `ip`) until `until`, and the IP for every
    /// domain once `block_ip_after_domains` distinct domains are blocked on
    /// it. Returns (pair blocked, IP blocked pool-wide); nothing is blocked
    /// for an allow-listed IP.
    pub(crate) fn block_pair(&self, d: &Domain<T>, ip: IpAddr, until: u64) -> (bool, bool) {
        let now = self.ticker.now();
        let Some(domains) = self.blacklist.block_pair(&d.key, ip, until, now) else {
            return (false, false);
        };
        d.sync_blocked(ip);
        let threshold = Settings::get_usize(&self.settings.block_ip_after_domains);
        let wide = domains >= threshold && self.block(ip, until);
        if wide {
            tracing::info!(%ip, domains, "hotpool: address refused {domains} domains: blacklisted for all");
        }
        (true, wide)
    }

    /// Lifts the pair block of (`key`, `ip`).
    pub(crate) fn unblock_pair(&self, key: &str, ip: IpAddr) -> bool {
        let lifted = self.blacklist.unblock_pair(key, ip);
        if let Some(()) = self.with_known(key, |d| d.sync_blocked(ip)) {}
        lifted
    }

    /// Lifts a blacklist entry in every domain.
    pub(crate) fn unblock(&self, ip: IpAddr) -> bool {
        let lifted = self.blacklist.unblock(ip);
        // A deny-list IP stays blocked, as do pair blocks.
        for d in self.domains() {
            d.sync_blocked(ip);
        }
        lifted
    }

    #[inline]
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    #[inline]
    pub(crate) fn locate(&self, key: &str) -> (u64, usize) {
        let hash = self.hasher.hash_one(key);
        // hashbrown indexes buckets with the low bits and tags with the top
        // seven: pick the shard from bits in between.
        let shard = (hash >> 32) as usize & (SHARDS - 1);
        (hash, shard)
    }

    /// Runs `f` on the current table of `shard` (an `ArcSwap` load).
    ///
    /// A per-thread `arc_swap::Cache` of the shards was tried here and
    /// measured slower than the plain load (66 vs 59 ns per get + put): the
    /// thread-local, `RefCell` and `dyn Any` downcast cost more than the
    /// debt slot they avoid, and the guard still cloned the domain's `Arc`.
    /// The thread cache of domain references
    /// ([`thread_cache`](super::thread_cache)) comes before the map instead
    /// and saves the load, the probe and the clone together.
    #[inline]
    pub(super) fn with_table<R>(&self, shard: usize, f: impl FnOnce(&Table<T>) -> R) -> R {
        f(&self.shards[shard].load())
    }

    /// The canonical spelling of a pool key (see [`crate::key`]).
    pub(crate) fn canonical<'k>(&self, key: &'k str) -> std::borrow::Cow<'k, str> {
        crate::key::normalize(key, self.settings.default_port)
    }

    /// Runs `f` on the domain `key`, if the pool knows it (no allocation
    /// for a key in canonical form).
    #[inline]
    pub(crate) fn with_known<R>(
        &self,
        key: &str,
        f: impl FnOnce(&Arc<Domain<T>>) -> R,
    ) -> Option<R> {
        let (hash, shard) = self.locate(key);
        self.with_known_at(key, hash, shard, f)
    }

    /// [`with_known`](Shared::with_known) with the key's hash and shard
    /// already computed (by the thread cache's miss).
    #[inline]
    pub(crate) fn with_known_at<R>(
        &self,
        key: &str,
        hash: u64,
        shard: usize,
        f: impl FnOnce(&Arc<Domain<T>>) -> R,
    ) -> Option<R> {
        match self.with_table(shard, |table| match table.find(hash, |d| d.key_is(key)) {
            Some(d) => Ok(f(d)),
            None => Err(f),
        }) {
            Ok(r) => Some(r),
            Err(f) => self.with_known_slow(key, f),
        }
    }

    /// A miss of [`with_known`](Shared::with_known): look again under the
    /// canonical spelling.
    #[cold]
    pub(super) fn with_known_slow<R>(
        &self,
        key: &str,
        f: impl FnOnce(&Arc<Domain<T>>) -> R,
    ) -> Option<R> {
        let canonical = self.canonical(key);
        if canonical == key {
            return None;
        }
        let key = &*canonical;
        let (hash, shard) = self.locate(key);
        self.with_table(shard, |table| table.find(hash, |d| d.key_is(key)).map(f))
    }

    /// Runs `f` on the domain `key`, creating the domain on first sight.
    #[inline]
    pub(crate) fn with_domain<R>(
        this: &Arc<Self>,
        key: &str,
        f: impl FnOnce(&Arc<Domain<T>>) -> R,
    ) -> R {
        let (hash, shard) = this.locate(key);
        Self::with_domain_at(this, key, hash, shard, f)
    }

    /// [`with_domain`](Shared::with_domain) with the key's hash and shard
    /// already computed (by the thread cache's miss).
    #[inline]
    pub(crate) fn with_domain_at<R>(
        this: &Arc<Self>,
        key: &str,
        hash: u64,
        shard: usize,
        f: impl FnOnce(&Arc<Domain<T>>) -> R,
    ) -> R {
        let found = this.with_table(shard, |table| match table.find(hash, |d| d.key_is(key)) {
            Some(d) => Ok(f(d)),
            None => Err(f),
        });
        match found {
            Ok(r) => r,
            Err(f) => f(&Self::find_or_insert(this, key)),
        }
    }

    /// A miss of [`with_domain`](Shared::with_domain): the domain under the
    /// canonical spelling of `key`, made if the pool has none.
    #[cold]
    pub(super) fn find_or_insert(this: &Arc<Self>, key: &str) -> Arc<Domain<T>> {
        let canonical = this.canonical(key);
        let key = &*canonical;
        let (hash, shard) = this.locate(key);
        if let Some(d) =
            this.with_table(shard, |table| table.find(hash, |d| d.key_is(key)).cloned())
        {
            return d;
        }
        Self::insert(this, key, hash, &this.shards[shard])
    }

    /// The addresses set for the host of `key` (on `key`'s port), for a
    /// domain the pool has not made yet.
    pub(crate) fn host_addrs(&self, key: &str) -> Vec<SocketAddr> {
        let canonical = self.canonical(key);
        let (_, port) = split_key(&canonical, self.settings.default_port);
        lock(&self.host_ips)
            .get(crate::key::host_of(&canonical))
            .and_then(|h| h.ips.as_ref())
            .map(|ips| ips.iter().map(|ip| SocketAddr::new(*ip, port)).collect())
            .unwrap_or_default()
    }

    /// Sets the addresses of `host` on every port: its domains now and
    /// those made later.
    pub(crate) fn set_host_ips(this: &Arc<Self>, key: &str, ips: &[IpAddr]) {
        let canonical = this.canonical(key);
        let host = crate::key::host_of(&canonical);
        let mut map = lock(&this.host_ips);
        let entry = map.entry(host.into()).or_default();
        entry.ips = Some(ips.to_vec());
        // The host's domains made so far (each port and route), from the
        // index: O(the host's domains), not O(all domains).
        for d in &entry.domains {
            d.set_ips(ips);
        }
        drop(map);
        // The domain of `key` itself, made now if new (it takes the host's
        // addresses as it is made).
        Self::with_domain(this, &canonical, |_| ());
    }

    /// Inserts a domain by read-copy-update of its shard; returns whichever
    /// domain won if another thread inserted the same key meanwhile.
    #[cold]
    pub(super) fn insert(
        this: &Arc<Self>,
        key: &str,
        hash: u64,
        shard: &SwapCell<Table<T>>,
    ) -> Arc<Domain<T>> {
        let fresh = Arc::new(Domain::new(this, key, hash));
        let mut hosts = lock(&this.host_ips);
        let host = hosts.entry(crate::key::host_of(key).into()).or_default();
        if let Some(ips) = &host.ips {
            fresh.set_ips(ips);
        }
        let mut inserted = false;
        shard.rcu(|table| {
            let mut t = table.clone();
            inserted = t.find(hash, |d| d.key_is(key)).is_none();
            if inserted {
                t.insert_unique(hash, fresh.clone(), |d| d.hash);
            }
            t
        });
        if inserted {
            // Inserts are serialised by this lock: this domain is the
            // host's from now on.
            host.domains.push(fresh.clone());
        }
        // A domain made while the pool closes (see `close`): read under
        // the same lock as close's store.
        let closing = this.closed.load(Ordering::Acquire);
        drop(hosts);
        if closing {
            fresh.close();
        }
        let table = shard.load();
        let found = table.find(hash, |d| d.key_is(key)).cloned();
        found.unwrap_or(fresh)
    }

    /// Every domain (a snapshot).
    pub(crate) fn domains(&self) -> Vec<Arc<Domain<T>>> {
        let mut v = Vec::new();
        for shard in self.shards.iter() {
            v.extend(shard.load().iter().cloned());
        }
        v
    }

    /// Announces `units` of pool capacity made available just before,
    /// waking pool-level waiters if any (see [`signal`](super::signal)).
    #[inline]
    pub(super) fn publish(&self, units: usize) {
        self.signal.publish(units, self.settings.wake());
    }

    /// Passes a pool-level wake-up on to one more waiter: the woken task
    /// could not use the capacity (with [`Wake::Broadcast`](crate::Wake)
    /// everyone was woken already).
    pub(super) fn pass_on(&self) {
        if self.settings.wake() == crate::Wake::One && self.signal.waiters() != 0 {
            self.signal.notify(1, crate::Wake::One);
        }
    }

    /// The pool limit blocks `except`: close one idle connection of another
    /// domain to make room. Returns whether one was closed.
    ///
    /// Only domains with live connections are looked at (`active`), from a
    /// cursor that moves on with each eviction: the cost depends on how
    /// many domains hold connections (at most `max_conns`), not on how many
    /// the pool has seen — a broad crawl at the pool limit no longer walks
    /// every domain ever touched for each new one.
    pub(super) fn evict_idle(&self, except: &Domain<T>) -> bool {
        let found = {
            let active = lock(&self.active);
            let n = active.len();
            let start = self.evict_cursor.fetch_add(1, unmodeled::Ordering::Relaxed);
            (0..n).find_map(|i| {
                let d = &active[(start + i) % n.max(1)];
                if std::ptr::eq(&**d, except) {
                    return None;
                }
                d.idle.pop().map(|slot| (d.clone(), slot))
            })
        };
        // Closed outside the lock: closing unregisters, which may take it.
        match found {
            Some((d, slot)) => {
                d.close_slot(slot, Reason::Evicted);
                true
            }
            None => false,
        }
    }

    /// `d` has its first live connection.
    pub(super) fn activate(&self, d: &Arc<Domain<T>>) {
        let mut active = lock(&self.active);
        if d.active_at.load(unmodeled::Ordering::Relaxed) == usize::MAX {
            d.active_at
                .store(active.len(), unmodeled::Ordering::Relaxed);
            active.push(d.clone());
        }
    }

    /// `d` has no live connection left.
    pub(super) fn deactivate(&self, d: &Domain<T>) {
        let mut active = lock(&self.active);
        let i = d.active_at.swap(usize::MAX, unmodeled::Ordering::Relaxed);
        if i < active.len() && std::ptr::eq(&*active[i], d) {
            active.swap_remove(i);
            if let Some(moved) = active.get(i) {
                moved.active_at.store(i, unmodeled::Ordering::Relaxed);
            }
        }
    }

    /// Wakes every waiter of every domain and of the pool: a limit was
    /// raised, so some may now reserve capacity (the others wait again).
    pub(crate) fn wake_all(&self) {
        fence(Ordering::SeqCst);
        for d in self.domains() {
            d.signal.broadcast();
        }
        self.signal.broadcast();
    }

    /// Closes the pool: no more lends, idle connections closed, waiters
    /// woken (they see `closed` and fail with `Error::Closed`).
    pub(crate) fn close(&self) {
        // Under the lock `insert` holds while it adds a domain and reads
        // `closed`: either this walk finds a domain made now, or its maker
        // sees `closed` and closes it.
        {
            let _making = lock(&self.host_ips);
            self.closed.store(true, Ordering::SeqCst);
        }
        for d in self.domains() {
            d.close();
        }
        self.signal.close();
    }

    /// Closes and forgets every domain: breaks the domain → pool reference
    /// cycle when the last `Pool` handle goes.
    pub(crate) fn shutdown(&self) {
        self.close();
        for shard in self.shards.iter() {
            shard.store(Arc::new(Table::new()));
        }
        for host in lock(&self.host_ips).values_mut() {
            host.domains.clear();
        }
        let active = std::mem::take(&mut *lock(&self.active));
        for d in &active {
            d.active_at.store(usize::MAX, unmodeled::Ordering::Relaxed);
        }
    }

    /// Pool-wide reserved capacity and waiter count.
    pub(crate) fn live_count(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }

    pub(crate) fn waiter_count(&self) -> usize {
        self.signal.waiters()
    }
}
