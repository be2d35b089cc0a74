//! The private engine behind [`Pool`](crate::Pool): domains, their idle
//! queues and capacity counters, the hot get/put, waiting and closing.
//!
//! The engine is generic over the connection type `T` only; the typed
//! connector lives in `Pool<C>`, which dials, and is reached here through the
//! object-safe [`Driver`] for `is_open` and `close`.
//!
//! # The protocol
//!
//! **Ownership.** A connection lives in a boxed [`Slot`]. An idle slot is
//! owned by its domain's idle queue; a lent slot by its [`Pooled`] guard.
//! The queue's push (release) and pop (acquire) hand the slot over, so the
//! connection itself needs no further synchronization.
//!
//! **Capacity.** `Domain::live` and `Shared::live` count live connections plus
//! dials in progress. A dial first reserves one unit of each by CAS (never
//! past the limits), and the unit is released when the connection closes or
//! the dial fails — through the RAII [`Reservation`], so a dropped `get`
//! future releases it too.
//!
//! **Waking.** A task that finds no idle connection and no capacity registers
//! a listener on the domain's `Event` (and on the pool's `Event` if the pool
//! limit blocked it), increments the matching waiter count, issues a SeqCst
//! fence and checks again before sleeping. Whoever makes something available
//! — a put pushing to the queue, a close releasing capacity, a sweep
//! re-queueing — does it first, then a SeqCst fence, then reads the waiter
//! count and notifies only if it is non-zero (`notify` takes the event's
//! internal lock even when nobody listens). The two fences order the two
//! sides as in Dekker's algorithm: either the waiter's re-check sees the
//! connection or capacity, or the notifier sees the waiter count and the
//! listener registered before it.
//!
//! **Closing.** `close()` sets `closed`, fences, drains every queue and wakes
//! everyone. A put pushes, fences, then reads `closed`: if set, it drains the
//! queue itself, so a connection pushed concurrently with `close()` cannot
//! stay idle in a closed pool.
//!
//! # Orderings
//!
//! | operation | ordering | pairs with |
//! |---|---|---|
//! | state word CAS/stores (get, put, `mark_error`) | Relaxed | nothing: the queue transfers ownership; snapshots only need *a* value |
//! | `live` reserve CAS / release `fetch_sub` | SeqCst | each other (the counter's modification order); the fences below for waking |
//! | waiter count `fetch_add` + `fence(SeqCst)` | SeqCst | the notifier's `fence(SeqCst)` + waiter-count load (Dekker) |
//! | notifier's waiter-count load | Acquire | the waiter's `fetch_add` (release part): the listener inserted before it is visible to `notify` |
//! | `closed` store + fence / load after fence | SeqCst / Acquire | put's post-push fence (Dekker); waiters re-check it after registering |

use crate::blacklist::Blacklist;
use crate::{
    clock::Ticker,
    config::Config,
    connect::{Driver, Target},
    error::Error,
    state,
    stats::ConnectionInfo,
    stats::DomainStats,
    sync::{
        fence, lock,
        unmodeled::{self, Counter},
        Arc, AtomicBool, AtomicU64, AtomicUsize, Mutex, Ordering, StdArc, SwapCell,
    },
};
use crossbeam_utils::CachePadded;
use event_listener::{Event, EventListener};
use std::{
    collections::HashMap,
    future::Future,
    hash::BuildHasher,
    net::{IpAddr, SocketAddr},
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

/// Number of domain-map shards (a power of two). A new domain copies one
/// shard's table, not the whole map.
const SHARDS: usize = if cfg!(loom) { 2 } else { 64 };

// ---------------------------------------------------------------------------
// Settings

/// Run-time settings, as atomics so the hot path reads them without a lock.
#[derive(Debug)]
pub(crate) struct Settings {
    max_conns: unmodeled::AtomicUsize,
    max_per_domain: unmodeled::AtomicUsize,
    wait_timeout_ns: unmodeled::AtomicU64,
    connect_timeout_ns: unmodeled::AtomicU64,
    idle_ticks: unmodeled::AtomicU64,
    lifetime_ticks: unmodeled::AtomicU64,
    max_errors: unmodeled::AtomicU64,
    blacklist_ttl_ns: unmodeled::AtomicU64,
    health_interval_ns: unmodeled::AtomicU64,
    min_idle: unmodeled::AtomicUsize,
    max_dials: unmodeled::AtomicUsize,
    probe_concurrency: unmodeled::AtomicUsize,
    dns_refresh_ns: unmodeled::AtomicU64,
    min_success_rate_bits: unmodeled::AtomicU64,
    pub(crate) block_ip_after_domains: unmodeled::AtomicUsize,
    probe_timeout_ns: unmodeled::AtomicU64,
    negative_dns_ttl_ns: unmodeled::AtomicU64,
    default_port: u16,
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Settings {
    fn new(c: &Config) -> Settings {
        Settings {
            max_conns: c.max_conns.into(),
            max_per_domain: c.max_conns_per_domain.into(),
            wait_timeout_ns: nanos(c.wait_timeout).into(),
            connect_timeout_ns: nanos(c.connect_timeout).into(),
            idle_ticks: state::ticks_from(c.idle_timeout).into(),
            lifetime_ticks: state::ticks_from(c.max_lifetime).into(),
            max_errors: u64::from(c.max_errors).into(),
            blacklist_ttl_ns: nanos(c.blacklist_ttl).into(),
            health_interval_ns: nanos(c.health_check_interval).into(),
            min_idle: c.min_idle_per_domain.into(),
            max_dials: c.max_concurrent_dials.into(),
            probe_concurrency: c.probe_concurrency.into(),
            dns_refresh_ns: nanos(c.dns_refresh_interval).into(),
            min_success_rate_bits: c.min_success_rate.to_bits().into(),
            block_ip_after_domains: c.block_ip_after_domains.into(),
            probe_timeout_ns: nanos(c.probe_timeout).into(),
            negative_dns_ttl_ns: nanos(c.negative_dns_ttl).into(),
            default_port: c.default_port,
        }
    }

    /// Stores the run-time settings of `c` (everything but the default
    /// port, the allow/deny lists and the idle queues' capacity, which are
    /// fixed when the pool or domain is made). Each value is one atomic
    /// store: readers see every value either old or new.
    pub(crate) fn update(&self, c: &Config) {
        let o = unmodeled::Ordering::Relaxed;
        self.max_conns.store(c.max_conns, o);
        self.max_per_domain.store(c.max_conns_per_domain, o);
        self.wait_timeout_ns.store(nanos(c.wait_timeout), o);
        self.connect_timeout_ns.store(nanos(c.connect_timeout), o);
        self.idle_ticks.store(state::ticks_from(c.idle_timeout), o);
        self.lifetime_ticks
            .store(state::ticks_from(c.max_lifetime), o);
        self.max_errors.store(u64::from(c.max_errors), o);
        self.blacklist_ttl_ns.store(nanos(c.blacklist_ttl), o);
        self.health_interval_ns
            .store(nanos(c.health_check_interval), o);
        self.min_idle.store(c.min_idle_per_domain, o);
        self.max_dials.store(c.max_concurrent_dials, o);
        self.probe_concurrency.store(c.probe_concurrency, o);
        self.dns_refresh_ns.store(nanos(c.dns_refresh_interval), o);
        self.min_success_rate_bits
            .store(c.min_success_rate.to_bits(), o);
        self.block_ip_after_domains
            .store(c.block_ip_after_domains, o);
        self.probe_timeout_ns.store(nanos(c.probe_timeout), o);
        self.negative_dns_ttl_ns.store(nanos(c.negative_dns_ttl), o);
    }

    pub(crate) fn probe_timeout(&self) -> Duration {
        Duration::from_nanos(self.probe_timeout_ns.load(unmodeled::Ordering::Relaxed))
    }

    pub(crate) fn negative_dns_ttl(&self) -> Duration {
        Duration::from_nanos(self.negative_dns_ttl_ns.load(unmodeled::Ordering::Relaxed))
    }

    pub(crate) fn health_interval(&self) -> Duration {
        Duration::from_nanos(self.health_interval_ns.load(unmodeled::Ordering::Relaxed))
    }

    pub(crate) fn dns_refresh(&self) -> Duration {
        Duration::from_nanos(self.dns_refresh_ns.load(unmodeled::Ordering::Relaxed))
    }

    pub(crate) fn min_idle(&self) -> usize {
        Settings::get_usize(&self.min_idle)
    }

    pub(crate) fn probe_concurrency(&self) -> usize {
        Settings::get_usize(&self.probe_concurrency)
    }

    pub(crate) fn max_per_domain(&self) -> usize {
        Settings::get_usize(&self.max_per_domain)
    }

    pub(crate) fn min_success_rate(&self) -> f64 {
        f64::from_bits(Settings::get_u64(&self.min_success_rate_bits))
    }

    pub(crate) fn wait_timeout(&self) -> Duration {
        Duration::from_nanos(self.wait_timeout_ns.load(unmodeled::Ordering::Relaxed))
    }

    pub(crate) fn connect_timeout(&self) -> Duration {
        Duration::from_nanos(self.connect_timeout_ns.load(unmodeled::Ordering::Relaxed))
    }

    pub(crate) fn blacklist_ttl(&self) -> Duration {
        Duration::from_nanos(self.blacklist_ttl_ns.load(unmodeled::Ordering::Relaxed))
    }

    #[inline]
    fn get_usize(a: &unmodeled::AtomicUsize) -> usize {
        a.load(unmodeled::Ordering::Relaxed)
    }

    #[inline]
    fn get_u64(a: &unmodeled::AtomicU64) -> u64 {
        a.load(unmodeled::Ordering::Relaxed)
    }
}

// ---------------------------------------------------------------------------
// Connections

/// Why a connection was closed (traced, and decides which counter moves).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reason {
    PeerClosed,
    IdleExpired,
    LifetimeExpired,
    TooManyErrors,
    AddressRetired,
    AddressBlocked,
    Discarded,
    QueueFull,
    PoolClosed,
    Evicted,
    Refreshed,
    ProbeFailed,
    OverLimit,
    DoubleLend,
}

impl Reason {
    fn as_str(self) -> &'static str {
        match self {
            Reason::PeerClosed => "closed by peer",
            Reason::IdleExpired => "idle timeout",
            Reason::LifetimeExpired => "max lifetime",
            Reason::TooManyErrors => "too many errors",
            Reason::AddressRetired => "address retired",
            Reason::AddressBlocked => "address blacklisted",
            Reason::Discarded => "discarded",
            Reason::QueueFull => "idle queue full",
            Reason::PoolClosed => "pool closed",
            Reason::Evicted => "evicted for another domain",
            Reason::Refreshed => "closed to make room for a fresh dial",
            Reason::ProbeFailed => "failed its health probe",
            Reason::OverLimit => "over a limit lowered at run time",
            Reason::DoubleLend => "state word out of sync (double lend)",
        }
    }
}

