//! The public pool: a thin wrapper over the engine plus the typed connector.

use crate::{
    config::Config,
    connect::Connect,
    engine::{stash, Acquired, Addr, Domain, Lent, Reservation, Shared},
    error::Error,
    pooled::Pooled,
    stats::{DomainStats, Stats},
    sync::{Arc, StdArc},
};
use std::{
    fmt,
    future::Future,
    net::{IpAddr, SocketAddr},
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

/// How often dials sweep expired blacklist entries (one minute of ticks).
const BLACKLIST_SWEEP_TICKS: u64 = 60_000_000_000 >> crate::state::TICK_SHIFT;

type SlowGet<'a, T> = Pin<Box<dyn Future<Output = Result<Pooled<T>, Error>> + Send + 'a>>;

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
            || e.is_http())
}

/// The hot path shared by every get: an idle connection of `d`, fit to lend,
/// in a guard holding the thread's parked reference to `d` if it has one.
#[inline]
fn lend_idle<T: Send + 'static>(d: &Arc<Domain<T>>) -> Option<Pooled<T>> {
    d.pop_idle().map(|slot| Pooled::new(slot, stash::take(d)))
}

/// The future of [`Pool::get`].
///
/// Its first poll runs the hot path — an idle hit — in place; only a miss
/// (a dial or a wait) boxes the slow path's state machine. Keeping the
/// dial-and-wait state out of this future keeps it a few words long: moving
/// and initializing the full state machine cost more than a third of an idle
/// get + put.
struct Get<'a, C: Connect> {
    pool: &'a Pool<C>,
    domain: Key<'a, C::Conn>,
    slow: Option<SlowGet<'a, C::Conn>>,
}

/// How a [`Get`] names its domain.
enum Key<'a, T: Send + 'static> {
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
            let lend = |d: &Arc<Domain<C::Conn>>| lend_idle(d).ok_or_else(|| d.clone());
            let hit = match self.domain {
                Key::Name(name) => Shared::with_domain(shared, name, lend),
                Key::Resolved(d) => lend(d),
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

/// A lock-free pool of connections, keyed by domain.
///
/// Cloning is cheap and every clone is the same pool. When the last clone is
/// dropped the pool is closed: idle connections are closed at once and lent
/// ones when they are returned.
///
/// See the [crate documentation](crate) for the protocol and an example.
pub struct Pool<C: Connect> {
    pub(crate) inner: Arc<Handle<C>>,
}

pub(crate) struct Handle<C: Connect> {
    pub(crate) shared: Arc<Shared<C::Conn>>,
    pub(crate) connector: StdArc<C>,
    /// Background tasks, the dial limit and the resolver.
    #[cfg(not(loom))]
    pub(crate) services: crate::services::Services,
}

impl<C: Connect> Drop for Handle<C> {
    fn drop(&mut self) {
        #[cfg(not(loom))]
        self.services.abort();
        self.shared.shutdown();
    }
}

impl<C: Connect> Clone for Pool<C> {
    fn clone(&self) -> Self {
        Pool {
            inner: self.inner.clone(),
        }
    }
}

impl<C: Connect> fmt::Debug for Pool<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("live", &self.inner.shared.live_count())
            .field("closed", &self.inner.shared.is_closed())
            .finish_non_exhaustive()
    }
}

impl Pool<NoConnector> {
    /// A builder with the default [`Config`].
    pub fn builder() -> Builder {
        Builder::default()
    }
}

/// Placeholder connector type that only names [`Pool::builder`]; it cannot be
/// constructed.
#[doc(hidden)]
pub enum NoConnector {}

impl Connect for NoConnector {
    type Conn = ();
    async fn connect(&self, _: &crate::Target) -> Result<(), Error> {
        match *self {}
    }
}

