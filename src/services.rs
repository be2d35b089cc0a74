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

use crate::{
    config::Config,
    connect::Connect,
    engine::{Acquired, Domain, Shared, IPS_NONE},
    error::Error,
    pool::{Handle, Pool},
    pooled::Pooled,
    probe::ProbeGuard,
    stats::ConnectionInfo,
    sync::{Arc, StdArc},
};
use std::{
    collections::HashMap,
    fmt,
    future::Future,
    net::IpAddr,
    pin::Pin,
    sync::{
        atomic::{AtomicBool, Ordering},
        Mutex, Weak,
    },
    time::{Duration, Instant},
};
use tokio::{
    sync::{watch, OwnedSemaphorePermit, Semaphore},
    task::{JoinHandle, JoinSet},
};

// --- resolving ------------------------------------------------------------------------

/// Fills and refreshes a domain's address list.
///
/// The pool asks it for a domain's addresses at the domain's first dial (if
/// [`Pool::set_ips`] gave none) and again every `dns_refresh_interval`.
/// Addresses that leave the list are retired: idle connections to them are
/// closed, lent ones when returned. New ones are used at once (and
/// prewarmed when `min_idle_per_domain` asks for it). Domains whose
/// addresses were set with `set_ips` are never resolved.
///
/// [`SystemResolver`] is the default of [`Client`](crate::Client); a
/// crawler's own IP service (domain → IPs) plugs in the same way.
///
/// # Examples
///
/// ```
/// use hotpool::{Error, Resolve};
/// use std::{collections::HashMap, net::IpAddr};
///
/// /// Addresses from a table a crawler maintains.
/// struct Table(HashMap<String, Vec<IpAddr>>);
///
/// impl Resolve for Table {
///     async fn resolve(&self, host: &str, _port: u16) -> Result<Vec<IpAddr>, Error> {
///         self.0.get(host).cloned().ok_or_else(|| Error::NoAddress { domain: host.into() })
///     }
/// }
/// ```
pub trait Resolve: Send + Sync + 'static {
    /// The addresses of `host` (dialed on `port`).
    fn resolve(
        &self,
        host: &str,
        port: u16,
    ) -> impl Future<Output = Result<Vec<IpAddr>, Error>> + Send;
}

/// The object-safe form of [`Resolve`] the pool stores.
pub(crate) trait DynResolve: Send + Sync + 'static {
    fn resolve_dyn<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<IpAddr>, Error>> + Send + 'a>>;
}

impl<R: Resolve> DynResolve for R {
    fn resolve_dyn<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<IpAddr>, Error>> + Send + 'a>> {
        Box::pin(self.resolve(host, port))
    }
}

/// A shared resolver.
#[derive(Clone)]
pub(crate) struct ResolverRef(pub(crate) StdArc<dyn DynResolve>);

impl ResolverRef {
    pub(crate) fn new(r: impl Resolve) -> ResolverRef {
        ResolverRef(StdArc::new(r))
    }
}

impl fmt::Debug for ResolverRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Resolver")
    }
}

/// The system resolver: `getaddrinfo` through [`tokio::net::lookup_host`],
/// run on tokio's blocking pool.
///
/// Chosen over hickory-resolver because it needs no extra dependency and
/// answers exactly as the rest of the machine does (`/etc/hosts`,
/// nsswitch, the local caching resolver). It reports no TTLs, so refreshes
/// follow `dns_refresh_interval`. A crawler resolving at a high rate should
/// plug in its own [`Resolve`] (a hickory resolver, or its IP service).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemResolver;

impl Resolve for SystemResolver {
    async fn resolve(&self, host: &str, port: u16) -> Result<Vec<IpAddr>, Error> {
        let addrs = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| Error::Resolve {
                domain: host.into(),
                source: Box::new(e),
            })?;
        let mut ips: Vec<IpAddr> = Vec::new();
        for a in addrs {
            if !ips.contains(&a.ip()) {
                ips.push(a.ip());
            }
        }
        Ok(ips)
    }
}

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

