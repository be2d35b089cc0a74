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

use crate::sync::{lock, Mutex};
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
}

impl Blacklist {
    pub(crate) fn new(allow: &[IpAddr], deny: &[IpAddr]) -> Blacklist {
        Blacklist {
            entries: Mutex::new(HashMap::new()),
            allow: allow.iter().copied().collect(),
            deny: deny.iter().copied().collect(),
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