/// One address of a domain. Connections keep a reference so that retiring
/// the address (it left the domain's list) reaches them with one load.
#[derive(Debug)]
pub(crate) struct Addr {
    pub(crate) addr: SocketAddr,
    retired: unmodeled::AtomicBool,
    /// This IP's blacklist deadline in ticks (0: not blocked), a copy of the
    /// pool blacklist's entry kept here for the hot path.
    blocked_until: unmodeled::AtomicU64,
    /// Dials skip this address until then (ticks): its last dials failed
    /// (refused, timed out, TLS or certificate error, garbage, reset,
    /// failed validation).
    aside_until: unmodeled::AtomicU64,
    /// Dial failures in a row (0 after a success).
    fails: unmodeled::AtomicU64,
}

impl Addr {
    fn new(addr: SocketAddr, blocked_until: u64) -> Arc<Addr> {
        Arc::new(Addr {
            addr,
            retired: unmodeled::AtomicBool::new(false),
            blocked_until: unmodeled::AtomicU64::new(blocked_until),
            aside_until: unmodeled::AtomicU64::new(0),
            fails: unmodeled::AtomicU64::new(0),
        })
    }

    /// A dial to this address failed: set it aside for 5 s, doubling with
    /// each failure in a row, at most 5 minutes.
    pub(crate) fn dial_failed(&self, now: u64) {
        let n = self.fails.fetch_add(1, unmodeled::Ordering::Relaxed);
        let secs = (5u64 << n.min(6)).min(300);
        let until = now.saturating_add(state::ticks_from(Duration::from_secs(secs)));
        self.aside_until.store(until, unmodeled::Ordering::Relaxed);
    }

    /// A dial to this address succeeded: it is no longer set aside.
    pub(crate) fn dial_succeeded(&self) {
        if self.fails.load(unmodeled::Ordering::Relaxed) != 0 {
            self.fails.store(0, unmodeled::Ordering::Relaxed);
            self.aside_until.store(0, unmodeled::Ordering::Relaxed);
        }
    }

    #[inline]
    fn is_aside(&self, now: u64) -> bool {
        self.aside_until.load(unmodeled::Ordering::Relaxed) > now
    }

    #[inline]
    fn is_retired(&self) -> bool {
        self.retired.load(unmodeled::Ordering::Relaxed)
    }

    #[inline]
    fn is_blocked(&self, now: u64) -> bool {
        self.blocked_until.load(unmodeled::Ordering::Relaxed) > now
    }
}

/// Per-connection metadata, shared with snapshots.
pub(crate) struct Meta {
    /// The packed state word (see `state.rs`).
    pub(crate) state: AtomicU64,
    /// Lends from the idle queue (owner-written).
    reuses: Counter,
    /// Returns to the idle queue (owner-written).
    recycled: Counter,
    pub(crate) id: u64,
    pub(crate) created: u64,
    pub(crate) target: Target,
    addr: Arc<Addr>,
    /// The connector's label for the connection (a TLS profile).
    pub(crate) profile: Option<StdArc<str>>,
    /// Dialed for a caller (lent at once) rather than ahead of demand.
    dialed_for_lend: bool,
}

/// A connection and what the pool knows about it.
///
/// An idle slot sits in its domain's queue and holds no reference to the
/// domain (the domain owns it); a lent slot travels with an `Arc<Domain>` in
/// its [`Pooled`](crate::Pooled) guard, which the put needs after the push.
pub(crate) struct Slot<T: Send + 'static> {
    pub(crate) conn: T,
    pub(crate) meta: Arc<Meta>,
}

