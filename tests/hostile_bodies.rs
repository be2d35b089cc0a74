//! Bodies a hostile or broken server sends: larger than `max_body_size`, a
//! `Content-Length` of 10 GiB, an endless stream, gzip / deflate (zlib and
//! raw) / brotli bombs of 10 GiB, a drip slower than the time-out. Each
//! ends in its own error within the time-out, closes its connection, and
//! memory stays bounded (the last test reads them all and checks this
//! process's peak resident size).
mod http_support;
mod tls_support;

use hotpool::{http, Client, ClientBuilder, Error, ProfileChoice, Timeout};
use http_support::{serve, HttpServer, Opts, GZIP_TEXT};
use std::{
    net::IpAddr,
    time::{Duration, Instant},
};
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
}

fn build(b: ClientBuilder, server: &HttpServer) -> Client {
    let c = b.build().unwrap();
    c.set_ips(&server.key(), [ip(2)]);
    c
}

/// Nothing lent, nothing open on the server: failed bodies closed their
/// connections.
async fn assert_closed(client: &Client, server: &HttpServer) {
    assert_eq!(client.stats().total.in_use, 0);
    client.close();
    for _ in 0..300 {
        if server.open() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{} server-side connections still open", server.open());
}

/// Reads the body chunk by chunk, keeping nothing: the outcome and the
/// bytes seen.
async fn drain(client: &Client, url: &str) -> (Result<(), Error>, u64) {
    let mut resp = match client.get(url).await {
        Ok(r) => r,
        Err(e) => return (Err(e), 0),
    };
    let mut n = 0u64;
    loop {
        match resp.chunk().await {
            Ok(Some(c)) => n += c.len() as u64,
            Ok(None) => return (Ok(()), n),
            Err(e) => return (Err(e), n),
        }
    }
}

#[tokio::test]
async fn every_encoding_is_decoded_and_deflate_comes_both_ways() {
    let ca = Ca::new();
    let server = serve(&ca, &[ip(2)], Opts::default()).await;
    let client = build(builder(&ca), &server);
    for enc in ["gzip", "deflate", "deflate-raw", "br"] {
        let resp = client
            .get(&server.url(&format!("/compressed/{enc}")))
            .await
            .unwrap();
        assert!(resp.headers().get("content-encoding").is_none(), "{enc}");
        assert_eq!(resp.text().await.unwrap(), GZIP_TEXT.repeat(1000), "{enc}");
    }
    assert_closed(&client, &server).await;
}

#[tokio::test]
async fn a_body_over_max_body_size_fails_names_url_and_limit_and_closes() {
    let ca = Ca::new();
    let server = serve(&ca, &[ip(2)], Opts::default()).await;
    let client = build(builder(&ca).max_body_size(512 * 1024), &server);
    // Chunked: the limit is found while reading, not from the head.
    let url = server.url("/big-chunked");
    // bytes(), text() and chunk() all stop at the limit.
    let e = client.get(&url).await.unwrap().bytes().await.unwrap_err();
    assert!(e.is_body_too_large(), "{e}");
    let msg = e.to_string();
    assert!(msg.contains(&url) && msg.contains("524288"), "{msg}");
    let e = client.get(&url).await.unwrap().text().await.unwrap_err();
    assert!(e.is_body_too_large(), "{e}");
    let (r, n) = drain(&client, &url).await;
    assert!(r.unwrap_err().is_body_too_large());
    assert!(n <= 512 * 1024, "handed out {n} bytes past the limit");
    // Each failure closed its connection: three requests, three dials.
    assert_eq!(server.accepts(), 3);
    assert_eq!(client.stats().requests.body_errors, 3);
    assert_closed(&client, &server).await;

    // The default limit (32 MiB) lets the 1 MiB body through.
    let roomy = build(builder(&ca), &server);
    assert_eq!(
        roomy.get(&url).await.unwrap().bytes().await.unwrap().len(),
        1 << 20
    );
}

#[tokio::test]
async fn a_content_length_over_the_limit_fails_before_the_body_is_read() {
    let ca = Ca::new();
    let server = serve(&ca, &[ip(2)], Opts::default()).await;
    let client = build(builder(&ca), &server);
    let start = Instant::now();
    let e = client.get(&server.url("/claims-10g")).await.unwrap_err();
    assert!(e.is_body_too_large(), "{e}");
    assert!(e.to_string().contains("33554432"), "{e}");
    assert!(start.elapsed() < Duration::from_secs(5));
    // A HEAD answer may carry any Content-Length: it has no body.
    let head = client
        .head(&server.url("/claims-10g"))
        .await
        .expect("HEAD has no body to limit");
    assert_eq!(head.status(), 200);
    assert_closed(&client, &server).await;
}

#[tokio::test]
async fn unbounded_bodies_end_at_the_limit_endless_and_bombs() {
    let ca = Ca::new();
    let server = serve(&ca, &[ip(2)], Opts::default()).await;
    let client = build(builder(&ca).max_body_size(4 << 20), &server);
    for path in [
        "/endless",
        "/bomb/gzip",
        "/bomb/deflate",
        "/bomb/deflate-raw",
        "/bomb/br",
    ] {
        let (r, n) = drain(&client, &server.url(path)).await;
        let e = r.unwrap_err();
        assert!(e.is_body_too_large(), "{path}: {e}");
        assert!(n <= 4 << 20, "{path}: {n} bytes handed out");
    }
    assert_closed(&client, &server).await;
}

#[tokio::test]
async fn the_deadline_holds_while_decoding_and_dripping() {
    let ca = Ca::new();
    let server = serve(&ca, &[ip(2)], Opts::default()).await;
    // No size limit: only the time-out can stop a bomb.
    let client = build(
        builder(&ca)
            .max_body_size(None)
            .timeout(Duration::from_secs(1)),
        &server,
    );
    for path in ["/bomb/br?endless", "/bomb/gzip?endless", "/slow-drip"] {
        let start = Instant::now();
        let (r, _) = drain(&client, &server.url(path)).await;
        let e = r.unwrap_err();
        assert!(e.is_request_timeout(), "{path}: {e}");
        let took = start.elapsed();
        assert!(took < Duration::from_secs(3), "{path}: took {took:?}");
    }
    // A request's own time-out overrides the client's.
    let mut req = http::Request::get(server.url("/slow-drip"))
        .body(bytes::Bytes::new())
        .unwrap();
    req.extensions_mut()
        .insert(Timeout(Duration::from_millis(300)));
    let start = Instant::now();
    let e = client
        .request(req)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap_err();
    assert!(e.is_request_timeout(), "{e}");
    assert!(e.to_string().contains("300ms"), "{e}");
    assert!(start.elapsed() < Duration::from_millis(900));
    assert_closed(&client, &server).await;
}

#[tokio::test]
async fn duration_max_time_out_means_none_and_does_not_panic() {
    let ca = Ca::new();
    let server = serve(&ca, &[ip(2)], Opts::default()).await;
    let client = build(builder(&ca).timeout(Duration::MAX), &server);
    let resp = client.get(&server.url("/")).await.unwrap();
    assert_eq!(resp.text().await.unwrap(), "hello");
    let mut req = http::Request::get(server.url("/"))
        .body(bytes::Bytes::new())
        .unwrap();
    req.extensions_mut().insert(Timeout(Duration::MAX));
    assert_eq!(client.request(req).await.unwrap().status(), 200);
}

/// A task reading a bomb on a one-thread runtime must let the runtime run:
/// the main task gets to abort it, and the abort takes effect at once.
#[tokio::test(flavor = "current_thread")]
async fn a_bomb_reader_yields_so_an_abort_takes_effect() {
    let ca = Ca::new();
    let server = serve(&ca, &[ip(2)], Opts::default()).await;
    let client = build(
        builder(&ca)
            .max_body_size(None)
            .timeout(Duration::from_secs(60)),
        &server,
    );
    let url = server.url("/bomb/br?endless");
    let task = tokio::spawn({
        let client = client.clone();
        async move { drain(&client, &url).await }
    });
    let start = Instant::now();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let woke = start.elapsed();
    task.abort();
    let r = task.await;
    assert!(r.unwrap_err().is_cancelled());
    assert!(
        woke < Duration::from_secs(1),
        "the reader kept the thread for {woke:?}"
    );
    assert_closed(&client, &server).await;
}
