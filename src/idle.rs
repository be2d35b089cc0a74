//! [`Idle`]: a domain's idle queue, able to grow past the capacity it was
//! made with.
//!
//! The queue proper is a bounded [`IdleQueue`] (an `ArrayQueue`) sized to
//! `max_conns_per_domain` when the domain is made: the hot path pops and
//! pushes there. Raising `max_conns_per_domain` at run time must reach
//! existing domains, whose queues cannot grow; so a return that finds the
//! queue full while the domain's limit is above its capacity goes to a
//! spill queue (crossbeam's unbounded `SegQueue`, which allocates nothing
//! until first used) instead of being closed. A lend looks there only when
//! the queue proper is empty. The domain's limit still bounds its live
//! connections, and so both queues together.
//!
//! Under loom the spill queue is left out (the models do not raise limits
//! at run time): a full queue refuses the return, as before.

use crate::sync::IdleQueue;

pub(crate) struct Idle<T> {
    main: IdleQueue<T>,
    #[cfg(not(loom))]
    spill: crossbeam_queue::SegQueue<T>,
}

impl<T> Idle<T> {
    pub(crate) fn new(capacity: usize) -> Idle<T> {
        Idle {
            main: IdleQueue::new(capacity),
            #[cfg(not(loom))]
            spill: crossbeam_queue::SegQueue::new(),
        }
    }

    /// Queues `value`; `Err(value)` if the queue is full and `limit` (the
    /// domain's current `max_conns_per_domain`) is not above its capacity.
    #[inline]
    pub(crate) fn push(&self, value: T, limit: usize) -> Result<(), T> {
        match self.main.push(value) {
            Ok(()) => Ok(()),
            #[cfg(not(loom))]
            Err(value) if limit > self.main.capacity() => {
                self.spill.push(value);
                Ok(())
            }
            Err(value) => {
                let _ = limit;
                Err(value)
            }
        }
    }

    #[inline]
    pub(crate) fn pop(&self) -> Option<T> {
        match self.main.pop() {
            Some(v) => Some(v),
            #[cfg(not(loom))]
            None => self.spill.pop(),
            #[cfg(loom)]
            None => None,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn len(&self) -> usize {
        #[cfg(not(loom))]
        return self.main.len() + self.spill.len();
        #[cfg(loom)]
        self.main.len()
    }
}