/// A lent connection with the domain reference its guard holds.
pub(crate) type Lent<T> = (Box<Slot<T>>, Arc<Domain<T>>);

impl<T: Send + 'static> Slot<T> {
    /// Whether the connection was lent from the idle queue at least once.
    pub(crate) fn is_reused(&self) -> bool {
        self.meta.reuses.get() > 0
    }

    /// Counts an error towards `max_errors` (saturating).
    pub(crate) fn mark_error(&self) {
        let w = self.meta.state.load(Ordering::Relaxed);
        self.meta
            .state
            .store(state::with_error(w), Ordering::Relaxed);
    }

    pub(crate) fn errors(&self) -> u8 {
        state::errors(self.meta.state.load(Ordering::Relaxed))
    }
}

// ---------------------------------------------------------------------------
// Domains

/// Which limit stopped a reservation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Blocked {
    Domain,
    Pool,
}

#[derive(Default)]
struct Counters {
    dials: Counter,
    dial_failures: Counter,
    dials_cancelled: Counter,
    waits: Counter,
    wait_timeouts: Counter,
    misses: Counter,
    fresh: Counter,
    discarded: Counter,
    created: Counter,
    closed: Counter,
    detached: Counter,
    swept: Counter,
    probes: Counter,
    probe_failures: Counter,
}

/// The live connections of a domain (for snapshots) and the hot-path
/// counters of connections already closed.
#[derive(Default)]
struct Registry {
    metas: Vec<Arc<Meta>>,
    reuses: u64,
    recycled: u64,
}

/// One domain (pool key): its idle queue, capacity and waiters.
pub(crate) struct Domain<T: Send + 'static> {
    key: StdArc<str>,
    host: StdArc<str>,
    port: u16,
    hash: u64,
    idle: crate::idle::Idle<Box<Slot<T>>>,
    waiters: CachePadded<AtomicUsize>,
    event: Event,
    live: CachePadded<AtomicUsize>,
    ips: SwapCell<Vec<Arc<Addr>>>,
    ips_update: Mutex<()>,
    rr: unmodeled::AtomicUsize,
    registry: Mutex<Registry>,
    counters: Counters,
    /// Where the addresses came from: `IPS_NONE`, `IPS_STATIC` (set_ips)
    /// or `IPS_RESOLVED` (the resolver, refreshed).
    ip_source: unmodeled::AtomicU8,
    /// When the resolver last answered (ticks).
    resolved_at: unmodeled::AtomicU64,
    /// No new dial before this (ticks): the site asked us to slow down
    /// (a 429 or 503 with `Retry-After`).
    throttled_until: unmodeled::AtomicU64,
    pub(crate) pool: Arc<Shared<T>>,
}

/// `Domain::ip_source` values.
pub(crate) const IPS_NONE: u8 = 0;
pub(crate) const IPS_STATIC: u8 = 1;
pub(crate) const IPS_RESOLVED: u8 = 2;