impl<C: Connect> Pool<C> {
    /// Lends a connection to `domain` (a pool key: a host name, optionally
    /// with `:port`).
    ///
    /// In order: an idle connection that is still fit (open, not idle past
    /// `idle_timeout`, not older than `max_lifetime`, not over `max_errors`;
    /// unfit ones are closed on the way); else, if the domain and the pool
    /// are under their limits, a new connection dialed to the domain's next
    /// address; else it waits up to `wait_timeout` for a connection to be
    /// returned or capacity to be freed. When only the pool-wide limit stands
    /// in the way, an idle connection of another domain is closed to make
    /// room.
    ///
    /// An idle hit takes no lock and allocates nothing; a miss (a dial or a
    /// wait) allocates the slow path's state once.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] once the pool is closed, [`Error::WaitTimeout`],
    /// [`Error::NoAddress`] if a dial is needed and the domain has no
    /// address, [`Error::ConnectTimeout`] or the connector's error (with the
    /// target filled in) if the dial fails.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: dropping the future at any point gives back any reserved
    /// capacity and waiter registration; a connection being dialed is dropped
    /// with the connector's future.
    ///
    /// # Panics
    ///
    /// When it has to wait or dial, it uses tokio's timer and so must run
    /// inside a tokio runtime with the time driver enabled.
    pub fn get<'a>(
        &'a self,
        domain: &'a str,
    ) -> impl Future<Output = Result<Pooled<C::Conn>, Error>> + Send + 'a {
        Get {
            pool: self,
            domain: Key::Name(domain),
            slow: None,
        }
    }

    /// Lends a connection dialed for this call, never an idle one: what a
    /// retry after a stale connection wants. If the domain's limit is taken
    /// partly by idle connections, one of them is closed to make room;
    /// otherwise this waits like [`get`](Pool::get).
    ///
    /// # Errors
    ///
    /// As [`get`](Pool::get).
    ///
    /// # Cancel safety
    ///
    /// As [`get`](Pool::get).
    pub async fn get_fresh(&self, domain: &str) -> Result<Pooled<C::Conn>, Error> {
        let shared = &self.inner.shared;
        if shared.is_closed() {
            return Err(Error::Closed);
        }
        let d = Shared::with_domain(shared, domain, Arc::clone);
        self.acquire(d, true).await
    }

    /// A handle on one domain: [`get`](DomainHandle::get) and
    /// [`try_get`](DomainHandle::try_get) on it skip hashing the key and
    /// reading the domain map, the two costliest steps of an idle
    /// [`Pool::get`] after the queue itself. Worth keeping for a domain a
    /// crawler fetches from often; it shares the pool's limits, settings and
    /// connections.
    ///
    /// # Examples
    ///
    /// ```
    /// # use hotpool::{Connect, Error, Pool, Target};
    /// # struct Dummy;
    /// # impl Connect for Dummy {
    /// #     type Conn = u32;
    /// #     async fn connect(&self, _: &Target) -> Result<u32, Error> { Ok(7) }
    /// # }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Error> {
    /// let pool = Pool::builder().build(Dummy)?;
    /// pool.set_ips("example.com", ["192.0.2.1".parse::<std::net::IpAddr>().unwrap()]);
    /// let example = pool.domain("example.com");
    /// drop(example.get().await?);
    /// assert!(example.try_get().is_some());
    /// assert_eq!(pool.stats().total.hits, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn domain(&self, domain: &str) -> DomainHandle<C> {
        DomainHandle {
            domain: Shared::with_domain(&self.inner.shared, domain, Arc::clone),
            pool: self.clone(),
        }
    }

    async fn get_slow(&self, d: Arc<Domain<C::Conn>>) -> Result<Pooled<C::Conn>, Error> {
        #[cfg(not(loom))]
        self.start_services();
        self.acquire(d, false).await
    }

    async fn acquire(
        &self,
        d: Arc<Domain<C::Conn>>,
        fresh: bool,
    ) -> Result<Pooled<C::Conn>, Error> {
        match Domain::acquire(&d, fresh).await? {
            Acquired::Idle(slot) => Ok(Pooled::new(slot, d)),
            Acquired::Dial(res) => {
                drop(d);
                let (slot, domain) = self.dial(res).await?;
                Ok(Pooled::new(slot, domain))
            }
        }
    }

    /// Dials with a reservation; the reservation is released on every
    /// failure (and if this future is dropped).
    async fn dial(&self, res: Reservation<C::Conn>) -> Result<Lent<C::Conn>, Error> {
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
        self.inner.shared.ticker.keep_up();
        let timeout = self.inner.shared.settings.connect_timeout();
        let connecting = self.inner.connector.connect(&target);
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

    /// Lends an idle connection to `domain` if one is fit right now: no dial,
    /// no wait. `None` if there is none or the pool is closed.
    pub fn try_get(&self, domain: &str) -> Option<Pooled<C::Conn>> {
        let shared = &self.inner.shared;
        if shared.is_closed() {
            return None;
        }
        shared
            .with_known(domain, |d| {
                let lent = lend_idle(d);
                if lent.is_none() {
                    d.count_miss();
                }
                lent
            })
            .flatten()
    }

    /// Sets the addresses of `domain`'s host (its port comes from the key,
    /// or the `default_port` setting). Addresses belong to the host, not
    /// the port: `set_ips("shop.test", ..)` applies to `shop.test:8443`
    /// too, to its domains now and those made later. The key is read in
    /// its canonical form (lower case, no trailing dot, punycode, default
    /// port elided). Dials go round-robin over the addresses. Addresses
    /// that left the list are retired: their idle connections are closed
    /// now and lent ones when returned.
    pub fn set_ips<I>(&self, domain: &str, ips: I)
    where
        I: IntoIterator,
        I::Item: Into<IpAddr>,
    {
        let ips: Vec<IpAddr> = ips.into_iter().map(Into::into).collect();
        Shared::set_host_ips(&self.inner.shared, domain, &ips);
    }

    /// The addresses `domain` dials (for a domain not made yet, those set
    /// for its host; empty if none).
    pub fn ips(&self, domain: &str) -> Vec<SocketAddr> {
        let shared = &self.inner.shared;
        shared
            .with_known(domain, |d| d.ips())
            .unwrap_or_else(|| shared.host_addrs(domain))
    }

    /// Blacklists `ip` for the `blacklist_ttl` setting (default 15 min), in
    /// every domain: dials skip it, its idle connections are closed when next
    /// found and lent ones when returned. Returns false if `ip` is on the
    /// allow list. Blocking an IP again extends, never shortens, its block.
    pub fn block(&self, ip: IpAddr) -> bool {
        let ttl = self.inner.shared.settings.blacklist_ttl();
        self.block_for(ip, ttl)
    }

    /// Blacklists `ip` for `ttl`; see [`block`](Pool::block).
    pub fn block_for(&self, ip: IpAddr, ttl: Duration) -> bool {
        let shared = &self.inner.shared;
        let until = shared
            .ticker
            .now()
            .saturating_add(crate::state::ticks_from(ttl));
        shared.block(ip, until)
    }

    /// Blocks `ip` for `domain` only (the pair), for the `blacklist_ttl`
    /// setting: what a refusal (a probe answering 403) does. Other domains
    /// keep using the address; once `block_ip_after_domains` distinct
    /// domains are blocked on it, the IP is blocked for all. Returns false
    /// if `ip` is on the allow list.
    pub fn block_pair(&self, domain: &str, ip: IpAddr) -> bool {
        let shared = &self.inner.shared;
        let until = shared
            .ticker
            .now()
            .saturating_add(crate::state::ticks_from(shared.settings.blacklist_ttl()));
        Shared::with_domain(shared, domain, |d| shared.block_pair(d, ip, until).0)
    }

    /// Lifts the pair block of (`domain`, `ip`). Returns whether there was
    /// one.
    pub fn unblock_pair(&self, domain: &str, ip: IpAddr) -> bool {
        let shared = &self.inner.shared;
        shared.unblock_pair(&shared.canonical(domain), ip)
    }

    /// Dials no new connection to `domain` for `d` (idle connections are
    /// still lent): what a site's `429` or `503` with `Retry-After` asks
    /// for. Dials fail with [`Error::RateLimited`] meanwhile. Extends,
    /// never shortens, an earlier throttle.
    pub fn throttle(&self, domain: &str, d: Duration) {
        let shared = &self.inner.shared;
        let until = shared
            .ticker
            .now()
            .saturating_add(crate::state::ticks_from(d));
        Shared::with_domain(shared, domain, |dom| dom.throttle(until));
    }

    /// How long new dials to `domain` must still wait (zero: none).
    pub fn throttled_for(&self, domain: &str) -> Duration {
        self.inner
            .shared
            .with_known(domain, |d| d.throttled_for())
            .unwrap_or_default()
    }

    /// The pairs (domain, IP) blocked now, expired ones left out.
    pub fn blocked_pairs(&self) -> Vec<(String, IpAddr)> {
        let shared = &self.inner.shared;
        shared.blacklist.pairs(shared.ticker.now())
    }

    /// Whether `domain` may not use `ip` now: the IP is blacklisted, or
    /// the pair is.
    pub fn is_blocked_for(&self, domain: &str, ip: IpAddr) -> bool {
        let shared = &self.inner.shared;
        shared.blacklist.until_for(&shared.canonical(domain), ip) > shared.ticker.now()
    }

    /// Lifts `ip`'s blacklist entry (a deny-list entry stays). Returns
    /// whether there was one.
    pub fn unblock(&self, ip: IpAddr) -> bool {
        self.inner.shared.unblock(ip)
    }

    /// Whether `ip` is blacklisted now.
    pub fn is_blocked(&self, ip: IpAddr) -> bool {
        let shared = &self.inner.shared;
        shared.blacklist.is_blocked(ip, shared.ticker.now())
    }

    /// The blacklisted IPs, expired entries dropped.
    pub fn blocked(&self) -> Vec<IpAddr> {
        let shared = &self.inner.shared;
        shared
            .blacklist
            .snapshot(shared.ticker.now())
            .into_iter()
            .map(|(ip, _)| ip)
            .collect()
    }

    /// Closes the pool: idle connections are closed, waiting tasks fail with
    /// [`Error::Closed`], later `get`s fail with it, and lent connections are
    /// closed when they are returned. Idempotent.
    pub fn close(&self) {
        #[cfg(not(loom))]
        self.inner.services.stop();
        self.inner.shared.close();
    }

    /// Whether [`close`](Pool::close) was called.
    pub fn is_closed(&self) -> bool {
        self.inner.shared.is_closed()
    }

    /// A snapshot of counters and gauges, per domain and in total.
    pub fn stats(&self) -> Stats {
        let shared = &self.inner.shared;
        let domains = shared.domains();
        let mut total = DomainStats::default();
        let mut waiting = 0;
        let per_domain: Vec<DomainStats> = domains
            .iter()
            .map(|d| {
                // Every waiter registers on its domain (a pool-blocked one on
                // the pool as well), so the domain counts cover them all.
                waiting += d.waiter_count() as u64;
                let s = d.stats();
                total.add(&s);
                s
            })
            .collect();
        Stats {
            total,
            reserved: shared.live_count() as u64,
            waiting,
            closed: shared.is_closed(),
            domains: per_domain,
            profiles: self.inner.connector.profile_stats(),
            blacklisted: shared.blacklist.sweep(shared.ticker.now()) as u64,
            requests: Default::default(),
        }
    }

    /// The connector.
    pub fn connector(&self) -> &C {
        &self.inner.connector
    }

    /// Runs one health pass over every domain's idle connections now: the
    /// entries present are taken out, the unfit closed, the rest put back.
    /// Returns (kept, closed).
    #[doc(hidden)]
    pub fn sweep_idle(&self) -> (usize, usize) {
        let mut kept = 0;
        let mut closed = 0;
        for d in self.inner.shared.domains() {
            let (k, c) = d.sweep();
            kept += k;
            closed += c;
        }
        (kept, closed)
    }

    /// Internal counters for tests and loom models: (pool reserved, pool
    /// waiters, domain reserved, domain waiters).
    #[doc(hidden)]
    pub fn debug_counts(&self, domain: &str) -> (usize, usize, usize, usize) {
        let s = &self.inner.shared;
        let (dl, dw) = s
            .with_known(domain, |d| (d.live_count(), d.waiter_count()))
            .unwrap_or((0, 0));
        (s.live_count(), s.waiter_count(), dl, dw)
    }
}

