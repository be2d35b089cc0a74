//! The main job: crawl many URLs through `hotpool::Client`.
//!
//! ```sh
//! cargo run --release --example crawl                 # embedded loopback site, 20,000 GETs
//! cargo run --release --example crawl -- --compare    # … and again with a new connection per request
//! cargo run --release --example crawl -- https://example.com/ --urls more.txt --json
//! ```
//!
//! With no URL it starts an HTTPS site on loopback: three domains, each on
//! three 127.0.0.x addresses sharing one port, one address answering 403
//! to everything (it ends up blacklisted), a certificate from a CA made at
//! start-up that the client trusts. `RUST_LOG=hotpool=debug` shows the
//! pool at work; `--metrics-addr 127.0.0.1:9000` (built with
//! `--features metrics`) serves Prometheus text while it runs.

use clap::Parser;
use hotpool::{
    proxy::{Proxy, ProxyStats},
    Client, ClientConfig, Error, ProfileChoice, Stats,
};
use std::{
    collections::BTreeMap,
    net::{IpAddr, SocketAddr},
    path::PathBuf,
    process::ExitCode,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

#[derive(Parser, Debug)]
#[command(
    about = "Crawl URLs through a pool of hot TLS connections (hotpool::Client).",
    long_about = "Crawl URLs through a pool of hot TLS connections (hotpool::Client).\n\n\
        Without URLs, crawls an embedded loopback HTTPS site: three domains on \
        nine 127.0.0.x addresses, one of which answers 403."
)]
struct Args {
    /// URLs to crawl (https only). Without any, the embedded site is crawled.
    urls: Vec<String>,
    /// A file of URLs, one per line (blank lines and lines starting with # are skipped).
    #[arg(long = "urls", value_name = "FILE")]
    urls_file: Option<PathBuf>,
    /// Requests to make: the URLs are taken in turn until this many were
    /// made [default: 20000 on the embedded site, each URL once otherwise].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    requests: Option<u64>,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    concurrency: u64,
    /// Client settings from a TOML file (see hotpool.example.toml).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Fixed addresses for a domain, skipping DNS (repeatable).
    #[arg(long = "ip", value_name = "DOMAIN=IP[,IP...]", value_parser = parse_ip_override)]
    ips: Vec<(String, Vec<IpAddr>)>,
    /// Dial with this TLS profile only (pq-h2, classic-h2, tls13-h1, compat-h1, ech-grease, p384-h2).
    #[arg(long, value_name = "NAME")]
    profile: Option<String>,
    /// Also crawl with a new connection per request and print the speed-up.
    #[arg(long)]
    compare: bool,
    /// Print the summary as JSON (no progress bar).
    #[arg(long)]
    json: bool,
    /// Serve Prometheus metrics here while crawling (needs --features metrics).
    #[arg(long, value_name = "ADDR")]
    metrics_addr: Option<SocketAddr>,
    /// Send new connections through this proxy (repeatable: one chosen per
    /// new connection, round-robin): http://[user:pass@]host:port for
    /// CONNECT, socks5:// (the chosen IP) or socks5h:// (the proxy resolves).
    #[arg(long = "proxy", value_name = "URL", value_parser = parse_proxy)]
    proxies: Vec<Proxy>,
    /// Keep a cookie jar: Set-Cookie from every response is sent back.
    #[arg(long)]
    cookies: bool,
}

fn parse_proxy(s: &str) -> Result<Proxy, String> {
    Proxy::parse(s).map_err(|e| e.to_string())
}

