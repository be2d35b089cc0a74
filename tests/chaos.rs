//! A bounded chaos soak: 64 tasks crawl two domains through one `Client`
//! while each of the server's addresses misbehaves in a way drawn at random
//! (stalls, garbage instead of TLS, a certificate for another name, 403,
//! GOAWAY, connections dropped mid-request or when idle) and the paths ask
//! for slow, broken, stalled, huge or failing responses, decompression
//! bombs, endless or oversized bodies and drips slower than the time-out.
//! A third domain shares the first domain's healthy address and its 403
//! one (a CDN address): one site's refusal there must not cost the other.
//!
//! It asserts: every request ends with a response or a classified error
//! within its time-outs; the request counters add up; a blocked (403)
//! address never sees anything but validation probes, and is blocked for
//! the domains it refused, not for all; an error at a wrong-certificate
//! address is a certificate error and nothing else; no connection is
//! lent to a domain other than its own; after shutdown no connection,
//! server-side socket or file descriptor is left.
//!
//! `HOTPOOL_CHAOS_REQUESTS` (default 2,000) and `HOTPOOL_CHAOS_SEED` change
//! the run; the seed is printed.
mod http_support;
mod tls_support;

use hotpool::{Client, Error, ProfileChoice};
use http_support::{serve_names, Fault, Opts};
use std::{
    collections::{BTreeMap, HashMap},
    net::IpAddr,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};
use tls_support::Ca;

const DOMAINS: [&str; 3] = ["a.chaos.test", "b.chaos.test", "c.chaos.test"];

/// The addresses of the first two domains; the third shares the first
/// domain's first two (healthy, and 403 for every site).
fn ips(d: usize) -> Vec<IpAddr> {
    if d == 2 {
        return ips(0)[..2].to_vec();
    }
    (1..=4)
        .map(|k| IpAddr::from([127, 0, 0, (40 + 10 * d + k) as u8]))
        .collect()
}

