//! The pool-wide dial limit (`max_concurrent_dials`), exact through run-time
//! changes.

use super::*;
use crate::{
    connect::Connect,
    engine::Domain,
    error::Error,
    pool::Pool,
    sync::{Arc, StdArc},
};
use std::{sync::Mutex, time::Instant};
use tokio::sync::OwnedSemaphorePermit;

/// The dial permits' bookkeeping; see `Services::dial_permits`.
#[derive(Debug)]
pub(crate) struct Permits {
    pub(super) configured: usize,
    pub(super) owed: usize,
}

/// One of the `max_concurrent_dials` permits, held for one dial. Returned
/// to the semaphore when dropped, unless permits are owed after the limit
/// was lowered: then it pays one back.
pub(crate) struct DialPermit {
    permit: Option<OwnedSemaphorePermit>,
    state: StdArc<Mutex<Permits>>,
}

impl Drop for DialPermit {
    fn drop(&mut self) {
        let mut p = lock(&self.state);
        if p.owed > 0 {
            p.owed -= 1;
            if let Some(permit) = self.permit.take() {
                permit.forget();
            }
        }
    }
}

impl<C: Connect> Pool<C> {
    /// A dial permit (the pool-wide `max_concurrent_dials`), waiting up to
    /// `wait_timeout` for one.
    pub(crate) async fn dial_permit(&self, d: &Arc<Domain<C::Conn>>) -> Result<DialPermit, Error> {
        let services = &self.inner.services;
        let sem = services.dials.clone();
        let wrap = |p| DialPermit {
            permit: Some(p),
            state: services.dial_permits.clone(),
        };
        if let Ok(p) = sem.clone().try_acquire_owned() {
            return Ok(wrap(p));
        }
        let wait = self.inner.shared.settings.wait_timeout();
        let start = Instant::now();
        match tokio::time::timeout(wait, sem.acquire_owned()).await {
            Ok(Ok(p)) => Ok(wrap(p)),
            Ok(Err(_)) => Err(Error::Closed),
            Err(_) => Err(Error::WaitTimeout {
                domain: d.key().clone(),
                waited: start.elapsed(),
            }),
        }
    }
}
