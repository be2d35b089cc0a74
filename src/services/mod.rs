//! Background services: the health sweeper, prewarm and refill, the
//! resolver, the pool-wide dial limit, run-time configuration and graceful
//! shutdown.
//!
//! # The sweeper
//!
//! A tokio task per pool, started when the pool is built inside a runtime
//! (or at its first dial otherwise). Every `health_check_interval` it runs
//! one [`Pool::sweep_now`] round, and it ends when the pool is closed or its
//! last handle dropped: it holds only a weak reference between rounds, so
//! it never keeps a pool alive. What a round
//! does is described on [`Pool::sweep_now`].
//!
//! One concept per file: [`resolve`] (the resolver, single flight, negative
//! caching, inward addresses), [`permits`] (the pool-wide dial limit),
//! [`sweep`] (the health sweeper's round), [`fill`] (prewarm, refill,
//! dialing one address), [`update`] (run-time settings).

use crate::{
    config::Config,
    connect::Connect,
    pool::{Handle, Pool},
    stats::ConnectionInfo,
    sync::StdArc,
};
use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, Ordering},
        Mutex, Weak,
    },
    time::{Duration, Instant},
};
use tokio::{
    sync::{watch, Semaphore},
    task::JoinHandle,
};

mod fill;
mod permits;
mod resolve;
mod sweep;
mod update;

pub(crate) use permits::Permits;
pub(crate) use resolve::ResolverRef;
pub use resolve::{Resolve, SystemResolver};
pub use sweep::SweepReport;

// --- the services' state -----------------------------------------------------------------

/// What a pool keeps for its services.
pub(crate) struct Services {
    dials: StdArc<Semaphore>,
    /// `max_concurrent_dials` as configured, and the permits still owed
    /// after lowering it while dials held them (a [`DialPermit`] returned
    /// while some are owed is forgotten instead of released).
    dial_permits: StdArc<Mutex<Permits>>,
    stop: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    started: AtomicBool,
    resolver: Option<ResolverRef>,
    config: Mutex<Config>,
    /// Resolutions in flight, one per domain: later first requests wait
    /// for it instead of resolving again.
    resolving: Mutex<HashMap<StdArc<str>, StdArc<tokio::sync::Mutex<()>>>>,
    /// Failed resolutions, remembered for `negative_dns_ttl`: when they
    /// expire and why they failed.
    failed: Mutex<HashMap<StdArc<str>, (Instant, String)>>,
}

impl Services {
    pub(crate) fn new(config: &Config, resolver: Option<ResolverRef>) -> Services {
        Services {
            dials: StdArc::new(Semaphore::new(config.max_concurrent_dials)),
            dial_permits: StdArc::new(Mutex::new(Permits {
                configured: config.max_concurrent_dials,
                owed: 0,
            })),
            stop: watch::Sender::new(false),
            tasks: Mutex::new(Vec::new()),
            started: AtomicBool::new(false),
            resolver,
            config: Mutex::new(config.clone()),
            resolving: Mutex::new(HashMap::new()),
            failed: Mutex::new(HashMap::new()),
        }
    }

    /// Tells the background tasks to stop.
    pub(crate) fn stop(&self) {
        self.stop.send_replace(true);
        self.dials.close();
    }

    /// Stops the tasks at once (the pool is gone).
    pub(crate) fn abort(&self) {
        self.stop();
        for t in lock(&self.tasks).drain(..) {
            t.abort();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl<C: Connect> Pool<C> {
    /// Starts the sweeper if it is not running and a tokio runtime is at
    /// hand.
    pub(crate) fn start_services(&self) {
        let services = &self.inner.services;
        if services.started.load(Ordering::Relaxed) {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if services.started.swap(true, Ordering::AcqRel) {
            return;
        }
        let weak = StdArc::downgrade(&self.inner);
        let stop = services.stop.subscribe();
        let task = rt.spawn(sweeper(weak, stop));
        lock(&services.tasks).push(task);
    }

    /// The settings in force.
    pub fn config(&self) -> Config {
        lock(&self.inner.services.config).clone()
    }

    /// A snapshot of every live connection: domain, address, profile, age,
    /// idle time, whether lent, lends, errors.
    pub fn connections(&self) -> Vec<ConnectionInfo> {
        let shared = &self.inner.shared;
        let now = shared.ticker.now();
        let mut out = Vec::new();
        for d in shared.domains() {
            d.connections(now, &mut out);
        }
        out.sort_by_key(|c| c.id);
        out
    }

    /// Whether the pool is fit to serve: not closed, some connection is
    /// live, and dials succeed at least `min_success_rate` of the time.
    pub fn is_healthy(&self) -> bool {
        let s = self.stats();
        let t = &s.total;
        let rate = if t.dials == 0 {
            1.0
        } else {
            (t.dials - t.dial_failures.min(t.dials)) as f64 / t.dials as f64
        };
        !s.closed && t.connections > 0 && rate >= self.inner.shared.settings.min_success_rate()
    }

    /// Waits until the pool is closed and quiet: the background tasks have
    /// ended, every lent connection has come back (and been closed), and
    /// the connector's background closes (TLS close_notify) are done or
    /// have had two seconds. Call after [`close`](Pool::close), or use
    /// [`shutdown`](Pool::shutdown).
    pub async fn closed(&self) {
        let mut stop = self.inner.services.stop.subscribe();
        while !*stop.borrow_and_update() {
            if stop.changed().await.is_err() {
                break;
            }
        }
        let tasks = std::mem::take(&mut *lock(&self.inner.services.tasks));
        for t in tasks {
            let _ = t.await;
        }
        while self.inner.shared.live_count() > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        while self.inner.connector.closing() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Graceful shutdown: [`close`](Pool::close), then
    /// [`closed`](Pool::closed). Idle connections are closed at once (a TLS
    /// close_notify for TLS connectors), waiters fail with
    /// [`Error::Closed`](crate::Error::Closed), lent connections are closed when returned, and
    /// the sweeper stops.
    pub async fn shutdown(&self) {
        self.close();
        self.closed().await;
    }
}

/// The sweeper task: a round every `health_check_interval` until the pool
/// is closed or gone.
async fn sweeper<C: Connect>(weak: Weak<Handle<C>>, mut stop: watch::Receiver<bool>) {
    loop {
        let interval = match weak.upgrade() {
            Some(h) => h.shared.settings.health_interval(),
            None => return,
        };
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            r = stop.changed() => {
                if r.is_err() || *stop.borrow() {
                    return;
                }
                continue;
            }
        }
        if *stop.borrow() {
            return;
        }
        let Some(inner) = weak.upgrade() else {
            return;
        };
        let pool = Pool { inner };
        if pool.is_closed() {
            return;
        }
        pool.sweep_now().await;
    }
}
