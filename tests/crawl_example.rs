//! The crawl example as a user runs it: a short crawl of the embedded site
//! with a JSON summary, bad arguments, an unreachable target, and a crawl
//! through a CONNECT proxy with cookies on.
//!
//! The example is built (debug profile, incremental: a no-op when `cargo
//! test` has built it already) by running cargo once, then run as a user
//! would run it.
mod example_support;
mod proxy_support;

use example_support::binary;
use std::process::Command;

fn crawl() -> Command {
    let mut c = Command::new(binary());
    c.env_remove("RUST_LOG");
    c
}

fn json(args: &[&str]) -> serde_json::Value {
    let out = crawl().args(args).arg("--json").output().unwrap();
    assert!(
        out.status.success(),
        "crawl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn a_short_crawl_answers_everything_reuses_and_blacklists_the_403_address() {
    let v = json(&["--requests", "2000", "--concurrency", "16"]);
    let s = &v["summary"];
    assert_eq!(s["requests"], 2000, "{s}");
    assert_eq!(s["answered"], 2000, "{s}");
    assert_eq!(s["failed"], 0, "{s}");
    assert_eq!(s["statuses"]["200"], 2000, "{s}");
    let reuse = s["reuse_rate"].as_f64().unwrap();
    assert!(reuse > 0.9, "reuse rate {reuse}");
    let blocked: Vec<&str> = s["blacklisted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    // The 403 address is blocked for its domain (the pair), not for all.
    assert_eq!(blocked.len(), 1, "{s}");
    assert!(blocked[0].starts_with("127.0.0.11 ("), "{s}");
    assert!(s["tls_handshakes"].as_u64().unwrap() < 100, "{s}");
    assert!(s["latency_ms"]["p99"].as_f64().unwrap() > 0.0, "{s}");
    let seed = &s["seed_metrics"];
    assert_eq!(seed["success_rate"], 1.0, "{s}");
    assert!(seed["healthy_ratio"].as_f64().unwrap() > 0.5, "{s}");
    assert!(
        seed["avg_recycle_latency_ms"].as_f64().unwrap() >= 0.0,
        "{s}"
    );
    assert_eq!(seed["reuse_rate"], s["reuse_rate"], "{s}");
}

#[test]
fn compare_reports_a_speed_up() {
    let v = json(&["--requests", "600", "--concurrency", "8", "--compare"]);
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[1]["mode"], "fresh");
    assert_eq!(runs[1]["tls_handshakes"], 600, "one per request");
    assert!(v["speedup"].as_f64().unwrap() > 1.0, "{v}");
}

#[test]
fn an_unreachable_target_is_reported_and_the_crawl_goes_on() {
    // Nothing listens on port 1; the IP literal needs no resolver.
    let url = "https://127.0.0.1:1/";
    let v = json(&[url, "--requests", "3"]);
    let s = &v["summary"];
    assert_eq!(s["failed"], 3, "{s}");
    assert_eq!(s["errors"]["refused"], 3, "{s}");
    let why = s["unreachable"][url].as_str().unwrap();
    assert!(why.contains("127.0.0.1:1"), "{why}");
}

#[test]
fn bad_arguments_get_a_message_and_a_failing_exit() {
    for args in [
        &["--concurrency", "0"][..],
        &["--ip", "example.com"],
        &["--ip", "example.com=999.1.1.1"],
        &["http://plain.example/"],
        &["--urls", "/nonexistent/urls.txt"],
        &["--config", "/nonexistent/hotpool.toml"],
        &["--profile", "chrome"],
        &["--bogus"],
    ] {
        let out = crawl().args(args).output().unwrap();
        assert!(!out.status.success(), "{args:?} succeeded");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.trim().is_empty(), "{args:?}: no message");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crawl_through_a_proxy_list_with_cookies() {
    let proxy = proxy_support::connect_proxy(Some(("crawler", "pw"))).await;
    let url = proxy.url("http", Some(("crawler", "pw")));
    let args = [
        "--requests",
        "300",
        "--concurrency",
        "8",
        "--proxy",
        url.as_str(),
        "--cookies",
    ]
    .map(String::from);
    let v = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        json(&args)
    })
    .await
    .unwrap();
    let s = &v["summary"];
    assert_eq!(s["answered"], 300, "{s}");
    let proxies = s["proxies"].as_array().unwrap();
    assert_eq!(proxies.len(), 1, "{s}");
    assert_eq!(
        proxies[0]["name"],
        format!("http://crawler@{}", proxy.addr),
        "named without the password"
    );
    let tunnels = proxies[0]["tunnels"].as_u64().unwrap();
    assert_eq!(proxies[0]["failures"], 0, "{s}");
    // Every handshake the site saw (those refused by the 403 address
    // included, which the pool never admitted) came through a tunnel.
    assert_eq!(
        tunnels,
        s["server_handshakes"].as_u64().unwrap(),
        "every connection went through the proxy: {s}"
    );
    assert!(tunnels >= s["tls_handshakes"].as_u64().unwrap());
    assert_eq!(
        proxy.tunnels() as u64,
        tunnels,
        "and the proxy saw each one"
    );
    assert!(tunnels > 0);
    assert!(!v.to_string().contains("\"pw\""));
}
