//! Waiting for a connection or capacity: the waiter protocol.

use super::*;
use crate::{error::Error, sync::Arc};
use event_listener::EventListener;
use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

impl<T: Send + 'static> Domain<T> {
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
        // Woken by the pool's event and not yet used the pool unit that
        // woke us: passed on if this task cannot use it (see `pass_on`).
        let mut owe_pool = false;
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
            if owe_pool {
                // Going back to sleep: pool capacity was freed for us but
                // our own domain's limit stops us — another domain's
                // waiter can use it. Blocked by the pool again, someone
                // else took the unit.
                owe_pool = false;
                if blocked == Blocked::Domain {
                    pool.pass_on();
                }
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
            match waiter.wait_until(since, pool.settings.wait_timeout()).await {
                Ok(woken) => owe_pool = woken == Woken::Pool,
                Err(waited) => {
                    this.counters.wait_timeouts.inc();
                    break Err(Error::WaitTimeout {
                        domain: this.key.clone(),
                        waited,
                    });
                }
            }
        };
        if owe_pool && !matches!(result, Ok(Acquired::Dial(_))) {
            // Woken for pool capacity, served by an idle connection of our
            // own domain (or failed): the unit is still free.
            pool.pass_on();
        }
        if result.is_err() {
            this.counters.misses.inc();
        }
        #[cfg(all(feature = "metrics", not(loom)))]
        if let Some(since) = waited_since {
            crate::metrics::record_wait(since.elapsed());
        }
        result
    }
}

// ---------------------------------------------------------------------------
// Waiting

/// The time base for `wait_timeout`: tokio's clock (so tests can pause it);
/// under loom there is no timer and waits are unbounded.
#[cfg(not(loom))]
pub(super) type WaitClock = tokio::time::Instant;

#[cfg(loom)]
#[derive(Clone, Copy)]
pub(super) struct WaitClock;

#[cfg(loom)]
impl WaitClock {
    pub(super) fn now() -> WaitClock {
        WaitClock
    }
}

/// A registered waiter: listeners plus the waiter counts they stand for.
/// Dropping it deregisters both (cancel safety).
pub(crate) struct Waiter<'a, T: Send + 'static> {
    pub(super) domain: &'a Domain<T>,
    pub(super) on_domain: Option<EventListener>,
    pub(super) on_pool: Option<EventListener>,
}

impl<'a, T: Send + 'static> Waiter<'a, T> {
    pub(super) fn new(domain: &'a Domain<T>) -> Self {
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
    pub(super) fn register(&mut self, blocked: Blocked) -> bool {
        let mut new = false;
        if self.on_domain.is_none() {
            self.on_domain = Some(self.domain.signal.register());
            new = true;
        }
        if blocked == Blocked::Pool && self.on_pool.is_none() {
            self.on_pool = Some(self.domain.pool.signal.register());
            new = true;
        }
        new
    }

    /// Sleeps until a listener fires or `timeout` after `since` passes;
    /// on time-out returns how long the caller waited.
    #[cfg(not(loom))]
    pub(super) async fn wait_until(
        &mut self,
        since: WaitClock,
        timeout: Duration,
    ) -> Result<Woken, Duration> {
        match tokio::time::timeout_at(since + timeout, WaitAny(self)).await {
            Ok(woken) => Ok(woken),
            Err(_) => Err(since.elapsed()),
        }
    }

    #[cfg(loom)]
    pub(super) async fn wait_until(
        &mut self,
        _since: WaitClock,
        _timeout: Duration,
    ) -> Result<Woken, Duration> {
        Ok(WaitAny(self).await)
    }
}

impl<T: Send + 'static> Drop for Waiter<'_, T> {
    fn drop(&mut self) {
        // A listener notified but not yet polled passes its notification
        // on as it drops (event-listener does this), so a waiter cancelled
        // or timed out loses nobody a wake-up.
        if self.on_domain.take().is_some() {
            self.domain.signal.deregister();
        }
        if self.on_pool.take().is_some() {
            self.domain.pool.signal.deregister();
        }
    }
}

/// Which listener woke a waiter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Woken {
    /// The domain's: a connection was returned or domain capacity freed.
    Domain,
    /// The pool's: pool capacity was freed (possibly in another domain).
    Pool,
}

/// Resolves when either of the waiter's listeners fires.
pub(super) struct WaitAny<'w, 'a, T: Send + 'static>(&'w mut Waiter<'a, T>);

impl<T: Send + 'static> Future for WaitAny<'_, '_, T> {
    type Output = Woken;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Woken> {
        let w = &mut *self.get_mut().0;
        if let Some(l) = &mut w.on_domain {
            if Pin::new(l).poll(cx).is_ready() {
                return Poll::Ready(Woken::Domain);
            }
        }
        if let Some(l) = &mut w.on_pool {
            if Pin::new(l).poll(cx).is_ready() {
                return Poll::Ready(Woken::Pool);
            }
        }
        Poll::Pending
    }
}
