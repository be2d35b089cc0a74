//! The private engine behind [`Pool`](crate::Pool): domains, their idle
//! queues and capacity counters, the hot get/put, waiting and closing.
//!
//! The engine is generic over the connection type `T` only; the typed
//! connector lives in `Pool<C>`, which dials, and is reached here through the
//! object-safe [`Driver`] for `is_open` and `close`.
//!
//! # The protocol
//!
//! **Ownership.** A connection lives in a boxed [`Slot`]. An idle slot is
//! owned by its domain's idle queue; a lent slot by its [`Pooled`] guard.
//! The queue's push (release) and pop (acquire) hand the slot over, so the
//! connection itself needs no further synchronization.
//!
//! **Capacity.** `Domain::live` and `Shared::live` count live connections plus
//! dials in progress. A dial first reserves one unit of each by CAS (never
//! past the limits), and the unit is released when the connection closes or
//! the dial fails — through the RAII [`Reservation`], so a dropped `get`
//! future releases it too.
//!
//! **Waking.** A task that finds no idle connection and no capacity
//! registers a listener on its domain's [`Signal`] (and on the pool's if the
//! pool limit blocked it): `event.listen()`, then one read-modify-write on
//! the signal's synchronization word counting it as a waiter, then it looks
//! again before sleeping. Whoever makes something available — a put pushing
//! to the queue, a close releasing capacity, a sweep re-queueing — does it
//! first, then one read-modify-write on the same word (bumping its epoch),
//! and notifies only if the value read counts a waiter (`notify` takes the
//! event's lock even when nobody listens). The two RMWs on one word are
//! totally ordered: either the waiter's second look sees what was made
//! available, or the notifier sees the waiter (see [`signal`] for the
//! argument). No `SeqCst` fence on either side.
//!
//! **Whom to wake.** With `Wake::One` (the default) each unit made
//! available wakes one more listener (`notify(n.additional())`); a waiter
//! that is dropped while notified passes the notification on; a waiter woken
//! by the pool's event that cannot use the pool unit (its own domain is
//! full, or it was served by an idle connection instead) passes it on to
//! the next pool-level waiter. With `Wake::Broadcast` every put wakes every
//! waiter, as the Go original's `Broadcast` did. Close, shutdown and a
//! raised limit always wake everyone.
//!
//! **Closing.** `close()` stores `closed`, fences, then for every domain sets
//! `CLOSED` in its word (an RMW), wakes everyone and drains the queue. A
//! put's RMW that reads `CLOSED` drains the queue itself; one ordered before
//! close's pushed a connection that close's drain finds. A domain made while
//! the pool closes is closed by its maker: the maker inserts and reads
//! `closed` under the lock close stores `closed` under, so either close's
//! walk of the map finds the domain or its maker sees `closed`.
//!
//! # Orderings
//!
//! | operation | ordering | pairs with |
//! |---|---|---|
//! | state word stores (get, put, `mark_error`; the holder owns it) | Relaxed | nothing: the queue transfers ownership; snapshots only need *a* value |
//! | queue push / pop | Release / Acquire (the queue's) | each other: the slot's ownership moves with it |
//! | signal word: waiter's `fetch_add(WAITER)` | AcqRel | the notifier's `fetch_add(EPOCH)`: whichever comes second reads the first (Dekker on one location) |
//! | signal word: notifier's `fetch_add(EPOCH)` after a push or release | AcqRel | the waiter's RMW; close's `fetch_or(CLOSED)` |
//! | signal word: close's `fetch_or(CLOSED)` | AcqRel | every publish (it reads `CLOSED`, or close's drain sees its push) |
//! | `live` reserve CAS / release `fetch_sub` | SeqCst | each other (the counter's modification order); the release's publish RMW carries it to waiters |
//! | `closed` store / load in a domain's insert | under the `host_ips` lock | each other (a domain made during close is closed by one side) |
//! | address epoch bump / load | Release / Acquire (unmodeled) | the address records' block and retire stores; advisory: a lend racing a block may use the address once more |

mod addresses;
mod capacity;
mod connection;
mod domain;
mod lend;
mod map;
pub(crate) mod score;
mod settings;
mod signal;
mod sweep;
mod waiting;

pub(crate) mod thread_cache;

pub(crate) use capacity::{Acquired, Reservation};
pub(crate) use connection::{Addr, Lent, Meta, Reason, Slot};
#[cfg(not(loom))]
pub(crate) use domain::IPS_NONE;
use domain::{split_key, Blocked};
pub(crate) use domain::{Domain, IPS_RESOLVED, IPS_STATIC};
pub(crate) use map::Shared;
pub(crate) use settings::Settings;
use signal::Signal;

/// Number of domain-map shards (a power of two). A new domain copies one
/// shard's table, not the whole map.
const SHARDS: usize = if cfg!(loom) { 2 } else { 64 };

#[cfg(all(test, not(loom)))]
mod tests {
    use super::domain::split_key;

    #[test]
    fn keys_split_into_host_and_port() {
        assert_eq!(split_key("example.com", 443), ("example.com".into(), 443));
        assert_eq!(
            split_key("example.com:8443", 443),
            ("example.com".into(), 8443)
        );
        assert_eq!(
            split_key("[2001:db8::1]:444", 443),
            ("2001:db8::1".into(), 444)
        );
        assert_eq!(split_key("[2001:db8::1]", 443), ("2001:db8::1".into(), 443));
        assert_eq!(split_key("2001:db8::1", 443), ("2001:db8::1".into(), 443));
        assert_eq!(
            split_key("host:notaport", 443),
            ("host:notaport".into(), 443)
        );
    }
}
