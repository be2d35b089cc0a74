//! What a crawl reports: [`Run`] (one crawl's outcome, as JSON) and the
//! human summary printed at the end.

use hotpool::{proxy::ProxyStats, Stats};
use std::{collections::BTreeMap, time::Duration};

/// One crawl's outcome.
pub(crate) struct Run {
    pub(crate) label: &'static str,
    pub(crate) requests: usize,
    pub(crate) ok: usize,
    pub(crate) statuses: BTreeMap<u16, usize>,
    pub(crate) elapsed: Duration,
    pub(crate) latencies: Vec<Duration>,
    pub(crate) failures: BTreeMap<String, usize>,
    pub(crate) unreachable: BTreeMap<String, String>,
    pub(crate) stats: Stats,
    pub(crate) proxies: Vec<ProxyStats>,
    pub(crate) server_handshakes: Option<usize>,
    /// Blocked IPs (for every domain) and blocked pairs (`ip (domain)`).
    pub(crate) blocked: Vec<String>,
}

impl Run {
    pub(crate) fn rps(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    pub(crate) fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let i = ((self.latencies.len() - 1) as f64 * p).round() as usize;
        self.latencies[i]
    }

    pub(crate) fn handshakes(&self) -> u64 {
        self.stats.total.created
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        let ms = |d: Duration| (d.as_secs_f64() * 1e6).round() / 1e3;
        serde_json::json!({
            "mode": self.label,
            "requests": self.requests,
            "answered": self.ok,
            "failed": self.requests - self.ok,
            "statuses": self.statuses.iter().map(|(k, v)| (k.to_string(), *v)).collect::<BTreeMap<_, _>>(),
            "seconds": self.elapsed.as_secs_f64(),
            "requests_per_second": self.rps(),
            "latency_ms": { "p50": ms(self.percentile(0.5)), "p90": ms(self.percentile(0.9)), "p99": ms(self.percentile(0.99)) },
            "tls_handshakes": self.handshakes(),
            "server_handshakes": self.server_handshakes,
            "reuse_rate": self.stats.reuse_rate(),
            "retries": self.stats.requests.retries,
            "http2_streams": {
                "streams": self.stats.streams.streams,
                "connections": self.stats.streams.connections,
                "per_connection": self.stats.streams.requests_per_connection(),
                "peak_per_connection": self.stats.streams.peak_per_connection,
                "resent": self.stats.streams.resent,
            },
            "seed_metrics": {
                "healthy_connections": self.stats.total.healthy,
                "connections": self.stats.total.connections,
                "healthy_ratio": self.stats.healthy_ratio(),
                "success_rate": self.stats.success_rate(),
                "avg_recycle_latency_ms": ms(self.stats.avg_recycle_latency()),
                "reuse_rate": self.stats.reuse_rate(),
                "recycle_rate": self.stats.recycle_rate(),
            },
            "blacklisted": self.blacklisted(),
            "proxies": self.proxies.iter().map(|p| serde_json::json!({
                "name": p.name, "tunnels": p.tunnels, "failures": p.failures,
                "skipped": p.skipped_for.is_some(),
            })).collect::<Vec<_>>(),
            "dials_per_profile": self.stats.profiles.iter().filter(|p| p.dials > 0).map(|p| (p.name.to_string(), p.dials)).collect::<BTreeMap<_, _>>(),
            "errors": self.failures,
            "unreachable": self.unreachable,
        })
    }

    pub(crate) fn blacklisted(&self) -> Vec<String> {
        self.blocked.clone()
    }
}

pub(crate) fn print_summary(runs: &[Run]) {
    let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1e3);
    println!();
    println!(
        "{:<10} {:>9} {:>9} {:>10} {:>10} {:>10} {:>10} {:>11} {:>7}",
        "mode", "requests", "errors", "req/s", "p50", "p90", "p99", "handshakes", "reuse"
    );
    for r in runs {
        println!(
            "{:<10} {:>9} {:>9} {:>10.0} {:>10} {:>10} {:>10} {:>11} {:>6.1}%",
            r.label,
            r.requests,
            r.requests - r.ok,
            r.rps(),
            ms(r.percentile(0.5)),
            ms(r.percentile(0.9)),
            ms(r.percentile(0.99)),
            r.handshakes(),
            r.stats.reuse_rate() * 100.0,
        );
    }
    for r in runs {
        println!();
        println!("[{}]", r.label);
        let statuses: Vec<String> = r
            .statuses
            .iter()
            .map(|(s, n)| format!("{s}: {n}"))
            .collect();
        println!("  responses by status: {}", statuses.join(", "));
        if let Some(h) = r.server_handshakes {
            println!("  TLS handshakes seen by the server: {h}");
        }
        println!(
            "  retries on stale connections: {}",
            r.stats.requests.retries
        );
        let st = &r.stats.streams;
        if st.streams > 0 {
            println!(
                "  HTTP/2 streams: {} on {} connections ({:.1} per connection, at most {} at once)",
                st.streams,
                st.connections,
                st.requests_per_connection(),
                st.peak_per_connection
            );
        }
        println!(
            "  blocked addresses: {}",
            if r.blocked.is_empty() {
                "none".to_owned()
            } else {
                r.blacklisted().join(", ")
            }
        );
        let st = &r.stats;
        println!(
            "  seed metrics: {} of {} connections healthy ({:.1}%), success {:.1}%, recycle latency {:.2} ms (put to next lend), reuse {:.1}%, recycle {:.1}%",
            st.total.healthy,
            st.total.connections,
            st.healthy_ratio() * 100.0,
            st.success_rate() * 100.0,
            st.avg_recycle_latency().as_secs_f64() * 1e3,
            st.reuse_rate() * 100.0,
            st.recycle_rate() * 100.0,
        );
        for p in &r.proxies {
            println!(
                "  proxy {}: {} tunnels, {} failures{}",
                p.name,
                p.tunnels,
                p.failures,
                if p.skipped_for.is_some() {
                    " (skipped now)"
                } else {
                    ""
                }
            );
        }
        let profiles: Vec<String> = r
            .stats
            .profiles
            .iter()
            .filter(|p| p.dials > 0)
            .map(|p| format!("{} {}", p.name, p.dials))
            .collect();
        println!("  dials per profile: {}", profiles.join(", "));
        if r.failures.is_empty() {
            println!("  errors by kind: none");
        } else {
            let kinds: Vec<String> = r
                .failures
                .iter()
                .map(|(k, n)| format!("{k}: {n}"))
                .collect();
            println!("  errors by kind: {}", kinds.join(", "));
            for (url, e) in r.unreachable.iter().take(20) {
                println!("    {url}: {e}");
            }
            if r.unreachable.len() > 20 {
                println!("    … and {} more URLs", r.unreachable.len() - 20);
            }
        }
    }
    if let [pooled, fresh] = runs {
        println!();
        println!(
            "speed-up with hot connections: {:.1}x the requests/s of a new connection per request",
            pooled.rps() / fresh.rps()
        );
    }
}
