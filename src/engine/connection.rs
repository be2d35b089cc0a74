//! One connection: why it is closed ([`Reason`]), its address record
//! ([`Addr`]), its metadata ([`Meta`]) and the slot that carries it.

use super::*;
use crate::{
    connect::Target,
    state,
    sync::{
        unmodeled::{self, Counter},
        Arc, AtomicU64, Ordering, StdArc,
    },
};
use std::{net::SocketAddr, time::Duration};

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
    pub(super) fn as_str(self) -> &'static str {
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
    pub(super) retired: unmodeled::AtomicBool,
    /// This IP's blacklist deadline in ticks (0: not blocked), a copy of the
    /// pool blacklist's entry kept here for the hot path.
    pub(super) blocked_until: unmodeled::AtomicU64,
    /// Dials skip this address until then (ticks): its last dials failed
    /// (refused, timed out, TLS or certificate error, garbage, reset,
    /// failed validation).
    pub(super) aside_until: unmodeled::AtomicU64,
    /// Dial failures in a row (0 after a success).
    pub(super) fails: unmodeled::AtomicU64,
    /// The dial score (see [`score`](super::score)).
    pub(crate) score: super::score::Score,
}

impl Addr {
    pub(super) fn new(addr: SocketAddr, blocked_until: u64) -> Arc<Addr> {
        Arc::new(Addr {
            addr,
            retired: unmodeled::AtomicBool::new(false),
            blocked_until: unmodeled::AtomicU64::new(blocked_until),
            aside_until: unmodeled::AtomicU64::new(0),
            fails: unmodeled::AtomicU64::new(0),
            score: super::score::Score::default(),
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

    /// Its record for snapshots.
    pub(crate) fn info(&self, now: u64) -> crate::stats::AddressInfo {
        let (dials, failures) = self.score.dials();
        crate::stats::AddressInfo {
            addr: self.addr,
            cost: Duration::from_micros(self.score.cost(now).min(1e15) as u64),
            latency: self.score.latency(),
            dials,
            failures,
            blocked: self.is_blocked(now),
            set_aside: self.is_aside(now),
        }
    }

    #[inline]
    pub(super) fn is_aside(&self, now: u64) -> bool {
        self.aside_until.load(unmodeled::Ordering::Relaxed) > now
    }

    #[inline]
    pub(super) fn is_retired(&self) -> bool {
        self.retired.load(unmodeled::Ordering::Relaxed)
    }

    #[inline]
    pub(super) fn is_blocked(&self, now: u64) -> bool {
        self.blocked_until.load(unmodeled::Ordering::Relaxed) > now
    }
}

/// Per-connection metadata, shared with snapshots.
///
/// The fields a lend and a put read and write come first, on one cache
/// line of their own (`align(64)` puts the `Arc`'s counts, touched only when
/// the registry adds or drops the connection, on the line before): the
/// state word, the creation tick, the address epoch and the two
/// owner-written counters.
#[repr(C, align(64))]
pub(crate) struct Meta {
    /// The packed state word (see `state.rs`).
    pub(crate) state: AtomicU64,
    pub(crate) created: u64,
    /// The domain's address epoch when this connection's address was last
    /// found fit (`u64::MAX`: never checked yet).
    pub(super) addr_epoch: unmodeled::AtomicU64,
    /// Lends from the idle queue (owner-written).
    pub(super) reuses: Counter,
    /// Ticks its reuses waited idle: from each put to the next lend (the
    /// seed's recycle latency), summed by the lender.
    pub(super) idle_before_reuse: Counter,
    /// Returns to the idle queue (owner-written).
    pub(super) recycled: Counter,
    // --- off the hot path -------------------------------------------------
    pub(crate) id: u64,
    pub(crate) target: Target,
    pub(super) addr: Arc<Addr>,
    /// The connector's label for the connection (a TLS profile).
    pub(crate) profile: Option<StdArc<str>>,
    /// Dialed for a caller (lent at once) rather than ahead of demand.
    pub(super) dialed_for_lend: bool,
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
