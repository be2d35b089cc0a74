//! The packed per-connection state word.
//!
//! Every pooled connection carries one `AtomicU64`:
//!
//! ```text
//!  63      62 ........ 55 54 ............................................ 0
//! +------+--------------+------------------------------------------------+
//! |in_use| error_count  |                 last_used (ticks)              |
//! +------+--------------+------------------------------------------------+
//!   1 bit     8 bits                         55 bits
//! ```
//!
//! * `in_use` is set while the connection is lent out. Whoever holds the slot
//!   owns the word (the idle queue and the `Pooled` guard move the `Box`), so
//!   `get` sets it and `put` clears it with plain stores; a lend of a slot
//!   found `in_use`, or a return of one found clear, is reported as a double
//!   lend (it cannot happen while ownership is moved, and is checked anyway
//!   from the word already loaded).
//! * `error_count` saturates at 255 instead of wrapping into the timestamp.
//! * `last_used` is in [`TICK_NANOS`]-nanosecond ticks since the pool's epoch
//!   (1 tick = 1024 ns ≈ 1 µs). 55 bits of such ticks last
//!   2^55 × 1024 ns ≈ 1,170 years, so the field cannot wrap within the 10
//!   years the design asks for; a value past the field saturates.
//!
//! Ownership of the connection itself moves through the idle queue (push is a
//! release, pop an acquire), so the word carries no data dependency: its
//! stores may be `Relaxed`. It exists so that the lend state, the error count and the
//! idle time are readable without a lock by anyone holding the connection's
//! metadata (stats snapshots, the sweeper).

use std::time::Duration;

/// log2 of the tick length in nanoseconds.
pub(crate) const TICK_SHIFT: u32 = 10;
/// Nanoseconds per tick.
pub(crate) const TICK_NANOS: u64 = 1 << TICK_SHIFT;

const IN_USE: u64 = 1 << 63;
const ERR_SHIFT: u32 = 55;
const ERR_MAX: u64 = 0xFF;
const ERR_MASK: u64 = ERR_MAX << ERR_SHIFT;
/// The largest `last_used` value the word can hold.
pub(crate) const TICKS_MAX: u64 = (1 << ERR_SHIFT) - 1;

/// The unpacked view of a state word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct State {
    /// Lent out right now.
    pub(crate) in_use: bool,
    /// Errors reported with `mark_error` (saturating).
    pub(crate) errors: u8,
    /// Ticks since the pool epoch when the connection was last returned.
    pub(crate) last_used: u64,
}

/// Packs a state; `last_used` saturates at [`TICKS_MAX`].
#[inline]
pub(crate) const fn pack(s: State) -> u64 {
    let ticks = if s.last_used > TICKS_MAX {
        TICKS_MAX
    } else {
        s.last_used
    };
    (if s.in_use { IN_USE } else { 0 }) | ((s.errors as u64) << ERR_SHIFT) | ticks
}

/// Unpacks a state word.
#[cfg_attr(not(test), allow(dead_code))]
#[inline]
pub(crate) const fn unpack(word: u64) -> State {
    State {
        in_use: word & IN_USE != 0,
        errors: ((word & ERR_MASK) >> ERR_SHIFT) as u8,
        last_used: word & TICKS_MAX,
    }
}

/// Whether the word says "lent out".
#[inline]
pub(crate) const fn in_use(word: u64) -> bool {
    word & IN_USE != 0
}

/// The error count of a word.
#[inline]
pub(crate) const fn errors(word: u64) -> u8 {
    ((word & ERR_MASK) >> ERR_SHIFT) as u8
}

/// The `last_used` ticks of a word.
#[inline]
pub(crate) const fn last_used(word: u64) -> u64 {
    word & TICKS_MAX
}

/// The word with `in_use` set or cleared.
#[inline]
pub(crate) const fn with_in_use(word: u64, in_use: bool) -> u64 {
    if in_use {
        word | IN_USE
    } else {
        word & !IN_USE
    }
}