fn kind(e: &Error) -> &'static str {
    if e.is_request_timeout() {
        "request timeout"
    } else if e.is_wait_timeout() {
        "wait timeout"
    } else if e.is_connect_timeout() || e.is_handshake_timeout() {
        "connect/handshake timeout"
    } else if e.is_blocked() {
        "blocked"
    } else if e.is_body_too_large() {
        "body too large"
    } else if e.is_validation() {
        "validation"
    } else if e.is_headers_too_large() {
        "headers too large"
    } else if e.is_http() {
        "http"
    } else if matches!(e, Error::Certificate { .. }) {
        "certificate"
    } else if matches!(e, Error::Tls { .. } | Error::Reset { .. }) {
        "tls"
    } else if e.is_connect_refused() || e.is_connect() {
        "connect"
    } else {
        "other"
    }
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_soak() {
    let requests: usize = std::env::var("HOTPOOL_CHAOS_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let seed: u64 = std::env::var("HOTPOOL_CHAOS_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    println!("chaos seed {seed} (HOTPOOL_CHAOS_SEED={seed} to repeat), {requests} requests");
    let mut rng = fastrand::Rng::with_seed(seed);

    // Faults per address: the first address of each domain behaves, the
    // second of the first domain answers 403, the rest are drawn.
    let palette = [
        Fault::Stall,
        Fault::Garbage,
        Fault::WrongCert,
        Fault::Forbidden,
        Fault::GoAwayAfter(3),
        Fault::CloseAfter(2),
        Fault::IdleCloseMs(30),
    ];
    let mut faults = HashMap::new();
    for d in 0..2 {
        for ip in &ips(d)[1..] {
            faults.insert(*ip, palette[rng.usize(..palette.len())]);
        }
    }
    faults.insert(ips(0)[1], Fault::Forbidden);
    println!("faults: {faults:?}");
    let all: Vec<IpAddr> = (0..2).flat_map(ips).collect();
    let ca = Ca::new();
    let server = serve_names(
        &ca,
        &all,
        Opts {
            h2: true,
            faults: faults.clone(),
            ..Opts::default()
        },
        &DOMAINS,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let fds_before = open_fds();

    let timeout = Duration::from_secs(2);
    let client = Client::builder()
        .add_root_certificate(ca.cert())
        .profile_choice(ProfileChoice::RoundRobin)
        .max_conns_per_domain(16)
        .timeout(timeout)
        .connect_timeout(Duration::from_millis(800))
        .handshake_timeout(Duration::from_millis(400))
        .validation_timeout(Duration::from_millis(400))
        .wait_timeout(Duration::from_secs(1))
        .health_check_interval(Duration::from_millis(100))
        .max_body_size(8 << 20)
        .no_resolver()
        .build()
        .unwrap();
    for (d, name) in DOMAINS.iter().enumerate() {
        client.set_ips(&format!("{name}:{}", server.port), ips(d));
    }
    let paths = [
        "/",
        "/",
        "/",
        "/",
        "/",
        "/",
        "/big",
        "/drip",
        "/reset",
        "/status/503",
        "/status/404",
        "/huge-headers",
        "/stall-body",
        "/gzip",
        "/bomb/gzip",
        "/bomb/br",
        "/bomb/deflate-raw",
        "/claims-10g",
        "/endless",
        "/slow-drip",
    ];
    let wrong_cert: Vec<IpAddr> = faults
        .iter()
        .filter(|(_, f)| **f == Fault::WrongCert)
        .map(|(ip, _)| *ip)
        .collect();
    let next = Arc::new(AtomicUsize::new(0));
    let outcomes = Arc::new(Mutex::new(BTreeMap::<String, usize>::new()));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..64u64 {
        let (client, next, outcomes) = (client.clone(), next.clone(), outcomes.clone());
        let wrong_cert = wrong_cert.clone();
        let port = server.port;
        let mut rng = fastrand::Rng::with_seed(seed ^ (t + 1));
        tasks.spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < requests {
                let domain = DOMAINS[rng.usize(..DOMAINS.len())];
                let path = paths[rng.usize(..paths.len())];
                let url = format!("https://{domain}:{port}{path}");
                let bound = timeout + Duration::from_secs(3);
                let r = tokio::time::timeout(bound, async {
                    let resp = client.get(&url).await?;
                    let status = resp.status().as_u16();
                    resp.bytes().await.map(|_| status)
                })
                .await
                .unwrap_or_else(|_| panic!("{url}: no outcome within {bound:?}"));
                let key = match r {
                    Ok(status) => format!("response {status}"),
                    Err(e) => {
                        // Certificate errors come from wrong-certificate
                        // addresses, and such an address fails with
                        // nothing else.
                        let at_wrong = e.addr().is_some_and(|a| wrong_cert.contains(&a.ip()));
                        assert_eq!(e.is_certificate(), at_wrong, "{url}: {e}");
                        format!("error: {}", kind(&e))
                    }
                };
                *outcomes.lock().unwrap().entry(key).or_default() += 1;
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    let took = started.elapsed();
    let outcomes = outcomes.lock().unwrap().clone();
    println!("{requests} requests in {took:?}: {outcomes:#?}");
    assert!(took < Duration::from_secs(60), "the soak took {took:?}");
    assert_eq!(outcomes.values().sum::<usize>(), requests);
    assert!(
        outcomes.keys().any(|k| k.starts_with("response 200")),
        "{outcomes:?}"
    );
    assert!(
        outcomes.contains_key("error: body too large"),
        "the bombs and oversized bodies were stopped: {outcomes:?}"
    );
    // The shared healthy address served the third domain although the
    // first domain was refused next to it.
    let c_served = server
        .seen()
        .iter()
        .filter(|s| s.host == DOMAINS[2] && s.ip == ips(0)[0] && s.method == "GET")
        .count();
    assert!(c_served > 0, "the third domain was served");

    // The counters add up: every request ended once.
    let s = client.stats();
    let r = &s.requests;
    assert_eq!(r.requests, requests as u64, "{r:?}");
    assert_eq!(
        r.responses.total() + r.failures.total(),
        r.requests,
        "{r:?}"
    );

    // A 403 address saw nothing but validation probes.
    let seen = server.seen();
    for (ip, f) in &faults {
        if *f == Fault::Forbidden {
            // Blocked for the domains it refused (the pair), and not for
            // all: fewer than three domains were refused there.
            for s in seen.iter().filter(|s| s.ip == *ip) {
                let key = format!("{}:{}", s.host, server.port);
                assert!(client.pool().is_blocked_for(&key, *ip), "{key} {ip}");
            }
            assert!(!client.pool().is_blocked(*ip), "{ip} blocked for all");
            for s in seen.iter().filter(|s| s.ip == *ip) {
                assert_eq!((s.method.as_str(), s.path.as_str()), ("HEAD", "/"), "{s:?}");
            }
        }
    }
    // Every request reached an address of the domain it named.
    for s in &seen {
        let d = DOMAINS
            .iter()
            .position(|d| *d == s.host)
            .expect("known host");
        assert!(
            ips(d).contains(&s.ip),
            "{s:?} served by another domain's address"
        );
    }

    // Conservation, then a shutdown that leaves nothing behind.
    let t = &s.total;
    assert_eq!(t.created, t.connections + t.closed + t.detached, "{t:?}");
    client.shutdown().await;
    let t = client.stats().total;
    assert_eq!((t.connections, t.in_use), (0, 0), "{t:?}");
    assert_eq!(t.created, t.closed + t.detached, "{t:?}");
    drop(client);
    // The server holds the sockets of stalled handshakes until it stops;
    // every other connection closes from the client's side.
    let stalled = faults.values().any(|f| *f == Fault::Stall);
    for _ in 0..300 {
        if server.open() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(server.open(), 0, "TLS connections left open");
    drop(server);
    for _ in 0..300 {
        if open_fds() <= fds_before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let fds = open_fds();
    assert!(
        fds <= fds_before,
        "{} descriptors leaked (stalled handshakes: {stalled})",
        fds - fds_before
    );
}
