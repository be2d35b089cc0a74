//! Waiting for a connection or capacity: the waiter protocol.

use super::*;
use crate::{
    error::Error,
    sync::{fence, Arc, Ordering},
};
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
    pub(super) async fn wait_until(
        &mut self,
        since: WaitClock,
        timeout: Duration,
    ) -> Result<(), Duration> {
        match tokio::time::timeout_at(since + timeout, WaitAny(self)).await {
            Ok(()) => Ok(()),
            Err(_) => Err(since.elapsed()),
        }
    }

    #[cfg(loom)]
    pub(super) async fn wait_until(
        &mut self,
        _since: WaitClock,
        _timeout: Duration,
    ) -> Result<(), Duration> {
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
pub(super) struct WaitAny<'w, 'a, T: Send + 'static>(&'w mut Waiter<'a, T>);

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
