//! One domain (pool key): its state, counters and snapshots.

use super::*;
use crate::{
    state,
    stats::ConnectionInfo,
    stats::DomainStats,
    sync::{
        lock,
        unmodeled::{self, Counter},
        Arc, AtomicUsize, Mutex, Ordering, StdArc, SwapCell,
    },
};
use std::time::Duration;

// ---------------------------------------------------------------------------
// Domains

/// Which limit stopped a reservation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Blocked {
    Domain,
    Pool,
}

#[derive(Default)]
pub(super) struct Counters {
    pub(super) dials: Counter,
    pub(super) dial_failures: Counter,
    pub(super) dials_cancelled: Counter,
    pub(super) waits: Counter,
    pub(super) wait_timeouts: Counter,
    pub(super) misses: Counter,
    pub(super) fresh: Counter,
    pub(super) discarded: Counter,
    pub(super) created: Counter,
    pub(super) closed: Counter,
    pub(super) detached: Counter,
    pub(super) swept: Counter,
    pub(super) probes: Counter,
    pub(super) probe_failures: Counter,
}

/// The live connections of a domain (for snapshots) and the hot-path
/// counters of connections already closed.
#[derive(Default)]
pub(super) struct Registry {
    pub(super) metas: Vec<Arc<Meta>>,
    pub(super) reuses: u64,
    pub(super) recycled: u64,
    pub(super) idle_before_reuse: u64,
}

/// One domain (pool key): its idle queue, capacity and waiters.
///
/// `repr(C)` with the fields every get and put touches first, so that they
/// share the cache line of the `Arc`'s reference counts: the key's first
/// bytes (compared by the map's probe and the thread cache without following the
/// key's pointer), the hash, the synchronization word and its event, the
/// address epoch, the pool, and the idle queue's pointer. Nothing in the
/// struct is cache-padded, so it starts right after the counts; the idle
/// queue (whose head and tail are padded apart) is boxed. At 10,000 domains
/// the working set leaves the caches, and each line a get + put touches is
/// a miss.
#[repr(C)]
pub(crate) struct Domain<T: Send + 'static> {
    /// The key's length if at most `SHORT_KEY` bytes, else `LONG_KEY`.
    pub(super) short_len: u8,
    /// The key's first bytes (all of them for a short key).
    pub(super) short_key: [u8; SHORT_KEY],
    pub(super) hash: u64,
    /// Waiters, closed flag and publish epoch; the event they listen on
    /// (see [`signal`](super::signal)).
    pub(super) signal: Signal,
    /// Bumped after any change to this domain's address records (a block,
    /// unblock or retirement); see `Domain::address_unfit`.
    pub(super) addr_epoch: unmodeled::AtomicU64,
    pub(crate) pool: Arc<Shared<T>>,
    pub(super) idle: Box<crate::idle::Idle<Box<Slot<T>>>>,
    // --- off the hot path -------------------------------------------------
    pub(super) key: StdArc<str>,
    pub(super) host: StdArc<str>,
    pub(super) port: u16,
    /// The key's route (after `#`), handed to the connector in each target.
    pub(super) route: Option<StdArc<str>>,
    /// Its index in the pool's list of domains with live connections
    /// (`usize::MAX`: not in it); read and written under that list's lock.
    pub(super) active_at: unmodeled::AtomicUsize,
    pub(super) live: AtomicUsize,
    pub(super) ips: SwapCell<Vec<Arc<Addr>>>,
    pub(super) ips_update: Mutex<()>,
    pub(super) rr: unmodeled::AtomicUsize,
    pub(super) registry: Mutex<Registry>,
    pub(super) counters: Counters,
    /// Where the addresses came from: `IPS_NONE`, `IPS_STATIC` (set_ips)
    /// or `IPS_RESOLVED` (the resolver, refreshed).
    pub(super) ip_source: unmodeled::AtomicU8,
    /// When the resolver last answered (ticks).
    pub(super) resolved_at: unmodeled::AtomicU64,
    /// No new dial before this (ticks): the site asked us to slow down
    /// (a 429 or 503 with `Retry-After`).
    pub(super) throttled_until: unmodeled::AtomicU64,
    /// State a layer above the pool keeps per domain (the client's shared
    /// HTTP/2 connections), made at its first use; see
    /// `DomainHandle::extension`.
    pub(crate) ext: std::sync::OnceLock<StdArc<dyn std::any::Any + Send + Sync>>,
}

