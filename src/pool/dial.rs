//! Acquiring a connection: waiting, reserving capacity, dialing an address.

use super::*;
use crate::{
    connect::Connect,
    engine::{Acquired, Addr, Domain, Lent, Reservation},
    error::Error,
    pooled::Pooled,
    sync::Arc,
};

/// How often dials sweep expired blacklist entries (one minute of ticks).
const BLACKLIST_SWEEP_TICKS: u64 = 60_000_000_000 >> crate::state::TICK_SHIFT;

/// Counts a dial dropped by its caller before it ended.
struct DialCount<'a, T: Send + 'static>(Option<&'a Arc<Domain<T>>>);

impl<T: Send + 'static> Drop for DialCount<'_, T> {
    fn drop(&mut self) {
        if let Some(d) = self.0 {
            d.count_dial_cancelled();
        }
    }
}

/// Whether a dial failure belongs to the address dialed (another address
/// of the domain may serve): refused, timed out, TLS or certificate error,
/// garbage instead of TLS, reset, a failed or broken validation probe.
/// Not: a block (handled as such), a throttle, the pool closing.
pub(crate) fn is_address_failure(e: &Error) -> bool {
    !(e.is_blocked() || e.is_closed() || e.is_rate_limited() || e.is_wait_timeout())
        && (e.is_connect()
            || e.is_connect_refused()
            || e.is_timeout()
            || e.is_tls()
            || e.is_certificate()
            || e.is_reset()
            || e.is_validation()
            || e.is_http()
            // A proxy that could not reach the target: the address's
            // failure, not the proxy's.
            || matches!(e, Error::Proxy { at_target: true, .. }))
}

impl<C: Connect> Pool<C> {
    pub(super) async fn get_slow(&self, d: Arc<Domain<C::Conn>>) -> Result<Pooled<C::Conn>, Error> {
        #[cfg(not(loom))]
        self.start_services();
        self.acquire(d, false).await
    }

    pub(super) async fn acquire(
        &self,
        d: Arc<Domain<C::Conn>>,
        fresh: bool,
    ) -> Result<Pooled<C::Conn>, Error> {
        match Domain::acquire(&d, fresh).await? {
            Acquired::Idle(slot) => Ok(Pooled::new(slot, d)),
            Acquired::Dial(res) => {
                drop(d);
                // Boxed: a dial's state (the connector's handshake and
                // probe, kilobytes) would otherwise sit inline in every
                // future that may dial — `get_fresh`, the client's request
                // future — and be moved with it on every request. A dial
                // costs a handshake; its allocation is noise.
                let (slot, domain) = Box::pin(self.dial(res)).await?;
                Ok(Pooled::new(slot, domain))
            }
        }
    }

    /// Dials with a reservation; the reservation is released on every
    /// failure (and if this future is dropped).
    pub(super) async fn dial(&self, res: Reservation<C::Conn>) -> Result<Lent<C::Conn>, Error> {
        self.dial_with(res, None, true).await
    }

    /// Dials with a reservation: to `to`, or to the domain's next usable
    /// address; the connection is lent (`lend`) or admitted idle for the
    /// caller to queue. The reservation is released on every failure (and
    /// if this future is dropped).
    pub(crate) async fn dial_with(
        &self,
        res: Reservation<C::Conn>,
        to: Option<Arc<Addr>>,
        lend: bool,
    ) -> Result<Lent<C::Conn>, Error> {
        let d = res.domain().clone();
        // Resolve first, without a dial permit: a slow resolver must not
        // hold the permits other domains' dials need.
        #[cfg(not(loom))]
        if to.is_none() {
            if let Err(e) = self.resolve_if_unknown(&d).await {
                d.count_miss();
                return Err(e);
            }
        }
        #[cfg(not(loom))]
        let _permit = self.dial_permit(&d).await?;
        let throttled = d.throttled_for();
        if !throttled.is_zero() {
            // The site asked us to slow down: no new connection until then
            // (idle ones are still lent).
            d.count_miss();
            return Err(Error::RateLimited {
                domain: d.key().clone(),
                retry_after: throttled,
            });
        }
        let next = match to {
            Some(a) => Ok(a),
            None => d.next_addr(),
        };
        let addr = match next {
            Ok(addr) => addr,
            Err(blocked) => {
                d.count_miss();
                return Err(match blocked {
                    Some(ip) => Error::Blocked {
                        domain: d.key().clone(),
                        ip,
                    },
                    None => Error::NoAddress {
                        domain: d.key().clone(),
                    },
                });
            }
        };
        let target = d.target_for(&addr);
        d.count_dial();
        // Counts the dial as cancelled if this future is dropped before it
        // ends: created + failed + cancelled = dials.
        let mut counted = DialCount(Some(&d));
        let shared = &self.inner.shared;
        shared
            .blacklist
            .sweep_if_due(shared.ticker.now(), BLACKLIST_SWEEP_TICKS);
        let timeout = self.inner.shared.settings.connect_timeout();
        let started = shared.ticker.now();
        let connecting = self.inner.connector.connect(&target);
        #[cfg(not(loom))]
        let connecting = tracing::Instrument::instrument(
            connecting,
            tracing::debug_span!("hotpool.dial", domain = %d.key(), addr = %target.addr()),
        );
        #[cfg(not(loom))]
        let result = match tokio::time::timeout(timeout, connecting).await {
            Ok(r) => r,
            Err(_) => Err(Error::ConnectTimeout {
                domain: target.domain_arc().clone(),
                addr: target.addr(),
                timeout,
            }),
        };
        #[cfg(loom)]
        let result = {
            let _ = timeout;
            connecting.await
        };
        counted.0 = None;
        match result {
            Ok(conn) => {
                addr.dial_succeeded();
                let now = shared.ticker.now();
                addr.score.succeeded(
                    crate::state::duration_from(now.saturating_sub(started)),
                    now,
                );
                if self.inner.shared.is_closed() {
                    self.inner.connector.close(conn);
                    d.count_miss();
                    return Err(Error::Closed);
                }
                tracing::debug!(domain = %d.key(), addr = %target.addr(), "hotpool: dialed");
                Ok(Domain::admit(&d, res, conn, addr, lend))
            }
            Err(e) => {
                d.count_dial_failure();
                let e = e.with_target(&target);
                if is_address_failure(&e) {
                    // This address failed, not the domain: set it aside so
                    // that the next dials (this request's next try among
                    // them) go to the domain's other addresses.
                    addr.dial_failed(shared.ticker.now());
                    addr.score.failed(shared.ticker.now());
                }
                if let Error::Blocked { ip, .. } = e {
                    // The connector found the address refusing us (a
                    // validation probe answered 403): block the pair
                    // (domain, IP), so the next dial picks another address;
                    // the IP is blocked for every domain once enough
                    // domains were refused there.
                    let until = shared
                        .ticker
                        .now()
                        .saturating_add(crate::state::ticks_from(shared.settings.blacklist_ttl()));
                    let (pair, wide) = shared.block_pair(&d, ip, until);
                    if pair {
                        tracing::info!(domain = %d.key(), %ip, pool_wide = wide, "hotpool: address refuses the domain; blocked for it");
                    }
                }
                tracing::debug!(domain = %d.key(), addr = %target.addr(), error = %e, "hotpool: dial failed");
                Err(e)
            }
        }
    }
}
