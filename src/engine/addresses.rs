//! A domain's addresses: round-robin with set-aside, blocks copied from
//! the blacklist, throttles, refreshes.

use super::*;
use crate::{
    connect::Target,
    error::Error,
    state,
    sync::{lock, unmodeled, Arc},
};
use std::{
    net::{IpAddr, SocketAddr},
    time::Duration,
};

impl<T: Send + 'static> Domain<T> {
    /// This domain's address `ip`, if it is in the list and usable now.
    pub(crate) fn addr_of(&self, ip: IpAddr) -> Result<Arc<Addr>, Error> {
        let now = self.pool.ticker.now();
        let ips = self.ips.load();
        let Some(a) = ips.iter().find(|a| a.addr.ip() == ip && !a.is_retired()) else {
            return Err(Error::NoAddress {
                domain: self.key.clone(),
            });
        };
        if a.is_blocked(now) {
            return Err(Error::Blocked {
                domain: self.key.clone(),
                ip,
            });
        }
        Ok(a.clone())
    }

    /// Where this domain's addresses came from.
    pub(crate) fn ip_source(&self) -> u8 {
        self.ip_source.load(unmodeled::Ordering::Relaxed)
    }

    /// Whether the resolver's answer is older than `refresh` ticks.
    pub(crate) fn resolution_due(&self, now: u64, refresh: u64) -> bool {
        self.ip_source() == IPS_RESOLVED
            && now.saturating_sub(self.resolved_at.load(unmodeled::Ordering::Relaxed)) >= refresh
    }

    /// Sets the addresses from the resolver (unless `set_ips` fixed them
    /// meanwhile).
    pub(crate) fn set_resolved_ips(&self, ips: &[IpAddr]) {
        if self.ip_source() == IPS_STATIC {
            return;
        }
        self.set_ips_from(ips);
        self.ip_source
            .store(IPS_RESOLVED, unmodeled::Ordering::Relaxed);
        self.resolved_at
            .store(self.pool.ticker.now(), unmodeled::Ordering::Relaxed);
    }

    /// The host and port dialed.
    pub(crate) fn host_port(&self) -> (&str, u16) {
        (&self.host, self.port)
    }

    /// The next address to dial, skipping retired and blacklisted ones,
    /// and those set aside after failing (unless no other is left): by
    /// score among the usable ones (see [`score`](super::score)), or in
    /// turn with `AddressChoice::RoundRobin` (and in the loom models, which
    /// must be deterministic). `Err(None)`: the domain has no address;
    /// `Err(Some(ip))`: every address is blacklisted (`ip` is one of them).
    pub(crate) fn next_addr(&self) -> Result<Arc<Addr>, Option<IpAddr>> {
        let ips = self.ips.load();
        let n = ips.len();
        if n == 0 {
            return Err(None);
        }
        let now = self.pool.ticker.now();
        if n > 1 && !cfg!(loom) && !self.pool.settings.round_robin() {
            // The usable addresses' indices; a domain's list is short, and
            // a long one is scored on its first 64.
            let mut usable = [0usize; 64];
            let mut k = 0;
            for (i, a) in ips.iter().enumerate().take(usable.len()) {
                if !a.is_retired() && !a.is_blocked(now) && !a.is_aside(now) {
                    usable[k] = i;
                    k += 1;
                }
            }
            if k > 0 {
                // Addresses never dialed go first, in turn: each is
                // measured early (and the first dials spread as
                // round-robin does).
                let start = self.rr.fetch_add(1, unmodeled::Ordering::Relaxed);
                let new = (0..k)
                    .map(|i| usable[(start + i) % k])
                    .find(|&i| ips[i].score.dials().0 == 0);
                let i = new.unwrap_or_else(|| super::score::pick(&ips, &usable[..k], now));
                return Ok(ips[i].clone());
            }
            // None usable: the round below finds the blocked one to name,
            // or the address whose time aside ends first.
        }
        let start = self.rr.fetch_add(1, unmodeled::Ordering::Relaxed);
        let mut blocked = None;
        let mut aside: Option<&Arc<Addr>> = None;
        for i in 0..n {
            let a = &ips[(start + i) % n];
            if a.is_retired() {
                continue;
            }
            if a.is_blocked(now) {
                blocked = Some(a.addr.ip());
                continue;
            }
            if a.is_aside(now) {
                // Failing lately: only if no other address is usable, and
                // then the one whose time aside ends first.
                let earlier = aside.is_none_or(|b| {
                    a.aside_until.load(unmodeled::Ordering::Relaxed)
                        < b.aside_until.load(unmodeled::Ordering::Relaxed)
                });
                if earlier {
                    aside = Some(a);
                }
                continue;
            }
            return Ok(a.clone());
        }
        match aside {
            Some(a) => Ok(a.clone()),
            None => Err(blocked),
        }
    }

    /// Copies the blacklist's deadline for `ip` in this domain (the later
    /// of the IP's and the pair's) to this domain's addresses of `ip`.
    ///
    /// Serialised with [`set_ips_from`](Domain::set_ips_from) by the same
    /// lock, and reading the blacklist after the caller wrote it: a refresh
    /// of the address list that races a block either builds its list after
    /// the block (and copies the new deadline) or installs it before this
    /// copy (which then reaches the new list). Without the lock, a refresh
    /// could install an address made before the block, unblocked.
    pub(super) fn sync_blocked(&self, ip: IpAddr) {
        let _serial = lock(&self.ips_update);
        let until = self.pool.blacklist.until_for(&self.key, ip);
        for a in self.ips.load().iter().filter(|a| a.addr.ip() == ip) {
            a.blocked_until.store(until, unmodeled::Ordering::Relaxed);
        }
        self.bump_addr_epoch();
    }

    /// Makes every connection's next lend or return look at its address
    /// record again (after a block, unblock or retirement).
    pub(super) fn bump_addr_epoch(&self) {
        self.addr_epoch.fetch_add(1, unmodeled::Ordering::Release);
    }

    /// Dials no new connection to this domain until `until` (ticks);
    /// extends, never shortens, an earlier throttle.
    pub(crate) fn throttle(&self, until: u64) {
        self.throttled_until
            .fetch_max(until, unmodeled::Ordering::Relaxed);
    }

    /// How long new dials must still wait (zero: none).
    pub(crate) fn throttled_for(&self) -> Duration {
        let until = self.throttled_until.load(unmodeled::Ordering::Relaxed);
        let now = self.pool.ticker.now();
        if until <= now {
            return Duration::ZERO;
        }
        state::duration_from(until - now)
    }

    /// The domain as dialed: host and the address to use.
    pub(crate) fn target_for(&self, addr: &Addr) -> Target {
        Target::new(self.host.clone(), addr.addr).with_route(self.route.clone())
    }

    /// Replaces the address list. Addresses that left it are retired: their
    /// idle connections are closed now, lent ones when they come back.
    pub(crate) fn set_ips(&self, ips: &[IpAddr]) {
        self.ip_source
            .store(IPS_STATIC, unmodeled::Ordering::Relaxed);
        self.set_ips_from(ips);
    }

    pub(super) fn set_ips_from(&self, ips: &[IpAddr]) {
        let _serial = lock(&self.ips_update);
        let old = self.ips.load_full();
        let mut new: Vec<Arc<Addr>> = Vec::with_capacity(ips.len());
        for ip in ips {
            let sa = SocketAddr::new(*ip, self.port);
            if new.iter().any(|a| a.addr == sa) {
                continue;
            }
            match old.iter().find(|a| a.addr == sa) {
                Some(a) => new.push(a.clone()),
                None => new.push(Addr::new(sa, self.pool.blacklist.until_for(&self.key, *ip))),
            }
        }
        let mut retired = false;
        for a in old.iter() {
            if !new.iter().any(|n| Arc::ptr_eq(n, a)) {
                a.retired.store(true, unmodeled::Ordering::Relaxed);
                retired = true;
            }
        }
        self.ips.store(Arc::new(new));
        if retired {
            self.bump_addr_epoch();
            self.sweep();
        }
    }

    /// Each current address's record.
    pub(crate) fn address_infos(&self) -> Vec<crate::stats::AddressInfo> {
        let now = self.pool.ticker.now();
        self.ips.load().iter().map(|a| a.info(now)).collect()
    }

    /// The current addresses.
    pub(crate) fn ips(&self) -> Vec<SocketAddr> {
        self.ips.load().iter().map(|a| a.addr).collect()
    }

    // --- waiting ------------------------------------------------------------
}