/// Splits a pool key into host and port: `"example.com"`, `"example.com:8443"`,
/// `"[2001:db8::1]:443"`.
fn split_key(key: &str, default_port: u16) -> (StdArc<str>, u16) {
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
    fn new(pool: &Arc<Shared<T>>, key: &str, hash: u64) -> Domain<T> {
        let (host, port) = split_key(key, pool.settings.default_port);
        Domain {
            key: key.into(),
            host,
            port,
            hash,
            idle: crate::idle::Idle::new(Settings::get_usize(&pool.settings.max_per_domain)),
            waiters: CachePadded::new(AtomicUsize::new(0)),
            event: Event::new(),
            live: CachePadded::new(AtomicUsize::new(0)),
            ips: SwapCell::new(Vec::new()),
            ips_update: Mutex::new(()),
            rr: unmodeled::AtomicUsize::new(0),
            registry: Mutex::new(Registry::default()),
            counters: Counters::default(),
            ip_source: unmodeled::AtomicU8::new(IPS_NONE),
            resolved_at: unmodeled::AtomicU64::new(0),
            throttled_until: unmodeled::AtomicU64::new(0),
            pool: pool.clone(),
        }
    }

    /// The pool key.
    pub(crate) fn key(&self) -> &StdArc<str> {
        &self.key
    }

    // --- the hot path -----------------------------------------------------

    /// Pops idle connections until one is fit to lend; closes the unfit.
    #[inline]
    pub(crate) fn pop_idle(&self) -> Option<Box<Slot<T>>> {
        let pool = &*self.pool;
        let mut now = None;
        while let Some(slot) = self.idle.pop() {
            let now = *now.get_or_insert_with(|| pool.ticker.now());
            let word = slot.meta.state.load(Ordering::Relaxed);
            match self.unfit_to_lend(&slot, word, now) {
                None => {
                    // We own the slot (the pop transferred it); the store
                    // records the lend for snapshots and for put's CAS.
                    slot.meta
                        .state
                        .store(state::with_in_use(word, true), Ordering::Relaxed);
                    slot.meta.reuses.inc_owned();
                    return Some(slot);
                }
                Some(reason) => self.close_slot(slot, reason),
            }
        }
        None
    }

    #[inline]
    fn unfit_to_lend(&self, slot: &Slot<T>, word: u64, now: u64) -> Option<Reason> {
        let s = &self.pool.settings;
        if state::in_use(word) {
            return Some(Reason::DoubleLend);
        }
        if u64::from(state::errors(word)) > Settings::get_u64(&s.max_errors) {
            return Some(Reason::TooManyErrors);
        }
        if now.saturating_sub(state::last_used(word)) > Settings::get_u64(&s.idle_ticks) {
            return Some(Reason::IdleExpired);
        }
        if now.saturating_sub(slot.meta.created) > Settings::get_u64(&s.lifetime_ticks) {
            return Some(Reason::LifetimeExpired);
        }
        if slot.meta.addr.is_retired() {
            return Some(Reason::AddressRetired);
        }
        if slot.meta.addr.is_blocked(now) {
            return Some(Reason::AddressBlocked);
        }
        if !self.pool.driver.is_open(&slot.conn) {
            return Some(Reason::PeerClosed);
        }
        None
    }

    /// The put: return a lent connection (the guard's `Drop`).
    ///
    /// `domain` is the guard's reference: once pushed, the slot may be popped
    /// and closed by another thread, and only this reference keeps the
    /// domain alive for the fence and waiter check that follow the push. It
    /// is then parked in the thread's [`stash`] for the next lend.
    #[inline]
    pub(crate) fn put(slot: Box<Slot<T>>, domain: Arc<Domain<T>>) {
        let pool = &*domain.pool;
        let now = pool.ticker.now();
        let word = slot.meta.state.load(Ordering::Relaxed);
        if let Some(reason) = domain.unfit_to_return(&slot, word, now) {
            domain.counters.discarded.inc();
            return domain.close_slot(slot, reason);
        }
        let returned = state::with_last_used(state::with_in_use(word, false), now);
        if slot
            .meta
            .state
            .compare_exchange(word, returned, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            domain.counters.discarded.inc();
            return domain.close_slot(slot, Reason::DoubleLend);
        }
        slot.meta.recycled.inc_owned();
        if let Err(slot) = domain.idle.push(slot, domain.limit()) {
            slot.meta.recycled.dec_owned();
            domain.counters.discarded.inc();
            return domain.close_slot(slot, Reason::QueueFull);
        }
        // Dekker with the waiter's fetch_add + fence (see module docs).
        fence(Ordering::SeqCst);
        if domain.waiters.load(Ordering::Acquire) != 0 {
            domain.event.notify(usize::MAX);
        }
        if pool.closed.load(Ordering::Acquire) {
            domain.drain(Reason::PoolClosed);
        }
        stash::put(domain);
    }

    #[inline]
    fn unfit_to_return(&self, slot: &Slot<T>, word: u64, now: u64) -> Option<Reason> {
        let s = &self.pool.settings;
        if !state::in_use(word) {
            return Some(Reason::DoubleLend);
        }
        if self.pool.closed.load(Ordering::Relaxed) {
            return Some(Reason::PoolClosed);
        }
        if u64::from(state::errors(word)) > Settings::get_u64(&s.max_errors) {
            return Some(Reason::TooManyErrors);
        }
        if now.saturating_sub(slot.meta.created) > Settings::get_u64(&s.lifetime_ticks) {
            return Some(Reason::LifetimeExpired);
        }
        if slot.meta.addr.is_retired() {
            return Some(Reason::AddressRetired);
        }
        if slot.meta.addr.is_blocked(now) {
            return Some(Reason::AddressBlocked);
        }
        None
    }

    // --- closing ------------------------------------------------------------

    /// Closes a connection: unregister, close through the connector, release
    /// its capacity (waking waiters).
    // The slot arrives boxed from the queue or a guard; unboxing it here is
    // where it is taken apart.
    #[allow(clippy::boxed_local)]
    pub(crate) fn close_slot(&self, slot: Box<Slot<T>>, reason: Reason) {
        let domain = self;
        let Slot { conn, meta } = *slot;
        domain.unregister(&meta);
        domain.counters.closed.inc();
        if reason == Reason::DoubleLend {
            tracing::error!(domain = %domain.key, id = meta.id, "hotpool: {}", reason.as_str());
        } else {
            tracing::debug!(domain = %domain.key, addr = %meta.target.addr(), id = meta.id, reason = reason.as_str(), "hotpool: closing connection");
        }
        domain.pool.driver.close(conn);
        domain.release();
    }

    /// Takes the connection out of the pool for good.
    #[allow(clippy::boxed_local)]
    pub(crate) fn detach(&self, slot: Box<Slot<T>>) -> T {
        let Slot { conn, meta } = *slot;
        self.unregister(&meta);
        self.counters.detached.inc();
        self.release();
        conn
    }

    /// Closes a lent connection instead of returning it.
    pub(crate) fn discard(&self, slot: Box<Slot<T>>) {
        self.counters.discarded.inc();
        self.close_slot(slot, Reason::Discarded);
    }

    fn unregister(&self, meta: &Arc<Meta>) {
        let mut reg = lock(&self.registry);
        if let Some(i) = reg.metas.iter().position(|m| Arc::ptr_eq(m, meta)) {
            reg.metas.swap_remove(i);
        }
        reg.reuses += meta.reuses.get();
        reg.recycled += meta.recycled.get();
    }

    /// Gives back one unit of domain and pool capacity and wakes waiters.
    fn release(&self) {
        self.live.fetch_sub(1, Ordering::SeqCst);
        self.pool.live.fetch_sub(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        self.notify_waiters();
        self.pool.notify_waiters();
    }

    /// Wakes this domain's waiters, if there are any. Callers fence first.
    fn notify_waiters(&self) {
        if self.waiters.load(Ordering::Acquire) != 0 {
            self.event.notify(usize::MAX);
        }
    }

    /// Closes every idle connection.
    pub(crate) fn drain(&self, reason: Reason) -> usize {
        let mut n = 0;
        while let Some(slot) = self.idle.pop() {
            self.close_slot(slot, reason);
            n += 1;
        }
        n
    }

    /// One sweeper pass over the idle queue: take out the entries present at
    /// the start, close the unfit ones, push the rest back, wake waiters.
    /// Returns (kept, closed).
    pub(crate) fn sweep(&self) -> (usize, usize) {
        // Nothing is idle longer than u64::MAX ticks: no probe.
        let (kept, closed, _) = self.sweep_take(u64::MAX);
        (kept, closed)
    }

    // --- services -------------------------------------------------------------

    /// The sweeper's first half: takes out the idle entries present now,
    /// closes the unfit (counted as swept), and hands back the ones idle
    /// longer than `probe_after` ticks, each with its state word, for the
    /// caller to probe and give back with
    /// [`restore_probed`](Domain::restore_probed) or close. The rest go
    /// back to the queue. Returns (kept, closed, to probe).
    #[allow(clippy::type_complexity)]
    pub(crate) fn sweep_take(&self, probe_after: u64) -> (usize, usize, Vec<(Box<Slot<T>>, u64)>) {
        let now = self.pool.ticker.now();
        let n = self.idle.len();
        let mut keep = Vec::with_capacity(n);
        let mut probe = Vec::new();
        let mut closed = 0;
        // A limit lowered at run time: close idle connections beyond it.
        let max = Settings::get_usize(&self.pool.settings.max_per_domain);
        let mut excess = self.live.load(Ordering::Relaxed).saturating_sub(max);
        for _ in 0..n {
            let Some(slot) = self.idle.pop() else { break };
            let word = slot.meta.state.load(Ordering::Relaxed);
            let unfit = self.unfit_to_lend(&slot, word, now).or_else(|| {
                (excess > 0).then(|| {
                    excess -= 1;
                    Reason::OverLimit
                })
            });
            match unfit {
                Some(reason) => {
                    self.counters.swept.inc();
                    self.close_slot(slot, reason);
                    closed += 1;
                }
                None if now.saturating_sub(state::last_used(word)) > probe_after => {
                    // Out of the queue while probed: marked lent so that
                    // snapshots count it as busy.
                    slot.meta
                        .state
                        .store(state::with_in_use(word, true), Ordering::Relaxed);
                    probe.push((slot, word));
                }
                None => keep.push(slot),
            }
        }
        let kept = keep.len();
        for slot in keep {
            if let Err(slot) = self.idle.push(slot, self.limit()) {
                self.close_slot(slot, Reason::QueueFull);
                closed += 1;
            }
        }
        fence(Ordering::SeqCst);
        self.notify_waiters();
        if self.pool.closed.load(Ordering::Acquire) {
            self.drain(Reason::PoolClosed);
        }
        (kept, closed, probe)
    }

    /// Returns a connection that passed its probe to the idle queue with
    /// its state word from before the probe: a probe is not a use, so the
    /// connection's idle time keeps running towards `idle_timeout`.
    pub(crate) fn restore_probed(&self, slot: Box<Slot<T>>, word: u64) {
        slot.meta.state.store(word, Ordering::Relaxed);
        self.add_idle(slot);
    }

    /// Counts a health probe and its outcome.
    pub(crate) fn count_probe(&self, ok: bool) {
        self.counters.probes.inc();
        if !ok {
            self.counters.probe_failures.inc();
        }
    }

    /// Closes a connection that failed its health probe.
    pub(crate) fn close_unhealthy(&self, slot: Box<Slot<T>>) {
        self.counters.swept.inc();
        self.close_slot(slot, Reason::ProbeFailed);
    }

    /// Adds a connection dialed ahead of demand (prewarm, refill) to the
    /// idle queue and wakes a waiter. The slot arrives from
    /// [`admit`](Domain::admit) with `lent == false`.
    pub(crate) fn add_idle(&self, slot: Box<Slot<T>>) {
        if self.pool.closed.load(Ordering::Acquire) {
            return self.close_slot(slot, Reason::PoolClosed);
        }
        if let Err(slot) = self.idle.push(slot, self.limit()) {
            return self.close_slot(slot, Reason::QueueFull);
        }
        fence(Ordering::SeqCst);
        self.notify_waiters();
        if self.pool.closed.load(Ordering::Acquire) {
            self.drain(Reason::PoolClosed);
        }
    }

    /// Idle connections now.
    pub(crate) fn idle_len(&self) -> usize {
        self.idle.len()
    }

    /// Lends an idle connection to `ip`, if one is fit; the others stay
    /// queued (in their order, after the ones not looked at).
    pub(crate) fn pop_idle_to(&self, ip: IpAddr) -> Option<Box<Slot<T>>> {
        let now = self.pool.ticker.now();
        let n = self.idle.len();
        let mut found = None;
        let mut back = Vec::new();
        for _ in 0..n {
            let Some(slot) = self.idle.pop() else { break };
            if found.is_some() || slot.meta.target.addr().ip() != ip {
                back.push(slot);
                continue;
            }
            let word = slot.meta.state.load(Ordering::Relaxed);
            match self.unfit_to_lend(&slot, word, now) {
                None => {
                    slot.meta
                        .state
                        .store(state::with_in_use(word, true), Ordering::Relaxed);
                    slot.meta.reuses.inc_owned();
                    found = Some(slot);
                }
                Some(reason) => self.close_slot(slot, reason),
            }
        }
        for slot in back {
            if let Err(slot) = self.idle.push(slot, self.limit()) {
                self.close_slot(slot, Reason::QueueFull);
            }
        }
        fence(Ordering::SeqCst);
        self.notify_waiters();
        found
    }

    /// This domain's address `ip`, if it is in the list and usable now.
    pub(crate) fn addr_of(&self, ip: IpAddr) -> Result<Arc<Addr>, Error> {
        let now = self.pool.ticker.now();
        let ips = self.ips.load();
        let Some(a) = ips.iter().find(|a| a.addr.ip() == ip && !a.is_retired()) else {
            return Err(Error::NoAddress {
                domain: self.key.clone(),
            });
        };
        if a.is_blocked(now) {
            return Err(Error::Blocked {
                domain: self.key.clone(),
                ip,
            });
        }
        Ok(a.clone())
    }

    /// Where this domain's addresses came from.
    pub(crate) fn ip_source(&self) -> u8 {
        self.ip_source.load(unmodeled::Ordering::Relaxed)
    }

    /// Whether the resolver's answer is older than `refresh` ticks.
    pub(crate) fn resolution_due(&self, now: u64, refresh: u64) -> bool {
        self.ip_source() == IPS_RESOLVED
            && now.saturating_sub(self.resolved_at.load(unmodeled::Ordering::Relaxed)) >= refresh
    }

    /// Sets the addresses from the resolver (unless `set_ips` fixed them
    /// meanwhile).
    pub(crate) fn set_resolved_ips(&self, ips: &[IpAddr]) {
        if self.ip_source() == IPS_STATIC {
            return;
        }
        self.set_ips_from(ips);
        self.ip_source
            .store(IPS_RESOLVED, unmodeled::Ordering::Relaxed);
        self.resolved_at
            .store(self.pool.ticker.now(), unmodeled::Ordering::Relaxed);
    }

    /// The host and port dialed.
    pub(crate) fn host_port(&self) -> (&str, u16) {
        (&self.host, self.port)
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
            });
        }
    }

    // --- capacity -----------------------------------------------------------

    /// Reserves one unit of pool capacity, then one of domain capacity.
    ///
    /// A unit taken and given back (the domain turned out full) is a release
    /// like any other: a task may have seen it taken and gone to sleep, so
    /// the rollback wakes the pool's waiters. The domain limit is checked
    /// with a plain load first, so a task blocked by its domain does not
    /// take and give back pool units on every re-check — which would wake
    /// pool-level waiters (possibly itself) for nothing.
    pub(crate) fn try_reserve(this: &Arc<Self>) -> Result<Reservation<T>, Blocked> {
        let pool = &*this.pool;
        let max_domain = Settings::get_usize(&pool.settings.max_per_domain);
        if this.live.load(Ordering::SeqCst) >= max_domain {
            return Err(Blocked::Domain);
        }
        if !reserve(&pool.live, Settings::get_usize(&pool.settings.max_conns)) {
            return Err(Blocked::Pool);
        }
        if !reserve(&this.live, max_domain) {
            pool.live.fetch_sub(1, Ordering::SeqCst);
            fence(Ordering::SeqCst);
            pool.notify_waiters();
            return Err(Blocked::Domain);
        }
        Ok(Reservation {
            domain: Some(this.clone()),
        })
    }

    /// Turns a reservation into a live connection; returns it with the
    /// reservation's domain reference, ready for a guard.
    pub(crate) fn admit(
        this: &Arc<Self>,
        mut res: Reservation<T>,
        conn: T,
        addr: Arc<Addr>,
        lent: bool,
    ) -> (Box<Slot<T>>, Arc<Domain<T>>) {
        let pool = &*this.pool;
        let now = pool.ticker.now();
        let meta = Arc::new(Meta {
            state: AtomicU64::new(state::pack(state::State {
                in_use: lent,
                errors: 0,
                last_used: now,
            })),
            reuses: Counter::default(),
            recycled: Counter::default(),
            id: pool.next_id.fetch_add(1, unmodeled::Ordering::Relaxed),
            created: now,
            target: Target::new(this.host.clone(), addr.addr),
            addr,
            profile: pool.driver.profile(&conn),
            dialed_for_lend: lent,
        });
        lock(&this.registry).metas.push(meta.clone());
        this.counters.created.inc();
        if lent {
            this.counters.fresh.inc();
        }
        // The unit now belongs to the connection.
        let domain = res.domain.take().unwrap_or_else(|| this.clone());
        (Box::new(Slot { conn, meta }), domain)
    }

    // --- addresses -----------------------------------------------------------

    /// The next address to dial, round-robin, skipping retired and
    /// blacklisted ones, and those set aside after failing (unless no
    /// other is left). `Err(None)`: the domain has no address;
    /// `Err(Some(ip))`: every address is blacklisted (`ip` is one of them).
    pub(crate) fn next_addr(&self) -> Result<Arc<Addr>, Option<IpAddr>> {
        let ips = self.ips.load();
        let n = ips.len();
        if n == 0 {
            return Err(None);
        }
        let now = self.pool.ticker.now();
        let start = self.rr.fetch_add(1, unmodeled::Ordering::Relaxed);
        let mut blocked = None;
        let mut aside: Option<&Arc<Addr>> = None;
        for i in 0..n {
            let a = &ips[(start + i) % n];
            if a.is_retired() {
                continue;
            }
            if a.is_blocked(now) {
                blocked = Some(a.addr.ip());
                continue;
            }
            if a.is_aside(now) {
                // Failing lately: only if no other address is usable, and
                // then the one whose time aside ends first.
                let earlier = aside.is_none_or(|b| {
                    a.aside_until.load(unmodeled::Ordering::Relaxed)
                        < b.aside_until.load(unmodeled::Ordering::Relaxed)
                });
                if earlier {
                    aside = Some(a);
                }
                continue;
            }
            return Ok(a.clone());
        }
        match aside {
            Some(a) => Ok(a.clone()),
            None => Err(blocked),
        }
    }

    /// Copies the blacklist's deadline for `ip` in this domain (the later
    /// of the IP's and the pair's) to this domain's addresses of `ip`.
    ///
    /// Serialised with [`set_ips_from`](Domain::set_ips_from) by the same
    /// lock, and reading the blacklist after the caller wrote it: a refresh
    /// of the address list that races a block either builds its list after
    /// the block (and copies the new deadline) or installs it before this
    /// copy (which then reaches the new list). Without the lock, a refresh
    /// could install an address made before the block, unblocked.
    fn sync_blocked(&self, ip: IpAddr) {
        let _serial = lock(&self.ips_update);
        let until = self.pool.blacklist.until_for(&self.key, ip);
        for a in self.ips.load().iter().filter(|a| a.addr.ip() == ip) {
            a.blocked_until.store(until, unmodeled::Ordering::Relaxed);
        }
    }

    /// The domain's current `max_conns_per_domain`.
    #[inline]
    fn limit(&self) -> usize {
        Settings::get_usize(&self.pool.settings.max_per_domain)
    }

    /// Dials no new connection to this domain until `until` (ticks);
    /// extends, never shortens, an earlier throttle.
    pub(crate) fn throttle(&self, until: u64) {
        self.throttled_until
            .fetch_max(until, unmodeled::Ordering::Relaxed);
    }

    /// How long new dials must still wait (zero: none).
    pub(crate) fn throttled_for(&self) -> Duration {
        let until = self.throttled_until.load(unmodeled::Ordering::Relaxed);
        let now = self.pool.ticker.now();
        if until <= now {
            return Duration::ZERO;
        }
        state::duration_from(until - now)
    }

    /// The domain as dialed: host and the address to use.
    pub(crate) fn target_for(&self, addr: &Addr) -> Target {
        Target::new(self.host.clone(), addr.addr)
    }

    /// Replaces the address list. Addresses that left it are retired: their
    /// idle connections are closed now, lent ones when they come back.
    pub(crate) fn set_ips(&self, ips: &[IpAddr]) {
        self.ip_source
            .store(IPS_STATIC, unmodeled::Ordering::Relaxed);
        self.set_ips_from(ips);
    }

    fn set_ips_from(&self, ips: &[IpAddr]) {
        let _serial = lock(&self.ips_update);
        let old = self.ips.load_full();
        let mut new: Vec<Arc<Addr>> = Vec::with_capacity(ips.len());
        for ip in ips {
            let sa = SocketAddr::new(*ip, self.port);
            if new.iter().any(|a| a.addr == sa) {
                continue;
            }
            match old.iter().find(|a| a.addr == sa) {
                Some(a) => new.push(a.clone()),
                None => new.push(Addr::new(sa, self.pool.blacklist.until_for(&self.key, *ip))),
            }
        }
        let mut retired = false;
        for a in old.iter() {
            if !new.iter().any(|n| Arc::ptr_eq(n, a)) {
                a.retired.store(true, unmodeled::Ordering::Relaxed);
                retired = true;
            }
        }
        self.ips.store(Arc::new(new));
        if retired {
            self.sweep();
        }
    }

    /// The current addresses.
    pub(crate) fn ips(&self) -> Vec<SocketAddr> {
        self.ips.load().iter().map(|a| a.addr).collect()
    }

    // --- waiting ------------------------------------------------------------

    /// Lends an idle connection, or hands back a capacity reservation for
    /// the caller to dial with, waiting up to `wait_timeout` for either.
    ///
    /// With `fresh`, no idle connection is lent: the caller wants a new one
    /// (a stale-connection retry). An idle connection of this domain that
    /// holds capacity the dial needs is closed to make room.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future at any await point drops its [`Waiter`], which
    /// deregisters the listeners and gives back the waiter counts; nothing
    /// else is held across an await.
    pub(crate) async fn acquire(this: &Arc<Self>, fresh: bool) -> Result<Acquired<T>, Error> {
        let pool = &*this.pool;
        let mut waited_since = None;
        let result = loop {
            if pool.is_closed() {
                break Err(Error::Closed);
            }
            if !fresh {
                if let Some(slot) = this.pop_idle() {
                    break Ok(Acquired::Idle(slot));
                }
            }
            let mut blocked = match Domain::try_reserve(this) {
                Ok(res) => break Ok(Acquired::Dial(res)),
                Err(b) => b,
            };
            if fresh && this.close_one_idle() {
                continue;
            }
            if blocked == Blocked::Pool && pool.evict_idle(this) {
                continue;
            }
            // Register, then check again before sleeping (module docs).
            let mut waiter = Waiter::new(this);
            let ready = loop {
                if !waiter.register(blocked) {
                    break None;
                }
                if pool.is_closed() {
                    break Some(Err(Error::Closed));
                }
                if !fresh {
                    if let Some(slot) = this.pop_idle() {
                        break Some(Ok(Acquired::Idle(slot)));
                    }
                }
                match Domain::try_reserve(this) {
                    Ok(res) => break Some(Ok(Acquired::Dial(res))),
                    Err(b) => blocked = b,
                }
                if fresh && !this.idle.is_empty() {
                    // Capacity is held by an idle connection: go round and
                    // close it rather than sleep.
                    break None;
                }
            };
            if let Some(r) = ready {
                break r;
            }
            if fresh && !this.idle.is_empty() {
                continue;
            }
            let since = match waited_since {
                Some(t) => t,
                None => {
                    this.counters.waits.inc();
                    let t = WaitClock::now();
                    waited_since = Some(t);
                    t
                }
            };
            if let Err(waited) = waiter.wait_until(since, pool.settings.wait_timeout()).await {
                this.counters.wait_timeouts.inc();
                break Err(Error::WaitTimeout {
                    domain: this.key.clone(),
                    waited,
                });
            }
        };
        if result.is_err() {
            this.counters.misses.inc();
        }
        #[cfg(all(feature = "metrics", not(loom)))]
        if let Some(since) = waited_since {
            crate::metrics::record_wait(since.elapsed());
        }
        result
    }

    /// Closes one idle connection of this domain (for a fresh dial that
    /// needs its capacity). Returns whether there was one.
    fn close_one_idle(&self) -> bool {
        match self.idle.pop() {
            Some(slot) => {
                self.close_slot(slot, Reason::Refreshed);
                true
            }
            None => false,
        }
    }

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
        let mut in_use = 0;
        for m in &reg.metas {
            hits += m.reuses.get();
            recycled += m.recycled.get();
            in_use += u64::from(state::in_use(m.state.load(Ordering::Relaxed)));
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
        }
    }

    /// Waiters registered on this domain (for tests and loom models).
    pub(crate) fn waiter_count(&self) -> usize {
        self.waiters.load(Ordering::SeqCst)
    }

    /// Reserved capacity of this domain (for tests and loom models).
    pub(crate) fn live_count(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }
}

