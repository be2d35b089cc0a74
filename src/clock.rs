//! Time for the hot path: ticks since the pool's epoch.
//!
//! `put` stamps `last_used` on every return and `get` checks idle time and age
//! on every lend, so reading the time must cost next to nothing. quanta offers
//! two cheap reads:
//!
//! * `Clock::raw()`: a `rdtsc` (or `clock_gettime` where the TSC is unusable),
//!   which then has to be scaled to nanoseconds;
//! * `Clock::recent()`: one atomic load of a global timestamp that an upkeep
//!   thread refreshes every [`UPKEEP_INTERVAL`].
//!
//! Measured side by side on the development machine (`cargo bench --bench
//! hot_path -- clock`, 2026-11-24): `recent()` 1.8 ns, `raw()` 11.2 ns,
//! `now()` 11.3 ns, `std::time::Instant::now()` 28.4 ns. The rest of a put
//! (CAS, push, fence) is about 15 ns, so `raw()` would cost most of a put
//! again while `recent()` stays well below it. Its price is a resolution of
//! [`UPKEEP_INTERVAL`], which is three orders of magnitude finer than any idle
//! time-out or lifetime the pool deals in. The pool therefore uses `recent()`
//! and makes sure the (process-wide, single) upkeep thread runs.
//!
//! A mock clock (`quanta::Clock::mock()`) passed to the builder makes the pool's
//! notion of time fully controllable in tests.

use crate::state::{TICKS_MAX, TICK_SHIFT};
use std::time::Duration;

/// How often the upkeep thread refreshes `Clock::recent()`.
#[cfg_attr(loom, allow(dead_code))]
pub(crate) const UPKEEP_INTERVAL: Duration = Duration::from_millis(1);

/// Converts the pool's clock to ticks since the pool's creation.
#[derive(Clone, Debug)]
pub(crate) struct Ticker {
    clock: quanta::Clock,
    epoch: quanta::Instant,
}

impl Ticker {
    /// A ticker on `clock`; with no clock, the real one (and the upkeep
    /// thread is started if nobody runs one yet).
    pub(crate) fn new(clock: Option<quanta::Clock>) -> Ticker {
        let clock = match clock {
            Some(c) => c,
            None => {
                #[cfg(not(loom))]
                {
                    ensure_upkeep();
                    quanta::Clock::new()
                }
                // Under loom no OS thread may be spawned behind the model's
                // back: a frozen mock clock stands in.
                #[cfg(loom)]
                {
                    quanta::Clock::mock().0
                }
            }
        };
        // `recent()` may lag `now()` by one upkeep interval; taking the epoch
        // from `recent()` keeps the first readings from saturating at zero.
        let epoch = clock.recent();
        Ticker { clock, epoch }
    }

    /// Ticks since the epoch, from the upkeep-refreshed clock.
    #[inline]
    pub(crate) fn now(&self) -> u64 {
        let d = self.clock.recent().saturating_duration_since(self.epoch);
        let ticks = d.as_nanos() >> TICK_SHIFT;
        if ticks > u128::from(TICKS_MAX) {
            TICKS_MAX
        } else {
            ticks as u64
        }
    }

    /// Re-starts the upkeep thread if whoever ran it stopped it. Called from
    /// slow paths, so that a stopped upkeep cannot freeze the pool's time.
    pub(crate) fn keep_up(&self) {
        #[cfg(not(loom))]
        ensure_upkeep();
    }
}

/// Starts quanta's process-wide upkeep thread unless one runs already.
///
/// The handle is parked in a static for the life of the process: the thread
/// costs one wake-up per millisecond. If another crate runs its own upkeep,
/// starting fails with "already running" and that thread serves us as well.
#[cfg(not(loom))]
fn ensure_upkeep() {
    use std::sync::{
        atomic::{AtomicBool, Ordering},
        Mutex,
    };
    static RUNNING_OURS: AtomicBool = AtomicBool::new(false);
    static HANDLE: Mutex<Option<quanta::Handle>> = Mutex::new(None);

    if RUNNING_OURS.load(Ordering::Acquire) {
        return;
    }
    match quanta::Upkeep::new(UPKEEP_INTERVAL).start() {
        Ok(handle) => {
            *HANDLE
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(handle);
            RUNNING_OURS.store(true, Ordering::Release);
        }
        // Someone else's upkeep thread runs: it refreshes the same global.
        Err(quanta::Error::UpkeepRunning) => {}
        Err(e) => tracing::warn!(error = %e, "hotpool: could not start the clock upkeep thread"),
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn mock_clock_ticks() {
        let (clock, mock) = quanta::Clock::mock();
        let t = Ticker::new(Some(clock));
        assert_eq!(t.now(), 0);
        mock.increment(Duration::from_micros(1024));
        assert_eq!(t.now(), 1000);
        mock.increment(Duration::from_secs(1));
        assert_eq!(t.now(), (1_001_024_000u64) >> TICK_SHIFT);
    }

    #[test]
    fn real_clock_advances() {
        let t = Ticker::new(None);
        let a = t.now();
        std::thread::sleep(Duration::from_millis(20));
        let b = t.now();
        assert!(b > a, "recent() must advance: {a} -> {b}");
    }
}
