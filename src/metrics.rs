//! [`Stats`] through the [`metrics`](https://docs.rs/metrics) facade
//! (cargo feature `metrics`), for any exporter (Prometheus, StatsD…).
//!
//! Two histograms are recorded as events happen:
//!
//! - `hotpool_wait_seconds`: how long a `get` waited for a connection
//!   (only gets that had to wait);
//! - `hotpool_request_seconds`: a [`Client`](crate::Client) request from
//!   its start to its response head (or its error).
//!
//! Counters and gauges are snapshots: call [`export`] (or
//! [`Client::export_metrics`](crate::Client::export_metrics)) as often as
//! your scrape interval needs; each call sets every series to the current
//! value. Counters are pool totals (`hotpool_gets_total`,
//! `hotpool_hits_total`, `hotpool_dials_total`, `hotpool_dial_failures_total`,
//! `hotpool_waits_total`, `hotpool_wait_timeouts_total`,
//! `hotpool_created_total`, `hotpool_closed_total`, `hotpool_recycled_total`,
//! `hotpool_discarded_total`, `hotpool_swept_total`, `hotpool_probes_total`,
//! `hotpool_probe_failures_total`, `hotpool_requests_total`,
//! `hotpool_retries_total`, `hotpool_responses_total{class}`,
//! `hotpool_request_failures_total{kind}`,
//! `hotpool_profile_dials_total{profile}`); gauges are
//! `hotpool_connections`, `hotpool_idle`, `hotpool_in_use`,
//! `hotpool_dialing`, `hotpool_waiting`, `hotpool_blacklisted`,
//! `hotpool_reuse_ratio`, and the seed's metrics: `hotpool_healthy_connections`,
//! `hotpool_healthy_ratio`, `hotpool_success_ratio`, `hotpool_recycle_ratio`
//! and `hotpool_recycle_latency_seconds` (the average time from a put to
//! the connection's next lend). Series carry no per-domain label: a crawler's
//! domains are too many for a metrics backend.

use crate::stats::Stats;
use metrics::{counter, gauge, histogram};
use std::time::Duration;

pub(crate) fn record_wait(waited: Duration) {
    histogram!("hotpool_wait_seconds").record(waited.as_secs_f64());
}

pub(crate) fn record_request(latency: Duration) {
    histogram!("hotpool_request_seconds").record(latency.as_secs_f64());
}

/// Sets every counter and gauge to the values of `stats`.
pub fn export(stats: &Stats) {
    let t = &stats.total;
    counter!("hotpool_gets_total").absolute(t.gets);
    counter!("hotpool_hits_total").absolute(t.hits);
    counter!("hotpool_dials_total").absolute(t.dials);
    counter!("hotpool_dial_failures_total").absolute(t.dial_failures);
    counter!("hotpool_waits_total").absolute(t.waits);
    counter!("hotpool_wait_timeouts_total").absolute(t.wait_timeouts);
    counter!("hotpool_created_total").absolute(t.created);
    counter!("hotpool_closed_total").absolute(t.closed);
    counter!("hotpool_recycled_total").absolute(t.puts_recycled);
    counter!("hotpool_discarded_total").absolute(t.puts_discarded);
    counter!("hotpool_swept_total").absolute(t.swept);
    counter!("hotpool_probes_total").absolute(t.probes);
    counter!("hotpool_probe_failures_total").absolute(t.probe_failures);
    gauge!("hotpool_connections").set(t.connections as f64);
    gauge!("hotpool_idle").set(t.idle as f64);
    gauge!("hotpool_in_use").set(t.in_use as f64);
    gauge!("hotpool_dialing").set(t.dialing as f64);
    gauge!("hotpool_waiting").set(stats.waiting as f64);
    gauge!("hotpool_blacklisted").set(stats.blacklisted as f64);
    gauge!("hotpool_reuse_ratio").set(stats.reuse_rate());
    // The seed's metrics.
    gauge!("hotpool_healthy_connections").set(t.healthy as f64);
    gauge!("hotpool_healthy_ratio").set(stats.healthy_ratio());
    gauge!("hotpool_success_ratio").set(stats.success_rate());
    gauge!("hotpool_recycle_ratio").set(stats.recycle_rate());
    gauge!("hotpool_recycle_latency_seconds").set(stats.avg_recycle_latency().as_secs_f64());
    for p in &stats.profiles {
        counter!("hotpool_profile_dials_total", "profile" => p.name.to_string()).absolute(p.dials);
    }
    let r = &stats.requests;
    counter!("hotpool_requests_total").absolute(r.requests);
    counter!("hotpool_retries_total").absolute(r.retries);
    let classes = [
        ("1xx", r.responses.informational),
        ("2xx", r.responses.success),
        ("3xx", r.responses.redirection),
        ("4xx", r.responses.client_error),
        ("5xx", r.responses.server_error),
    ];
    for (class, n) in classes {
        counter!("hotpool_responses_total", "class" => class).absolute(n);
    }
    let f = &r.failures;
    let kinds = [
        ("timeout", f.timeout),
        ("connect", f.connect),
        ("tls", f.tls),
        ("blocked", f.blocked),
        ("validation", f.validation),
        ("http", f.http),
        ("other", f.other),
    ];
    for (kind, n) in kinds {
        counter!("hotpool_request_failures_total", "kind" => kind).absolute(n);
    }
}
