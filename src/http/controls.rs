//! The client's view of its pool: addresses and their scores, proxies,
//! statistics, metrics and the pool's life (close, shutdown, prewarm,
//! configuration). The request path is in `client.rs`.

use super::*;
use crate::{config::Config, error::Error, pool::Pool, stats::Stats};
use std::net::IpAddr;

impl Client {
    /// Sets the addresses of a host (a port in `key` is ignored: addresses
    /// belong to the host, on every port). See [`Pool::set_ips`].
    pub fn set_ips<I>(&self, key: &str, ips: I)
    where
        I: IntoIterator<Item = IpAddr>,
    {
        self.inner.pool.set_ips(key, ips);
    }

    /// Each address of `domain` and how it has served (see
    /// [`Pool::addresses`]).
    pub fn addresses(&self, domain: &str) -> Vec<crate::AddressInfo> {
        self.inner.pool.addresses(domain)
    }

    /// What each proxy has done: tunnels, failures, whether it is skipped
    /// now (the client's list first, then proxies only sessions use).
    pub fn proxies(&self) -> Vec<crate::proxy::ProxyStats> {
        self.inner.pool.connector().tls().proxies().stats()
    }

    /// The pool underneath: blacklist, addresses, per-domain handles.
    pub fn pool(&self) -> &Pool<HttpConnector> {
        &self.inner.pool
    }

    /// The pool's [`Stats`] with this client's request counters filled in.
    pub fn stats(&self) -> Stats {
        let mut s = self.inner.pool.stats();
        s.requests = self.inner.counters.snapshot();
        s.streams = self.inner.streams.snapshot();
        s
    }

    /// Closes the pool: idle connections are closed, waiters fail with
    /// [`Error::Closed`], responses in flight finish and their connections
    /// are closed when returned.
    pub fn close(&self) {
        self.inner.pool.close();
    }

    /// Publishes [`stats`](Client::stats) through the `metrics` facade
    /// (feature `metrics`); see [`metrics`](crate::metrics).
    #[cfg(feature = "metrics")]
    pub fn export_metrics(&self) {
        crate::metrics::export(&self.stats());
    }

    /// Graceful shutdown: [`close`](Client::close), then wait until every
    /// connection is closed (TLS close_notify sent) and the background
    /// tasks have stopped. See [`Pool::shutdown`].
    pub async fn shutdown(&self) {
        self.inner.pool.shutdown().await;
    }

    /// Dials until `domain` (a pool key: host, or host:port) has `n`
    /// validated idle connections. See [`Pool::prewarm`].
    ///
    /// # Errors
    ///
    /// As [`Pool::prewarm`].
    pub async fn prewarm(&self, domain: &str, n: usize) -> Result<usize, Error> {
        self.inner.pool.prewarm(domain, n).await
    }

    /// Changes the pool's run-time settings. See [`Pool::update_config`].
    ///
    /// # Errors
    ///
    /// As [`Pool::update_config`].
    pub fn update_config(&self, config: Config) -> Result<(), Error> {
        self.inner.pool.update_config(config)
    }

    /// Whether the client is fit to serve: the pool is healthy
    /// ([`Pool::is_healthy`]) and requests succeed at least
    /// `min_success_rate` of the time (counting requests that got any
    /// response as successes; 1.0 before the first request).
    pub fn is_healthy(&self) -> bool {
        let pool = &self.inner.pool;
        let r = self.inner.counters.snapshot();
        let rate = if r.requests == 0 {
            1.0
        } else {
            r.responses.total() as f64 / r.requests as f64
        };
        pool.is_healthy() && rate >= pool.config().min_success_rate
    }
}
