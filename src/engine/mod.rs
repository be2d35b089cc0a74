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
//! **Waking.** A task that finds no idle connection and no capacity registers
//! a listener on the domain's `Event` (and on the pool's `Event` if the pool
//! limit blocked it), increments the matching waiter count, issues a SeqCst
//! fence and checks again before sleeping. Whoever makes something available
//! — a put pushing to the queue, a close releasing capacity, a sweep
//! re-queueing — does it first, then a SeqCst fence, then reads the waiter
//! count and notifies only if it is non-zero (`notify` takes the event's
//! internal lock even when nobody listens). The two fences order the two
//! sides as in Dekker's algorithm: either the waiter's re-check sees the
//! connection or capacity, or the notifier sees the waiter count and the
//! listener registered before it.
//!
//! **Closing.** `close()` sets `closed`, fences, drains every queue and wakes
//! everyone. A put pushes, fences, then reads `closed`: if set, it drains the
//! queue itself, so a connection pushed concurrently with `close()` cannot
//! stay idle in a closed pool.
//!
//! # Orderings
//!
//! | operation | ordering | pairs with |
//! |---|---|---|
//! | state word stores (get, put, `mark_error`; the holder owns it) | Relaxed | nothing: the queue transfers ownership; snapshots only need *a* value |
//! | `live` reserve CAS / release `fetch_sub` | SeqCst | each other (the counter's modification order); the fences below for waking |
//! | waiter count `fetch_add` + `fence(SeqCst)` | SeqCst | the notifier's `fence(SeqCst)` + waiter-count load (Dekker) |
//! | notifier's waiter-count load | Acquire | the waiter's `fetch_add` (release part): the listener inserted before it is visible to `notify` |
//! | `closed` store + fence / load after fence | SeqCst / Acquire | put's post-push fence (Dekker); waiters re-check it after registering |

mod addresses;
mod capacity;
mod connection;
mod domain;
mod lend;
mod map;
mod settings;
mod sweep;
mod waiting;

pub(crate) mod stash;

pub(crate) use capacity::{Acquired, Reservation};
pub(crate) use connection::{Addr, Lent, Meta, Reason, Slot};
#[cfg(not(loom))]
pub(crate) use domain::IPS_NONE;
use domain::{split_key, Blocked};
pub(crate) use domain::{Domain, IPS_RESOLVED, IPS_STATIC};
pub(crate) use map::Shared;
pub(crate) use settings::Settings;

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
