//! End to end: HTTPS GETs over loopback through `hotpool::Client`, through
//! `reqwest` (rustls, keep-alive) and with a fresh TLS connection per
//! request; then the memory of 1,000 idle pooled connections.
//!
//! Run: `cargo bench --bench e2e`. The server (hyper + rustls, HTTP/1.1,
//! a 100-byte body) runs in a child process — this binary started again
//! with `--serve` — so that the client's figures are its own. Every
//! contender makes 1,000 warm-up requests, then 20,000 GETs at concurrency
//! 32 (`E2E_REQUESTS` and `E2E_CONCURRENCY` override). Memory is measured
//! in a child process per client (`--memory hotpool|reqwest`): resident
//! set growth from before the client is built to when 1,000 connections
//! sit idle in its pool.

use std::{
    io::{BufRead, BufReader, Write},
    net::{IpAddr, SocketAddr},
    process::{Command, Stdio},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

const NAME: &str = "e2e.hotpool.test";
const BODY: &[u8; 100] = &[b'x'; 100];

fn ip() -> IpAddr {
    IpAddr::from([127, 0, 0, 2])
}

// --- the server process ----------------------------------------------------------------

fn serve() {
    use hyper::{service::service_fn, Response};
    use hyper_util::{rt::TokioIo, server::conn::auto};
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec![NAME.to_string()])
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        let mut config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf.der().clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .unwrap();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind(SocketAddr::new(ip(), 0))
            .await
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let ca_hex: String = ca.der().iter().map(|b| format!("{b:02x}")).collect();
        println!("PORT {port}");
        println!("CA {ca_hex}");
        std::io::stdout().flush().unwrap();
        // Exit when the parent closes our stdin.
        tokio::spawn(async {
            let mut buf = String::new();
            let _ = tokio::task::spawn_blocking(move || std::io::stdin().read_line(&mut buf)).await;
            std::process::exit(0);
        });
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let svc = service_fn(|_req| async {
                    Ok::<_, std::convert::Infallible>(Response::new(http_body_util::Full::new(
                        bytes::Bytes::from_static(BODY),
                    )))
                });
                let _ = auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                    .http1_only()
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
}

struct Server {
    child: std::process::Child,
    port: u16,
    ca: Vec<u8>,
}

impl Server {
    fn start() -> Server {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .arg("--serve")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the server process");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let port = line.trim().strip_prefix("PORT ").unwrap().parse().unwrap();
        line.clear();
        out.read_line(&mut line).unwrap();
        let hex = line.trim().strip_prefix("CA ").unwrap();
        let ca = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        Server { child, port, ca }
    }

    fn url(&self) -> String {
        format!("https://{NAME}:{}/", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// --- the clients -----------------------------------------------------------------------------

fn hotpool_client(server: &Server, keep_alive: bool, max_conns: usize) -> hotpool::Client {
    let mut b = hotpool::Client::builder()
        .add_root_certificate(server.ca.clone().into())
        .max_conns(max_conns)
        .max_conns_per_domain(max_conns)
        .max_concurrent_dials(64)
        .wait_timeout(Duration::from_secs(30))
        .no_resolver();
    if !keep_alive {
        b = b.keep_alive(false).no_validation();
    }
    let c = b.build().unwrap();
    c.set_ips(&format!("{NAME}:{}", server.port), [ip()]);
    c
}

fn reqwest_client(server: &Server, max_idle: usize) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_der(&server.ca).unwrap()])
        .resolve(NAME, SocketAddr::new(ip(), server.port))
        .pool_max_idle_per_host(max_idle)
        .http1_only()
        .build()
        .unwrap()
}

#[derive(Clone)]
enum Contender {
    Hotpool(hotpool::Client),
    Reqwest(reqwest::Client),
}

impl Contender {
    async fn get(&self, url: &str) -> usize {
        match self {
            Contender::Hotpool(c) => {
                let r = c.get(url).await.expect("hotpool GET");
                assert!(r.status().is_success());
                r.bytes().await.expect("hotpool body").len()
            }
            Contender::Reqwest(c) => {
                let r = c.get(url).send().await.expect("reqwest GET");
                assert!(r.status().is_success());
                r.bytes().await.expect("reqwest body").len()
            }
        }
    }
}

struct Figures {
    rps: f64,
    p50: Duration,
    p99: Duration,
}