/// One domain of a [`Pool`], looked up once; see [`Pool::domain`].
pub struct DomainHandle<C: Connect> {
    pool: Pool<C>,
    domain: Arc<Domain<C::Conn>>,
}

impl<C: Connect> Clone for DomainHandle<C> {
    fn clone(&self) -> Self {
        DomainHandle {
            pool: self.pool.clone(),
            domain: self.domain.clone(),
        }
    }
}

impl<C: Connect> fmt::Debug for DomainHandle<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DomainHandle")
            .field("domain", self.domain.key())
            .finish()
    }
}

impl<C: Connect> DomainHandle<C> {
    /// [`Pool::get`] for this domain.
    ///
    /// # Errors
    ///
    /// As [`Pool::get`].
    ///
    /// # Cancel safety
    ///
    /// As [`Pool::get`]: cancel-safe.
    pub fn get(&self) -> impl Future<Output = Result<Pooled<C::Conn>, Error>> + Send + '_ {
        Get {
            pool: &self.pool,
            domain: Key::Resolved(&self.domain),
            slow: None,
        }
    }

    /// [`Pool::try_get`] for this domain.
    pub fn try_get(&self) -> Option<Pooled<C::Conn>> {
        if self.pool.inner.shared.is_closed() {
            return None;
        }
        let lent = lend_idle(&self.domain);
        if lent.is_none() {
            self.domain.count_miss();
        }
        lent
    }

    /// The pool key.
    pub fn key(&self) -> &str {
        self.domain.key()
    }

    /// The pool this domain belongs to.
    pub fn pool(&self) -> &Pool<C> {
        &self.pool
    }
}

