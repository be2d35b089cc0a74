//! `Client` against a real loopback hyper + rustls server: reuse (one
//! handshake for a hundred requests), HTTP/2 by ALPN, validation and the
//! 403 blacklist, stale connections, broken and half-read bodies, header
//! limits, default headers, decoding, statistics — and nothing left live.
mod http_support;
mod tls_support;

use hotpool::{http, quanta, Client, ClientBuilder, Error, ProfileChoice};
use http_support::{serve, HttpServer, Opts, GZIP_TEXT};
use std::{net::IpAddr, time::Duration};
use tls_support::Ca;

fn ip(last: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, last])
}

/// A client trusting `ca`, dialing with one fixed profile (HTTP/2-capable
/// ALPN; the server decides).
fn builder(ca: &Ca) -> ClientBuilder {
    Client::builder()
        .add_root_certificate(ca.cert())
        .profile_choice(ProfileChoice::Fixed("classic-h2".into()))
        .timeout(Duration::from_secs(5))
        .connect_timeout(Duration::from_secs(3))
}

fn build(b: ClientBuilder, server: &HttpServer, ips: &[IpAddr]) -> Client {
    let c = b.build().unwrap();
    c.set_ips(&server.key(), ips.iter().copied());
    c
}

/// Nothing lent out; after `close`, no capacity held. Checks the server's
/// connections are all gone too, so pass every client that used it.
async fn assert_drained_all(clients: &[&Client], server: &HttpServer) {
    let key = server.key();
    for client in clients {
        let s = client.stats();
        assert_eq!(s.total.in_use, 0, "a connection is still lent: {s:?}");
        client.close();
        assert_eq!(
            client.pool().debug_counts(&key),
            (0, 0, 0, 0),
            "capacity released"
        );
    }
    for _ in 0..200 {
        if server.open() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{} server-side connections still open", server.open());
}

async fn assert_drained(client: &Client, server: &HttpServer) {
    assert_drained_all(&[client], server).await;
}

#[tokio::test]
async fn hundred_sequential_gets_use_one_handshake() {
    let ca = Ca::new();
    let server = serve(&ca, &[ip(2)], Opts::default()).await;
    let client = build(builder(&ca), &server, &[ip(2)]);
    for _ in 0..100 {
        let resp = client.get(&server.url("/")).await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.version(), http::Version::HTTP_11);
        assert_eq!(resp.text().await.unwrap(), "hello");
    }
    assert_eq!(server.accepts(), 1, "one TCP connection, one handshake");
    let seen = server.seen();
    assert_eq!(seen.len(), 101, "the probe and 100 GETs");
    assert_eq!(
        (seen[0].method.as_str(), seen[0].path.as_str()),
        ("HEAD", "/")
    );
    let s = client.stats();
    assert_eq!(s.total.dials, 1);
    assert_eq!(s.total.hits, 99);
    assert_eq!(s.requests.requests, 100);
    assert_eq!(s.requests.responses.success, 100);
    assert_eq!(s.requests.failures.total(), 0);
    assert!(s.requests.max_latency >= s.requests.avg_latency);
    assert!(s.requests.avg_latency > Duration::ZERO);
    assert_drained(&client, &server).await;
}

#[tokio::test]
async fn http2_is_negotiated_by_alpn_and_reused() {
    let ca = Ca::new();
    let server = serve(
        &ca,
        &[ip(2)],
        Opts {
            h2: true,
            ..Opts::default()
        },
    )
    .await;
    let client = build(builder(&ca), &server, &[ip(2)]);
    for _ in 0..20 {
        let resp = client.get(&server.url("/")).await.unwrap();
        assert_eq!(resp.version(), http::Version::HTTP_2);
        assert_eq!(resp.text().await.unwrap(), "hello");
    }
    assert!(server
        .seen()
        .iter()
        .all(|s| s.version == http::Version::HTTP_2));
    assert_eq!(server.accepts(), 1);
    // A profile that offers only http/1.1 gets HTTP/1.1 from the same server.
    let h1 = build(
        builder(&ca).profile_choice(ProfileChoice::Fixed("tls13-h1".into())),
        &server,
        &[ip(2)],
    );
    let resp = h1.get(&server.url("/")).await.unwrap();
    assert_eq!(resp.version(), http::Version::HTTP_11);
    drop(resp);
    assert_drained_all(&[&h1, &client], &server).await;
}

