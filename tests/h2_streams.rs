//! HTTP/2 streams shared across requests, against a loopback `h2` server:
//! one handshake for a burst, as many connections as the server's stream
//! limit needs, `GOAWAY` and refused streams answered exactly once, a reset
//! stream failing alone, and cancelled requests freeing their streams.
mod h2_support;
mod tls_support;

use h2_support::{serve_h2, H2Opts, H2Server};
use hotpool::{http, Client, ClientBuilder, ProfileChoice};
use std::{net::IpAddr, sync::Arc, time::Duration};
use tls_support::Ca;

fn ip(last: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, last])
}

fn builder(ca: &Ca) -> ClientBuilder {
    Client::builder()
        .add_root_certificate(ca.cert())
        .profile_choice(ProfileChoice::Fixed("classic-h2".into()))
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(3))
        .wait_timeout(Duration::from_secs(8))
}

fn build(b: ClientBuilder, server: &H2Server) -> Client {
    let c = b.build().unwrap();
    c.set_ips(&server.key(), [ip(2)]);
    c
}

/// `n` concurrent requests (`x-id` 0..n), each answered with its status or
/// its error.
async fn burst(
    client: &Client,
    server: &H2Server,
    n: usize,
    method: http::Method,
) -> Vec<Result<(u16, String), hotpool::Error>> {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let (client, url, method) = (client.clone(), server.url("/"), method.clone());
        tasks.spawn(async move {
            let req = http::Request::builder()
                .method(method)
                .uri(url)
                .header("x-id", i.to_string())
                .body(bytes::Bytes::from_static(b"body"))
                .unwrap();
            let resp = client.request(req).await?;
            let status = resp.status().as_u16();
            Ok((status, resp.text().await?))
        });
    }
    let mut out = Vec::new();
    while let Some(r) = tasks.join_next().await {
        out.push(r.unwrap());
    }
    out
}

fn assert_all_ok(results: &[Result<(u16, String), hotpool::Error>]) {
    for r in results {
        match r {
            Ok((200, body)) => assert_eq!(body, "ok"),
            other => panic!("request failed: {other:?}"),
        }
    }
}

/// Every id of `0..n` processed exactly once by the server.
fn assert_once_each(server: &H2Server, n: usize) {
    let p = server.processed();
    for i in 0..n {
        assert_eq!(p.get(&i.to_string()), Some(&1), "x-id {i}: {p:?}");
    }
    assert_eq!(p.len(), n);
}

