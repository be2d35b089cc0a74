//! Sharing one connection among concurrent users: the lock-free count of
//! its users and the wake-up of those waiting for room.
//!
//! The pool lends every connection exclusively. A connection that can
//! carry several requests at once (an HTTP/2 connection: one per stream)
//! is shared *on top of* the pool by whoever holds its [`Pooled`] guard —
//! the HTTP client does it for HTTP/2 — with the two pieces here, which
//! know nothing of HTTP:
//!
//! - [`StreamWord`], one per shared connection: how many users it has and
//!   whether it has left sharing (*retired*).
//! - [`Room`], one per domain: the event that users waiting for room on
//!   any of the domain's shared connections listen on.
//!
//! # The word
//!
//! One `AtomicU64`: the low 32 bits count the users, bit 32 (`RETIRED`)
//! says the connection takes no user any more. Every change is a
//! read-modify-write of that one location, so all changes are totally
//! ordered and no fence is needed:
//!
//! - **take** ([`StreamWord::try_take`]): CAS `n -> n + 1`, only while
//!   `RETIRED` is clear and `n` is below the limit. So the count never
//!   passes the limit, and nothing is taken on a retired connection.
//! - **end** ([`StreamWord::end`]): `fetch_sub(1)`. The user that ends the
//!   last use (it read `1`) then tries CAS `0 -> RETIRED`; if that wins,
//!   nobody can take the connection any more and the caller alone owns
//!   its retirement (give the guard back to the pool, or close it). If a
//!   taker got in between, the CAS fails and the connection stays shared.
//!   So the connection retires exactly once, after its last user.
//!
//! # Waiting for room
//!
//! A user that finds no room listens on the domain's [`Room`] *before* it
//! looks again ([`Room::wait_for`]): an end that frees room after the
//! look notifies the listener, and an end before it is seen by the look,
//! so no wake-up is lost. Each end wakes exactly one more listener
//! ([`Room::made_room`], event-listener's `additional` notification), so
//! two ends that come before the first woken user runs wake two users; a
//! woken user that is dropped passes its notification on. A change that
//! everyone must see (a connection joined or a borrow ended) wakes all
//! ([`Room::changed`]).
//!
//! `loom-tests/tests/streams.rs` model-checks both halves: never past the
//! limit, one retirement, no lost wake-up.
//!
//! [`Pooled`]: crate::Pooled

use crate::sync::{AtomicU64, Ordering};
use event_listener::{Event, IntoNotification};
use std::{future::Future, pin::pin};

/// Bit 32 of the word: the connection has left sharing.
const RETIRED: u64 = 1 << 32;
/// The user count's mask.
const COUNT: u64 = RETIRED - 1;

/// The users of one shared connection, and whether it has retired. See
/// the [module docs](self) for the protocol.
#[derive(Debug)]
pub struct StreamWord(AtomicU64);

/// What [`StreamWord::end`] left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Other users remain, or a new one took the connection meanwhile.
    Shared,
    /// This was the last use and the connection retired: the caller owns
    /// its retirement.
    Retired,
}

impl StreamWord {
    /// A word with `users` users (the sharer's own first use is usually
    /// counted from the start), not retired.
    pub fn new(users: u32) -> StreamWord {
        StreamWord(AtomicU64::new(u64::from(users)))
    }

    /// Takes one use if the connection has not retired and has fewer than
    /// `limit` users; returns the number of users including this one.
    pub fn try_take(&self, limit: u32) -> Option<u32> {
        let limit = u64::from(limit);
        let mut w = self.0.load(Ordering::Acquire);
        loop {
            if w & RETIRED != 0 || w & COUNT >= limit {
                return None;
            }
            match self
                .0
                .compare_exchange_weak(w, w + 1, Ordering::AcqRel, Ordering::Acquire)
            {
                // The count is below `limit`, a u32.
                Ok(_) => return Some((w & COUNT) as u32 + 1),
                Err(now) => w = now,
            }
        }
    }

    /// Ends one use; the last one out retires the connection.
    ///
    /// # Panics
    ///
    /// In debug builds, if there was no use to end.
    pub fn end(&self) -> Ended {
        let before = self.0.fetch_sub(1, Ordering::AcqRel);
        debug_assert!(before & COUNT > 0, "stream count underflow");
        if before & COUNT == 1
            && self
                .0
                .compare_exchange(0, RETIRED, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            Ended::Retired
        } else {
            Ended::Shared
        }
    }

    /// Users right now.
    pub fn users(&self) -> u32 {
        (self.0.load(Ordering::Acquire) & COUNT) as u32
    }

    /// Whether the connection has retired.
    pub fn is_retired(&self) -> bool {
        self.0.load(Ordering::Acquire) & RETIRED != 0
    }
}

/// The event a domain's users wait on for room on one of its shared
/// connections. See the [module docs](self).
#[derive(Debug, Default)]
pub struct Room(Event);

impl Room {
    /// A room nobody waits on yet.
    pub fn new() -> Room {
        Room(Event::new())
    }

    /// One use ended: wakes one more waiter.
    pub fn made_room(&self) {
        self.0.notify(1.additional());
    }

    /// Something every waiter must look at again: wakes them all.
    pub fn changed(&self) {
        self.0.notify(usize::MAX);
    }

    /// Waits until `look` finds something: it is called once at once, then
    /// again after each wake-up, always *after* listening, so a change
    /// between a look and the wait is never missed. Dropping the future
    /// passes a wake-up it received on to another waiter.
    pub async fn wait_for<T>(&self, mut look: impl FnMut() -> Option<T>) -> T {
        if let Some(t) = look() {
            return t;
        }
        loop {
            let listener = self.0.listen();
            if let Some(t) = look() {
                return t;
            }
            listener.await;
        }
    }

    /// Races `fut` against room: `look` is tried before `fut` is polled
    /// and after each wake-up, and whichever is ready first wins (`fut`
    /// is dropped if `look` wins).
    pub async fn race<T, F: Future<Output = T>>(
        &self,
        fut: F,
        mut look: impl FnMut() -> Option<T>,
    ) -> T {
        let mut fut = pin!(fut);
        loop {
            let mut listener = pin!(self.0.listen());
            if let Some(t) = look() {
                return t;
            }
            let woke = std::future::poll_fn(|cx| {
                if let std::task::Poll::Ready(t) = fut.as_mut().poll(cx) {
                    return std::task::Poll::Ready(Some(t));
                }
                listener.as_mut().poll(cx).map(|()| None)
            })
            .await;
            if let Some(t) = woke {
                return t;
            }
        }
    }
}
