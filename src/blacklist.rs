//! The expiring IP blacklist.
//!
//! An IP address is blocked until a deadline (in the pool's clock ticks) or
//! for good (the deny list); the allow list is never blocked. The table is a
//! mutex-protected map touched only on slow paths (blocking, unblocking,
//! adding addresses, snapshots). The hot path never reads it: every domain
//! address ([`Addr`](crate::engine::Addr)) carries its own copy of the
//! deadline, set when the IP is blocked or unblocked, so a lend or a return
//! checks one atomic it already has at hand. Expiry is lazy — a deadline in
//! the past is simply not blocking — and [`Blacklist::sweep`] drops expired
//! entries from the table.
//!
//! # Per domain first
//!
//! A 403 from an address says that *this site* refuses us there, not that
//! the address does: a CDN address serves thousands of sites, and one of
//! them refusing crawlers must not cost the others. So a refusal blocks the
//! pair (domain, IP) ([`Blacklist::block_pair`]); the IP is blocked for
//! every domain only when `block_ip_after_domains` distinct domains were
//! refused by it within the TTL, or when the user says so
//! ([`Pool::block`](crate::Pool::block)). An address's copy of its deadline
//! is the later of the two.

use crate::sync::{lock, unmodeled, Mutex};
use std::{
    collections::{HashMap, HashSet},
    net::IpAddr,
    sync::Arc,
};

/// `until` value for a permanent block.
pub(crate) const FOREVER: u64 = u64::MAX;

/// A pair block: the domain and its deadline (ticks).
type Pair = (Arc<str>, u64);

#[derive(Debug, Default)]
pub(crate) struct Blacklist {
    entries: Mutex<HashMap<IpAddr, u64>>,
    /// Pair blocks: per IP, the domains refused there and until when.
    pairs: Mutex<HashMap<IpAddr, Vec<Pair>>>,
    allow: HashSet<IpAddr>,
    deny: HashSet<IpAddr>,
    deny_ranges: Vec<ipnet::IpNet>,
    /// Tick at which the next periodic sweep is due.
    next_sweep: unmodeled::AtomicU64,
}

impl Blacklist {
    pub(crate) fn new(allow: &[IpAddr], deny: &[IpAddr]) -> Blacklist {
        Blacklist {
            entries: Mutex::new(HashMap::new()),
            pairs: Mutex::new(HashMap::new()),
            allow: allow.iter().copied().collect(),
            deny: deny.iter().copied().collect(),
            deny_ranges: Vec::new(),
            next_sweep: unmodeled::AtomicU64::new(0),
        }
    }

    /// Blocks `ip` until `until` (ticks). Returns the deadline in force, or
    /// `None` if the IP is on the allow list.
    /// Also denies every address of these ranges.
    pub(crate) fn with_ranges(mut self, ranges: &[ipnet::IpNet]) -> Self {
        self.deny_ranges = ranges.to_vec();
        self
    }

    /// On the deny list, as an address or in a range.
    fn denied(&self, ip: IpAddr) -> bool {
        self.deny.contains(&ip) || self.deny_ranges.iter().any(|n| n.contains(&ip))
    }

    pub(crate) fn block(&self, ip: IpAddr, until: u64) -> Option<u64> {
        if self.allow.contains(&ip) {
            return None;
        }
        if self.denied(ip) {
            return Some(FOREVER);
        }
        let mut e = lock(&self.entries);
        let slot = e.entry(ip).or_insert(0);
        *slot = (*slot).max(until);
        Some(*slot)
    }

    /// Lifts a block (not a deny-list entry). Returns whether one was lifted.
    /// Blocks the pair (`domain`, `ip`) until `until`, extending an earlier
    /// block. Returns `None` if the IP is on the allow list, else the
    /// number of distinct domains whose pair block on `ip` is live at `now`
    /// (this one included).
    pub(crate) fn block_pair(
        &self,
        domain: &Arc<str>,
        ip: IpAddr,
        until: u64,
        now: u64,
    ) -> Option<usize> {
        if self.allow.contains(&ip) {
            return None;
        }
        let mut p = lock(&self.pairs);
        let list = p.entry(ip).or_default();
        list.retain(|(_, u)| *u > now);
        match list.iter_mut().find(|(d, _)| d == domain) {
            Some((_, u)) => *u = (*u).max(until),
            None => list.push((domain.clone(), until)),
        }
        Some(list.len())
    }

    /// Lifts the pair block of (`domain`, `ip`); whether there was one.
    pub(crate) fn unblock_pair(&self, domain: &str, ip: IpAddr) -> bool {
        let mut p = lock(&self.pairs);
        let Some(list) = p.get_mut(&ip) else {
            return false;
        };
        let before = list.len();
        list.retain(|(d, _)| &**d != domain);
        let lifted = list.len() != before;
        if list.is_empty() {
            p.remove(&ip);
        }
        lifted
    }

