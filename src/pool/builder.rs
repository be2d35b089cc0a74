//! [`Builder`]: every setting of a pool.

use super::*;
use crate::{
    config::Config,
    connect::Connect,
    engine::Shared,
    error::Error,
    sync::{Arc, StdArc},
};
use std::{net::IpAddr, time::Duration};

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

    /// See [`Config::address_choice`] (default
    /// [`AddressChoice::Score`](crate::AddressChoice::Score)).
    pub fn address_choice(mut self, choice: crate::AddressChoice) -> Self {
        self.config.address_choice = choice;
        self
    }

    /// See [`Config::wake`] (default [`Wake::One`](crate::Wake::One)).
    pub fn wake(mut self, wake: crate::Wake) -> Self {
        self.config.wake = wake;
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
