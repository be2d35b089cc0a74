//! The hot path: lending an idle connection and taking one back, and
//! closing connections.

use super::*;
use crate::{
    state,
    sync::{lock, unmodeled, Arc, Ordering},
};
use std::net::IpAddr;

impl<T: Send + 'static> Domain<T> {
    /// Pops idle connections until one is fit to lend; closes the unfit.
    /// `is_open` is the connector's check, passed in by the typed caller so
    /// that it is a static call (inlined to nothing for the default).
    #[inline]
    pub(crate) fn pop_idle_with(&self, is_open: impl Fn(&T) -> bool) -> Option<Box<Slot<T>>> {
        let pool = &*self.pool;
        let mut now = None;
        while let Some(slot) = self.idle.pop() {
            let now = *now.get_or_insert_with(|| pool.ticker.now());
            let word = slot.meta.state.load(Ordering::Relaxed);
            match self.unfit_to_lend(&slot, word, now, &is_open) {
                None => {
                    // We own the slot (the pop transferred it): a plain
                    // store records the lend for snapshots.
                    slot.meta
                        .state
                        .store(state::with_in_use(word, true), Ordering::Relaxed);
                    slot.meta.reuses.inc_owned();
                    slot.meta
                        .idle_before_reuse
                        .add_owned(now.saturating_sub(state::last_used(word)));
                    return Some(slot);
                }
                Some(reason) => self.close_slot(slot, reason),
            }
        }
        None
    }

    /// [`pop_idle_with`](Domain::pop_idle_with) through the type-erased
    /// connector (the engine's own callers).
    #[inline]
    pub(crate) fn pop_idle(&self) -> Option<Box<Slot<T>>> {
        let driver = &*self.pool.driver;
        self.pop_idle_with(|c| driver.is_open(c))
    }

    /// Whether an idle connection must be closed rather than lent: what
    /// can change while it sits idle. The double-lend detector (a queued
    /// connection marked lent), idle time, age, its address (checked only
    /// when the domain's address epoch moved since the last check) and the
    /// connector's `is_open`. Errors are counted while lent and checked at
    /// the return.
    #[inline]
    pub(super) fn unfit_to_lend(
        &self,
        slot: &Slot<T>,
        word: u64,
        now: u64,
        is_open: impl Fn(&T) -> bool,
    ) -> Option<Reason> {
        let s = &self.pool.settings;
        if state::in_use(word) {
            return Some(Reason::DoubleLend);
        }
        if now.saturating_sub(state::last_used(word)) > Settings::get_u64(&s.idle_ticks) {
            return Some(Reason::IdleExpired);
        }
        if now.saturating_sub(slot.meta.created) > Settings::get_u64(&s.lifetime_ticks) {
            return Some(Reason::LifetimeExpired);
        }
        if let Some(reason) = self.address_unfit(&slot.meta, now) {
            return Some(reason);
        }
        if !is_open(&slot.conn) {
            return Some(Reason::PeerClosed);
        }
        None
    }

    /// Whether the connection's address was retired or blocked, looked up
    /// only when the domain's address epoch differs from the one the
    /// connection was last found fit at: `set_ips`, `block` and `unblock`
    /// bump the epoch after changing the records, so the common case is one
    /// compare of two words on lines the caller touches anyway, not two
    /// loads through the connection's address record.
    #[inline]
    fn address_unfit(&self, meta: &Meta, now: u64) -> Option<Reason> {
        let epoch = self.addr_epoch.load(unmodeled::Ordering::Acquire);
        if meta.addr_epoch.load(unmodeled::Ordering::Relaxed) == epoch {
            return None;
        }
        if meta.addr.is_retired() {
            return Some(Reason::AddressRetired);
        }
        if meta.addr.is_blocked(now) {
            return Some(Reason::AddressBlocked);
        }
        meta.addr_epoch.store(epoch, unmodeled::Ordering::Relaxed);
        None
    }

    /// The put: return a lent connection (the guard's `Drop`).
    ///
    /// `domain` is the guard's reference: once pushed, the slot may be popped
    /// and closed by another thread, and only this reference keeps the
    /// domain alive for the fence and waiter check that follow the push. It
    /// is then parked in the thread's [`thread_cache`] for the next lend.
    #[inline]
    pub(crate) fn put(slot: Box<Slot<T>>, domain: Arc<Domain<T>>) {
        let pool = &*domain.pool;
        let now = pool.ticker.now();
        let word = slot.meta.state.load(Ordering::Relaxed);
        if let Some(reason) = domain.unfit_to_return(&slot, word, now) {
            domain.counters.discarded.inc();
            return domain.close_slot(slot, reason);
        }
        // The guard owns the slot (a `Box` moved out of the queue): nobody
        // else writes its word, so a plain store suffices where a CAS could
        // never fail. A double return cannot happen — the guard is consumed.
        let returned = state::with_last_used(state::with_in_use(word, false), now);
        slot.meta.state.store(returned, Ordering::Relaxed);
        slot.meta.recycled.inc_owned();
        if let Err(slot) = domain.idle.push(slot, domain.limit()) {
            slot.meta.recycled.dec_owned();
            domain.counters.discarded.inc();
            return domain.close_slot(slot, Reason::QueueFull);
        }
        // One RMW on the domain's word orders the push with waiters and
        // with `close` (see `signal`).
        if domain.publish(1) {
            // Closed: drain, and do not park a reference to a closed
            // domain in the thread's cache.
            domain.drain(Reason::PoolClosed);
            return;
        }
        thread_cache::put(domain);
    }

    /// Whether a returned connection must be closed rather than queued:
    /// its error count (errors are counted while lent, so this is the one
    /// place they are checked), its age (`max_lifetime` closes a connection
    /// "instead of lent or returned") and, when the address epoch moved,
    /// its address. Idle time and `is_open` are checked when it is next
    /// lent.
    #[inline]
    pub(super) fn unfit_to_return(&self, slot: &Slot<T>, word: u64, now: u64) -> Option<Reason> {
        let s = &self.pool.settings;
        if u64::from(state::errors(word)) > Settings::get_u64(&s.max_errors) {
            return Some(Reason::TooManyErrors);
        }
        if now.saturating_sub(slot.meta.created) > Settings::get_u64(&s.lifetime_ticks) {
            return Some(Reason::LifetimeExpired);
        }
        self.address_unfit(&slot.meta, now)
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

    pub(super) fn unregister(&self, meta: &Arc<Meta>) {
        let mut reg = lock(&self.registry);
        if let Some(i) = reg.metas.iter().position(|m| Arc::ptr_eq(m, meta)) {
            reg.metas.swap_remove(i);
            if reg.metas.is_empty() {
                self.pool.deactivate(self);
            }
        }
        reg.reuses += meta.reuses.get();
        reg.recycled += meta.recycled.get();
        reg.idle_before_reuse += meta.idle_before_reuse.get();
    }

    /// Gives back one unit of domain and pool capacity and wakes waiters.
    pub(super) fn release(&self) {
        self.live.fetch_sub(1, Ordering::SeqCst);
        self.pool.live.fetch_sub(1, Ordering::SeqCst);
        self.publish(1);
        self.pool.publish(1);
    }

    /// Announces `units` connections or capacity units made available just
    /// before, waking waiters if any (see [`signal`](super::signal)).
    /// Returns whether the pool is closed: the caller drains what it
    /// pushed.
    #[inline]
    pub(super) fn publish(&self, units: usize) -> bool {
        self.signal.publish(units, self.pool.settings.wake())
    }

    /// Closes the domain with its pool: marks its word closed (every later
    /// publish sees it), wakes everyone, closes the idle connections.
    pub(super) fn close(&self) {
        self.signal.close();
        self.drain(Reason::PoolClosed);
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
        if self.publish(1) {
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
            let driver = &*self.pool.driver;
            match self.unfit_to_lend(&slot, word, now, |c| driver.is_open(c)) {
                None => {
                    slot.meta
                        .state
                        .store(state::with_in_use(word, true), Ordering::Relaxed);
                    slot.meta.reuses.inc_owned();
                    slot.meta
                        .idle_before_reuse
                        .add_owned(now.saturating_sub(state::last_used(word)));
                    found = Some(slot);
                }
                Some(reason) => self.close_slot(slot, reason),
            }
        }
        let units = back.len();
        for slot in back {
            if let Err(slot) = self.idle.push(slot, self.limit()) {
                self.close_slot(slot, Reason::QueueFull);
            }
        }
        if units > 0 && self.publish(units) {
            self.drain(Reason::PoolClosed);
        }
        found
    }
}
