//! Every public async method of the client and the services, dropped after
//! 1, 2, 3… polls — so at each of its await points in turn — leaks no
//! capacity, no waiter count and no connection: `Client::get`,
//! `Client::request`, `Client::prewarm`, `Pool::get_to`, `Pool::sweep_now`
//! and `shutdown`.
mod http_support;
mod tls_support;

use hotpool::{Client, ProfileChoice};
use http_support::{serve, HttpServer, Opts};
use std::{future::Future, net::IpAddr, pin::pin, task::Poll, time::Duration};
use tls_support::Ca;

fn ip() -> IpAddr {
    IpAddr::from([127, 0, 0, 2])
}

/// Polls `fut` up to `polls` times, letting the runtime run for a moment in
/// between (socket I/O, spawned dials), then drops it. Returns whether it
/// finished.
async fn poll_n_then_drop<F: Future>(fut: F, polls: usize) -> bool {
    let mut fut = pin!(fut);
    for _ in 0..polls {
        let done = std::future::poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx).is_ready())).await;
        if done {
            return true;
        }
        tokio::time::sleep(Duration::from_micros(300)).await;
    }
    false
}

/// No connection lent, no capacity without a connection, no waiter.
fn assert_quiet(client: &Client, key: &str) {
    let s = client.stats();
    assert_eq!(
        s.total.in_use, 0,
        "a connection is still lent: {:?}",
        s.total
    );
    let live = s.total.connections as usize;
    assert_eq!(
        client.pool().debug_counts(key),
        (live, 0, live, 0),
        "capacity or waiters leaked: {:?}",
        s.total
    );
}

async fn setup() -> (Ca, HttpServer, Client) {
    let ca = Ca::new();
    let server = serve(&ca, &[ip()], Opts::default()).await;
    let client = Client::builder()
        .add_root_certificate(ca.cert())
        .profile_choice(ProfileChoice::Fixed("classic-h2".into()))
        .max_conns_per_domain(2)
        .no_resolver()
        .build()
        .unwrap();
    client.set_ips(&server.key(), [ip()]);
    (ca, server, client)
}

async fn finish(client: Client, server: &HttpServer) {
    client.shutdown().await;
    for _ in 0..300 {
        if server.open() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{} server-side connections left open", server.open());
}

/// Runs `make()` dropped after 1, 2, … polls until one run finishes,
/// checking quiet after each; returns how many stopping points there were.
async fn every_stop<F, Fut>(client: &Client, key: &str, mut make: F) -> usize
where
    F: FnMut() -> Fut,
    Fut: Future,
{
    for polls in 1..500 {
        let finished = poll_n_then_drop(make(), polls).await;
        // Let background closes (a dropped dial's socket) settle.
        tokio::task::yield_now().await;
        assert_quiet(client, key);
        if finished {
            return polls;
        }
    }
    panic!("never finished");
}

#[tokio::test]
async fn client_get_dropped_at_every_await_point() {
    let (_ca, server, client) = setup().await;
    let url = server.url("/big");
    // Cold: each run may dial, handshake and validate before the request.
    let stops = every_stop(&client, &server.key(), || async {
        client.get(&url).await.unwrap().bytes().await.unwrap()
    })
    .await;
    assert!(stops > 3, "only {stops} stopping points");
    // Warm: idle connections are reused.
    every_stop(&client, &server.key(), || async {
        client.get(&url).await.unwrap().bytes().await.unwrap()
    })
    .await;
    let ok = client.get(&server.url("/")).await.unwrap();
    assert_eq!(ok.text().await.unwrap(), "hello");
    finish(client, &server).await;
}

#[tokio::test]
async fn client_request_and_post_dropped_at_every_await_point() {
    let (_ca, server, client) = setup().await;
    let url = server.url("/echo-headers");
    every_stop(&client, &server.key(), || async {
        let req = hotpool::http::Request::get(url.as_str())
            .header("x-test", "1")
            .body(hotpool::bytes::Bytes::new())
            .unwrap();
        client.request(req).await.unwrap().bytes().await.unwrap()
    })
    .await;
    every_stop(&client, &server.key(), || async {
        client
            .post(&server.url("/"), "body")
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
    })
    .await;
    finish(client, &server).await;
}

#[tokio::test]
async fn prewarm_get_to_and_sweep_dropped_at_every_await_point() {
    let (_ca, server, client) = setup().await;
    let key = server.key();
    every_stop(&client, &key, || client.prewarm(&key, 2)).await;
    assert_eq!(client.stats().total.idle, 2);
    every_stop(&client, &key, || async {
        let c = client.pool().get_to(&key, ip()).await.unwrap();
        drop(c);
    })
    .await;
    every_stop(&client, &key, || client.pool().sweep_now()).await;
    finish(client, &server).await;
}

#[tokio::test]
async fn shutdown_dropped_midway_then_completed() {
    let (_ca, server, client) = setup().await;
    client.prewarm(&server.key(), 2).await.unwrap();
    let resp = client.get(&server.url("/big")).await.unwrap();
    // Dropped while it waits for the lent connection.
    assert!(!poll_n_then_drop(client.shutdown(), 3).await);
    assert!(client.pool().is_closed());
    assert_eq!(resp.bytes().await.unwrap().len(), 1 << 20);
    assert_quiet(&client, &server.key());
    finish(client, &server).await;
}