/// The dial permits' bookkeeping; see `Services::dial_permits`.
#[derive(Debug)]
pub(crate) struct Permits {
    configured: usize,
    owed: usize,
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

/// Whether `ip` points inward: private (RFC 1918, unique local),
/// loopback, link-local (cloud metadata services live at 169.254.169.254
/// and fd00:ec2::254), unspecified, shared address space (100.64/10), or
/// an IPv4-mapped form of one of these.
pub(crate) fn is_inward(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                || o[0] == 0
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_inward(IpAddr::V4(v4));
            }
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || (s[0] & 0xfe00) == 0xfc00 // unique local, fd00:ec2::254 among them
                || (s[0] & 0xffc0) == 0xfe80 // link-local
        }
    }
}

/// What one sweep round did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SweepReport {
    /// Domains looked at.
    pub domains: usize,
    /// Idle connections found fit and left in place.
    pub kept: usize,
    /// Idle connections closed (expired, closed by the peer, too many
    /// errors, retired or blacklisted address, over a lowered limit).
    pub closed: usize,
    /// Long-idle connections probed.
    pub probed: usize,
    /// Probes that failed (those connections were closed).
    pub probe_failures: usize,
    /// Domains whose addresses were looked up again.
    pub resolved: usize,
    /// Connections dialed to keep `min_idle_per_domain`.
    pub refilled: usize,
}

