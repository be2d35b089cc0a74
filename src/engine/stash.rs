//! A one-entry, per-thread stash of the domain reference a put just used.
//!
//! A guard needs an `Arc<Domain>` (see [`Domain::put`]); cloning one on every
//! lend and dropping it on every return would be two locked read-modify-
//! writes on a counter that every thread using the domain shares. Instead the
//! put parks its reference here and the next lend of the same domain on the
//! same thread takes it back — moved, not counted. A miss (another domain,
//! another thread) falls back to a clone. The stash holds at most one
//! reference per thread, which keeps that domain (and its pool's settings and
//! connector, not its connections) alive until the thread's next put or exit.
//!
//! The stash is also the first place a get by key looks
//! ([`take_if`]): a crawler thread usually asks for the domain it just
//! returned a connection to, and a hit skips hashing the key, the domain
//! map's `ArcSwap` load (two locked operations on its debt slot) and the
//! table probe. The parked domain must be of the same pool (pointer) and
//! have the same key (compared as strings): pointer identity alone would
//! take a domain of another pool with the same address after a free.

use super::{Domain, Shared};
use crate::sync::Arc;

#[cfg(not(loom))]
type Parked = std::sync::Arc<dyn std::any::Any + Send + Sync>;

#[cfg(not(loom))]
thread_local! {
    static STASH: std::cell::Cell<Option<Parked>> = const { std::cell::Cell::new(None) };
}

/// Parks `domain` for the next lend on this thread.
#[inline]
pub(crate) fn put<T: Send + 'static>(domain: Arc<Domain<T>>) {
    #[cfg(not(loom))]
    {
        let parked: Parked = domain;
        // Whatever was parked before is dropped outside the TLS access:
        // its destructor may run arbitrary code.
        let _old = STASH.try_with(|s| s.replace(Some(parked)));
    }
    #[cfg(loom)]
    drop(domain);
}

/// A reference to `domain` for a guard: the parked one if it is this
/// domain, else a clone.
#[inline]
pub(crate) fn take<T: Send + 'static>(domain: &Arc<Domain<T>>) -> Arc<Domain<T>> {
    #[cfg(not(loom))]
    {
        if let Some(parked) = STASH.try_with(std::cell::Cell::take).ok().flatten() {
            if let Ok(d) = parked.downcast::<Domain<T>>() {
                if Arc::ptr_eq(&d, domain) {
                    return d;
                }
            }
        }
    }
    domain.clone()
}

/// The parked domain, taken out of the stash, if it is `key` of the pool
/// `shared`; otherwise the stash is left as it was.
#[inline]
pub(crate) fn take_if<T: Send + 'static>(
    shared: &Arc<Shared<T>>,
    key: &str,
) -> Option<Arc<Domain<T>>> {
    #[cfg(not(loom))]
    {
        let parked = STASH.try_with(std::cell::Cell::take).ok().flatten()?;
        let back = match parked.downcast::<Domain<T>>() {
            Ok(d) if Arc::ptr_eq(&d.pool, shared) && d.key_is(key) => return Some(d),
            Ok(d) => d as Parked,
            Err(other) => other,
        };
        // Nothing can have been parked meanwhile: no code ran in between.
        let _ = STASH.try_with(|s| s.set(Some(back)));
        None
    }
    #[cfg(loom)]
    {
        let _ = (shared, key);
        None
    }
}
