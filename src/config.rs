//! Pool settings, their defaults and their validation.

use crate::error::Error;
use std::{net::IpAddr, time::Duration};

/// The pool's settings. Start from [`Config::default`] (or use
/// [`Pool::builder`](crate::Pool::builder)) and change what you need; every
/// value is checked when the pool is built.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Config {
    /// Live connections in the whole pool, idle and lent, counting dials in
    /// progress. Default 100.
    pub max_conns: usize,
    /// Live connections per domain (also the capacity of each domain's idle
    /// queue). Default 10.
    pub max_conns_per_domain: usize,
    /// How long `get` waits for a connection when both limits are reached.
    /// Default 5 s.
    pub wait_timeout: Duration,
    /// How long one dial (the connector's `connect`) may take. Default 10 s.
    pub connect_timeout: Duration,
    /// An idle connection unused for longer is closed instead of lent.
    /// Default 60 s.
    pub idle_timeout: Duration,
    /// A connection older than this is closed instead of lent or returned.
    /// Default 300 s.
    pub max_lifetime: Duration,
    /// A connection with more errors than this (see
    /// [`Pooled::mark_error`](crate::Pooled::mark_error)) is closed.
    /// Default 10.
    pub max_errors: u8,
    /// The port dialed for a domain key without one (`"example.com"` →
    /// 443; `"example.com:8443"` names its own). Default 443.
    pub default_port: u16,
    /// How long a blacklisted IP stays blocked. Default 15 min.
    pub blacklist_ttl: Duration,
    /// IPs that are never blacklisted.
    pub allow_ips: Vec<IpAddr>,
    /// IPs that are always blacklisted.
    pub deny_ips: Vec<IpAddr>,
    /// How often the health sweeper runs. Default 30 s.
    pub health_check_interval: Duration,
    /// Idle connections the sweeper keeps per domain (dialing more when a
    /// domain has fewer). Default 0: none.
    pub min_idle_per_domain: usize,
    /// Dials in progress at once, across the pool (on-demand, prewarm and
    /// refill dials alike). Default 20.
    pub max_concurrent_dials: usize,
    /// Health probes of long-idle connections in progress at once during a
    /// sweep. Default 8.
    pub probe_concurrency: usize,
    /// How often a resolved domain's addresses are looked up again.
    /// Default 30 min.
    pub dns_refresh_interval: Duration,
    /// The success rate (successful dials ÷ dials; for a client, requests
    /// without error ÷ requests) below which `is_healthy` says no.
    /// Default 0.5.
    pub min_success_rate: f64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            max_conns: 100,
            max_conns_per_domain: 10,
            wait_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_lifetime: Duration::from_secs(300),
            max_errors: 10,
            default_port: 443,
            blacklist_ttl: Duration::from_secs(15 * 60),
            allow_ips: Vec::new(),
            deny_ips: Vec::new(),
            health_check_interval: Duration::from_secs(30),
            min_idle_per_domain: 0,
            max_concurrent_dials: 20,
            probe_concurrency: 8,
            dns_refresh_interval: Duration::from_secs(30 * 60),
            min_success_rate: 0.5,
        }
    }
}

impl Config {
    /// Checks every value.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] naming the first bad setting: a zero
    /// capacity, a zero duration or a zero port.
    pub fn validate(&self) -> Result<(), Error> {
        fn nonzero(key: &str, n: usize) -> Result<(), Error> {
            if n == 0 {
                return Err(Error::invalid_config(key, n, "must be at least 1"));
            }
            Ok(())
        }
        fn positive(key: &str, d: Duration) -> Result<(), Error> {
            if d.is_zero() {
                return Err(Error::invalid_config(key, "0s", "must be longer than zero"));
            }
            Ok(())
        }
        nonzero("max_conns", self.max_conns)?;
        nonzero("max_conns_per_domain", self.max_conns_per_domain)?;
        positive("wait_timeout", self.wait_timeout)?;
        positive("connect_timeout", self.connect_timeout)?;
        positive("idle_timeout", self.idle_timeout)?;
        positive("max_lifetime", self.max_lifetime)?;
        positive("blacklist_ttl", self.blacklist_ttl)?;
        positive("health_check_interval", self.health_check_interval)?;
        positive("dns_refresh_interval", self.dns_refresh_interval)?;
        nonzero("max_concurrent_dials", self.max_concurrent_dials)?;
        nonzero("probe_concurrency", self.probe_concurrency)?;
        if self.min_idle_per_domain > self.max_conns_per_domain {
            return Err(Error::invalid_config(
                "min_idle_per_domain",
                self.min_idle_per_domain,
                format!(
                    "exceeds max_conns_per_domain ({})",
                    self.max_conns_per_domain
                ),
            ));
        }
        if !(0.0..=1.0).contains(&self.min_success_rate) {
            return Err(Error::invalid_config(
                "min_success_rate",
                self.min_success_rate,
                "must be between 0 and 1",
            ));
        }
        if let Some(ip) = self.allow_ips.iter().find(|ip| self.deny_ips.contains(ip)) {
            return Err(Error::invalid_config(
                "deny_ips",
                ip,
                "is also in allow_ips",
            ));
        }
        if self.default_port == 0 {
            return Err(Error::invalid_config(
                "default_port",
                0,
                "must be a port number from 1",
            ));
        }
        Ok(())
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = Config::default();
        assert_eq!(c.max_conns, 100);
        assert_eq!(c.max_conns_per_domain, 10);
        assert_eq!(c.wait_timeout, Duration::from_secs(5));
        assert_eq!(c.connect_timeout, Duration::from_secs(10));
        assert_eq!(c.idle_timeout, Duration::from_secs(60));
        assert_eq!(c.max_lifetime, Duration::from_secs(300));
        assert_eq!(c.max_errors, 10);
        assert_eq!(c.health_check_interval, Duration::from_secs(30));
        assert_eq!(c.min_idle_per_domain, 0);
        assert_eq!(c.max_concurrent_dials, 20);
        assert_eq!(c.dns_refresh_interval, Duration::from_secs(1800));
        assert!(c.validate().is_ok());
    }

    #[test]
    fn each_zero_value_is_named() {
        type Set = fn(&mut Config);
        let cases: [(&str, Set); 12] = [
            ("health_check_interval", |c| {
                c.health_check_interval = Duration::ZERO
            }),
            ("dns_refresh_interval", |c| {
                c.dns_refresh_interval = Duration::ZERO
            }),
            ("max_concurrent_dials", |c| c.max_concurrent_dials = 0),
            ("probe_concurrency", |c| c.probe_concurrency = 0),
            ("max_conns", |c| c.max_conns = 0),
            ("max_conns_per_domain", |c| c.max_conns_per_domain = 0),
            ("wait_timeout", |c| c.wait_timeout = Duration::ZERO),
            ("connect_timeout", |c| c.connect_timeout = Duration::ZERO),
            ("idle_timeout", |c| c.idle_timeout = Duration::ZERO),
            ("max_lifetime", |c| c.max_lifetime = Duration::ZERO),
            ("default_port", |c| c.default_port = 0),
            ("blacklist_ttl", |c| c.blacklist_ttl = Duration::ZERO),
        ];
        for (key, set) in cases {
            let mut c = Config::default();
            set(&mut c);
            match c.validate() {
                Err(Error::InvalidConfig { key: k, .. }) => assert_eq!(k, key),
                other => panic!("{key}: expected InvalidConfig, got {other:?}"),
            }
        }
    }
}