fn parse_ip_override(s: &str) -> Result<(String, Vec<IpAddr>), String> {
    let (domain, ips) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?}: expected DOMAIN=IP[,IP...]"))?;
    if domain.is_empty() {
        return Err(format!("{s:?}: the domain is empty"));
    }
    let ips = ips
        .split(',')
        .map(|ip| {
            ip.trim()
                .parse::<IpAddr>()
                .map_err(|_| format!("{s:?}: {ip:?} is not an IP address"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((domain.to_owned(), ips))
}

/// The embedded site.
mod site;

/// One crawl's outcome.
struct Run {
    label: &'static str,
    requests: usize,
    ok: usize,
    statuses: BTreeMap<u16, usize>,
    elapsed: Duration,
    latencies: Vec<Duration>,
    failures: BTreeMap<String, usize>,
    unreachable: BTreeMap<String, String>,
    stats: Stats,
    proxies: Vec<ProxyStats>,
    server_handshakes: Option<usize>,
    /// Blocked IPs (for every domain) and blocked pairs (`ip (domain)`).
    blocked: Vec<String>,
}

impl Run {
    fn rps(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let i = ((self.latencies.len() - 1) as f64 * p).round() as usize;
        self.latencies[i]
    }

    fn handshakes(&self) -> u64 {
        self.stats.total.created
    }

    fn json(&self) -> serde_json::Value {
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

    fn blacklisted(&self) -> Vec<String> {
        self.blocked.clone()
    }
}

fn kind(e: &Error) -> &'static str {
    if e.is_timeout() || e.is_request_timeout() {
        "timeout"
    } else if e.is_blocked() {
        "blocked"
    } else if e.is_connect_refused() {
        "refused"
    } else if e.is_no_address() || e.is_resolve() {
        "no address"
    } else if e.is_validation() {
        "validation"
    } else if e.is_http() {
        "http"
    } else if e.is_invalid_url() {
        "invalid url"
    } else if matches!(e, Error::Tls { .. } | Error::Certificate { .. }) {
        "tls"
    } else {
        "connect"
    }
}

/// Crawls `urls` in turn, `total` requests, `concurrency` at a time.
async fn crawl(
    client: &Client,
    label: &'static str,
    urls: Arc<Vec<String>>,
    total: usize,
    concurrency: usize,
    progress: bool,
) -> (Run, Vec<String>) {
    let bar = if progress {
        let bar = indicatif::ProgressBar::new(total as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{prefix:>9} [{bar:40}] {pos}/{len} {per_sec:>12} {msg}",
            )
            .expect("template")
            .progress_chars("=> "),
        );
        bar.set_prefix(label);
        bar.set_message("errors: 0");
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let next = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicUsize::new(0));
    let shared = Arc::new(Mutex::new(Collected::default()));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency.min(total) {
        let (client, urls, next, errors, shared, bar) = (
            client.clone(),
            urls.clone(),
            next.clone(),
            errors.clone(),
            shared.clone(),
            bar.clone(),
        );
        tasks.spawn(async move {
            let mut local = Collected::default();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let url = &urls[i % urls.len()];
                let t0 = Instant::now();
                let r = match client.get(url).await {
                    Ok(resp) => {
                        let status = resp.status().as_u16();
                        resp.bytes().await.map(|_| status)
                    }
                    Err(e) => Err(e),
                };
                local.latencies.push(t0.elapsed());
                match r {
                    Ok(status) => {
                        local.ok += 1;
                        *local.statuses.entry(status).or_default() += 1;
                    }
                    Err(e) => {
                        let n = errors.fetch_add(1, Ordering::Relaxed) + 1;
                        bar.set_message(format!("errors: {n}"));
                        *local.failures.entry(kind(&e).to_owned()).or_default() += 1;
                        local
                            .unreachable
                            .entry(url.clone())
                            .or_insert_with(|| e.to_string());
                    }
                }
                bar.inc(1);
            }
            shared.lock().unwrap().merge(local);
        });
    }
    while tasks.join_next().await.is_some() {}
    let elapsed = start.elapsed();
    bar.finish_and_clear();
    let mut c = std::mem::take(&mut *shared.lock().unwrap());
    c.latencies.sort_unstable();
    // IPs blocked for every domain, then pairs (a site refusing us at one
    // of its addresses).
    let mut blocked: Vec<String> = client
        .pool()
        .blocked()
        .iter()
        .map(ToString::to_string)
        .collect();
    blocked.extend(
        client
            .pool()
            .blocked_pairs()
            .into_iter()
            .map(|(domain, ip)| format!("{ip} ({domain})")),
    );
    let run = Run {
        label,
        requests: total,
        ok: c.ok,
        statuses: c.statuses,
        elapsed,
        latencies: c.latencies,
        failures: c.failures,
        unreachable: c.unreachable,
        stats: client.stats(),
        proxies: client.proxies(),
        server_handshakes: None,
        blocked: blocked.clone(),
    };
    (run, blocked)
}

#[derive(Default)]
struct Collected {
    ok: usize,
    statuses: BTreeMap<u16, usize>,
    latencies: Vec<Duration>,
    failures: BTreeMap<String, usize>,
    unreachable: BTreeMap<String, String>,
}

impl Collected {
    fn merge(&mut self, o: Collected) {
        self.ok += o.ok;
        for (k, v) in o.statuses {
            *self.statuses.entry(k).or_default() += v;
        }
        self.latencies.extend(o.latencies);
        for (k, v) in o.failures {
            *self.failures.entry(k).or_default() += v;
        }
        for (k, v) in o.unreachable {
            self.unreachable.entry(k).or_insert(v);
        }
    }
}

fn print_summary(runs: &[Run]) {
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

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("crawl: {msg}");
    ExitCode::from(2)
}

fn read_urls(args: &Args) -> Result<Vec<String>, String> {
    let mut urls = args.urls.clone();
    if let Some(path) = &args.urls_file {
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("--urls {}: {e}", path.display()))?;
        urls.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_owned),
        );
        if urls.is_empty() {
            return Err(format!("--urls {}: no URL in the file", path.display()));
        }
    }
    for u in &urls {
        let uri: hotpool::http::Uri = u.parse().map_err(|e| format!("{u:?} is not a URL: {e}"))?;
        if uri.scheme_str() != Some("https") || uri.host().is_none() {
            return Err(format!("{u:?}: only https URLs with a host can be crawled"));
        }
    }
    Ok(urls)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let urls = match read_urls(&args) {
        Ok(u) => u,
        Err(e) => return fail(e),
    };
    let embedded = urls.is_empty();
    let site = if embedded {
        match site::start().await {
            Ok(s) => Some(s),
            Err(e) => return fail(format!("starting the embedded site: {e}")),
        }
    } else {
        None
    };
    let urls: Vec<String> = match &site {
        Some(s) => (0..site::DOMAINS.len())
            .flat_map(|d| {
                let port = s.port;
                (0..1000).map(move |i| format!("https://{}:{port}/page/{i}", site::DOMAINS[d]))
            })
            .collect(),
        None => urls,
    };
    // Interleave the domains.
    let urls: Vec<String> = if embedded {
        (0..urls.len())
            .map(|i| urls[(i % 3) * 1000 + i / 3].clone())
            .collect()
    } else {
        urls
    };
    let total = match args.requests {
        Some(n) => n as usize,
        None if embedded => 20_000,
        None => urls.len(),
    };
    let concurrency = args.concurrency as usize;

    let make_client = |pooled: bool| -> Result<Client, Error> {
        let mut b = match &args.config {
            Some(path) => ClientConfig::load(path)?.builder()?,
            None => Client::builder()
                .max_conns(4 * concurrency.max(32))
                .max_conns_per_domain(concurrency.clamp(8, 64)),
        };
        if let Some(s) = &site {
            b = b.add_root_certificate(s.ca.clone());
        }
        if let Some(p) = &args.profile {
            b = b.profile_choice(ProfileChoice::Fixed(p.clone()));
        }
        if !pooled {
            b = b.keep_alive(false).no_validation();
        }
        for p in &args.proxies {
            b = b.proxy(p.clone());
        }
        if args.cookies {
            b = b.cookie_store(true);
        }
        let client = b.build()?;
        if let Some(s) = &site {
            for (d, name) in site::DOMAINS.iter().enumerate() {
                client.set_ips(&format!("{name}:{}", s.port), site::ips(d));
            }
        }
        for (domain, ips) in &args.ips {
            client.set_ips(domain, ips.iter().copied());
        }
        Ok(client)
    };

    let client = match make_client(true) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    if let Some(addr) = args.metrics_addr {
        #[cfg(feature = "metrics")]
        {
            if let Err(e) = metrics_exporter_prometheus::PrometheusBuilder::new()
                .with_http_listener(addr)
                .install()
            {
                return fail(format!("--metrics-addr {addr}: {e}"));
            }
            let c = client.clone();
            tokio::spawn(async move {
                loop {
                    c.export_metrics();
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            });
        }
        #[cfg(not(feature = "metrics"))]
        return fail(format!(
            "--metrics-addr {addr}: this build has no metrics; run with `cargo run --release --features metrics --example crawl`"
        ));
    }

    let progress = !args.json;
    let urls = Arc::new(urls);
    let before = site.as_ref().map(|s| s.handshakes.load(Ordering::Relaxed));
    let (mut run, _) = crawl(
        &client,
        "hotpool",
        urls.clone(),
        total,
        concurrency,
        progress,
    )
    .await;
    #[cfg(feature = "metrics")]
    client.export_metrics();
    run.server_handshakes = site
        .as_ref()
        .zip(before)
        .map(|(s, b)| s.handshakes.load(Ordering::Relaxed) - b);
    client.shutdown().await;
    let mut runs = vec![run];

    if args.compare {
        let fresh = match make_client(false) {
            Ok(c) => c,
            Err(e) => return fail(e),
        };
        let before = site.as_ref().map(|s| s.handshakes.load(Ordering::Relaxed));
        let (mut run, _) = crawl(&fresh, "fresh", urls, total, concurrency, progress).await;
        run.server_handshakes = site
            .as_ref()
            .zip(before)
            .map(|(s, b)| s.handshakes.load(Ordering::Relaxed) - b);
        fresh.shutdown().await;
        runs.push(run);
    }

    if args.json {
        let mut out = serde_json::json!({ "runs": runs.iter().map(Run::json).collect::<Vec<_>>() });
        out["summary"] = runs[0].json();
        if let [pooled, fresh] = &runs[..] {
            out["speedup"] = serde_json::json!(pooled.rps() / fresh.rps());
        }
        println!("{}", serde_json::to_string_pretty(&out).expect("JSON"));
    } else {
        print_summary(&runs);
    }
    ExitCode::SUCCESS
}
