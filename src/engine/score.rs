//! Address scores: which of a domain's addresses a new connection is
//! dialed to ([`AddressChoice::Score`](crate::AddressChoice::Score)).
//!
//! # The score
//!
//! Each address keeps, from its own dials:
//!
//! - the **latency** of a dial (TCP connect, TLS handshake and the
//!   connector's validation), averaged with weight ¾ for the newest sample
//!   (a change of the address shows within two or three dials);
//! - a **failure score**: +1 per failed dial (refused, timed out, TLS,
//!   garbage, reset, failed probe), halving every 30 s.
//!
//! Its *cost* is the latency, halved for every 30 s since it was last
//! measured, plus 250 ms per unit of failure score. A measurement fades so
//! that an address left alone because it was slow is tried again after a
//! while: still slow, its cost is back up; recovered, it wins its traffic
//! back. An address never dialed costs nothing: each is tried early.
//!
//! # The choice
//!
//! Addresses never dialed go first, in turn. Then, power of two choices:
//! of the usable addresses (not retired, not blocked, not set aside after
//! failing), two distinct ones are drawn at random and the cheaper is
//! dialed; one dial in twenty takes a random
//! usable address instead (exploration). Drawing two rather than taking the
//! global minimum keeps concurrent dials from all piling onto the one
//! address that looks best this instant.
//!
//! Scores are statistics: relaxed atomics, read and written without
//! ordering; two dials racing on one address may lose a sample, never
//! correctness.

use super::connection::Addr;
use crate::{state, sync::unmodeled::AtomicU64, sync::unmodeled::Ordering::Relaxed};
use std::time::Duration;

/// How long it takes a latency measurement or a failure to count half.
const HALF_LIFE: Duration = Duration::from_secs(30);
/// The cost of one unit of failure score, in microseconds.
const FAILURE_COST_US: f64 = 250_000.0;
/// One dial in this many explores a random address.
const EXPLORE_ONE_IN: u32 = 20;

/// An address's record of its dials.
#[derive(Debug, Default)]
pub(crate) struct Score {
    /// Average dial latency in microseconds (0: never measured).
    latency_us: AtomicU64,
    /// When the latency was last measured (ticks).
    measured_at: AtomicU64,
    /// The failure score as `f64` bits, as of `failed_at`.
    failures: AtomicU64,
    failed_at: AtomicU64,
    dials: AtomicU64,
    dial_failures: AtomicU64,
}

/// `x` faded by the half-life over `ticks`.
fn fade(x: f64, ticks: u64) -> f64 {
    if x == 0.0 {
        return 0.0;
    }
    let halves = state::duration_from(ticks).as_secs_f64() / HALF_LIFE.as_secs_f64();
    x * 0.5f64.powf(halves)
}

impl Score {
    /// A dial made a connection in `latency`.
    pub(crate) fn succeeded(&self, latency: Duration, now: u64) {
        self.dials.fetch_add(1, Relaxed);
        let sample = latency.as_micros().clamp(1, u128::from(u32::MAX)) as u64;
        let old = self.latency_us.load(Relaxed);
        let new = if old == 0 {
            sample
        } else {
            (old + 3 * sample) / 4
        };
        self.latency_us.store(new, Relaxed);
        self.measured_at.store(now, Relaxed);
    }

    /// A dial failed at this address.
    pub(crate) fn failed(&self, now: u64) {
        self.dials.fetch_add(1, Relaxed);
        self.dial_failures.fetch_add(1, Relaxed);
        let score = self.failure_score(now) + 1.0;
        self.failures.store(score.to_bits(), Relaxed);
        self.failed_at.store(now, Relaxed);
    }

    /// The failure score now.
    pub(crate) fn failure_score(&self, now: u64) -> f64 {
        let at = self.failed_at.load(Relaxed);
        fade(
            f64::from_bits(self.failures.load(Relaxed)),
            now.saturating_sub(at),
        )
    }

    /// The average dial latency, if the address was ever dialed
    /// successfully.
    pub(crate) fn latency(&self) -> Option<Duration> {
        match self.latency_us.load(Relaxed) {
            0 => None,
            us => Some(Duration::from_micros(us)),
        }
    }

    /// The cost of dialing this address now, in microseconds.
    pub(crate) fn cost(&self, now: u64) -> f64 {
        let latency = self.latency_us.load(Relaxed) as f64;
        let age = now.saturating_sub(self.measured_at.load(Relaxed));
        fade(latency, age) + self.failure_score(now) * FAILURE_COST_US
    }

    /// Dials to this address, and those that failed.
    pub(crate) fn dials(&self) -> (u64, u64) {
        (self.dials.load(Relaxed), self.dial_failures.load(Relaxed))
    }
}

/// Picks among `usable` (indices into `ips`) by score: two distinct drawn
/// at random, the cheaper wins; one in [`EXPLORE_ONE_IN`] is a random one.
pub(super) fn pick(ips: &[crate::sync::Arc<Addr>], usable: &[usize], now: u64) -> usize {
    match usable.len() {
        0 => unreachable!("pick needs a usable address"),
        1 => usable[0],
        n => {
            if fastrand::u32(..EXPLORE_ONE_IN) == 0 {
                return usable[fastrand::usize(..n)];
            }
            let i = fastrand::usize(..n);
            let mut j = fastrand::usize(..n - 1);
            if j >= i {
                j += 1;
            }
            let (a, b) = (usable[i], usable[j]);
            if ips[b].score.cost(now) < ips[a].score.cost(now) {
                b
            } else {
                a
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn ticks(d: Duration) -> u64 {
        state::ticks_from(d)
    }

    #[test]
    fn latency_averages_and_fades() {
        let s = Score::default();
        assert_eq!(s.cost(0), 0.0, "never dialed: free");
        s.succeeded(Duration::from_millis(100), 0);
        assert_eq!(s.latency(), Some(Duration::from_millis(100)));
        s.succeeded(Duration::from_millis(20), 0);
        assert_eq!(s.latency(), Some(Duration::from_millis(40)));
        let now = ticks(Duration::from_secs(30));
        assert!((s.cost(now) - 20_000.0).abs() < 100.0, "{}", s.cost(now));
    }

    #[test]
    fn failures_cost_and_fade() {
        let s = Score::default();
        s.succeeded(Duration::from_millis(2), 0);
        s.failed(0);
        s.failed(0);
        assert!((s.failure_score(0) - 2.0).abs() < 1e-9);
        assert!(s.cost(0) > 2.0 * FAILURE_COST_US);
        let later = ticks(Duration::from_secs(60));
        assert!((s.failure_score(later) - 0.5).abs() < 1e-3);
        assert_eq!(s.dials(), (3, 2));
    }
}
