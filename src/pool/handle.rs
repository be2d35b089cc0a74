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

    /// The per-domain state of type `E` that a layer above the pool keeps
    /// (the client's shared HTTP/2 connections), made by `init` at its
    /// first use and kept as long as the domain. The pool itself never
    /// looks at it. `None` if the domain already holds state of another
    /// type.
    pub(crate) fn extension<E: std::any::Any + Send + Sync>(
        &self,
        init: impl FnOnce() -> E,
    ) -> Option<&E> {
        self.domain
            .ext
            .get_or_init(|| crate::sync::StdArc::new(init()))
            .downcast_ref()
    }

    /// Whether a dial would have to wait for capacity now.
    pub(crate) fn at_capacity(&self) -> bool {
        self.domain.at_capacity()
    }

    /// The pool this domain belongs to.
    pub fn pool(&self) -> &Pool<C> {
        &self.pool
    }
}