/// Builds a [`Pool`]: every setting of [`Config`], plus the clock.
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct Builder {
    config: Config,
    clock: Option<quanta::Clock>,
    #[cfg(not(loom))]
    resolver: Option<crate::services::ResolverRef>,
}

impl Builder {
    /// Replaces all settings at once.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Live connections in the whole pool (default 100).
    pub fn max_conns(mut self, n: usize) -> Self {
        self.config.max_conns = n;
        self
    }

    /// Live connections per domain, and the idle queue's capacity (default 10).
    pub fn max_conns_per_domain(mut self, n: usize) -> Self {
        self.config.max_conns_per_domain = n;
        self
    }

    /// How long `get` waits when the limits are reached (default 5 s).
    pub fn wait_timeout(mut self, d: Duration) -> Self {
        self.config.wait_timeout = d;
        self
    }

    /// How long one dial may take (default 10 s).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.config.connect_timeout = d;
        self
    }

    /// Idle time after which a connection is closed instead of lent
    /// (default 60 s).
    pub fn idle_timeout(mut self, d: Duration) -> Self {
        self.config.idle_timeout = d;
        self
    }

    /// Age after which a connection is closed (default 300 s).
    pub fn max_lifetime(mut self, d: Duration) -> Self {
        self.config.max_lifetime = d;
        self
    }

    /// Errors after which a connection is closed (default 10).
    pub fn max_errors(mut self, n: u8) -> Self {
        self.config.max_errors = n;
        self
    }

    /// How long [`Pool::block`] blacklists an IP (default 15 min).
    pub fn blacklist_ttl(mut self, d: Duration) -> Self {
        self.config.blacklist_ttl = d;
        self
    }

    /// IPs that are never blacklisted.
    pub fn allow_ips(mut self, ips: impl IntoIterator<Item = IpAddr>) -> Self {
        self.config.allow_ips = ips.into_iter().collect();
        self
    }

    /// Address ranges (CIDR) that are always blacklisted. See
    /// [`Config::deny_ranges`].
    pub fn deny_ranges(mut self, ranges: impl IntoIterator<Item = ipnet::IpNet>) -> Self {
        self.config.deny_ranges = ranges.into_iter().collect();
        self
    }

    /// IPs that are always blacklisted.
    pub fn deny_ips(mut self, ips: impl IntoIterator<Item = IpAddr>) -> Self {
        self.config.deny_ips = ips.into_iter().collect();
        self
    }

    /// The port for domain keys without one (default 443).
    pub fn default_port(mut self, port: u16) -> Self {
        self.config.default_port = port;
        self
    }

    /// The clock for idle times and lifetimes. Pass `quanta::Clock::mock()`'s
    /// clock in tests to control time; by default the real clock.
    pub fn clock(mut self, clock: quanta::Clock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// How often the health sweeper runs (default 30 s).
    pub fn health_check_interval(mut self, d: Duration) -> Self {
        self.config.health_check_interval = d;
        self
    }

    /// Idle connections the sweeper keeps per domain (default 0).
    pub fn min_idle_per_domain(mut self, n: usize) -> Self {
        self.config.min_idle_per_domain = n;
        self
    }

    /// Dials in progress at once across the pool (default 20).
    pub fn max_concurrent_dials(mut self, n: usize) -> Self {
        self.config.max_concurrent_dials = n;
        self
    }

    /// Health probes in progress at once during a sweep (default 8).
    pub fn probe_concurrency(mut self, n: usize) -> Self {
        self.config.probe_concurrency = n;
        self
    }

    /// How often resolved addresses are looked up again (default 30 min).
    pub fn dns_refresh_interval(mut self, d: Duration) -> Self {
        self.config.dns_refresh_interval = d;
        self
    }

    /// The success rate below which [`Pool::is_healthy`] says no
    /// (default 0.5).
    pub fn min_success_rate(mut self, rate: f64) -> Self {
        self.config.min_success_rate = rate;
        self
    }

    /// See [`Config::block_ip_after_domains`] (default 3).
    pub fn block_ip_after_domains(mut self, n: usize) -> Self {
        self.config.block_ip_after_domains = n;
        self
    }

    /// See [`Config::probe_timeout`] (default 2 s).
    pub fn probe_timeout(mut self, d: Duration) -> Self {
        self.config.probe_timeout = d;
        self
    }

    /// See [`Config::negative_dns_ttl`] (default 30 s).
    pub fn negative_dns_ttl(mut self, d: Duration) -> Self {
        self.config.negative_dns_ttl = d;
        self
    }

    /// See [`Config::allow_private_addresses`] (default false).
    pub fn allow_private_addresses(mut self, on: bool) -> Self {
        self.config.allow_private_addresses = on;
        self
    }

    /// Fills the addresses of domains that have none at their first dial,
    /// and refreshes them every `dns_refresh_interval` (see
    /// [`Resolve`](crate::Resolve)). Without a resolver (the default for a
    /// bare pool) addresses come from [`Pool::set_ips`] only.
    #[cfg(not(loom))]
    pub fn resolver(mut self, resolver: impl crate::Resolve) -> Self {
        self.resolver = Some(crate::services::ResolverRef::new(resolver));
        self
    }

    #[cfg(not(loom))]
    pub(crate) fn resolver_ref(mut self, r: Option<crate::services::ResolverRef>) -> Self {
        self.resolver = r;
        self
    }

    /// The settings as configured so far.
    pub fn settings(&self) -> &Config {
        &self.config
    }

    /// Builds the pool around `connector`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] naming the first invalid setting (a zero
    /// capacity or a zero duration).
    pub fn build<C: Connect>(self, connector: C) -> Result<Pool<C>, Error> {
        self.config.validate()?;
        let connector = StdArc::new(connector);
        let driver: StdArc<dyn crate::connect::Driver<C::Conn>> = connector.clone();
        let shared = Arc::new(Shared::new(&self.config, self.clock, driver));
        let pool = Pool {
            inner: Arc::new(Handle {
                shared,
                connector,
                #[cfg(not(loom))]
                services: crate::services::Services::new(&self.config, self.resolver),
            }),
        };
        #[cfg(not(loom))]
        pool.start_services();
        Ok(pool)
    }
}
