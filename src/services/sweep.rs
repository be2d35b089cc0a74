//! One round of the health sweeper: [`Pool::sweep_now`].

use crate::{connect::Connect, error::Error, pool::Pool, probe::ProbeGuard, sync::StdArc};
use tokio::{sync::Semaphore, task::JoinSet};

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

impl<C: Connect> Pool<C> {
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
        use tracing::{field::Empty, Instrument};
        let span = tracing::debug_span!(
            "hotpool.sweep",
            domains = Empty,
            kept = Empty,
            closed = Empty,
            probed = Empty,
            probe_failures = Empty,
            resolved = Empty,
            refilled = Empty,
        );
        let r = self.sweep_round().instrument(span.clone()).await;
        span.record("domains", r.domains)
            .record("kept", r.kept)
            .record("closed", r.closed)
            .record("probed", r.probed)
            .record("probe_failures", r.probe_failures)
            .record("resolved", r.resolved)
            .record("refilled", r.refilled);
        r
    }

    async fn sweep_round(&self) -> SweepReport {
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
}
