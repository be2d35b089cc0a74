//! Reserving capacity (per domain and pool-wide) and admitting a dialed
//! connection.

use super::*;
use crate::{
    connect::Target,
    state,
    sync::{
        lock,
        unmodeled::{self, Counter},
        Arc, AtomicU64, AtomicUsize, Ordering,
    },
};

impl<T: Send + 'static> Domain<T> {
    /// Reserves one unit of pool capacity, then one of domain capacity.
    ///
    /// A unit taken and given back (the domain turned out full) is a release
    /// like any other: a task may have seen it taken and gone to sleep, so
    /// the rollback wakes the pool's waiters. The domain limit is checked
    /// with a plain load first, so a task blocked by its domain does not
    /// take and give back pool units on every re-check — which would wake
    /// pool-level waiters (possibly itself) for nothing.
    pub(crate) fn try_reserve(this: &Arc<Self>) -> Result<Reservation<T>, Blocked> {
        let pool = &*this.pool;
        let max_domain = Settings::get_usize(&pool.settings.max_per_domain);
        if this.live.load(Ordering::SeqCst) >= max_domain {
            return Err(Blocked::Domain);
        }
        if !reserve(&pool.live, Settings::get_usize(&pool.settings.max_conns)) {
            return Err(Blocked::Pool);
        }
        if !reserve(&this.live, max_domain) {
            pool.live.fetch_sub(1, Ordering::SeqCst);
            pool.publish(1);
            return Err(Blocked::Domain);
        }
        Ok(Reservation {
            domain: Some(this.clone()),
        })
    }

    /// Turns a reservation into a live connection; returns it with the
    /// reservation's domain reference, ready for a guard.
    pub(crate) fn admit(
        this: &Arc<Self>,
        mut res: Reservation<T>,
        conn: T,
        addr: Arc<Addr>,
        lent: bool,
    ) -> (Box<Slot<T>>, Arc<Domain<T>>) {
        let pool = &*this.pool;
        let now = pool.ticker.now();
        let meta = Arc::new(Meta {
            state: AtomicU64::new(state::pack(state::State {
                in_use: lent,
                errors: 0,
                last_used: now,
            })),
            reuses: Counter::default(),
            idle_before_reuse: Counter::default(),
            recycled: Counter::default(),
            id: pool.next_id.fetch_add(1, unmodeled::Ordering::Relaxed),
            created: now,
            target: Target::new(this.host.clone(), addr.addr).with_route(this.route.clone()),
            addr,
            addr_epoch: unmodeled::AtomicU64::new(u64::MAX),
            profile: pool.driver.profile(&conn),
            dialed_for_lend: lent,
        });
        {
            let mut reg = lock(&this.registry);
            reg.metas.push(meta.clone());
            if reg.metas.len() == 1 {
                pool.activate(this);
            }
        }
        this.counters.created.inc();
        if lent {
            this.counters.fresh.inc();
        }
        // The unit now belongs to the connection.
        let domain = res.domain.take().unwrap_or_else(|| this.clone());
        (Box::new(Slot { conn, meta }), domain)
    }

    // --- addresses -----------------------------------------------------------
}

/// CAS `counter` up by one unless it is at `max`.
#[inline]
pub(super) fn reserve(counter: &AtomicUsize, max: usize) -> bool {
    let mut cur = counter.load(Ordering::Relaxed);
    loop {
        if cur >= max {
            return false;
        }
        match counter.compare_exchange_weak(cur, cur + 1, Ordering::SeqCst, Ordering::Relaxed) {
            Ok(_) => return true,
            Err(actual) => cur = actual,
        }
    }
}

/// What [`Domain::acquire`] found.
pub(crate) enum Acquired<T: Send + 'static> {
    /// An idle connection, already marked lent.
    Idle(Box<Slot<T>>),
    /// Capacity for one dial.
    Dial(Reservation<T>),
}

/// One unit of domain and pool capacity, released on drop unless a
/// connection took it over ([`Domain::admit`]).
pub(crate) struct Reservation<T: Send + 'static> {
    pub(super) domain: Option<Arc<Domain<T>>>,
}

impl<T: Send + 'static> Reservation<T> {
    pub(crate) fn domain(&self) -> &Arc<Domain<T>> {
        self.domain.as_ref().expect("reservation already consumed")
    }
}

impl<T: Send + 'static> Drop for Reservation<T> {
    fn drop(&mut self) {
        if let Some(d) = self.domain.take() {
            d.release();
        }
    }
}
