//! The `Pooled` guard: a lent connection that returns itself on drop.

use crate::{
    connect::Target,
    engine::{Domain, Lent, Slot},
    sync::Arc,
};
use std::{
    fmt,
    ops::{Deref, DerefMut},
};

/// A connection lent by the pool.
///
/// Derefs to the connection. Dropping the guard is the *put*: the connection
/// goes back to its domain's idle queue (or is closed if it is unhealthy,
/// too old, the pool is closed or the queue is full) and waiting tasks are
/// woken. Dropping never blocks and never panics on the pool's account.
///
/// The escape hatches are associated functions — `Pooled::discard(conn)`,
/// `Pooled::take(conn)`, `Pooled::is_reused(&conn)`, `Pooled::target(&conn)` —
/// so that they shadow no method of the connection itself.
///
/// # Examples
///
/// ```
/// # use hotpool::{Connect, Error, Pool, Pooled, Target};
/// # struct Dummy;
/// # impl Connect for Dummy {
/// #     type Conn = u32;
/// #     async fn connect(&self, _: &Target) -> Result<u32, Error> { Ok(7) }
/// # }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Error> {
/// let pool = Pool::builder().build(Dummy)?;
/// pool.set_ips("example.com", ["192.0.2.1".parse::<std::net::IpAddr>().unwrap()]);
///
/// let mut conn = pool.get("example.com").await?;
/// assert_eq!(*conn, 7);
/// assert!(!Pooled::is_reused(&conn));
/// conn.mark_error();
/// drop(conn); // back to the idle queue
///
/// let conn = pool.get("example.com").await?;
/// assert!(Pooled::is_reused(&conn));
/// Pooled::discard(conn); // closed instead of returned
/// # Ok(())
/// # }
/// ```
#[must_use = "dropping a Pooled returns the connection to the pool at once"]
pub struct Pooled<T: Send + 'static> {
    lent: Option<Lent<T>>,
}

impl<T: Send + 'static> Pooled<T> {
    #[inline]
    pub(crate) fn new(slot: Box<Slot<T>>, domain: Arc<Domain<T>>) -> Pooled<T> {
        Pooled {
            lent: Some((slot, domain)),
        }
    }

    #[inline]
    fn slot(&self) -> &Slot<T> {
        match &self.lent {
            Some((s, _)) => s,
            None => unreachable!("a Pooled guard always holds its slot until consumed"),
        }
    }

    /// Counts an error against this connection. A connection with more than
    /// `max_errors` errors is closed when it is returned (or found idle).
    pub fn mark_error(&mut self) {
        self.slot().mark_error();
    }

    /// The number of errors counted against this connection.
    pub fn error_count(this: &Self) -> u8 {
        this.slot().errors()
    }

    /// Closes the connection instead of returning it (for example after a
    /// protocol error that leaves it in an unknown state). Its capacity is
    /// released and waiters are woken.
    pub fn discard(mut this: Self) {
        if let Some((slot, domain)) = this.lent.take() {
            domain.discard(slot);
        }
    }

    /// Takes the connection out of the pool for good. Its capacity is
    /// released; the pool no longer counts, checks or closes it.
    pub fn take(mut this: Self) -> T {
        match this.lent.take() {
            Some((slot, domain)) => domain.detach(slot),
            None => unreachable!("a Pooled guard always holds its slot until consumed"),
        }
    }

    /// Whether this connection came from the idle queue (was used before),
    /// rather than being dialed for this call.
    pub fn is_reused(this: &Self) -> bool {
        this.slot().is_reused()
    }

    /// The domain and address this connection was dialed to.
    pub fn target(this: &Self) -> &Target {
        &this.slot().meta.target
    }

    /// A number identifying the connection within its pool.
    pub fn id(this: &Self) -> u64 {
        this.slot().meta.id
    }
}

impl<T: Send + 'static> Deref for Pooled<T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        &self.slot().conn
    }
}

impl<T: Send + 'static> DerefMut for Pooled<T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        match &mut self.lent {
            Some((s, _)) => &mut s.conn,
            None => unreachable!("a Pooled guard always holds its slot until consumed"),
        }
    }
}

impl<T: Send + 'static> Drop for Pooled<T> {
    #[inline]
    fn drop(&mut self) {
        if let Some((slot, domain)) = self.lent.take() {
            Domain::put(slot, domain);
        }
    }
}

impl<T: Send + fmt::Debug + 'static> fmt::Debug for Pooled<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.slot();
        f.debug_struct("Pooled")
            .field("id", &s.meta.id)
            .field("target", &s.meta.target)
            .field("conn", &s.conn)
            .finish()
    }
}