/// CAS `counter` up by one unless it is at `max`.
#[inline]
fn reserve(counter: &AtomicUsize, max: usize) -> bool {
    let mut cur = counter.load(Ordering::Relaxed);
    loop {
        if cur >= max {
            return false;
        }
        match counter.compare_exchange_weak(cur, cur + 1, Ordering::SeqCst, Ordering::Relaxed) {
            Ok(_) => return true,
            Err(actual) => cur = actual,
        }
    }
}

/// What [`Domain::acquire`] found.
pub(crate) enum Acquired<T: Send + 'static> {
    /// An idle connection, already marked lent.
    Idle(Box<Slot<T>>),
    /// Capacity for one dial.
    Dial(Reservation<T>),
}

/// One unit of domain and pool capacity, released on drop unless a
/// connection took it over ([`Domain::admit`]).
pub(crate) struct Reservation<T: Send + 'static> {
    domain: Option<Arc<Domain<T>>>,
}

impl<T: Send + 'static> Reservation<T> {
    pub(crate) fn domain(&self) -> &Arc<Domain<T>> {
        self.domain.as_ref().expect("reservation already consumed")
    }
}

impl<T: Send + 'static> Drop for Reservation<T> {
    fn drop(&mut self) {
        if let Some(d) = self.domain.take() {
            d.release();
        }
    }
}