/// The word with `last_used` replaced (saturating at [`TICKS_MAX`]).
#[inline]
pub(crate) const fn with_last_used(word: u64, ticks: u64) -> u64 {
    let ticks = if ticks > TICKS_MAX { TICKS_MAX } else { ticks };
    (word & !TICKS_MAX) | ticks
}

/// The word with one more error, saturating at 255.
#[inline]
pub(crate) const fn with_error(word: u64) -> u64 {
    let e = errors(word) as u64;
    if e == ERR_MAX {
        word
    } else {
        (word & !ERR_MASK) | ((e + 1) << ERR_SHIFT)
    }
}

/// A duration in ticks, rounded up (so a non-zero duration is never 0 ticks)
/// and saturating at [`TICKS_MAX`].
pub(crate) fn ticks_from(d: Duration) -> u64 {
    let ticks = d.as_nanos().div_ceil(u128::from(TICK_NANOS));
    if ticks > u128::from(TICKS_MAX) {
        TICKS_MAX
    } else {
        ticks as u64
    }
}

/// Ticks back to a duration.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn duration_from(ticks: u64) -> Duration {
    Duration::from_nanos(ticks.saturating_mul(TICK_NANOS))
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn any_state() -> impl Strategy<Value = State> {
        (any::<bool>(), any::<u8>(), 0..=TICKS_MAX).prop_map(|(in_use, errors, last_used)| State {
            in_use,
            errors,
            last_used,
        })
    }

    proptest! {
        #[test]
        fn pack_unpack_round_trip(s in any_state()) {
            prop_assert_eq!(unpack(pack(s)), s);
        }

        #[test]
        fn accessors_agree_with_unpack(s in any_state()) {
            let w = pack(s);
            prop_assert_eq!(in_use(w), s.in_use);
            prop_assert_eq!(errors(w), s.errors);
            prop_assert_eq!(last_used(w), s.last_used);
        }

        #[test]
        fn with_in_use_touches_only_its_bit(s in any_state(), b in any::<bool>()) {
            let got = unpack(with_in_use(pack(s), b));
            prop_assert_eq!(got, State { in_use: b, ..s });
        }

        #[test]
        fn with_last_used_touches_only_its_field(s in any_state(), t in any::<u64>()) {
            let got = unpack(with_last_used(pack(s), t));
            prop_assert_eq!(got, State { last_used: t.min(TICKS_MAX), ..s });
        }

        #[test]
        fn with_error_saturates(s in any_state(), n in 0usize..600) {
            let mut w = pack(s);
            for _ in 0..n {
                w = with_error(w);
            }
            let want = (s.errors as usize + n).min(255) as u8;
            prop_assert_eq!(unpack(w), State { errors: want, ..s });
        }

        #[test]
        fn ticks_round_trip_within_one_tick(ns in 0u64..(1u64 << 62)) {
            let d = Duration::from_nanos(ns);
            let back = duration_from(ticks_from(d));
            prop_assert!(back >= d);
            prop_assert!(back - d < Duration::from_nanos(TICK_NANOS));
        }
    }

    #[test]
    fn ten_years_fit_in_the_timestamp() {
        let ten_years = Duration::from_secs(10 * 366 * 24 * 3600);
        assert!(ticks_from(ten_years) < TICKS_MAX);
        // and the field really lasts about 1,170 years
        let secs = u128::from(TICKS_MAX) * u128::from(TICK_NANOS) / 1_000_000_000;
        assert!(secs > 1000 * 365 * 24 * 3600, "{secs}");
    }

    #[test]
    fn pack_saturates_timestamp() {
        let s = State {
            in_use: true,
            errors: 3,
            last_used: u64::MAX,
        };
        assert_eq!(
            unpack(pack(s)),
            State {
                last_used: TICKS_MAX,
                ..s
            }
        );
    }
}
