//! Dialing ahead of demand and to one address: prewarm, refill, `get_to`.

use crate::{
    connect::Connect,
    engine::{Acquired, Domain, Shared},
    error::Error,
    pool::Pool,
    pooled::Pooled,
    sync::Arc,
};
use std::{
    net::IpAddr,
    time::{Duration, Instant},
};
use tokio::task::JoinSet;

impl<C: Connect> Pool<C> {
    /// Dials until `domain` has `n` idle connections (each validated by the
    /// connector, as every new connection is), at most
    /// `max_concurrent_dials` at a time. Returns how many were dialed.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] naming `prewarm` if `n` exceeds
    /// `max_conns_per_domain`; otherwise the first error that stopped it: a
    /// dial's error, [`Error::WaitTimeout`] if capacity did not free up
    /// within `wait_timeout`, [`Error::Closed`].
    pub async fn prewarm(&self, domain: &str, n: usize) -> Result<usize, Error> {
        let max = self.inner.shared.settings.max_per_domain();
        if n > max {
            return Err(Error::invalid_config(
                "prewarm",
                n,
                format!("exceeds max_conns_per_domain ({max})"),
            ));
        }
        self.start_services();
        let d = Shared::with_domain(&self.inner.shared, domain, Arc::clone);
        self.fill(&d, n).await
    }

    pub(super) async fn fill(&self, d: &Arc<Domain<C::Conn>>, n: usize) -> Result<usize, Error> {
        let shared = &self.inner.shared;
        let mut dialed = 0;
        let mut waited_since: Option<Instant> = None;
        loop {
            if shared.is_closed() {
                return Err(Error::Closed);
            }
            let have = d.idle_len();
            if have >= n || dialed >= n {
                return Ok(dialed);
            }
            let mut reservations = Vec::new();
            for _ in 0..n - have {
                match Domain::try_reserve(d) {
                    Ok(r) => reservations.push(r),
                    Err(_) => break,
                }
            }
            if reservations.is_empty() {
                // At the limit with connections lent out: wait for some
                // to come back, up to `wait_timeout`.
                let since = *waited_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= shared.settings.wait_timeout() {
                    return Err(Error::WaitTimeout {
                        domain: d.key().clone(),
                        waited: since.elapsed(),
                    });
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
                continue;
            }
            let mut set = JoinSet::new();
            for res in reservations {
                let pool = self.clone();
                set.spawn(async move {
                    let (slot, dom) = pool.dial_with(res, None, false).await?;
                    dom.add_idle(slot);
                    Ok::<_, Error>(())
                });
            }
            let mut first_err = None;
            while let Some(j) = set.join_next().await {
                match j {
                    Ok(Ok(())) => dialed += 1,
                    Ok(Err(e)) => {
                        first_err.get_or_insert(e);
                    }
                    Err(e) => {
                        first_err.get_or_insert(Error::connect(format!("prewarm dial task: {e}")));
                    }
                }
            }
            if let Some(e) = first_err {
                return Err(e);
            }
        }
    }

    /// Lends a connection to `domain` at `ip`: an idle one to that address
    /// if there is one, else a new one dialed there (waiting for capacity
    /// like [`get_fresh`](Pool::get_fresh)).
    ///
    /// # Errors
    ///
    /// [`Error::NoAddress`] if `ip` is not one of the domain's addresses,
    /// [`Error::Blocked`] if it is blacklisted, and the errors of
    /// [`get`](Pool::get).
    pub async fn get_to(&self, domain: &str, ip: IpAddr) -> Result<Pooled<C::Conn>, Error> {
        let shared = &self.inner.shared;
        if shared.is_closed() {
            return Err(Error::Closed);
        }
        self.start_services();
        let d = Shared::with_domain(shared, domain, Arc::clone);
        if let Some(slot) = d.pop_idle_to(ip) {
            return Ok(Pooled::new(slot, d));
        }
        let addr = d.addr_of(ip)?;
        match Domain::acquire(&d, true).await? {
            Acquired::Dial(res) => {
                let (slot, dom) = self.dial_with(res, Some(addr), true).await?;
                Ok(Pooled::new(slot, dom))
            }
            // `fresh` never lends an idle connection.
            Acquired::Idle(slot) => Ok(Pooled::new(slot, d)),
        }
    }
}
