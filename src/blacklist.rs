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

use crate::sync::{lock, unmodeled, Mutex};
use std::{
    collections::{HashMap, HashSet},
    net::IpAddr,
};

/// `until` value for a permanent block.
pub(crate) const FOREVER: u64 = u64::MAX;

#[derive(Debug, Default)]
pub(crate) struct Blacklist {
    entries: Mutex<HashMap<IpAddr, u64>>,
    allow: HashSet<IpAddr>,
    deny: HashSet<IpAddr>,
    /// Tick at which the next periodic sweep is due.
    next_sweep: unmodeled::AtomicU64,
}

impl Blacklist {
    pub(crate) fn new(allow: &[IpAddr], deny: &[IpAddr]) -> Blacklist {
        Blacklist {
            entries: Mutex::new(HashMap::new()),
            allow: allow.iter().copied().collect(),
            deny: deny.iter().copied().collect(),
            next_sweep: unmodeled::AtomicU64::new(0),
        }
    }

    /// Blocks `ip` until `until` (ticks). Returns the deadline in force, or
    /// `None` if the IP is on the allow list.
    pub(crate) fn block(&self, ip: IpAddr, until: u64) -> Option<u64> {
        if self.allow.contains(&ip) {
            return None;
        }
        if self.deny.contains(&ip) {
            return Some(FOREVER);
        }
        let mut e = lock(&self.entries);
        let slot = e.entry(ip).or_insert(0);
        *slot = (*slot).max(until);
        Some(*slot)
    }

    /// Lifts a block (not a deny-list entry). Returns whether one was lifted.
    pub(crate) fn unblock(&self, ip: IpAddr) -> bool {
        lock(&self.entries).remove(&ip).is_some()
    }

    /// The deadline of `ip` (0 if not blocked).
    pub(crate) fn until(&self, ip: IpAddr) -> u64 {
        if self.deny.contains(&ip) {
            return FOREVER;
        }
        lock(&self.entries).get(&ip).copied().unwrap_or(0)
    }

    /// Whether `ip` is blocked at `now`; an expired entry found here is
    /// deleted (the lazy half of expiry; [`sweep`](Self::sweep) is the
    /// periodic half).
    pub(crate) fn is_blocked(&self, ip: IpAddr, now: u64) -> bool {
        if self.deny.contains(&ip) {
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
