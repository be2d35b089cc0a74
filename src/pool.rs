//! The public pool: a thin wrapper over the engine plus the typed connector.

use crate::{
    config::Config,
    connect::Connect,
    engine::{Acquired, Domain, Reservation, Shared, Slot},
    error::Error,
    pooled::Pooled,
    stats::{DomainStats, Stats},
    sync::{Arc, StdArc},
};
use std::{fmt, net::IpAddr, net::SocketAddr, time::Duration};

/// A lock-free pool of connections, keyed by domain.
///
/// Cloning is cheap and every clone is the same pool. When the last clone is
/// dropped the pool is closed: idle connections are closed at once and lent
/// ones when they are returned.
///
/// See the [crate documentation](crate) for the protocol and an example.
pub struct Pool<C: Connect> {
    inner: Arc<Handle<C>>,
}

struct Handle<C: Connect> {
    shared: Arc<Shared<C::Conn>>,
    connector: StdArc<C>,
}

impl<C: Connect> Drop for Handle<C> {
    fn drop(&mut self) {
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
    /// An idle hit takes no lock and allocates nothing.
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
    pub async fn get(&self, domain: &str) -> Result<Pooled<C::Conn>, Error> {
        let shared = &self.inner.shared;
        if shared.is_closed() {
            return Err(Error::Closed);
        }
        let hit = Shared::with_domain(shared, domain, |d| d.pop_idle().ok_or_else(|| d.clone()));
        match hit {
            Ok(slot) => Ok(Pooled::new(slot)),
            Err(d) => self.get_slow(d).await,
        }
    }

    async fn get_slow(&self, d: Arc<Domain<C::Conn>>) -> Result<Pooled<C::Conn>, Error> {
        match Domain::acquire(&d).await? {
            Acquired::Idle(slot) => Ok(Pooled::new(slot)),
            Acquired::Dial(res) => self.dial(res).await.map(Pooled::new),
        }
    }

    /// Dials with a reservation; the reservation is released on every
    /// failure (and if this future is dropped).
    async fn dial(&self, res: Reservation<C::Conn>) -> Result<Box<Slot<C::Conn>>, Error> {
        let d = res.domain().clone();
        let Some(addr) = d.next_addr() else {
            d.count_miss();
            return Err(Error::NoAddress {
                domain: d.key().clone(),
            });
        };
        let target = d.target_for(&addr);
        d.count_dial();
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
        match result {
            Ok(conn) => {
                if self.inner.shared.is_closed() {
                    self.inner.connector.close(conn);
                    d.count_miss();
                    return Err(Error::Closed);
                }
                tracing::debug!(domain = %d.key(), addr = %target.addr(), "hotpool: dialed");
                Ok(Domain::admit(&d, res, conn, addr, true))
            }
            Err(e) => {
                d.count_dial_failure();
                let e = e.with_target(&target);
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
            .with_known(domain, |d| match d.pop_idle() {
                Some(slot) => Some(Pooled::new(slot)),
                None => {
                    d.count_miss();
                    None
                }
            })
            .flatten()
    }

    /// Sets the addresses of `domain` (its port comes from the key, or the
    /// `default_port` setting). Dials go round-robin over them. Addresses
    /// that left the list are retired: their idle connections are closed now
    /// and lent ones when returned.
    pub fn set_ips<I>(&self, domain: &str, ips: I)
    where
        I: IntoIterator,
        I::Item: Into<IpAddr>,
    {
        let ips: Vec<IpAddr> = ips.into_iter().map(Into::into).collect();
        Shared::with_domain(&self.inner.shared, domain, |d| d.set_ips(&ips));
    }

    /// The addresses `domain` dials (empty if it has none or is unknown).
    pub fn ips(&self, domain: &str) -> Vec<SocketAddr> {
        self.inner
            .shared
            .with_known(domain, |d| d.ips())
            .unwrap_or_default()
    }

    /// Closes the pool: idle connections are closed, waiting tasks fail with
    /// [`Error::Closed`], later `get`s fail with it, and lent connections are
    /// closed when they are returned. Idempotent.
    pub fn close(&self) {
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

/// Builds a [`Pool`]: every setting of [`Config`], plus the clock.
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct Builder {
    config: Config,
    clock: Option<quanta::Clock>,
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
        Ok(Pool {
            inner: Arc::new(Handle { shared, connector }),
        })
    }
}
