//! Run-time settings as atomics, read by the hot path without a lock.

use crate::{
    config::{Config, Wake},
    state,
    sync::unmodeled,
};
use std::time::Duration;

// ---------------------------------------------------------------------------
// Settings

/// Run-time settings, as atomics so the hot path reads them without a lock.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(super) max_conns: unmodeled::AtomicUsize,
    pub(super) max_per_domain: unmodeled::AtomicUsize,
    pub(super) wait_timeout_ns: unmodeled::AtomicU64,
    pub(super) connect_timeout_ns: unmodeled::AtomicU64,
    pub(super) idle_ticks: unmodeled::AtomicU64,
    pub(super) lifetime_ticks: unmodeled::AtomicU64,
    pub(super) max_errors: unmodeled::AtomicU64,
    pub(super) blacklist_ttl_ns: unmodeled::AtomicU64,
    pub(super) health_interval_ns: unmodeled::AtomicU64,
    pub(super) min_idle: unmodeled::AtomicUsize,
    pub(super) max_dials: unmodeled::AtomicUsize,
    pub(super) probe_concurrency: unmodeled::AtomicUsize,
    pub(super) dns_refresh_ns: unmodeled::AtomicU64,
    pub(super) min_success_rate_bits: unmodeled::AtomicU64,
    pub(crate) block_ip_after_domains: unmodeled::AtomicUsize,
    pub(super) probe_timeout_ns: unmodeled::AtomicU64,
    pub(super) negative_dns_ttl_ns: unmodeled::AtomicU64,
    pub(super) wake: unmodeled::AtomicU8,
    /// `AddressChoice::Score` (0) or `RoundRobin` (1).
    pub(super) round_robin: unmodeled::AtomicBool,
    pub(super) default_port: u16,
}

