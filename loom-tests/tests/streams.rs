//! Models of the shared-connection protocol (`hotpool::streams`): the
//! stream word (users | retired) and the domain's room event, as the HTTP
//! client uses them for HTTP/2 streams. A "user" is a stream; a waiter
//! looks for room with `Room::wait_for`, exactly as a request does, and
//! stands in for the request's fallback to the pool by giving up once the
//! connection has retired.
//!
//! What every model checks: the user count never passes the limit (a
//! separate ledger counts users inside their use, across a loom yield),
//! the connection retires exactly once and only with no user, nothing is
//! taken after retirement, and no waiter sleeps forever (loom reports a
//! deadlock if one does).
#![cfg(loom)]

use hotpool::streams::{Ended, Room, StreamWord};
use loom::{
    future::block_on,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    thread,
};

/// A model checker with at most `n` preemptions (below the environment's
/// `LOOM_MAX_PREEMPTIONS`, if that is set lower).
fn bounded(n: usize) -> loom::model::Builder {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(b.preemption_bound.map_or(n, |env| env.min(n)));
    b
}

/// One shared connection, its domain's room, and a ledger of what
/// happened to it.
struct Shared {
    word: StreamWord,
    room: Room,
    limit: u32,
    /// Users inside their use right now (beside the word, checked
    /// against the limit).
    inside: AtomicUsize,
    /// Retirements.
    retired: AtomicUsize,
}

impl Shared {
    fn new(users: u32, limit: u32) -> Arc<Shared> {
        Arc::new(Shared {
            word: StreamWord::new(users),
            room: Room::new(),
            limit,
            inside: AtomicUsize::new(users as usize),
            retired: AtomicUsize::new(0),
        })
    }

    /// A use taken with `try_take`, checked against the limit and against
    /// retirement.
    fn entered(&self, now: u32) {
        assert!(
            now <= self.limit,
            "{now} users past the limit {}",
            self.limit
        );
        assert_eq!(
            self.retired.load(Ordering::SeqCst),
            0,
            "taken after retirement"
        );
        let inside = self.inside.fetch_add(1, Ordering::SeqCst) + 1;
        assert!(
            inside <= self.limit as usize,
            "{inside} users inside, limit {}",
            self.limit
        );
    }

    /// Uses the connection across a yield, so another thread can run
    /// inside the use.
    fn hold(&self) {
        thread::yield_now();
    }

    /// Ends a use: the last one out retires, then one waiter is woken.
    fn end(&self) {
        self.inside.fetch_sub(1, Ordering::SeqCst);
        if self.word.end() == Ended::Retired {
            assert_eq!(self.inside.load(Ordering::SeqCst), 0, "retired with users");
            assert_eq!(
                self.retired.fetch_add(1, Ordering::SeqCst),
                0,
                "retired twice"
            );
        }
        self.room.made_room();
    }

    /// Waits for a use as a request does: `Some(users)` once it took one,
    /// `None` if the connection retired first (the request would borrow
    /// from the pool then).
    fn wait(&self) -> Option<u32> {
        block_on(self.room.wait_for(|| match self.word.try_take(self.limit) {
            Some(n) => Some(Some(n)),
            None => self.word.is_retired().then_some(None),
        }))
    }
}

/// A waiter at the limit (1) and the ending of the one stream: the waiter
/// either takes the freed stream (and ends it, retiring the connection)
/// or finds the connection retired; it never sleeps through the end.
#[test]
fn a_waiter_at_the_limit_and_a_stream_ending() {
    bounded(3).check(|| {
        let s = Shared::new(1, 1);
        let ender = {
            let s = s.clone();
            thread::spawn(move || {
                s.hold();
                s.end();
            })
        };
        if let Some(n) = s.wait() {
            s.entered(n);
            s.hold();
            s.end();
        }
        ender.join().unwrap();
        assert_eq!(s.retired.load(Ordering::SeqCst), 1, "retired once");
        assert!(s.word.is_retired());
        assert_eq!(s.word.users(), 0);
    });
}

/// Two waiters at the limit (3 of 3) and two streams ending one after the
/// other, possibly before either waiter runs: each end wakes one more
/// waiter, so both are served. The waiters keep their streams until the
/// end, so neither can wake the other: with a plain `notify(1)` (which
/// counts a waiter already notified) the second would sleep forever.
#[test]
fn two_waiters_two_ends() {
    bounded(2).check(|| {
        let s = Shared::new(3, 3);
        let other = {
            let s = s.clone();
            thread::spawn(move || {
                let n = s.wait().expect("never retires: a stream stays");
                s.entered(n);
                s.hold();
            })
        };
        let ender = {
            let s = s.clone();
            thread::spawn(move || {
                s.end();
                s.end();
            })
        };
        let n = s.wait().expect("never retires: a stream stays");
        s.entered(n);
        s.hold();
        ender.join().unwrap();
        other.join().unwrap();
        assert_eq!(s.word.users(), 3);
        assert_eq!(s.retired.load(Ordering::SeqCst), 0);
    });
}

/// Two takers race for the last free stream (2 of 3 taken) while a stream
/// ends: never more than three users, and whoever loses waits until the
/// winner or the ender makes room.
#[test]
fn two_takers_race_for_the_last_stream() {
    bounded(3).check(|| {
        let s = Shared::new(2, 3);
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let s = s.clone();
                thread::spawn(move || {
                    if let Some(n) = s.wait() {
                        s.entered(n);
                        s.hold();
                        s.end();
                    }
                })
            })
            .collect();
        s.end();
        for t in threads {
            t.join().unwrap();
        }
        // One of the sharer's two streams is still in use.
        assert_eq!(s.word.users(), 1);
        assert_eq!(s.retired.load(Ordering::SeqCst), 0);
        s.end();
        assert_eq!(s.retired.load(Ordering::SeqCst), 1);
    });
}

/// The last stream ends while a new one is taken: either the taker gets in
/// first (the connection stays shared, and retires at the taker's end) or
/// the connection retires and the taker is refused. Exactly one
/// retirement, never a stream on a retired connection.
#[test]
fn the_last_end_races_a_taker() {
    bounded(3).check(|| {
        let s = Shared::new(1, 4);
        let taker = {
            let s = s.clone();
            thread::spawn(move || {
                if let Some(n) = s.word.try_take(s.limit) {
                    s.entered(n);
                    s.hold();
                    s.end();
                }
            })
        };
        s.end();
        taker.join().unwrap();
        assert_eq!(s.retired.load(Ordering::SeqCst), 1);
        assert!(s.word.is_retired());
        assert_eq!(s.word.try_take(s.limit), None, "taken after retirement");
    });
}
