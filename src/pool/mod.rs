//! The public pool: a thin wrapper over the engine plus the typed connector.
//!
//! One concept per file: [`get`] (the future of `Pool::get` and its hot
//! path), [`dial`] (acquiring: wait, reserve, dial an address), [`block`]
//! (blocks and throttles), [`handle`] ([`DomainHandle`]), [`builder`]
//! ([`Builder`]).

use crate::{
    connect::Connect,
    engine::Shared,
    error::Error,
    pooled::Pooled,
    stats::{DomainStats, Stats},
    sync::{Arc, StdArc},
};
use std::{
    fmt,
    future::Future,
    net::{IpAddr, SocketAddr},
    time::Duration,
};

mod block;
mod builder;
mod dial;
mod get;
mod handle;

use crate::engine::thread_cache::Lookup;
pub use builder::Builder;
#[cfg(not(loom))]
pub(crate) use dial::is_address_failure;
use get::{lend_cloned, lend_idle, Get, Key};
pub use handle::DomainHandle;

/// A lock-free pool of connections, keyed by domain.
///
/// Cloning is cheap and every clone is the same pool. When the last clone is
/// dropped the pool is closed: idle connections are closed at once and lent
/// ones when they are returned.
///
/// Each thread that returned connections keeps references to their domains
/// in a per-thread cache (up to 4,097 per thread, shared by every pool the
/// thread uses), so that its next get of a domain skips the map. They keep
/// the domains' records and the pool's connector alive — never a
/// connection — until the thread reuses their places or exits.
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
    /// A builder with the default [`Config`](crate::Config).
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

    /// The current `wait_timeout` and `max_errors`, without copying the
    /// whole [`Config`].
    pub(crate) fn wait_settings(&self) -> (Duration, u8) {
        let s = &self.inner.shared.settings;
        (s.wait_timeout(), s.max_errors())
    }

    /// Lends an idle connection to `domain` if one is fit right now: no dial,
    /// no wait. `None` if there is none or the pool is closed.
    pub fn try_get(&self, domain: &str) -> Option<Pooled<C::Conn>> {
        let shared = &self.inner.shared;
        if shared.is_closed() {
            return None;
        }
        let connector = &*self.inner.connector;
        let (hash, shard) = match crate::engine::thread_cache::take_key(shared, domain) {
            Lookup::Cached(d) => {
                return match d.pop_idle_with(|conn| connector.is_open(conn)) {
                    Some(slot) => Some(Pooled::new(slot, d)),
                    None => {
                        d.count_miss();
                        crate::engine::thread_cache::put(d);
                        None
                    }
                };
            }
            Lookup::Miss(hash, shard) => (hash, shard),
        };
        shared
            .with_known_at(domain, hash, shard, |d| {
                let lent = lend_cloned(connector, d);
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

    /// Each address of `domain` and how it has served: its score (as a
    /// cost), average dial latency, dials, failures, whether it is blocked
    /// or set aside now. Empty for a domain the pool does not know.
    pub fn addresses(&self, domain: &str) -> Vec<crate::stats::AddressInfo> {
        self.inner
            .shared
            .with_known(domain, |d| d.address_infos())
            .unwrap_or_default()
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
            streams: Default::default(),
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
