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
    /// Address ranges (CIDR, such as `10.0.0.0/8` or `fd00::/8`) that are
    /// always blacklisted, like `deny_ips`. In the config file they go in
    /// the same `deny` list as single addresses.
    pub deny_ranges: Vec<ipnet::IpNet>,
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
    /// How many distinct domains must be refused (403) by one IP within
    /// `blacklist_ttl` before the IP is blocked for every domain; until
    /// then a refusal blocks only the pair (domain, IP). Default 3; 1
    /// blocks an IP pool-wide at the first refusal.
    pub block_ip_after_domains: usize,
    /// Limit on one health-check probe of an idle connection (while it is
    /// probed it is out of the idle queue). Default 2 s.
    pub probe_timeout: Duration,
    /// How long a failed name resolution is remembered (requests fail at
    /// once instead of each resolving again). Default 30 s.
    pub negative_dns_ttl: Duration,
    /// Whether addresses a resolver returns may be private, loopback,
    /// link-local, unspecified or cloud metadata addresses (refused by
    /// default: a hostile DNS record must not point the crawler inward).
    /// Addresses given with `set_ips` are always trusted. Default false.
    pub allow_private_addresses: bool,
    /// Whom a returned connection (or a unit of capacity given back)
    /// wakes among the tasks waiting for one: [`Wake::One`] (default) or
    /// [`Wake::Broadcast`].
    pub wake: Wake,
    /// How a dial picks among a domain's usable addresses:
    /// [`AddressChoice::Score`] (default) or [`AddressChoice::RoundRobin`].
    pub address_choice: AddressChoice,
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
            deny_ranges: Vec::new(),
            health_check_interval: Duration::from_secs(30),
            min_idle_per_domain: 0,
            max_concurrent_dials: 20,
            probe_concurrency: 8,
            dns_refresh_interval: Duration::from_secs(30 * 60),
            min_success_rate: 0.5,
            block_ip_after_domains: 3,
            probe_timeout: Duration::from_secs(2),
            negative_dns_ttl: Duration::from_secs(30),
            allow_private_addresses: false,
            wake: Wake::One,
            address_choice: AddressChoice::Score,
        }
    }
}

/// How a dial picks among a domain's usable addresses (`address_choice` in
/// the configuration).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AddressChoice {
    /// By score (`"score"`, the default): of two addresses drawn at random,
    /// the one with the lower cost — its connect and handshake latency
    /// (an average of its recent dials) plus a penalty for its recent
    /// failures, both fading with a 30 s half-life since they were last
    /// measured, so that an address left alone is tried again. One dial in
    /// twenty goes to a random address instead, to keep measuring the
    /// others. A slow or flaky address gets fewer new connections, a
    /// recovered one wins its share back.
    #[default]
    Score,
    /// Each address in turn (`"round-robin"`).
    RoundRobin,
}

impl AddressChoice {
    /// The configuration spelling: `"score"` or `"round-robin"`.
    pub fn as_str(self) -> &'static str {
        match self {
            AddressChoice::Score => "score",
            AddressChoice::RoundRobin => "round-robin",
        }
    }

    /// Parses the configuration spelling.
    pub fn parse(s: &str) -> Option<AddressChoice> {
        match s {
            "score" => Some(AddressChoice::Score),
            "round-robin" => Some(AddressChoice::RoundRobin),
            _ => None,
        }
    }
}

/// Whom a unit made available wakes (`wake` in the configuration).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Wake {
    /// One more waiter per connection or unit of capacity made available
    /// (`wake = "one"`, the default: a put that meets 64 waiters wakes one,
    /// not 64).
    #[default]
    One,
    /// Every waiter on every put (`wake = "broadcast"`, the Go original's
    /// `Broadcast`): all wake, one wins, the rest sleep again.
    Broadcast,
}

impl Wake {
    /// The configuration spelling: `"one"` or `"broadcast"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Wake::One => "one",
            Wake::Broadcast => "broadcast",
        }
    }

    /// Parses the configuration spelling.
    pub fn parse(s: &str) -> Option<Wake> {
        match s {
            "one" => Some(Wake::One),
            "broadcast" => Some(Wake::Broadcast),
            _ => None,
        }
    }

    pub(crate) fn to_bits(self) -> u8 {
        self as u8
    }

    pub(crate) fn from_bits(b: u8) -> Wake {
        if b == Wake::Broadcast as u8 {
            Wake::Broadcast
        } else {
            Wake::One
        }
    }
}

/// Upper bound of `max_conns`.
pub const MAX_CONNS: usize = 1 << 20;
/// Upper bound of `max_conns_per_domain` (and `min_idle_per_domain`).
pub const MAX_CONNS_PER_DOMAIN: usize = 1 << 16;
/// Upper bound of `max_concurrent_dials` and `probe_concurrency`.
pub const MAX_DIALS: usize = 1 << 16;
/// Upper bound of `block_ip_after_domains`.
pub const MAX_BLOCK_DOMAINS: usize = 1 << 16;

impl Config {
    /// Checks every value.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] naming the first bad setting: a zero
    /// capacity, a zero duration, a zero port, or a count over its upper
    /// bound ([`MAX_CONNS`], [`MAX_CONNS_PER_DOMAIN`], [`MAX_DIALS`],
    /// [`MAX_BLOCK_DOMAINS`]). Durations have no upper bound:
    /// `Duration::MAX` means "never".
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
        nonzero("block_ip_after_domains", self.block_ip_after_domains)?;
        positive("probe_timeout", self.probe_timeout)?;
        positive("negative_dns_ttl", self.negative_dns_ttl)?;
        // Upper bounds: every count sizes something (a queue per domain, a
        // semaphore, a table), so an absurd value is an error, not an
        // allocation.
        for (key, n, max) in [
            ("max_conns", self.max_conns, MAX_CONNS),
            (
                "max_conns_per_domain",
                self.max_conns_per_domain,
                MAX_CONNS_PER_DOMAIN,
            ),
            (
                "min_idle_per_domain",
                self.min_idle_per_domain,
                MAX_CONNS_PER_DOMAIN,
            ),
            ("max_concurrent_dials", self.max_concurrent_dials, MAX_DIALS),
            ("probe_concurrency", self.probe_concurrency, MAX_DIALS),
            (
                "block_ip_after_domains",
                self.block_ip_after_domains,
                MAX_BLOCK_DOMAINS,
            ),
        ] {
            if n > max {
                return Err(Error::invalid_config(
                    key,
                    n,
                    format!("must be at most {max}"),
                ));
            }
        }
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
        if let Some(ip) = self.allow_ips.iter().find(|ip| {
            self.deny_ips.contains(ip) || self.deny_ranges.iter().any(|n| n.contains(*ip))
        }) {
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
