//! The synchronization word and wake-up event of a domain (and of the pool).
//!
//! # Why a word and not a fence
//!
//! A put must not push a connection while a waiter, having found the queue
//! empty, goes to sleep unseen. The first design ordered the two sides with
//! a `SeqCst` fence each (Dekker): push, fence, load the waiter count /
//! register, fence, look again. Here both sides do one read-modify-write on
//! the same word instead:
//!
//! - the waiter: register its listener, then `fetch_add(WAITER)`, then look
//!   at the queue (and capacity) again;
//! - the notifier (a put, a release, a re-queue): make the unit available,
//!   then `fetch_add(EPOCH)`, and notify if the value it read counts a
//!   waiter.
//!
//! Read-modify-writes of one location are totally ordered (its modification
//! order), and each reads the value the previous one wrote. If the
//! notifier's RMW comes first, the waiter's (acquire) RMW reads from it, so
//! everything before it — the push — happens before the waiter's second
//! look, which finds the connection. If the waiter's comes first, the
//! notifier's RMW reads the waiter in the count, and the listener inserted
//! before the waiter's (release) RMW is visible to `notify`. Either way
//! nobody sleeps on an available unit, and there is no fence on the put:
//! on x86 one `lock xadd` replaces an `mfence` and the loads around it.
//!
//! The notify that follows is event-listener's `relaxed()` one: the RMW
//! orders it, and event-listener's own `SeqCst` fence would be a second
//! barrier. (event-listener 5 also takes its list lock in every `notify`,
//! the lock `listen` takes; that lock alone orders a listener with a
//! notify, so weakening the waiter's RMW to Acquire or the notifier's to
//! Release passes every loom model. The word keeps both halves so that
//! the protocol does not rest on that: an event whose notify first reads
//! a count without the lock, as event-listener 2 did, needs them. Both
//! are the same `lock xadd` on x86.)
//!
//! `CLOSED` carries `close()` into the same order: a put's RMW that reads it
//! drains the queue itself; one that comes before `close`'s `fetch_or`
//! pushed a connection that `close`'s drain, after its RMW, finds.
//!
//! # Layout
//!
//! | bits  | field |
//! |-------|-------|
//! | 0–31  | waiters (listeners registered and not yet gone) |
//! | 32    | `CLOSED` |
//! | 33–63 | epoch: one per publish, wrapping (it only makes the RMW a write) |
//!
//! # Waking one or all
//!
//! With [`Wake::One`](crate::Wake::One) each unit made available wakes one more listener:
//! `notify(n.additional())`, which counts only listeners not yet notified,
//! so two puts before the first waiter runs wake two waiters (plain
//! `notify(1)` would count the first, still pending, notification and wake
//! nobody new). A notified listener that is dropped before it fires — a
//! waiter cancelled or timed out — passes its notification on
//! (event-listener does this on drop). [`Wake::Broadcast`](crate::Wake::Broadcast) wakes everyone
//! on every put, as the Go original's `Broadcast` did; the waiters that find
//! nothing go back to sleep.

use crate::{
    config::Wake,
    sync::{AtomicU64, Ordering},
};
use event_listener::{Event, EventListener, IntoNotification};

pub(super) const WAITER: u64 = 1;
pub(super) const WAITERS: u64 = (1 << 32) - 1;
pub(super) const CLOSED: u64 = 1 << 32;
pub(super) const EPOCH: u64 = 1 << 33;

/// A synchronization word and the event its waiters listen on.
///
/// Not cache-padded: a domain's word shares the domain's first cache line
/// with the fields every get and put reads anyway (see `Domain`).
pub(crate) struct Signal {
    word: AtomicU64,
    event: Event,
}

impl Signal {
    pub(super) fn new() -> Signal {
        Signal {
            word: AtomicU64::new(0),
            event: Event::new(),
        }
    }

    /// Registers a listener and counts it. The caller must look for what it
    /// waits for again before sleeping (module docs).
    pub(super) fn register(&self) -> EventListener {
        let listener = self.event.listen();
        self.word.fetch_add(WAITER, Ordering::AcqRel);
        listener
    }

    /// Uncounts a listener (dropped by its waiter).
    pub(super) fn deregister(&self) {
        self.word.fetch_sub(WAITER, Ordering::Release);
    }

    /// Announces `units` connections or capacity units made available just
    /// before, waking as `wake` says if anyone waits. Returns whether the
    /// word was closed (a put then drains its queue itself).
    #[inline]
    pub(super) fn publish(&self, units: usize, wake: Wake) -> bool {
        let word = self.word.fetch_add(EPOCH, Ordering::AcqRel);
        if word & WAITERS != 0 {
            self.notify_ordered(units, wake);
        }
        word & CLOSED != 0
    }

    /// Wakes `units` more listeners (or all) after an RMW of the word that
    /// read them: without event-listener's `SeqCst` fence (`relaxed()`),
    /// because the RMW already orders the notify after every listener it
    /// counted (each registered before its waiter's release RMW, which
    /// this acquire RMW reads from or after). The word's orderings are
    /// therefore the whole of the protocol, and the loom models check
    /// exactly them.
    #[cold]
    fn notify_ordered(&self, units: usize, wake: Wake) {
        match wake {
            Wake::One => self.event.notify(units.additional().relaxed()),
            Wake::Broadcast => self.event.notify(usize::MAX.relaxed()),
        };
    }

    /// Wakes `units` more listeners (or all) without an RMW of the word
    /// before it (passing a wake-up on): event-listener's `SeqCst` fence
    /// orders the notify after what the caller did.
    #[cold]
    pub(super) fn notify(&self, units: usize, wake: Wake) {
        match wake {
            Wake::One => self.event.notify(units.additional()),
            Wake::Broadcast => self.event.notify(usize::MAX),
        };
    }

    /// Wakes every listener (a limit was raised: all may look again).
    pub(super) fn broadcast(&self) {
        self.event.notify(usize::MAX);
    }

    /// Sets `CLOSED` (ordered with every publish) and wakes everyone.
    pub(super) fn close(&self) {
        self.word.fetch_or(CLOSED, Ordering::AcqRel);
        // Ordered by the RMW, as in `notify_ordered`.
        self.event.notify(usize::MAX.relaxed());
    }

    /// Listeners counted now.
    pub(super) fn waiters(&self) -> usize {
        (self.word.load(Ordering::SeqCst) & WAITERS) as usize
    }
}
