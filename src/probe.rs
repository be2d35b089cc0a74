//! [`ProbeGuard`]: a connection out of its idle queue for a health probe,
//! never lost whatever happens to the probe.

use crate::{
    engine::{Domain, Slot},
    error::Error,
    sync::StdArc,
};

/// A connection taken out of its idle queue for a health probe. It goes
/// back ([`finish`](ProbeGuard::finish) with `Ok`, waking a waiter) or is
/// closed (with an error, or when the guard is dropped unfinished: the
/// sweep or the probe task was cancelled, or the probe panicked), so the
/// domain's live count always falls and `shutdown` never waits for it.
pub(crate) struct ProbeGuard<T: Send + 'static> {
    domain: StdArc<Domain<T>>,
    slot: Option<Box<Slot<T>>>,
    word: u64,
}

impl<T: Send + 'static> ProbeGuard<T> {
    pub(crate) fn new(domain: &StdArc<Domain<T>>, slot: Box<Slot<T>>, word: u64) -> Self {
        ProbeGuard {
            domain: domain.clone(),
            slot: Some(slot),
            word,
        }
    }

    pub(crate) fn slot(&mut self) -> &mut Slot<T> {
        self.slot.as_mut().expect("held until finished")
    }

    /// The probe's outcome: back to the idle queue or closed.
    pub(crate) fn finish(mut self, r: Result<(), Error>) -> Result<(), Error> {
        let slot = self.slot.take().expect("held until finished");
        let dom = &self.domain;
        match r {
            Ok(()) => {
                dom.count_probe(true);
                dom.restore_probed(slot, self.word);
                Ok(())
            }
            Err(e) => {
                dom.count_probe(false);
                tracing::debug!(domain = %dom.key(), addr = %slot.meta.target.addr(), error = %e, "hotpool: health probe failed");
                dom.close_unhealthy(slot);
                Err(e)
            }
        }
    }
}

impl<T: Send + 'static> Drop for ProbeGuard<T> {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            tracing::debug!(domain = %self.domain.key(), "hotpool: health probe cancelled; closing the connection");
            self.domain.close_unhealthy(slot);
        }
    }
}