async fn run(c: &Contender, url: &str, total: usize, concurrency: usize) -> Figures {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (c, url, next) = (c.clone(), url.to_owned(), next.clone());
        tasks.spawn(async move {
            let mut lat = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < total {
                let t = Instant::now();
                assert_eq!(c.get(&url).await, BODY.len());
                lat.push(t.elapsed());
            }
            lat
        });
    }
    let mut lat = Vec::with_capacity(total);
    while let Some(r) = tasks.join_next().await {
        lat.extend(r.unwrap());
    }
    let elapsed = start.elapsed();
    lat.sort_unstable();
    let pct = |p: f64| lat[((lat.len() - 1) as f64 * p).round() as usize];
    Figures {
        rps: total as f64 / elapsed.as_secs_f64(),
        p50: pct(0.5),
        p99: pct(0.99),
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Resident set size of this process, in bytes.
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// In a child process: RSS growth for 1,000 idle connections.
fn memory(which: &str, port: u16, ca_hex: &str) {
    let ca: Vec<u8> = (0..ca_hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&ca_hex[i..i + 2], 16).unwrap())
        .collect();
    let server = Server {
        child: Command::new("true").spawn().unwrap(),
        port,
        ca,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    const N: usize = 1000;
    let before = rt.block_on(async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        rss()
    });
    let url = server.url();
    let grown = rt.block_on(async {
        let c = match which {
            "hotpool" => Contender::Hotpool(hotpool_client(&server, true, N)),
            _ => Contender::Reqwest(reqwest_client(&server, N)),
        };
        // N requests at once, each holding its connection until all N have
        // one: N connections, then all idle.
        let barrier = Arc::new(tokio::sync::Barrier::new(N));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..N {
            let (c, url, barrier) = (c.clone(), url.clone(), barrier.clone());
            tasks.spawn(async move {
                match &c {
                    Contender::Hotpool(h) => {
                        let r = h.get(&url).await.unwrap();
                        barrier.wait().await;
                        r.bytes().await.unwrap();
                    }
                    Contender::Reqwest(q) => {
                        let r = q.get(&url).send().await.unwrap();
                        barrier.wait().await;
                        r.bytes().await.unwrap();
                    }
                }
            });
        }
        while let Some(r) = tasks.join_next().await {
            r.unwrap();
        }
        if let Contender::Hotpool(h) = &c {
            assert_eq!(h.stats().total.idle, N as u64);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let grown = rss() - before;
        drop(c);
        grown
    });
    println!("RSS {grown}");
}

fn measure_memory(which: &str, server: &Server) -> u64 {
    let hex: String = server.ca.iter().map(|b| format!("{b:02x}")).collect();
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--memory", which, &server.port.to_string(), &hex])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("RSS ")?.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "no RSS from {which}: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--serve") {
        return serve();
    }
    if let Some(i) = args.iter().position(|a| a == "--memory") {
        return memory(&args[i + 1], args[i + 2].parse().unwrap(), &args[i + 3]);
    }
    // `cargo bench --no-run` builds this; `cargo test --benches` would run
    // it with `--test`: do nothing then.
    if args.iter().any(|a| a == "--test" || a == "--list") {
        return;
    }
    let total = env_usize("E2E_REQUESTS", 20_000);
    let concurrency = env_usize("E2E_CONCURRENCY", 32);
    let server = Server::start();
    let url = server.url();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let contenders: Vec<(&str, Contender)> = rt.block_on(async {
        vec![
            (
                "hotpool",
                Contender::Hotpool(hotpool_client(&server, true, 64)),
            ),
            ("reqwest", Contender::Reqwest(reqwest_client(&server, 64))),
            (
                "fresh TLS per request",
                Contender::Hotpool(hotpool_client(&server, false, 64)),
            ),
        ]
    });
    println!(
        "e2e: {total} GETs at concurrency {concurrency}, 100-byte body, HTTP/1.1 over TLS on loopback"
    );
    println!("| client | requests/s | p50 | p99 | hotpool ÷ it |");
    println!("|---|---:|---:|---:|---:|");
    let mut hot_rps = None;
    for (name, c) in &contenders {
        let f = rt.block_on(async {
            run(c, &url, 1000, concurrency).await;
            run(c, &url, total, concurrency).await
        });
        let ratio = hot_rps.get_or_insert(f.rps);
        println!(
            "| {name} | {:.0} | {:.2} ms | {:.2} ms | {:.2}× |",
            f.rps,
            f.p50.as_secs_f64() * 1e3,
            f.p99.as_secs_f64() * 1e3,
            *ratio / f.rps
        );
    }
    drop(contenders);
    drop(rt);
    println!();
    println!("memory: resident-set growth for 1,000 idle pooled connections");
    println!("| client | RSS growth | per connection |");
    println!("|---|---:|---:|");
    for which in ["hotpool", "reqwest"] {
        let grown = measure_memory(which, &server);
        println!(
            "| {which} | {:.1} MiB | {:.1} KiB |",
            grown as f64 / (1 << 20) as f64,
            grown as f64 / 1000.0 / 1024.0
        );
    }
}