pub(super) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Settings {
    pub(super) fn new(c: &Config) -> Settings {
        Settings {
            max_conns: c.max_conns.into(),
            max_per_domain: c.max_conns_per_domain.into(),
            wait_timeout_ns: nanos(c.wait_timeout).into(),
            connect_timeout_ns: nanos(c.connect_timeout).into(),
            idle_ticks: state::ticks_from(c.idle_timeout).into(),
            lifetime_ticks: state::ticks_from(c.max_lifetime).into(),
            max_errors: u64::from(c.max_errors).into(),
            blacklist_ttl_ns: nanos(c.blacklist_ttl).into(),
            health_interval_ns: nanos(c.health_check_interval).into(),
            min_idle: c.min_idle_per_domain.into(),
            max_dials: c.max_concurrent_dials.into(),
            probe_concurrency: c.probe_concurrency.into(),
            dns_refresh_ns: nanos(c.dns_refresh_interval).into(),
            min_success_rate_bits: c.min_success_rate.to_bits().into(),
            block_ip_after_domains: c.block_ip_after_domains.into(),
            probe_timeout_ns: nanos(c.probe_timeout).into(),
            negative_dns_ttl_ns: nanos(c.negative_dns_ttl).into(),
            wake: c.wake.to_bits().into(),
            round_robin: (c.address_choice == crate::config::AddressChoice::RoundRobin).into(),
            default_port: c.default_port,
        }
    }

    /// Stores the run-time settings of `c` (everything but the default
    /// port, the allow/deny lists and the idle queues' capacity, which are
    /// fixed when the pool or domain is made). Each value is one atomic
    /// store: readers see every value either old or new.
    pub(crate) fn update(&self, c: &Config) {
        let o = unmodeled::Ordering::Relaxed;
        self.max_conns.store(c.max_conns, o);
        self.max_per_domain.store(c.max_conns_per_domain, o);
        self.wait_timeout_ns.store(nanos(c.wait_timeout), o);
        self.connect_timeout_ns.store(nanos(c.connect_timeout), o);
        self.idle_ticks.store(state::ticks_from(c.idle_timeout), o);
        self.lifetime_ticks
            .store(state::ticks_from(c.max_lifetime), o);
        self.max_errors.store(u64::from(c.max_errors), o);
        self.blacklist_ttl_ns.store(nanos(c.blacklist_ttl), o);
        self.health_interval_ns
            .store(nanos(c.health_check_interval), o);
        self.min_idle.store(c.min_idle_per_domain, o);
        self.max_dials.store(c.max_concurrent_dials, o);
        self.probe_concurrency.store(c.probe_concurrency, o);
        self.dns_refresh_ns.store(nanos(c.dns_refresh_interval), o);
        self.min_success_rate_bits
            .store(c.min_success_rate.to_bits(), o);
        self.block_ip_after_domains
            .store(c.block_ip_after_domains, o);
        self.probe_timeout_ns.store(nanos(c.probe_timeout), o);
        self.negative_dns_ttl_ns.store(nanos(c.negative_dns_ttl), o);
        self.wake.store(c.wake.to_bits(), o);
        self.round_robin.store(
            c.address_choice == crate::config::AddressChoice::RoundRobin,
            o,
        );
    }

    /// Whether dials take addresses in turn rather than by score.
    #[inline]
    pub(crate) fn round_robin(&self) -> bool {
        self.round_robin.load(unmodeled::Ordering::Relaxed)
    }

    /// Whom a unit made available wakes.
    #[inline]
    pub(crate) fn wake(&self) -> Wake {
        Wake::from_bits(self.wake.load(unmodeled::Ordering::Relaxed))
    }

    pub(crate) fn probe_timeout(&self) -> Duration {
        Duration::from_nanos(self.probe_timeout_ns.load(unmodeled::Ordering::Relaxed))
    }

    pub(crate) fn negative_dns_ttl(&self) -> Duration {
        Duration::from_nanos(self.negative_dns_ttl_ns.load(unmodeled::Ordering::Relaxed))
    }

    pub(crate) fn health_interval(&self) -> Duration {
        Duration::from_nanos(self.health_interval_ns.load(unmodeled::Ordering::Relaxed))
    }

    pub(crate) fn dns_refresh(&self) -> Duration {
        Duration::from_nanos(self.dns_refresh_ns.load(unmodeled::Ordering::Relaxed))
    }

    pub(crate) fn min_idle(&self) -> usize {
        Settings::get_usize(&self.min_idle)
    }

    pub(crate) fn probe_concurrency(&self) -> usize {
        Settings::get_usize(&self.probe_concurrency)
    }

    pub(crate) fn max_per_domain(&self) -> usize {
        Settings::get_usize(&self.max_per_domain)
    }

    pub(crate) fn min_success_rate(&self) -> f64 {
        f64::from_bits(Settings::get_u64(&self.min_success_rate_bits))
    }

    pub(crate) fn wait_timeout(&self) -> Duration {
        Duration::from_nanos(self.wait_timeout_ns.load(unmodeled::Ordering::Relaxed))
    }

    pub(crate) fn max_errors(&self) -> u8 {
        u8::try_from(Settings::get_u64(&self.max_errors)).unwrap_or(u8::MAX)
    }

    pub(crate) fn connect_timeout(&self) -> Duration {
        Duration::from_nanos(self.connect_timeout_ns.load(unmodeled::Ordering::Relaxed))
    }

    pub(crate) fn blacklist_ttl(&self) -> Duration {
        Duration::from_nanos(self.blacklist_ttl_ns.load(unmodeled::Ordering::Relaxed))
    }

    #[inline]
    pub(super) fn get_usize(a: &unmodeled::AtomicUsize) -> usize {
        a.load(unmodeled::Ordering::Relaxed)
    }

    #[inline]
    pub(super) fn get_u64(a: &unmodeled::AtomicU64) -> u64 {
        a.load(unmodeled::Ordering::Relaxed)
    }
}
