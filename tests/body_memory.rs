//! Peak memory while reading what a hostile server sends, with the
//! default limits: an endless body, a 10 GiB `Content-Length`, 10 GiB
//! gzip / deflate / brotli bombs, a drip slower than the time-out — all
//! read whole with `text()`. This binary holds this one test so that the
//! process's peak resident size (`VmHWM`) is its own.
mod http_support;
mod tls_support;

use hotpool::{Client, ProfileChoice};
use http_support::{serve, Opts};
use std::{
    net::IpAddr,
    time::{Duration, Instant},
};
use tls_support::Ca;

/// The process's peak resident set, in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM in /proc/self/status");
    let kb: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap();
    kb * 1024
}

#[tokio::test]
async fn hostile_bodies_end_in_their_errors_within_bounded_memory() {
    let ca = Ca::new();
    let ip = IpAddr::from([127, 0, 0, 2]);
    let server = serve(&ca, &[ip], Opts::default()).await;
    let timeout = Duration::from_secs(3);
    // Default max_body_size (32 MiB).
    let client = Client::builder()
        .add_root_certificate(ca.cert())
        .profile_choice(ProfileChoice::Fixed("classic-h2".into()))
        .timeout(timeout)
        .build()
        .unwrap();
    client.set_ips(&server.key(), [ip]);
    let before = peak_rss();
    for (path, too_large) in [
        ("/endless", true),
        ("/claims-10g", true),
        ("/bomb/gzip", true),
        ("/bomb/deflate", true),
        ("/bomb/deflate-raw", true),
        ("/bomb/br", true),
        ("/slow-drip", false),
    ] {
        let start = Instant::now();
        let r = match client.get(&server.url(path)).await {
            Ok(resp) => resp.text().await,
            Err(e) => Err(e),
        };
        let e = r.expect_err(path);
        if too_large {
            assert!(e.is_body_too_large(), "{path}: {e}");
        } else {
            assert!(e.is_request_timeout(), "{path}: {e}");
        }
        let took = start.elapsed();
        assert!(took < timeout + Duration::from_secs(1), "{path}: {took:?}");
    }
    let peak = peak_rss();
    eprintln!(
        "peak resident set: {} MiB before, {} MiB after",
        before >> 20,
        peak >> 20
    );
    assert!(peak < 100 << 20, "peak resident set {} MiB", peak >> 20);
    assert_eq!(client.stats().total.in_use, 0);
}