// ---------------------------------------------------------------------------
// Waiting

/// The time base for `wait_timeout`: tokio's clock (so tests can pause it);
/// under loom there is no timer and waits are unbounded.
#[cfg(not(loom))]
type WaitClock = tokio::time::Instant;

#[cfg(loom)]
#[derive(Clone, Copy)]
struct WaitClock;

#[cfg(loom)]
impl WaitClock {
    fn now() -> WaitClock {
        WaitClock
    }
}

/// A registered waiter: listeners plus the waiter counts they stand for.
/// Dropping it deregisters both (cancel safety).
pub(crate) struct Waiter<'a, T: Send + 'static> {
    domain: &'a Domain<T>,
    on_domain: Option<EventListener>,
    on_pool: Option<EventListener>,
}

impl<'a, T: Send + 'static> Waiter<'a, T> {
    fn new(domain: &'a Domain<T>) -> Self {
        Waiter {
            domain,
            on_domain: None,
            on_pool: None,
        }
    }

    /// Registers for what `blocked` needs: the domain's event always (a put
    /// or a release in the domain), the pool's as well when the pool limit
    /// blocked. Returns whether anything new was registered, in which case
    /// the caller must check again before sleeping.
    fn register(&mut self, blocked: Blocked) -> bool {
        let mut new = false;
        if self.on_domain.is_none() {
            self.on_domain = Some(self.domain.event.listen());
            self.domain.waiters.fetch_add(1, Ordering::SeqCst);
            new = true;
        }
        if blocked == Blocked::Pool && self.on_pool.is_none() {
            let pool = &self.domain.pool;
            self.on_pool = Some(pool.event.listen());
            pool.waiters.fetch_add(1, Ordering::SeqCst);
            new = true;
        }
        if new {
            fence(Ordering::SeqCst);
        }
        new
    }

    /// Sleeps until a listener fires or `timeout` after `since` passes;
    /// on time-out returns how long the caller waited.
    #[cfg(not(loom))]
    async fn wait_until(&mut self, since: WaitClock, timeout: Duration) -> Result<(), Duration> {
        match tokio::time::timeout_at(since + timeout, WaitAny(self)).await {
            Ok(()) => Ok(()),
            Err(_) => Err(since.elapsed()),
        }
    }

    #[cfg(loom)]
    async fn wait_until(&mut self, _since: WaitClock, _timeout: Duration) -> Result<(), Duration> {
        WaitAny(self).await;
        Ok(())
    }
}

