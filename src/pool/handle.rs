//! [`DomainHandle`]: a pool bound to one domain, skipping the map.

use super::*;
use crate::{connect::Connect, engine::Domain, error::Error, pooled::Pooled, sync::Arc};
use std::{fmt, future::Future};

/// One domain of a [`Pool`], looked up once; see [`Pool::domain`].
pub struct DomainHandle<C: Connect> {
    pub(super) pool: Pool<C>,
    pub(super) domain: Arc<Domain<C::Conn>>,
}

impl<C: Connect> Clone for DomainHandle<C> {
    fn clone(&self) -> Self {
        DomainHandle {
            pool: self.pool.clone(),
            domain: self.domain.clone(),
        }
    }
}

impl<C: Connect> fmt::Debug for DomainHandle<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DomainHandle")
            .field("domain", self.domain.key())
            .finish()
    }
}

impl<C: Connect> DomainHandle<C> {
    /// [`Pool::get`] for this domain.
    ///
    /// # Errors
    ///
    /// As [`Pool::get`].
    ///
    /// # Cancel safety
    ///
    /// As [`Pool::get`]: cancel-safe.
    pub fn get(&self) -> impl Future<Output = Result<Pooled<C::Conn>, Error>> + Send + '_ {
        Get {
            pool: &self.pool,
            domain: Key::Resolved(&self.domain),
            slow: None,
        }
    }

    /// [`Pool::try_get`] for this domain.
    pub fn try_get(&self) -> Option<Pooled<C::Conn>> {
        if self.pool.inner.shared.is_closed() {
            return None;
        }
        let lent = lend_idle(&*self.pool.inner.connector, &self.domain);
        if lent.is_none() {
            self.domain.count_miss();
        }
        lent
    }

    /// The pool key.
    pub fn key(&self) -> &str {
        self.domain.key()
    }

    /// The pool this domain belongs to.
    pub fn pool(&self) -> &Pool<C> {
        &self.pool
    }
}
