//! The future of [`Pool::get`]: the hot path in place, the slow path boxed.

use super::*;
use crate::{
    connect::Connect,
    engine::{
        thread_cache::{self, Lookup},
        Domain, Shared,
    },
    error::Error,
    pooled::Pooled,
    sync::Arc,
};
use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

type SlowGet<'a, T> = Pin<Box<dyn Future<Output = Result<Pooled<T>, Error>> + Send + 'a>>;

/// The hot path shared by every get: an idle connection of `d`, fit to lend,
/// in a guard holding the thread's cached reference to `d` if it has one.
#[inline]
pub(super) fn lend_idle<C: Connect>(c: &C, d: &Arc<Domain<C::Conn>>) -> Option<Pooled<C::Conn>> {
    d.pop_idle_with(|conn| c.is_open(conn))
        .map(|slot| Pooled::new(slot, thread_cache::take(d)))
}

/// [`lend_idle`] after the thread's cache missed: the guard clones the
/// map's reference.
#[inline]
pub(super) fn lend_cloned<C: Connect>(c: &C, d: &Arc<Domain<C::Conn>>) -> Option<Pooled<C::Conn>> {
    d.pop_idle_with(|conn| c.is_open(conn))
        .map(|slot| Pooled::new(slot, d.clone()))
}

/// The future of [`Pool::get`].
///
/// Its first poll runs the hot path — an idle hit — in place; only a miss
/// (a dial or a wait) boxes the slow path's state machine. Keeping the
/// dial-and-wait state out of this future keeps it a few words long: moving
/// and initializing the full state machine cost more than a third of an idle
/// get + put.
pub(super) struct Get<'a, C: Connect> {
    pub(super) pool: &'a Pool<C>,
    pub(super) domain: Key<'a, C::Conn>,
    pub(super) slow: Option<SlowGet<'a, C::Conn>>,
}

/// How a [`Get`] names its domain.
pub(super) enum Key<'a, T: Send + 'static> {
    /// A pool key, looked up in the domain map.
    Name(&'a str),
    /// A domain already looked up ([`DomainHandle`]).
    Resolved(&'a Arc<Domain<T>>),
}

impl<C: Connect> Future for Get<'_, C> {
    type Output = Result<Pooled<C::Conn>, Error>;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.slow.is_none() {
            let shared = &self.pool.inner.shared;
            if shared.is_closed() {
                return Poll::Ready(Err(Error::Closed));
            }
            let connector = &*self.pool.inner.connector;
            // An owned reference first (the thread's parked one when it is
            // this domain), then the pop: the guard takes the reference,
            // or the slow path does.
            let lend_owned =
                |d: Arc<Domain<C::Conn>>| match d.pop_idle_with(|c| connector.is_open(c)) {
                    Some(slot) => Ok(Pooled::new(slot, d)),
                    None => Err(d),
                };
            let hit = match self.domain {
                // This thread's cache first (see `thread_cache`), then the
                // map with the hash the cache computed.
                Key::Name(name) => match thread_cache::take_key(shared, name) {
                    Lookup::Cached(d) => lend_owned(d),
                    Lookup::Miss(hash, shard) => {
                        Shared::with_domain_at(shared, name, hash, shard, |d| {
                            lend_cloned(connector, d).ok_or_else(|| d.clone())
                        })
                    }
                },
                // Under loom the cache is off and `take` is a clone (a
                // modeled RMW pair on every get): pop first there, so the
                // models explore the protocol, not reference counts.
                #[cfg(not(loom))]
                Key::Resolved(d) => lend_owned(thread_cache::take(d)),
                #[cfg(loom)]
                Key::Resolved(d) => lend_idle(connector, d).ok_or_else(|| d.clone()),
            };
            match hit {
                Ok(conn) => return Poll::Ready(Ok(conn)),
                Err(d) => {
                    let pool = self.pool;
                    self.slow = Some(Box::pin(pool.get_slow(d)));
                }
            }
        }
        match &mut self.slow {
            Some(slow) => slow.as_mut().poll(cx),
            None => unreachable!("the slow path was just set"),
        }
    }
}