impl<T: Send + 'static> Drop for Waiter<'_, T> {
    fn drop(&mut self) {
        if self.on_domain.take().is_some() {
            self.domain.waiters.fetch_sub(1, Ordering::SeqCst);
        }
        if self.on_pool.take().is_some() {
            self.domain.pool.waiters.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// Resolves when either of the waiter's listeners fires.
struct WaitAny<'w, 'a, T: Send + 'static>(&'w mut Waiter<'a, T>);

impl<T: Send + 'static> Future for WaitAny<'_, '_, T> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let w = &mut *self.get_mut().0;
        for l in [&mut w.on_domain, &mut w.on_pool].into_iter().flatten() {
            if Pin::new(l).poll(cx).is_ready() {
                return Poll::Ready(());
            }
        }
        Poll::Pending
    }
}

// ---------------------------------------------------------------------------
// The pool

type Table<T> = hashbrown::HashTable<Arc<Domain<T>>>;

/// Domain-key hashing: seeded per pool (HashDoS-resistant) normally; fixed
/// under loom, where every iteration of a model must make the same choices.
#[cfg(not(loom))]
type KeyHasher = foldhash::fast::RandomState;
#[cfg(loom)]
type KeyHasher = foldhash::fast::FixedState;

/// The shared core of a pool.
pub(crate) struct Shared<T: Send + 'static> {
    shards: Box<[SwapCell<Table<T>>]>,
    hasher: KeyHasher,
    live: CachePadded<AtomicUsize>,
    waiters: CachePadded<AtomicUsize>,
    event: Event,
    closed: AtomicBool,
    pub(crate) settings: Settings,
    pub(crate) ticker: Ticker,
    pub(crate) driver: StdArc<dyn Driver<T>>,
    next_id: unmodeled::AtomicU64,
    evict_cursor: unmodeled::AtomicUsize,
    pub(crate) blacklist: Blacklist,
    /// Addresses set per host (`set_ips`): they apply to the host on every
    /// port, to domains made later too. Also serialises making a domain
    /// with setting a host's addresses, so that neither misses the other.
    host_ips: Mutex<HashMap<StdArc<str>, Vec<IpAddr>>>,
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
            waiters: CachePadded::new(AtomicUsize::new(0)),
            event: Event::new(),
            closed: AtomicBool::new(false),
            settings: Settings::new(config),
            ticker: Ticker::new(clock),
            driver,
            next_id: unmodeled::AtomicU64::new(0),
            evict_cursor: unmodeled::AtomicUsize::new(0),
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
    fn locate(&self, key: &str) -> (u64, usize) {
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
    /// debt slot they avoid. [`DomainHandle`](crate::DomainHandle) skips the
    /// map altogether.
    #[inline]
    fn with_table<R>(&self, shard: usize, f: impl FnOnce(&Table<T>) -> R) -> R {
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
        match self.with_table(shard, |table| match table.find(hash, |d| &*d.key == key) {
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
    fn with_known_slow<R>(&self, key: &str, f: impl FnOnce(&Arc<Domain<T>>) -> R) -> Option<R> {
        let canonical = self.canonical(key);
        if canonical == key {
            return None;
        }
        let key = &*canonical;
        let (hash, shard) = self.locate(key);
        self.with_table(shard, |table| table.find(hash, |d| &*d.key == key).map(f))
    }

    /// Runs `f` on the domain `key`, creating the domain on first sight.
    #[inline]
    pub(crate) fn with_domain<R>(
        this: &Arc<Self>,
        key: &str,
        f: impl FnOnce(&Arc<Domain<T>>) -> R,
    ) -> R {
        let (hash, shard) = this.locate(key);
        let found = this.with_table(shard, |table| match table.find(hash, |d| &*d.key == key) {
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
    fn find_or_insert(this: &Arc<Self>, key: &str) -> Arc<Domain<T>> {
        let canonical = this.canonical(key);
        let key = &*canonical;
        let (hash, shard) = this.locate(key);
        if let Some(d) =
            this.with_table(shard, |table| table.find(hash, |d| &*d.key == key).cloned())
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
            .map(|ips| ips.iter().map(|ip| SocketAddr::new(*ip, port)).collect())
            .unwrap_or_default()
    }

    /// Sets the addresses of `host` on every port: its domains now and
    /// those made later.
    pub(crate) fn set_host_ips(this: &Arc<Self>, key: &str, ips: &[IpAddr]) {
        let canonical = this.canonical(key);
        let host = crate::key::host_of(&canonical);
        let mut map = lock(&this.host_ips);
        map.insert(host.into(), ips.to_vec());
        for d in this.domains() {
            if crate::key::host_of(&d.key) == host {
                d.set_ips(ips);
            }
        }
        drop(map);
        // The domain of `key` itself, made now if new (it takes the host's
        // addresses as it is made).
        Self::with_domain(this, &canonical, |_| ());
    }

    /// Inserts a domain by read-copy-update of its shard; returns whichever
    /// domain won if another thread inserted the same key meanwhile.
    #[cold]
    fn insert(
        this: &Arc<Self>,
        key: &str,
        hash: u64,
        shard: &SwapCell<Table<T>>,
    ) -> Arc<Domain<T>> {
        let fresh = Arc::new(Domain::new(this, key, hash));
        let hosts = lock(&this.host_ips);
        if let Some(ips) = hosts.get(crate::key::host_of(key)) {
            fresh.set_ips(ips);
        }
        shard.rcu(|table| {
            let mut t = table.clone();
            if t.find(hash, |d| &*d.key == key).is_none() {
                t.insert_unique(hash, fresh.clone(), |d| d.hash);
            }
            t
        });
        drop(hosts);
        let table = shard.load();
        let found = table.find(hash, |d| &*d.key == key).cloned();
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

    /// Wakes pool-level waiters, if any. Callers fence first.
    fn notify_waiters(&self) {
        if self.waiters.load(Ordering::Acquire) != 0 {
            self.event.notify(usize::MAX);
        }
    }

    /// The pool limit blocks `except`: close one idle connection of another
    /// domain to make room. Returns whether one was closed.
    fn evict_idle(&self, except: &Domain<T>) -> bool {
        let start = self.evict_cursor.fetch_add(1, unmodeled::Ordering::Relaxed);
        for i in 0..SHARDS {
            let table = self.shards[(start + i) % SHARDS].load();
            for d in table.iter() {
                if std::ptr::eq(&**d, except) {
                    continue;
                }
                if let Some(slot) = d.idle.pop() {
                    d.close_slot(slot, Reason::Evicted);
                    return true;
                }
            }
        }
        false
    }

    /// Wakes every waiter of every domain and of the pool: a limit was
    /// raised, so some may now reserve capacity (the others wait again).
    pub(crate) fn wake_all(&self) {
        fence(Ordering::SeqCst);
        for d in self.domains() {
            d.event.notify(usize::MAX);
        }
        self.event.notify(usize::MAX);
    }

    /// Closes the pool: no more lends, idle connections closed, waiters
    /// woken (they see `closed` and fail with `Error::Closed`).
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        for d in self.domains() {
            d.drain(Reason::PoolClosed);
            d.event.notify(usize::MAX);
        }
        self.event.notify(usize::MAX);
    }

    /// Closes and forgets every domain: breaks the domain → pool reference
    /// cycle when the last `Pool` handle goes.
    pub(crate) fn shutdown(&self) {
        self.close();
        for shard in self.shards.iter() {
            shard.store(Arc::new(Table::new()));
        }
    }

    /// Pool-wide reserved capacity and waiter count.
    pub(crate) fn live_count(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }

    pub(crate) fn waiter_count(&self) -> usize {
        self.waiters.load(Ordering::SeqCst)
    }
}

/// A one-entry, per-thread stash of the domain reference a put just used.
///
/// A guard needs an `Arc<Domain>` (see [`Domain::put`]); cloning one on every
/// lend and dropping it on every return would be two locked read-modify-
/// writes on a counter that every thread using the domain shares. Instead the
/// put parks its reference here and the next lend of the same domain on the
/// same thread takes it back — moved, not counted. A miss (another domain,
/// another thread) falls back to a clone. The stash holds at most one
/// reference per thread, which keeps that domain (and its pool's settings and
/// connector, not its connections) alive until the thread's next put or exit.
pub(crate) mod stash {
    use super::Domain;
    use crate::sync::Arc;

    #[cfg(not(loom))]
    type Parked = std::sync::Arc<dyn std::any::Any + Send + Sync>;

    #[cfg(not(loom))]
    thread_local! {
        static STASH: std::cell::Cell<Option<Parked>> = const { std::cell::Cell::new(None) };
    }

    /// Parks `domain` for the next lend on this thread.
    #[inline]
    pub(crate) fn put<T: Send + 'static>(domain: Arc<Domain<T>>) {
        #[cfg(not(loom))]
        {
            let parked: Parked = domain;
            // Whatever was parked before is dropped outside the TLS access:
            // its destructor may run arbitrary code.
            let _old = STASH.try_with(|s| s.replace(Some(parked)));
        }
        #[cfg(loom)]
        drop(domain);
    }

    /// A reference to `domain` for a guard: the parked one if it is this
    /// domain, else a clone.
    #[inline]
    pub(crate) fn take<T: Send + 'static>(domain: &Arc<Domain<T>>) -> Arc<Domain<T>> {
        #[cfg(not(loom))]
        {
            if let Some(parked) = STASH.try_with(std::cell::Cell::take).ok().flatten() {
                if let Ok(d) = parked.downcast::<Domain<T>>() {
                    if Arc::ptr_eq(&d, domain) {
                        return d;
                    }
                }
            }
        }
        domain.clone()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::split_key;

    #[test]
    fn keys_split_into_host_and_port() {
        assert_eq!(split_key("example.com", 443), ("example.com".into(), 443));
        assert_eq!(
            split_key("example.com:8443", 443),
            ("example.com".into(), 8443)
        );
        assert_eq!(
            split_key("[2001:db8::1]:444", 443),
            ("2001:db8::1".into(), 444)
        );
        assert_eq!(split_key("[2001:db8::1]", 443), ("2001:db8::1".into(), 443));
        assert_eq!(split_key("2001:db8::1", 443), ("2001:db8::1".into(), 443));
        assert_eq!(
            split_key("host:notaport", 443),
            ("host:notaport".into(), 443)
        );
    }
}
