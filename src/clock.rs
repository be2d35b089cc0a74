//! Time for the hot path: ticks since the pool's epoch.
//!
//! `put` stamps `last_used` on every return and `get` checks idle time and age
//! on every lend, so reading the time must cost next to nothing.
//!
//! Measured side by side on the development machine (`cargo bench --bench
//! hot_path -- clock`, 2026-11-24): quanta's `Clock::recent()` 1.8 ns,
//! `raw()` 11.2 ns, `now()` 11.3 ns, `std::time::Instant::now()` 28.4 ns.
//! `recent()` is one load of a global that an upkeep thread refreshes, but
//! it is an out-of-line call that matches on the clock's kind and converts
//! through `Duration` (a division and a 128-bit multiply) before the pool
//! can shift it to ticks — a few nanoseconds twice per get + put, a tenth
//! of the whole. So the pool keeps its own counter instead: a process-wide
//! `AtomicU64` of **ticks** (1.024 µs) since the process's clock base,
//! refreshed every [`UPKEEP_INTERVAL`] by one thread the crate starts once.
//! Reading the time is one relaxed load and a subtraction, inlined. The
//! price is a resolution of [`UPKEEP_INTERVAL`], three orders of magnitude
//! finer than any idle time-out or lifetime the pool deals in.
//!
//! A mock clock (`quanta::Clock::mock()`) passed to the builder makes the
//! pool's notion of time fully controllable in tests; it is read through
//! quanta, off the fast path's branch.

use crate::state::{TICKS_MAX, TICK_SHIFT};
use std::time::Duration;

/// How often the coarse clock is refreshed.
#[cfg_attr(loom, allow(dead_code))]
pub(crate) const UPKEEP_INTERVAL: Duration = Duration::from_millis(1);

/// Converts the pool's clock to ticks since the pool's creation.
#[derive(Clone, Debug)]
pub(crate) struct Ticker {
    /// The coarse counter's reading at the pool's creation.
    epoch: u64,
    /// A clock given to the builder (a mock, in tests), read instead of
    /// the coarse counter.
    clock: Option<(quanta::Clock, quanta::Instant)>,
}

impl Ticker {
    /// A ticker on `clock`; with no clock, the crate's coarse counter (and
    /// its upkeep thread is started if it does not run yet).
    pub(crate) fn new(clock: Option<quanta::Clock>) -> Ticker {
        match clock {
            Some(c) => {
                let epoch = c.now();
                Ticker {
                    epoch: 0,
                    clock: Some((c, epoch)),
                }
            }
            #[cfg(not(loom))]
            None => match coarse::start() {
                Some(epoch) => Ticker { epoch, clock: None },
                // No upkeep thread: read a real clock on every call.
                None => Ticker::new(Some(quanta::Clock::new())),
            },
            // Under loom no OS thread may be spawned behind the model's
            // back: a frozen mock clock stands in.
            #[cfg(loom)]
            None => Ticker::new(Some(quanta::Clock::mock().0)),
        }
    }

    /// Ticks since the epoch.
    #[inline]
    pub(crate) fn now(&self) -> u64 {
        match &self.clock {
            #[cfg(not(loom))]
            None => coarse::now().saturating_sub(self.epoch),
            #[cfg(loom)]
            None => 0,
            Some((clock, epoch)) => Self::from_clock(clock, *epoch),
        }
    }

    #[cold]
    fn from_clock(clock: &quanta::Clock, epoch: quanta::Instant) -> u64 {
        let d = clock.now().saturating_duration_since(epoch);
        let ticks = d.as_nanos() >> TICK_SHIFT;
        if ticks > u128::from(TICKS_MAX) {
            TICKS_MAX
        } else {
            ticks as u64
        }
    }
}

/// The process-wide coarse tick counter and its upkeep thread.
#[cfg(not(loom))]
mod coarse {
    use super::{TICKS_MAX, TICK_SHIFT, UPKEEP_INTERVAL};
    use std::{
        sync::{
            atomic::{AtomicBool, AtomicU64, Ordering},
            Once, OnceLock,
        },
        time::Instant,
    };

    static BASE: OnceLock<Instant> = OnceLock::new();
    static TICKS: AtomicU64 = AtomicU64::new(0);
    static UPKEEP: Once = Once::new();

    fn read() -> u64 {
        let base = *BASE.get_or_init(Instant::now);
        let ticks = base.elapsed().as_nanos() >> TICK_SHIFT;
        u64::try_from(ticks).unwrap_or(TICKS_MAX).min(TICKS_MAX)
    }

    static RUNNING: AtomicBool = AtomicBool::new(false);

    /// Starts the upkeep thread unless it runs; returns the counter now, or
    /// `None` if the thread could not be started (the caller then reads a
    /// real clock instead).
    pub(super) fn start() -> Option<u64> {
        UPKEEP.call_once(|| {
            TICKS.store(read(), Ordering::Relaxed);
            let spawned = std::thread::Builder::new()
                .name("hotpool-clock".into())
                .spawn(|| loop {
                    std::thread::sleep(UPKEEP_INTERVAL);
                    TICKS.fetch_max(read(), Ordering::Relaxed);
                });
            match spawned {
                Ok(_) => RUNNING.store(true, Ordering::Release),
                Err(e) => tracing::warn!(error = %e, "hotpool: could not start the clock thread; time is read directly"),
            }
        });
        RUNNING.load(Ordering::Acquire).then(|| {
            TICKS.fetch_max(read(), Ordering::Relaxed);
            now()
        })
    }

    /// Ticks since the process's clock base, as of the last refresh.
    #[inline]
    pub(super) fn now() -> u64 {
        TICKS.load(Ordering::Relaxed)
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
        assert!(b > a, "the coarse clock must advance: {a} -> {b}");
    }
}