async fn in_flight_returns_to_zero(client: &Client) {
    for _ in 0..300 {
        if client.stats().streams.in_flight == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("streams still in flight: {:?}", client.stats().streams);
}

#[tokio::test]
async fn sixty_four_concurrent_gets_share_one_handshake() {
    let ca = Ca::new();
    let server = serve_h2(&ca, &[ip(2)], H2Opts::default()).await;
    let client = build(builder(&ca).max_conns_per_domain(64), &server);
    let results = burst(&client, &server, 64, http::Method::GET).await;
    assert_all_ok(&results);
    assert_eq!(server.handshakes(), 1, "one TLS handshake for 64 requests");
    assert_once_each(&server, 64);
    let s = client.stats();
    assert_eq!(s.total.dials, 1, "{s:?}");
    assert_eq!(s.streams.connections, 1);
    assert_eq!(s.streams.streams, 64, "{:?}", s.streams);
    assert!(
        s.streams.peak_per_connection > 32,
        "requests overlapped on the connection: {:?}",
        s.streams
    );
    assert!(server.max_open_streams() > 32);
    assert_eq!(s.streams.requests_per_connection(), 64.0);
    in_flight_returns_to_zero(&client).await;
    // The connection went back to the pool once its last stream ended.
    assert_eq!(client.stats().total.idle, 1);
    assert_eq!(client.stats().total.in_use, 0);
}

#[tokio::test]
async fn a_server_allowing_eight_streams_gets_eight_connections_not_64() {
    let ca = Ca::new();
    let opts = H2Opts {
        max_streams: 8,
        delay: Duration::from_millis(200),
        ..H2Opts::default()
    };
    let server = serve_h2(&ca, &[ip(2)], opts).await;
    let client = build(builder(&ca).max_conns_per_domain(16), &server);
    let results = burst(&client, &server, 64, http::Method::GET).await;
    assert_all_ok(&results);
    assert_once_each(&server, 64);
    let s = client.stats();
    assert!(
        (2..=8).contains(&s.streams.connections),
        "8 streams each: at most 8 connections, got {:?} ({} handshakes)",
        s.streams,
        server.handshakes()
    );
    assert!(server.handshakes() <= 8, "{}", server.handshakes());
    assert!(s.streams.peak_per_connection <= 8, "{:?}", s.streams);
    assert!(s.streams.peak_per_connection >= 4, "{:?}", s.streams);
}

#[tokio::test]
async fn max_conns_per_domain_still_counts_connections() {
    let ca = Ca::new();
    let opts = H2Opts {
        max_streams: 4,
        delay: Duration::from_millis(30),
        ..H2Opts::default()
    };
    let server = serve_h2(&ca, &[ip(2)], opts).await;
    let client = build(builder(&ca).max_conns_per_domain(3), &server);
    let results = burst(&client, &server, 64, http::Method::GET).await;
    assert_all_ok(&results);
    assert_once_each(&server, 64);
    assert!(server.max_open_conns() <= 3, "{}", server.max_open_conns());
    assert!(
        server.max_open_streams() <= 12,
        "{}",
        server.max_open_streams()
    );
    assert!(client.stats().total.created <= 3);
}

#[tokio::test]
async fn a_goaway_mid_burst_loses_and_repeats_nothing() {
    let ca = Ca::new();
    let opts = H2Opts {
        max_streams: 100,
        goaway_after: Some(20),
        delay: Duration::from_millis(20),
        ..H2Opts::default()
    };
    let server = serve_h2(&ca, &[ip(2)], opts).await;
    let client = build(builder(&ca).max_conns_per_domain(16), &server);
    let mut total = 0;
    for round in 0..3 {
        let results = burst(&client, &server, 64, http::Method::GET).await;
        assert_all_ok(&results);
        total += 64;
        // Ids repeat per round: each round's 64 are answered once more.
        let p = server.processed();
        for i in 0..64 {
            assert_eq!(p.get(&i.to_string()), Some(&(round + 1)), "x-id {i}");
        }
    }
    assert!(server.goaways() >= 1, "the server went away");
    let s = client.stats();
    assert!(s.streams.drained >= 1, "{:?}", s.streams);
    assert!(s.streams.connections >= 2, "{:?}", s.streams);
    assert_eq!(s.requests.responses.success, total);
}

#[tokio::test]
async fn refused_streams_are_sent_again_whatever_the_method() {
    let ca = Ca::new();
    let opts = H2Opts {
        refuse_every: Some(3),
        delay: Duration::from_millis(10),
        ..H2Opts::default()
    };
    let server = serve_h2(&ca, &[ip(2)], opts).await;
    let client = build(builder(&ca), &server);
    let results = burst(&client, &server, 30, http::Method::POST).await;
    assert_all_ok(&results);
    assert_once_each(&server, 30);
    assert_eq!(server.refused(), 10, "ids 0, 3, .., 27 refused once each");
    let s = client.stats();
    assert_eq!(s.streams.resent, 10, "{:?}", s.streams);
    assert_eq!(
        s.requests.retries, 0,
        "a re-send of an unprocessed request is no retry"
    );
}

#[tokio::test]
async fn a_reset_stream_fails_only_its_own_request() {
    let ca = Ca::new();
    let opts = H2Opts {
        delay: Duration::from_millis(100),
        ..H2Opts::default()
    };
    let server = serve_h2(&ca, &[ip(2)], opts).await;
    let client = build(builder(&ca), &server);
    // One request first, so that the burst finds the connection.
    assert_eq!(client.get(&server.url("/")).await.unwrap().status(), 200);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..10 {
        let c = client.clone();
        let url = server.url(if i == 5 { "/reset" } else { "/" });
        tasks.spawn(async move { (i, c.get(&url).await.map(|r| r.status().as_u16())) });
    }
    while let Some(r) = tasks.join_next().await {
        let (i, r) = r.unwrap();
        if i == 5 {
            let e = r.unwrap_err();
            assert!(e.is_http(), "{e}");
        } else {
            assert_eq!(r.unwrap(), 200, "request {i}");
        }
    }
    assert_eq!(server.handshakes(), 1, "the connection survived the reset");
    in_flight_returns_to_zero(&client).await;
}

#[tokio::test]
async fn a_cancelled_request_frees_its_stream_at_every_await_point() {
    let ca = Ca::new();
    let opts = H2Opts {
        delay: Duration::from_millis(40),
        ..H2Opts::default()
    };
    let server = serve_h2(&ca, &[ip(2)], opts).await;
    // Two streams on one connection at most: a third request must wait
    // for a stream to end.
    let client = build(
        builder(&ca)
            .max_conns_per_domain(1)
            .max_streams_per_connection(2),
        &server,
    );
    let url = Arc::new(server.url("/"));
    for delay_ms in [0u64, 1, 2, 5, 10, 20, 30, 45, 60] {
        let (c, u) = (client.clone(), url.clone());
        let task = tokio::spawn(async move { c.get(&u).await.map(|r| r.status()) });
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        task.abort();
        let _ = task.await;
        in_flight_returns_to_zero(&client).await;
    }
    // A response dropped before its body was read frees its stream too.
    let resp = client.get(&url).await.unwrap();
    drop(resp);
    in_flight_returns_to_zero(&client).await;
    // Two requests hold both streams; a third waits, and cancelling one of
    // the two hands its stream to the waiter.
    let handshakes = server.handshakes();
    server.reset_max_open_conns();
    let hold = |c: Client, u: Arc<String>| async move { c.get(&u).await.map(|r| r.status()) };
    let a = tokio::spawn(hold(client.clone(), url.clone()));
    let b = tokio::spawn(hold(client.clone(), url.clone()));
    tokio::time::sleep(Duration::from_millis(10)).await;
    let c = tokio::spawn(hold(client.clone(), url.clone()));
    tokio::time::sleep(Duration::from_millis(5)).await;
    a.abort();
    let r = tokio::time::timeout(Duration::from_secs(5), c)
        .await
        .expect("the waiter was woken")
        .unwrap();
    assert_eq!(r.unwrap(), 200);
    assert_eq!(b.await.unwrap().unwrap(), 200);
    in_flight_returns_to_zero(&client).await;
    assert_eq!(server.handshakes(), handshakes, "no new connection");
    assert_eq!(server.max_open_conns(), 1, "never more than one connection");
    assert_eq!(client.stats().total.in_use, 0);
}

#[tokio::test]
async fn one_stream_per_connection_lends_http2_exclusively() {
    let ca = Ca::new();
    let opts = H2Opts {
        delay: Duration::from_millis(50),
        ..H2Opts::default()
    };
    let server = serve_h2(&ca, &[ip(2)], opts).await;
    let client = build(
        builder(&ca)
            .max_conns_per_domain(8)
            .max_streams_per_connection(1),
        &server,
    );
    let results = burst(&client, &server, 8, http::Method::GET).await;
    assert_all_ok(&results);
    assert_eq!(
        server.handshakes(),
        8,
        "one connection per concurrent request"
    );
    assert_eq!(client.stats().streams.streams, 0, "no stream was shared");
}

#[test]
fn zero_streams_per_connection_is_refused_by_name() {
    let e = Client::builder()
        .max_streams_per_connection(0)
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("max_streams_per_connection"), "{e}");
}

#[tokio::test]
async fn a_head_probe_answered_with_a_body_still_validates() {
    // hyper's h2 server sends a body for `HEAD`; the h2 client fails that
    // stream. The probe's verdict is its status: the body is not read, the
    // stream is reset alone, and the connection serves the request.
    let ca = Ca::new();
    let opts = H2Opts {
        body_for_head: true,
        delay: Duration::ZERO,
        ..H2Opts::default()
    };
    let server = serve_h2(&ca, &[ip(2)], opts).await;
    let client = build(builder(&ca), &server);
    let results = burst(&client, &server, 4, http::Method::GET).await;
    assert_all_ok(&results);
    assert_eq!(server.handshakes(), 1, "the validated connection was kept");
    let s = client.stats();
    assert_eq!(s.total.dials, 1, "{s:?}");
    assert_eq!(s.total.in_use, 0, "{s:?}");
}