#[tokio::test]
async fn a_403_address_is_blacklisted_and_tried_again_after_expiry() {
    let ca = Ca::new();
    let (bad, good) = (ip(2), ip(3));
    let server = serve(
        &ca,
        &[bad, good],
        Opts {
            forbidden: vec![bad],
            ..Opts::default()
        },
    )
    .await;
    let (clock, mock) = quanta::Clock::mock();
    let client = build(
        builder(&ca)
            .clock(clock)
            .blacklist_ttl(Duration::from_secs(60)),
        &server,
        &[bad, good],
    );
    for _ in 0..20 {
        let resp = client.get(&server.url("/")).await.unwrap();
        assert_eq!(resp.status(), 200, "every request is served");
        assert_eq!(resp.remote_addr().ip(), good);
        resp.bytes().await.unwrap();
    }
    // The pair (domain, address) is blocked, not the address for all.
    assert!(client.pool().is_blocked_for(&server.key(), bad));
    assert!(!client.pool().is_blocked(bad));
    assert!(!client.pool().is_blocked_for(&server.key(), good));
    assert_eq!(
        client.pool().blocked_pairs(),
        [(server.key(), bad)],
        "one pair blocked"
    );
    assert!(server.seen_at(bad) <= 1, "the bad address saw only a probe");
    let seen_bad = server.seen_at(bad);

    // After the blacklist entry expires, new dials try the address again.
    mock.increment(Duration::from_secs(61));
    assert!(!client.pool().is_blocked_for(&server.key(), bad), "expired");
    for _ in 0..4 {
        while let Some(c) = client.pool().try_get(&server.key()) {
            hotpool::Pooled::discard(c);
        }
        let resp = client.get(&server.url("/")).await.unwrap();
        assert_eq!(resp.status(), 200);
        resp.bytes().await.unwrap();
        if server.seen_at(bad) > seen_bad {
            break;
        }
    }
    assert!(
        server.seen_at(bad) > seen_bad,
        "the expired address was probed again"
    );
    assert!(
        client.pool().is_blocked_for(&server.key(), bad),
        "and blocked again"
    );
    assert_eq!(client.stats().requests.failures.total(), 0);
    assert_drained(&client, &server).await;
}

#[tokio::test]
async fn every_address_blocked_is_a_blocked_error() {
    let ca = Ca::new();
    let server = serve(
        &ca,
        &[ip(2)],
        Opts {
            forbidden: vec![ip(2)],
            ..Opts::default()
        },
    )
    .await;
    let client = build(builder(&ca), &server, &[ip(2)]);
    let e = client.get(&server.url("/")).await.unwrap_err();
    assert!(e.is_blocked(), "{e}");
    assert!(e.to_string().contains("127.0.0.2"), "{e}");
    assert!(client.pool().is_blocked_for(&server.key(), ip(2)));
    // The next request does not dial at all.
    let e = client.get(&server.url("/")).await.unwrap_err();
    assert!(e.is_blocked(), "{e}");
    assert_eq!(server.accepts(), 1);
    assert_eq!(client.stats().requests.failures.blocked, 2);
    assert_drained(&client, &server).await;
}

