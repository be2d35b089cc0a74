//! End to end: HTTPS GETs over loopback, HTTP/1.1 and HTTP/2, through
//! `hotpool::Client`, through `reqwest` (rustls, keep-alive), with a fresh
//! TLS connection per request, and over the **floor** (hyper connections
//! opened beforehand and held by the request tasks, no pool); then the
//! memory of 1,000 idle pooled connections.
//!
//! Run: `cargo bench --bench e2e`. The server (hyper + rustls, a 100-byte
//! body) runs in a child process (see `e2e/server.rs`) and counts the TLS
//! handshakes it finishes. Every contender makes 1,000 warm-up requests,
//! then 20,000 GETs (`E2E_REQUESTS`): at concurrency 32 over HTTP/1.1
//! (`E2E_CONCURRENCY`) and 64 over HTTP/2 to a server allowing 100
//! streams per connection (`E2E_H2_CONCURRENCY`). The handshakes column
//! counts warm-up and run (and, for a floor, the connections it opened
//! beforehand). `E2E_ONLY=h1,h2,memory` (any of them) runs only those
//! parts.

#[path = "e2e/clients.rs"]
mod clients;
#[path = "e2e/memory.rs"]
mod memory;
#[path = "e2e/server.rs"]
mod server;

use clients::{floor_h1, floor_h2, hotpool_client, reqwest_client, Contender, BODY_LEN};
use server::{Server, H2_MAX_STREAMS};
use std::{
    future::Future,
    pin::Pin,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

struct Figures {
    rps: f64,
    p50: Duration,
    p99: Duration,
    /// This process's CPU time (every thread: the client's runtime worker,
    /// its background threads) per request; the server runs elsewhere.
    cpu: Duration,
}

/// CPU time run so far by this process's live threads, from
/// `/proc/self/task/*/schedstat` (nanoseconds; `Duration::ZERO` off Linux).
fn process_cpu() -> Duration {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    let ns: u64 = tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    Duration::from_nanos(ns)
}

/// `total` GETs of `url` from `concurrency` tasks, each with its own
/// [`clients::Task`].
async fn run(c: &Contender, url: &str, total: usize, concurrency: usize) -> Figures {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let cpu = process_cpu();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (mut task, url, next) = (c.for_task(), url.to_owned(), next.clone());
        tasks.spawn(async move {
            let mut lat = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < total {
                let t = Instant::now();
                assert_eq!(task.get(&url).await, BODY_LEN);
                lat.push(t.elapsed());
            }
            (task, lat)
        });
    }
    let mut lat = Vec::with_capacity(total);
    while let Some(r) = tasks.join_next().await {
        let (task, l) = r.unwrap();
        c.give_back(task);
        lat.extend(l);
    }
    let elapsed = start.elapsed();
    let cpu = process_cpu().saturating_sub(cpu);
    lat.sort_unstable();
    let pct = |p: f64| lat[((lat.len() - 1) as f64 * p).round() as usize];
    Figures {
        rps: total as f64 / elapsed.as_secs_f64(),
        p50: pct(0.5),
        p99: pct(0.99),
        cpu: cpu / total as u32,
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

type Make<'a> = Box<dyn Fn() -> Pin<Box<dyn Future<Output = Contender> + 'a>> + 'a>;

/// Runs each contender (built just before its turn, dropped after it) and
/// prints one table; the first contender is hotpool, whose requests/s the
/// others are divided into.
fn table(
    rt: &tokio::runtime::Runtime,
    server: &Server,
    total: usize,
    concurrency: usize,
    contenders: Vec<(&str, Make<'_>)>,
) {
    let url = server.url();
    println!(
        "| client | requests/s | p50 | p99 | client CPU / request | handshakes | hotpool ÷ it |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let mut hot_rps = None;
    // `E2E_CLIENTS=hotpool,floor` runs only the contenders whose names
    // start with one of them (for profiling one).
    let clients = std::env::var("E2E_CLIENTS").unwrap_or_default();
    for (name, make) in &contenders {
        if !clients.is_empty() && !clients.split(',').any(|c| name.starts_with(c)) {
            continue;
        }
        let before = server.handshakes();
        let f = rt.block_on(async {
            let c = make().await;
            run(&c, &url, 1000, concurrency).await;
            let f = run(&c, &url, total, concurrency).await;
            if let (Some(_), Contender::Hotpool(h)) = (std::env::var_os("E2E_STATS"), &c) {
                // `E2E_STATS=1`: what the pool did, for profiling.
                let t = h.stats().total;
                eprintln!(
                    "{name}: gets {} hits {} misses {} waits {} dials {}",
                    t.gets, t.hits, t.misses, t.waits, t.dials
                );
            }
            f
        });
        // The server's count arrives over a pipe: let it catch up.
        std::thread::sleep(Duration::from_millis(100));
        let handshakes = server.handshakes() - before;
        let ratio = hot_rps.get_or_insert(f.rps);
        println!(
            "| {name} | {:.0} | {:.2} ms | {:.2} ms | {:.1} µs | {handshakes} | {:.2}× |",
            f.rps,
            f.p50.as_secs_f64() * 1e3,
            f.p99.as_secs_f64() * 1e3,
            f.cpu.as_secs_f64() * 1e6,
            *ratio / f.rps
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--serve") {
        return server::serve(args.get(i + 1).is_some_and(|p| p == "h2"));
    }
    if let Some(i) = args.iter().position(|a| a == "--memory") {
        return memory::child(&args[i + 1], args[i + 2].parse().unwrap(), &args[i + 3]);
    }
    // `cargo bench --no-run` builds this; `cargo test --benches` would run
    // it with `--test`: do nothing then.
    if args.iter().any(|a| a == "--test" || a == "--list") {
        return;
    }
    let total = env_usize("E2E_REQUESTS", 20_000);
    let c1 = env_usize("E2E_CONCURRENCY", 32);
    let c2 = env_usize("E2E_H2_CONCURRENCY", 64);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();

    // `E2E_ONLY=h1,h2,memory` (any of them) runs only those parts.
    let only = std::env::var("E2E_ONLY").unwrap_or_default();
    let want = |part: &str| only.is_empty() || only.split(',').any(|p| p == part);
    let h1 = Server::start(false);
    if want("h1") {
        println!(
            "e2e: {total} GETs at concurrency {c1}, 100-byte body, HTTP/1.1 over TLS on loopback"
        );
        table(
            &rt,
            &h1,
            total,
            c1,
            vec![
                (
                    "hotpool",
                    Box::new(|| {
                        Box::pin(async { Contender::Hotpool(hotpool_client(&h1, true, 64, 100)) })
                    }),
                ),
                (
                    "reqwest",
                    Box::new(|| {
                        Box::pin(async { Contender::Reqwest(reqwest_client(&h1, 64, false)) })
                    }),
                ),
                (
                    "fresh TLS per request",
                    Box::new(|| {
                        Box::pin(async { Contender::Hotpool(hotpool_client(&h1, false, 64, 100)) })
                    }),
                ),
                (
                    "floor: a held connection per task",
                    Box::new(|| Box::pin(floor_h1(&h1, c1))),
                ),
            ],
        );
    }
    if want("h2") {
        let h2 = Server::start(true);
        println!();
        println!(
            "e2e: {total} GETs at concurrency {c2}, 100-byte body, HTTP/2 over TLS on loopback \
         (the server allows {H2_MAX_STREAMS} streams per connection)"
        );
        table(
            &rt,
            &h2,
            total,
            c2,
            vec![
                (
                    "hotpool (streams shared)",
                    Box::new(|| {
                        Box::pin(async { Contender::Hotpool(hotpool_client(&h2, true, 64, 100)) })
                    }),
                ),
                (
                    "reqwest (h2)",
                    Box::new(|| {
                        Box::pin(async { Contender::Reqwest(reqwest_client(&h2, 64, true)) })
                    }),
                ),
                (
                    "hotpool, h2 lent exclusively",
                    Box::new(|| {
                        Box::pin(async { Contender::Hotpool(hotpool_client(&h2, true, 64, 1)) })
                    }),
                ),
                (
                    "floor: one held connection",
                    Box::new(|| Box::pin(floor_h2(&h2))),
                ),
            ],
        );
        drop(h2);
    }
    drop(rt);
    if !want("memory") {
        return;
    }

    println!();
    println!("memory: resident-set growth for 1,000 idle pooled connections (HTTP/1.1)");
    println!("| client | RSS growth | per connection |");
    println!("|---|---:|---:|");
    for which in ["hotpool", "reqwest"] {
        let grown = memory::measure(which, &h1);
        println!(
            "| {which} | {:.1} MiB | {:.1} KiB |",
            grown as f64 / (1 << 20) as f64,
            grown as f64 / memory::N as f64 / 1024.0
        );
    }
}
