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
use hotpool::{proxy::Proxy, Client, ClientConfig, Error, ProfileChoice};
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

/// Outcomes and the summary.
mod report;
/// The embedded site.
mod site;

use report::{print_summary, Run};

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