#[tokio::test]
async fn a_failed_probe_closes_without_blacklisting() {
    let ca = Ca::new();
    let server = serve(
        &ca,
        &[ip(2)],
        Opts {
            head_status: Some(503),
            head_status_all: true,
            ..Opts::default()
        },
    )
    .await;
    // The seed's strict rule: anything but 200 (and 403) closes.
    let client = build(builder(&ca).strict_validation(), &server, &[ip(2)]);
    let e = client.get(&server.url("/")).await.unwrap_err();
    assert!(e.is_validation(), "{e}");
    assert!(e.to_string().contains("503"), "{e}");
    assert!(!client.pool().is_blocked(ip(2)));
    assert_eq!(client.stats().total.connections, 0);
    // A custom probe on a path that answers 200 passes.
    let ok = build(
        builder(&ca)
            .strict_validation()
            .validation_request(http::Method::GET, "/status/200"),
        &server,
        &[ip(2)],
    );
    assert_eq!(ok.get(&server.url("/")).await.unwrap().status(), 200);
    // And without validation no probe is sent.
    let before = server.seen().len();
    let none = build(builder(&ca).no_validation(), &server, &[ip(2)]);
    none.get(&server.url("/"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(server.seen().len(), before + 1);
    assert_drained_all(&[&ok, &none, &client], &server).await;
}

#[tokio::test]
async fn a_server_closing_idle_connections_goes_unnoticed() {
    let ca = Ca::new();
    let server = serve(
        &ca,
        &[ip(2)],
        Opts {
            idle_close: Some(Duration::from_millis(200)),
            ..Opts::default()
        },
    )
    .await;
    let client = build(builder(&ca), &server, &[ip(2)]);
    client
        .get(&server.url("/"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let resp = client.get(&server.url("/")).await.unwrap();
    assert_eq!(resp.text().await.unwrap(), "hello");
    assert_eq!(server.accepts(), 2, "the closed connection was replaced");
    let s = client.stats();
    assert_eq!(s.requests.failures.total(), 0);
    assert_eq!(s.requests.responses.success, 2);
    assert_drained(&client, &server).await;
}

#[tokio::test]
async fn a_stale_connection_is_retried_once_for_idempotent_methods() {
    let ca = Ca::new();
    let server = serve(
        &ca,
        &[ip(2)],
        Opts {
            close_after: Some(1),
            ..Opts::default()
        },
    )
    .await;
    let client = build(builder(&ca), &server, &[ip(2)]);
    // Each connection answers one GET; the second GET on it is dropped
    // without a byte, as when a server closes a connection that raced a
    // request.
    for i in 0..3 {
        let resp = client.get(&server.url("/")).await.unwrap();
        assert_eq!(resp.text().await.unwrap(), "hello", "GET {i}");
    }
    let s = client.stats();
    assert_eq!(s.requests.retries, 2, "GETs 2 and 3 retried once each");
    assert_eq!(s.requests.failures.total(), 0);
    assert_eq!(server.accepts(), 3);

    // A POST on a stale connection is never sent twice.
    let posts_before = server.seen().iter().filter(|s| s.method == "POST").count();
    let e = client.post(&server.url("/"), "data").await.unwrap_err();
    assert!(e.is_http(), "{e}");
    assert!(e.to_string().contains(&server.url("/")), "{e}");
    let posts = server.seen().iter().filter(|s| s.method == "POST").count();
    assert_eq!(posts, posts_before + 1, "sent once");
    assert_eq!(client.stats().requests.retries, 2);
    assert_eq!(client.stats().requests.failures.http, 1);
    assert_drained(&client, &server).await;
}

#[tokio::test]
async fn a_reset_mid_body_is_an_error_and_the_connection_is_not_reused() {
    let ca = Ca::new();
    let server = serve(&ca, &[ip(2)], Opts::default()).await;
    let client = build(builder(&ca), &server, &[ip(2)]);
    let resp = client.get(&server.url("/reset")).await.unwrap();
    assert_eq!(resp.status(), 200);
    let e = resp.bytes().await.unwrap_err();
    assert!(e.is_http(), "{e}");
    assert!(e.to_string().contains("/reset"), "{e}");
    let s = client.stats();
    assert_eq!(s.total.connections, 0, "the broken connection was closed");
    assert_eq!(s.requests.body_errors, 1);
    client
        .get(&server.url("/"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(server.accepts(), 2);
    assert_drained(&client, &server).await;
}

#[tokio::test]
async fn a_body_dropped_half_read_closes_the_http1_connection() {
    let ca = Ca::new();
    let server = serve(&ca, &[ip(2)], Opts::default()).await;
    let client = build(builder(&ca), &server, &[ip(2)]);
    let mut resp = client.get(&server.url("/big")).await.unwrap();
    let first = resp.chunk().await.unwrap().unwrap();
    assert!(!first.is_empty() && first.len() < 1 << 20);
    drop(resp);
    let s = client.stats();
    assert_eq!((s.total.connections, s.total.puts_discarded), (0, 1));
    client
        .get(&server.url("/"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(server.accepts(), 2, "not reused");
    // Read to the end, the same body returns the connection.
    let big = client
        .get(&server.url("/big"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(big.len(), 1 << 20);
    client
        .get(&server.url("/"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(server.accepts(), 2);
    assert_drained(&client, &server).await;
}

#[tokio::test]
async fn a_body_dropped_half_read_keeps_the_http2_connection() {
    let ca = Ca::new();
    let server = serve(
        &ca,
        &[ip(2)],
        Opts {
            h2: true,
            ..Opts::default()
        },
    )
    .await;
    let client = build(builder(&ca), &server, &[ip(2)]);
    let mut resp = client.get(&server.url("/big")).await.unwrap();
    assert_eq!(resp.version(), http::Version::HTTP_2);
    resp.chunk().await.unwrap().unwrap();
    drop(resp);
    assert_eq!(
        client.stats().total.idle,
        1,
        "the stream was reset, the connection kept"
    );
    assert_eq!(
        client
            .get(&server.url("/"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "hello"
    );
    assert_eq!(server.accepts(), 1);
    assert_drained(&client, &server).await;
}

#[tokio::test]
async fn oversized_response_headers_are_a_clear_error() {
    let ca = Ca::new();
    let server = serve(&ca, &[ip(2)], Opts::default()).await;
    let client = build(builder(&ca), &server, &[ip(2)]);
    let e = client.get(&server.url("/huge-headers")).await.unwrap_err();
    assert!(e.is_headers_too_large(), "{e:?}");
    assert!(e.to_string().contains("too large"), "{e}");
    assert!(e.to_string().contains("/huge-headers"), "{e}");
    // With a higher limit the same response is fine.
    let roomy = build(
        builder(&ca).max_response_header_size(256 * 1024),
        &server,
        &[ip(2)],
    );
    let resp = roomy.get(&server.url("/huge-headers")).await.unwrap();
    assert_eq!(resp.headers().len(), 102, "{:?}", resp.headers().len());
    drop(resp);
    assert_drained_all(&[&roomy, &client], &server).await;
}

#[tokio::test]
async fn bad_urls_are_errors_naming_the_url() {
    let client = Client::builder().build().unwrap();
    for url in [
        "http://example.com/",
        "https:///path",
        "not a url",
        "/relative",
    ] {
        let e = client.get(url).await.unwrap_err();
        assert!(e.is_invalid_url(), "{url}: {e}");
        assert!(e.to_string().contains(url), "{url}: {e}");
    }
    assert_eq!(client.stats().requests.failures.other, 4);
}

#[tokio::test]
async fn default_headers_are_sent_and_the_caller_wins() {
    let ca = Ca::new();
    let server = serve(&ca, &[ip(2)], Opts::default()).await;
    let client = build(
        builder(&ca)
            .user_agent("crawler/9")
            .default_header("x-team", "hotpool"),
        &server,
        &[ip(2)],
    );
    let text = client
        .get(&server.url("/echo-headers"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let header = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .map(str::to_owned)
    };
    assert_eq!(header("user-agent").as_deref(), Some("crawler/9"));
    assert_eq!(header("x-team").as_deref(), Some("hotpool"));
    assert_eq!(
        header("accept-encoding").as_deref(),
        Some("gzip, deflate, br")
    );
    assert_eq!(header("host"), Some(server.key()));
    assert!(header("accept").unwrap().starts_with("text/html"));
    let langs = header("accept-language").unwrap();
    let n = langs.split(',').count();
    assert!((2..=5).contains(&n), "{langs}");

    let req = http::Request::get(server.url("/echo-headers"))
        .header("user-agent", "mine")
        .header("accept-language", "eo")
        .body(hotpool::bytes::Bytes::new())
        .unwrap();
    let text = client.request(req).await.unwrap().text().await.unwrap();
    assert!(text.contains("user-agent: mine\n"), "{text}");
    assert!(text.contains("accept-language: eo\n"), "{text}");

    // Without decompression nothing is advertised.
    let plain = build(builder(&ca).decompress(false), &server, &[ip(2)]);
    let text = plain
        .get(&server.url("/echo-headers"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!text.contains("accept-encoding"), "{text}");
    assert_drained_all(&[&plain, &client], &server).await;
}

#[tokio::test]
async fn compressed_bodies_are_decoded() {
    let ca = Ca::new();
    let server = serve(&ca, &[ip(2)], Opts::default()).await;
    let client = build(builder(&ca), &server, &[ip(2)]);
    let resp = client.get(&server.url("/gzip")).await.unwrap();
    assert!(resp.headers().get("content-encoding").is_none());
    assert_eq!(resp.text().await.unwrap(), GZIP_TEXT.repeat(1000));
    let raw = build(builder(&ca).decompress(false), &server, &[ip(2)]);
    let resp = raw.get(&server.url("/gzip")).await.unwrap();
    assert_eq!(resp.headers()["content-encoding"], "gzip");
    let bytes = resp.bytes().await.unwrap();
    assert_eq!(&bytes[..2], &[0x1f, 0x8b], "gzip magic");
    assert_drained_all(&[&raw, &client], &server).await;
}

#[tokio::test]
async fn get_validated_replaces_a_reused_connection_that_fails_the_probe() {
    let ca = Ca::new();
    let server = serve(
        &ca,
        &[ip(2)],
        Opts {
            head_status: Some(500),
            ..Opts::default()
        },
    )
    .await;
    let client = build(builder(&ca).strict_validation(), &server, &[ip(2)]);
    client
        .get(&server.url("/"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(server.accepts(), 1);
    // HEAD /page answers 500 on the reused connection: it is dropped and
    // the GET goes out on a new one (whose own probe, HEAD /, passes).
    let resp = client
        .get_validated(&server.url("/status/200"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.bytes().await.unwrap();
    assert_eq!(server.accepts(), 2);
    let heads: Vec<String> = server
        .seen()
        .iter()
        .filter(|s| s.method == "HEAD")
        .map(|s| s.path.clone())
        .collect();
    assert_eq!(heads, ["/", "/status/200", "/"]);
    // A path that passes keeps the reused connection.
    server.set(|o| o.head_status = None);
    client
        .get_validated(&server.url("/"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(server.accepts(), 2);
    assert!(!client.pool().is_blocked(ip(2)));
    assert_drained(&client, &server).await;
}

#[tokio::test]
async fn statuses_are_counted_by_class() {
    let ca = Ca::new();
    let server = serve(&ca, &[ip(2)], Opts::default()).await;
    let client = build(builder(&ca), &server, &[ip(2)]);
    for code in [200, 204, 301, 404, 404, 503] {
        let resp = client
            .get(&server.url(&format!("/status/{code}")))
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), code);
        resp.bytes().await.unwrap();
    }
    let r = client.stats().requests;
    assert_eq!(
        (
            r.responses.success,
            r.responses.redirection,
            r.responses.client_error,
            r.responses.server_error
        ),
        (2, 1, 2, 1)
    );
    assert_eq!(r.requests, 6);
    assert_eq!(
        server.accepts(),
        1,
        "error statuses do not cost the connection"
    );
    let head = client.head(&server.url("/")).await.unwrap();
    assert_eq!(head.status(), 200);
    drop(head);
    assert_eq!(
        client.stats().total.idle,
        1,
        "a HEAD response returns at once"
    );
    assert_drained(&client, &server).await;
}

#[tokio::test]
async fn an_unreachable_address_is_a_connect_error_and_the_next_one_serves() {
    let ca = Ca::new();
    let server = serve(&ca, &[ip(3)], Opts::default()).await;
    // 127.0.0.9 has no listener on the port: refused.
    let client = build(builder(&ca), &server, &[ip(9), ip(3)]);
    for _ in 0..4 {
        let resp = client.get(&server.url("/")).await.unwrap();
        assert_eq!(resp.remote_addr().ip(), ip(3));
        resp.bytes().await.unwrap();
    }
    let only_bad = build(builder(&ca), &server, &[ip(9)]);
    let e: Error = only_bad.get(&server.url("/")).await.unwrap_err();
    assert!(e.is_connect_refused(), "{e}");
    assert_eq!(only_bad.stats().requests.failures.connect, 1);
    assert_drained_all(&[&only_bad, &client], &server).await;
}

#[tokio::test]
async fn a_body_read_to_its_last_byte_returns_the_connection_without_a_final_poll() {
    let ca = Ca::new();
    let server = serve(&ca, &[ip(2)], Opts::default()).await;
    let client = build(builder(&ca), &server, &[ip(2)]);
    let mut resp = client.get(&server.url("/")).await.unwrap();
    assert_eq!(resp.chunk().await.unwrap().as_deref(), Some(&b"hello"[..]));
    assert_eq!(
        client.stats().total.idle,
        1,
        "back as soon as the last byte arrived"
    );
    drop(resp);
    client
        .get(&server.url("/"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(server.accepts(), 1);
    assert_drained(&client, &server).await;
}

#[tokio::test]
async fn without_keep_alive_every_request_gets_its_own_connection() {
    let ca = Ca::new();
    let server = serve(&ca, &[ip(2)], Opts::default()).await;
    let client = build(builder(&ca).keep_alive(false), &server, &[ip(2)]);
    for _ in 0..5 {
        let resp = client.get(&server.url("/")).await.unwrap();
        assert_eq!(resp.text().await.unwrap(), "hello");
    }
    assert_eq!(server.accepts(), 5);
    let s = client.stats();
    assert_eq!((s.total.hits, s.total.connections), (0, 0));
    assert_drained(&client, &server).await;
}
