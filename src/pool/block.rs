//! Blocks (an IP, a (domain, IP) pair) and throttles (a domain) on a
//! [`Pool`].

use super::*;
use crate::{connect::Connect, engine::Shared};
use std::{net::IpAddr, time::Duration};

impl<C: Connect> Pool<C> {
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
}