    /// The live pair blocks at `now`: (domain, IP), sorted.
    pub(crate) fn pairs(&self, now: u64) -> Vec<(String, IpAddr)> {
        let p = lock(&self.pairs);
        let mut v: Vec<(String, IpAddr)> = p
            .iter()
            .flat_map(|(ip, l)| {
                l.iter()
                    .filter(|(_, u)| *u > now)
                    .map(move |(d, _)| (d.to_string(), *ip))
            })
            .collect();
        v.sort();
        v
    }

    /// The pair block deadline of (`domain`, `ip`) (0: none).
    pub(crate) fn pair_until(&self, domain: &str, ip: IpAddr) -> u64 {
        lock(&self.pairs)
            .get(&ip)
            .and_then(|l| l.iter().find(|(d, _)| &**d == domain))
            .map_or(0, |(_, u)| *u)
    }

    /// The deadline an address of `domain` at `ip` is blocked until: the
    /// later of the IP's and the pair's.
    pub(crate) fn until_for(&self, domain: &str, ip: IpAddr) -> u64 {
        self.until(ip).max(self.pair_until(domain, ip))
    }

    pub(crate) fn unblock(&self, ip: IpAddr) -> bool {
        lock(&self.entries).remove(&ip).is_some()
    }

    /// The deadline of `ip` (0 if not blocked).
    pub(crate) fn until(&self, ip: IpAddr) -> u64 {
        if self.denied(ip) {
            return FOREVER;
        }
        lock(&self.entries).get(&ip).copied().unwrap_or(0)
    }

    /// Whether `ip` is blocked at `now`; an expired entry found here is
    /// deleted (the lazy half of expiry; [`sweep`](Self::sweep) is the
    /// periodic half).
    pub(crate) fn is_blocked(&self, ip: IpAddr, now: u64) -> bool {
        if self.denied(ip) {
            return true;
        }
        let mut e = lock(&self.entries);
        match e.get(&ip) {
            Some(&until) if until > now => true,
            Some(_) => {
                e.remove(&ip);
                false
            }
            None => false,
        }
    }

    /// Sweeps if the last sweep was at least `every` ticks ago: called from
    /// slow paths (dials, blocks), so that expired entries do not pile up
    /// even when nobody asks for statistics.
    pub(crate) fn sweep_if_due(&self, now: u64, every: u64) {
        let next = self.next_sweep.load(unmodeled::Ordering::Relaxed);
        if now < next {
            return;
        }
        if self
            .next_sweep
            .compare_exchange(
                next,
                now.saturating_add(every),
                unmodeled::Ordering::Relaxed,
                unmodeled::Ordering::Relaxed,
            )
            .is_ok()
        {
            let left = self.sweep(now);
            tracing::trace!(left, "hotpool: blacklist swept");
        }
    }

    /// Drops expired entries; returns how many are left blocking (deny list
    /// included).
    pub(crate) fn sweep(&self, now: u64) -> usize {
        lock(&self.pairs).retain(|_, l| {
            l.retain(|(_, u)| *u > now);
            !l.is_empty()
        });
        let mut e = lock(&self.entries);
        e.retain(|_, until| *until > now);
        e.len() + self.deny.iter().filter(|ip| !e.contains_key(ip)).count()
    }

    /// The blocked IPs and their deadlines, expired ones dropped.
    pub(crate) fn snapshot(&self, now: u64) -> Vec<(IpAddr, u64)> {
        let mut e = lock(&self.entries);
        e.retain(|_, until| *until > now);
        let mut v: Vec<(IpAddr, u64)> = e.iter().map(|(ip, u)| (*ip, *u)).collect();
        v.extend(
            self.deny
                .iter()
                .filter(|ip| !e.contains_key(ip))
                .map(|ip| (*ip, FOREVER)),
        );
        v
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, n])
    }

    #[test]
    fn lookup_deletes_an_expired_entry() {
        let b = Blacklist::new(&[], &[]);
        b.block(ip(1), 100);
        assert!(b.is_blocked(ip(1), 99));
        assert_eq!(b.until(ip(1)), 100);
        assert!(!b.is_blocked(ip(1), 100));
        assert_eq!(b.until(ip(1)), 0, "deleted on lookup");
    }

    #[test]
    fn sweeps_when_due_only() {
        let b = Blacklist::new(&[], &[ip(9)]);
        b.block(ip(1), 10);
        b.block(ip(2), 1_000);
        b.sweep_if_due(50, 100); // first call: due
        assert_eq!((b.until(ip(1)), b.until(ip(2))), (0, 1_000));
        b.block(ip(3), 60);
        b.sweep_if_due(100, 100); // next due at 150
        assert_eq!(b.until(ip(3)), 60, "not swept before it is due");
        b.sweep_if_due(150, 100);
        assert_eq!(b.until(ip(3)), 0);
        assert_eq!(b.sweep(150), 2, "ip 2 and the deny-list entry");
        assert_eq!(b.until(ip(9)), FOREVER);
    }
}