/// Key bytes kept in the domain's first cache line.
pub(super) const SHORT_KEY: usize = 23;
/// `short_len` of a key longer than `SHORT_KEY`.
const LONG_KEY: u8 = u8::MAX;

/// `Domain::ip_source` values.
pub(crate) const IPS_NONE: u8 = 0;
pub(crate) const IPS_STATIC: u8 = 1;
pub(crate) const IPS_RESOLVED: u8 = 2;

/// Splits a pool key into host and port: `"example.com"`, `"example.com:8443"`,
/// `"[2001:db8::1]:443"`.
pub(super) fn split_key(key: &str, default_port: u16) -> (StdArc<str>, u16) {
    let key = crate::key::split_route(key).0;
    if let Some(rest) = key.strip_prefix('[') {
        if let Some((host, tail)) = rest.split_once(']') {
            let port = tail.strip_prefix(':').and_then(|p| p.parse().ok());
            return (host.into(), port.unwrap_or(default_port));
        }
    }
    match key.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => match port.parse() {
            Ok(p) => (host.into(), p),
            Err(_) => (key.into(), default_port),
        },
        _ => (key.into(), default_port),
    }
}

impl<T: Send + 'static> Domain<T> {
    pub(super) fn new(pool: &Arc<Shared<T>>, key: &str, hash: u64) -> Domain<T> {
        let (host, port) = split_key(key, pool.settings.default_port);
        let bytes = key.as_bytes();
        let mut short_key = [0; SHORT_KEY];
        let n = bytes.len().min(SHORT_KEY);
        short_key[..n].copy_from_slice(&bytes[..n]);
        Domain {
            short_len: if bytes.len() <= SHORT_KEY {
                bytes.len() as u8
            } else {
                LONG_KEY
            },
            short_key,
            key: key.into(),
            host,
            port,
            route: crate::key::split_route(key).1.map(StdArc::from),
            active_at: unmodeled::AtomicUsize::new(usize::MAX),
            hash,
            idle: Box::new(crate::idle::Idle::new(Settings::get_usize(
                &pool.settings.max_per_domain,
            ))),
            signal: Signal::new(),
            live: AtomicUsize::new(0),
            ips: SwapCell::new(Vec::new()),
            ips_update: Mutex::new(()),
            rr: unmodeled::AtomicUsize::new(0),
            registry: Mutex::new(Registry::default()),
            counters: Counters::default(),
            ip_source: unmodeled::AtomicU8::new(IPS_NONE),
            resolved_at: unmodeled::AtomicU64::new(0),
            throttled_until: unmodeled::AtomicU64::new(0),
            addr_epoch: unmodeled::AtomicU64::new(0),
            ext: std::sync::OnceLock::new(),
            pool: pool.clone(),
        }
    }

    /// The pool key.
    pub(crate) fn key(&self) -> &StdArc<str> {
        &self.key
    }

    /// Whether this domain's key is `key`: a short key is compared in the
    /// domain's first cache line, a long one through its pointer.
    #[inline]
    pub(super) fn key_is(&self, key: &str) -> bool {
        let n = key.len();
        if usize::from(self.short_len) == n {
            self.short_key[..n] == *key.as_bytes()
        } else {
            self.short_len == LONG_KEY && *self.key == *key
        }
    }

    // --- the hot path -----------------------------------------------------

    /// The domain's current `max_conns_per_domain`.
    #[inline]
    pub(super) fn limit(&self) -> usize {
        Settings::get_usize(&self.pool.settings.max_per_domain)
    }

    /// A snapshot of each live connection.
    pub(crate) fn connections(&self, now: u64, out: &mut Vec<ConnectionInfo>) {
        let reg = lock(&self.registry);
        for m in &reg.metas {
            let w = m.state.load(Ordering::Relaxed);
            let st = state::unpack(w);
            let lends = m.reuses.get() + u64::from(m.dialed_for_lend);
            out.push(ConnectionInfo {
                id: m.id,
                domain: self.key.to_string(),
                addr: m.target.addr(),
                profile: m.profile.as_ref().map(|p| p.to_string()),
                age: state::duration_from(now.saturating_sub(m.created)),
                idle: if st.in_use {
                    Duration::ZERO
                } else {
                    state::duration_from(now.saturating_sub(st.last_used))
                },
                in_use: st.in_use,
                lends,
                errors: st.errors,
                address: m.addr.info(now),
            });
        }
    }

    // --- capacity -----------------------------------------------------------

    /// Counts a `try_get` that found nothing.
    pub(crate) fn count_miss(&self) {
        self.counters.misses.inc();
    }

    /// Counts a dial that starts / failed.
    pub(crate) fn count_dial(&self) {
        self.counters.dials.inc();
    }

    pub(crate) fn count_dial_cancelled(&self) {
        self.counters.dials_cancelled.inc();
    }

    pub(crate) fn count_dial_failure(&self) {
        self.counters.dial_failures.inc();
        self.counters.misses.inc();
    }

    // --- stats ------------------------------------------------------------------

    pub(crate) fn stats(&self) -> DomainStats {
        let reg = lock(&self.registry);
        let mut hits = reg.reuses;
        let mut recycled = reg.recycled;
        let mut waited = reg.idle_before_reuse;
        let mut in_use = 0;
        let mut healthy = 0;
        let s = &self.pool.settings;
        let now = self.pool.ticker.now();
        let (idle_limit, life_limit) = (
            Settings::get_u64(&s.idle_ticks),
            Settings::get_u64(&s.lifetime_ticks),
        );
        for m in &reg.metas {
            hits += m.reuses.get();
            recycled += m.recycled.get();
            waited += m.idle_before_reuse.get();
            let w = m.state.load(Ordering::Relaxed);
            in_use += u64::from(state::in_use(w));
            // Healthy: no error counted against it, within its lifetime,
            // and (when idle) within the idle limit — lendable as it is.
            let fresh_enough =
                state::in_use(w) || now.saturating_sub(state::last_used(w)) <= idle_limit;
            healthy += u64::from(
                state::errors(w) == 0
                    && now.saturating_sub(m.created) <= life_limit
                    && fresh_enough,
            );
        }
        let connections = reg.metas.len() as u64;
        drop(reg);
        let c = &self.counters;
        let live = self.live.load(Ordering::Relaxed) as u64;
        let fresh = c.fresh.get();
        let misses = c.misses.get();
        DomainStats {
            domain: self.key.clone(),
            gets: hits + fresh + misses,
            hits,
            fresh,
            misses,
            dials: c.dials.get(),
            dial_failures: c.dial_failures.get(),
            dials_cancelled: c.dials_cancelled.get(),
            waits: c.waits.get(),
            wait_timeouts: c.wait_timeouts.get(),
            puts_recycled: recycled,
            puts_discarded: c.discarded.get(),
            created: c.created.get(),
            closed: c.closed.get(),
            detached: c.detached.get(),
            connections,
            idle: connections - in_use,
            in_use,
            dialing: live.saturating_sub(connections),
            swept: c.swept.get(),
            probes: c.probes.get(),
            probe_failures: c.probe_failures.get(),
            healthy,
            recycle_wait: state::duration_from(waited),
        }
    }

    /// Waiters registered on this domain (for tests and loom models).
    pub(crate) fn waiter_count(&self) -> usize {
        self.signal.waiters()
    }

    /// Whether a dial for this domain would have to wait now: the domain
    /// or the pool has no capacity left.
    pub(crate) fn at_capacity(&self) -> bool {
        let s = &self.pool.settings;
        self.live.load(Ordering::SeqCst) >= Settings::get_usize(&s.max_per_domain)
            || self.pool.live_count() >= Settings::get_usize(&s.max_conns)
    }

    /// Reserved capacity of this domain (for tests and loom models).
    pub(crate) fn live_count(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }
}
