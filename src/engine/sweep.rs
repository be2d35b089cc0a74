//! Taking idle connections out for a sweep or a health probe, and back.

use super::*;
use crate::{state, sync::Ordering};

impl<T: Send + 'static> Domain<T> {
    /// One sweeper pass over the idle queue: take out the entries present at
    /// the start, close the unfit ones, push the rest back, wake waiters.
    /// Returns (kept, closed).
    pub(crate) fn sweep(&self) -> (usize, usize) {
        // Nothing is idle longer than u64::MAX ticks: no probe.
        let (kept, closed, _) = self.sweep_take(u64::MAX);
        (kept, closed)
    }

    // --- services -------------------------------------------------------------

    /// The sweeper's first half: takes out the idle entries present now,
    /// closes the unfit (counted as swept), and hands back the ones idle
    /// longer than `probe_after` ticks, each with its state word, for the
    /// caller to probe and give back with
    /// [`restore_probed`](Domain::restore_probed) or close. The rest go
    /// back to the queue. Returns (kept, closed, to probe).
    #[allow(clippy::type_complexity)]
    pub(crate) fn sweep_take(&self, probe_after: u64) -> (usize, usize, Vec<(Box<Slot<T>>, u64)>) {
        let now = self.pool.ticker.now();
        let n = self.idle.len();
        let mut keep = Vec::with_capacity(n);
        let mut probe = Vec::new();
        let mut closed = 0;
        // A limit lowered at run time: close idle connections beyond it.
        let max = Settings::get_usize(&self.pool.settings.max_per_domain);
        let mut excess = self.live.load(Ordering::Relaxed).saturating_sub(max);
        let driver = &*self.pool.driver;
        for _ in 0..n {
            let Some(slot) = self.idle.pop() else { break };
            let word = slot.meta.state.load(Ordering::Relaxed);
            let unfit = self
                .unfit_to_lend(&slot, word, now, |c| driver.is_open(c))
                .or_else(|| {
                    (excess > 0).then(|| {
                        excess -= 1;
                        Reason::OverLimit
                    })
                });
            match unfit {
                Some(reason) => {
                    self.counters.swept.inc();
                    self.close_slot(slot, reason);
                    closed += 1;
                }
                None if now.saturating_sub(state::last_used(word)) > probe_after => {
                    // Out of the queue while probed: marked lent so that
                    // snapshots count it as busy.
                    slot.meta
                        .state
                        .store(state::with_in_use(word, true), Ordering::Relaxed);
                    probe.push((slot, word));
                }
                None => keep.push(slot),
            }
        }
        let kept = keep.len();
        for slot in keep {
            if let Err(slot) = self.idle.push(slot, self.limit()) {
                self.close_slot(slot, Reason::QueueFull);
                closed += 1;
            }
        }
        // Waiters may have looked while the entries were out.
        if kept > 0 && self.publish(kept) {
            self.drain(Reason::PoolClosed);
        }
        (kept, closed, probe)
    }

    /// Returns a connection that passed its probe to the idle queue with
    /// its state word from before the probe: a probe is not a use, so the
    /// connection's idle time keeps running towards `idle_timeout`.
    pub(crate) fn restore_probed(&self, slot: Box<Slot<T>>, word: u64) {
        slot.meta.state.store(word, Ordering::Relaxed);
        self.add_idle(slot);
    }

    /// Counts a health probe and its outcome.
    pub(crate) fn count_probe(&self, ok: bool) {
        self.counters.probes.inc();
        if !ok {
            self.counters.probe_failures.inc();
        }
    }

    /// Closes a connection that failed its health probe.
    pub(crate) fn close_unhealthy(&self, slot: Box<Slot<T>>) {
        self.counters.swept.inc();
        self.close_slot(slot, Reason::ProbeFailed);
    }

    /// Closes one idle connection of this domain (for a fresh dial that
    /// needs its capacity). Returns whether there was one.
    pub(super) fn close_one_idle(&self) -> bool {
        match self.idle.pop() {
            Some(slot) => {
                self.close_slot(slot, Reason::Refreshed);
                true
            }
            None => false,
        }
    }
}