// --- the pool's service methods --------------------------------------------------------------

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

    /// Resolves a domain that has no addresses yet (and was never given
    /// any), if the pool has a resolver.
    ///
    /// Called before a dial takes one of the `max_concurrent_dials`
    /// permits, so that a slow resolver does not hold them. Concurrent
    /// first requests to a domain share one resolution (single flight),
    /// and a failed one is remembered for `negative_dns_ttl`: requests in
    /// that time fail at once with the same error.
    pub(crate) async fn resolve_if_unknown(&self, d: &Arc<Domain<C::Conn>>) -> Result<(), Error> {
        if d.ip_source() != IPS_NONE || self.inner.services.resolver.is_none() {
            return Ok(());
        }
        let services = &self.inner.services;
        let key = d.key().clone();
        let remembered = || -> Result<(), Error> {
            let mut failed = lock(&services.failed);
            match failed.get(&key) {
                Some((until, why)) if *until > Instant::now() => Err(Error::Resolve {
                    domain: key.clone(),
                    source: format!("{why} (failed recently; not retried for negative_dns_ttl)")
                        .into(),
                }),
                Some(_) => {
                    failed.remove(&key);
                    Ok(())
                }
                None => Ok(()),
            }
        };
        remembered()?;
        let flight = lock(&services.resolving)
            .entry(key.clone())
            .or_default()
            .clone();
        let _turn = flight.lock().await;
        // Another request may have resolved (or failed) while this one
        // waited for its turn.
        if d.ip_source() != IPS_NONE {
            return Ok(());
        }
        remembered()?;
        let r = self.resolve_domain(d).await;
        lock(&services.resolving).remove(&key);
        if let Err(e) = &r {
            let ttl = self.inner.shared.settings.negative_dns_ttl();
            let until = Instant::now()
                .checked_add(ttl)
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400 * 365));
            let why = match e {
                Error::Resolve { source, .. } => source.to_string(),
                e => e.to_string(),
            };
            lock(&services.failed).insert(key, (until, why));
        }
        r.map(|_| ())
    }

    /// Asks the resolver for `d`'s addresses and installs them. Returns
    /// whether there was a resolver.
    async fn resolve_domain(&self, d: &Arc<Domain<C::Conn>>) -> Result<bool, Error> {
        let Some(r) = &self.inner.services.resolver else {
            return Ok(false);
        };
        let (host, port) = d.host_port();
        if let Ok(ip) = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            // An IP literal names its own address, as the user wrote it:
            // trusted like set_ips, no resolver asked.
            d.set_resolved_ips(&[ip]);
            return Ok(true);
        }
        let timeout = self.inner.shared.settings.connect_timeout();
        let ips = match tokio::time::timeout(timeout, r.0.resolve_dyn(host, port)).await {
            Ok(r) => r?,
            Err(_) => {
                return Err(Error::Resolve {
                    domain: d.key().clone(),
                    source: format!("no answer within {timeout:?}").into(),
                })
            }
        };
        tracing::debug!(domain = %d.key(), ?ips, "hotpool: resolved");
        let allow_private = lock(&self.inner.services.config).allow_private_addresses;
        let ips = if allow_private {
            ips
        } else {
            let (public, inward): (Vec<IpAddr>, Vec<IpAddr>) =
                ips.into_iter().partition(|ip| !is_inward(*ip));
            if !inward.is_empty() {
                tracing::warn!(domain = %d.key(), ?inward, "hotpool: resolver answered private addresses; refused");
            }
            if public.is_empty() && !inward.is_empty() {
                return Err(Error::Resolve {
                    domain: d.key().clone(),
                    source: format!(
                        "resolved only to private, loopback, link-local or metadata addresses {inward:?} (refused; allow_private_addresses(true) permits them)"
                    )
                    .into(),
                });
            }
            public
        };
        d.set_resolved_ips(&ips);
        Ok(true)
    }

    /// Runs one sweep round now and reports what it did. The background
    /// sweeper calls this every `health_check_interval`. Per domain, it:
    ///
    /// 1. takes out the idle connections present at its start (later returns
    ///    are left for the next round);
    /// 2. closes those closed by the peer, idle past `idle_timeout`, older than
    ///    `max_lifetime`, over `max_errors`, on a retired or blacklisted
    ///    address, or beyond a limit lowered at run time;
    /// 3. probes those idle longer than the sweep interval with the
    ///    connector's [`Connect::probe`] (for HTTP, the validation request),
    ///    at most `probe_concurrency` at once: a 403 blacklists the IP, any
    ///    failure closes the connection, success returns it to the queue (a
    ///    probe does not count as a use: its idle time keeps running towards
    ///    `idle_timeout`);
    /// 4. refreshes the domain's addresses if the resolver's answer is older
    ///    than `dns_refresh_interval`;
    /// 5. dials up to `min_idle_per_domain` idle connections.
    ///
    /// It then sweeps expired blacklist entries. Results are counted in
    /// [`Stats`](crate::Stats) (`swept`, `probes`, `probe_failures`) and traced.
    pub async fn sweep_now(&self) -> SweepReport {
        let shared = &self.inner.shared;
        let settings = &shared.settings;
        let mut report = SweepReport::default();
        let probe_after = crate::state::ticks_from(settings.health_interval());
        let refresh = crate::state::ticks_from(settings.dns_refresh());
        // Bounded: while probed, a connection is out of the idle queue, and
        // a waiter at the domain limit must not wait a whole connect
        // time-out for it.
        let probe_timeout = settings.probe_timeout();
        for d in shared.domains() {
            if shared.is_closed() {
                break;
            }
            report.domains += 1;
            let (kept, closed, probe) = d.sweep_take(probe_after);
            report.kept += kept;
            report.closed += closed;
            if !probe.is_empty() {
                let limit = StdArc::new(Semaphore::new(settings.probe_concurrency()));
                let mut set = JoinSet::new();
                // Every slot taken out for probing is held by a guard from
                // here on: a sweep cancelled while it waits for a permit,
                // or a probe task aborted or panicking, closes its slot
                // instead of dropping it uncounted.
                let mut pending: Vec<ProbeGuard<C::Conn>> = probe
                    .into_iter()
                    .map(|(slot, word)| ProbeGuard::new(&d, slot, word))
                    .collect();
                pending.reverse();
                while let Some(mut guard) = pending.pop() {
                    let Ok(permit) = limit.clone().acquire_owned().await else {
                        break;
                    };
                    let connector = self.inner.connector.clone();
                    set.spawn(async move {
                        let _permit = permit;
                        let probed = connector.probe(&mut guard.slot().conn);
                        let r = tokio::time::timeout(probe_timeout, probed)
                            .await
                            .unwrap_or_else(|_| {
                                Err(Error::connect(format!(
                                    "health probe got no answer within {probe_timeout:?}"
                                )))
                            });
                        guard.finish(r)
                    });
                }
                while let Some(j) = set.join_next().await {
                    report.probed += 1;
                    match j {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => {
                            report.probe_failures += 1;
                            if let Error::Blocked { ip, .. } = e {
                                let until = shared.ticker.now().saturating_add(
                                    crate::state::ticks_from(settings.blacklist_ttl()),
                                );
                                if shared.block_pair(&d, ip, until).0 {
                                    tracing::info!(domain = %d.key(), %ip, "hotpool: a probe found the address refusing the domain");
                                }
                            }
                        }
                        Err(_) => report.probe_failures += 1,
                    }
                }
            }
            let now = shared.ticker.now();
            if self.inner.services.resolver.is_some() && d.resolution_due(now, refresh) {
                match self.resolve_domain(&d).await {
                    Ok(_) => report.resolved += 1,
                    Err(e) => {
                        tracing::warn!(domain = %d.key(), error = %e, "hotpool: refreshing addresses failed")
                    }
                }
            }
            let min = settings.min_idle();
            if min > 0 && !shared.is_closed() && d.idle_len() < min {
                match self.fill(&d, min).await {
                    Ok(n) => report.refilled += n,
                    Err(e) => {
                        tracing::debug!(domain = %d.key(), error = %e, "hotpool: refill stopped")
                    }
                }
            }
        }
        let left = shared.blacklist.sweep(shared.ticker.now());
        tracing::debug!(
            domains = report.domains,
            closed = report.closed,
            probed = report.probed,
            probe_failures = report.probe_failures,
            refilled = report.refilled,
            blacklisted = left,
            "hotpool: sweep done"
        );
        report
    }

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

    async fn fill(&self, d: &Arc<Domain<C::Conn>>, n: usize) -> Result<usize, Error> {
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

    /// The settings in force.
    pub fn config(&self) -> Config {
        lock(&self.inner.services.config).clone()
    }

    /// Changes the run-time settings without stopping the pool: limits,
    /// time-outs, intervals, `min_idle_per_domain`, `max_concurrent_dials`.
    /// Each value is an atomic the pool reads where it uses it, so the
    /// change applies to the next lend, dial, wait or sweep. Lowering a
    /// limit closes nothing that is lent: new dials wait until the domain
    /// is under it, and the sweeper closes idle connections beyond it.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] naming the key if a value is invalid or
    /// cannot change at run time (`default_port`, `allow_ips`,
    /// `deny_ips`); nothing is changed then.
    pub fn update_config(&self, config: Config) -> Result<(), Error> {
        config.validate()?;
        let services = &self.inner.services;
        let mut current = lock(&services.config);
        if config.default_port != current.default_port {
            return Err(Error::invalid_config(
                "default_port",
                config.default_port,
                "cannot change at run time",
            ));
        }
        if config.allow_ips != current.allow_ips {
            return Err(Error::invalid_config(
                "allow_ips",
                format!("{:?}", config.allow_ips),
                "cannot change at run time",
            ));
        }
        if config.deny_ranges != current.deny_ranges {
            return Err(Error::invalid_config(
                "deny_ranges",
                format!("{:?}", config.deny_ranges),
                "cannot change at run time",
            ));
        }
        if config.deny_ips != current.deny_ips {
            return Err(Error::invalid_config(
                "deny_ips",
                format!("{:?}", config.deny_ips),
                "cannot change at run time",
            ));
        }
        self.inner.shared.settings.update(&config);
        {
            // Exactly `max_concurrent_dials` permits in all: available +
            // held - owed. Lowering forgets what is available and owes the
            // rest (taken back as held permits return); raising first
            // cancels what is owed.
            let mut p = lock(&services.dial_permits);
            let new = config.max_concurrent_dials;
            if new > p.configured {
                let add = new - p.configured;
                let cancel = add.min(p.owed);
                p.owed -= cancel;
                services.dials.add_permits(add - cancel);
            } else if new < p.configured {
                let diff = p.configured - new;
                let forgotten = services.dials.forget_permits(diff);
                p.owed += diff - forgotten;
            }
            p.configured = new;
        }
        // A raised limit may free waiters: wake them to look again.
        self.inner.shared.wake_all();
        tracing::info!("hotpool: settings updated");
        *current = config;
        Ok(())
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
    /// [`Error::Closed`], lent connections are closed when returned, and
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
