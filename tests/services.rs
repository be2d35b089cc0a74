//! The background services: the health sweeper (expiry, peer-closed,
//! probes that find a 403), min-idle refill, prewarm, the resolver and its
//! refresh, the dial limit, run-time config changes, per-connection
//! snapshots, health, and a shutdown that leaves no task and no socket.
mod http_support;
mod support;
mod tls_support;

use hotpool::{quanta, Client, ClientBuilder, Config, Error, Pool, Pooled, ProfileChoice, Resolve};
use http_support::{serve, Opts};
use std::{
    net::IpAddr,
    sync::{atomic::Ordering, Arc, Mutex},
    time::Duration,
};
use support::{ip, Dummy, DOMAIN};
use tls_support::Ca;

fn builder(ca: &Ca) -> ClientBuilder {
    Client::builder()
        .add_root_certificate(ca.cert())
        .profile_choice(ProfileChoice::Fixed("classic-h2".into()))
        .timeout(Duration::from_secs(5))
        .connect_timeout(Duration::from_secs(3))
        .no_resolver()
}

/// Polls `cond` every 10 ms for up to 5 s.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..500 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for: {what}");
}

#[tokio::test]
async fn the_sweeper_retires_expired_and_peer_closed_connections() {
    let (clock, mock) = quanta::Clock::mock();
    let dummy = Dummy::new();
    let ledger = dummy.ledger.clone();
    let pool = Pool::builder()
        .clock(clock)
        .idle_timeout(Duration::from_secs(60))
        .max_lifetime(Duration::from_secs(300))
        .health_check_interval(Duration::from_millis(30))
        .build(dummy)
        .unwrap();
    pool.set_ips(DOMAIN, [ip(2)]);
    let held: Vec<_> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            v.push(pool.get(DOMAIN).await.unwrap());
        }
        v
    };
    drop(held);
    assert_eq!(pool.stats().total.idle, 3);

    // Idle past idle_timeout (mock clock): the background sweeper closes them.
    mock.increment(Duration::from_secs(61));
    eventually("idle-expired closed", || {
        pool.stats().total.connections == 0
    })
    .await;
    assert_eq!(ledger.closed.load(Ordering::SeqCst), 3);
    assert_eq!(pool.stats().total.swept, 3);

    // Older than max_lifetime though recently used: used every 58 s (under
    // the idle timeout) until 290 s old, then left idle for 20 s.
    drop(pool.get(DOMAIN).await.unwrap());
    for _ in 0..5 {
        mock.increment(Duration::from_secs(58));
        let c = pool.get(DOMAIN).await.unwrap();
        assert!(Pooled::is_reused(&c));
        drop(c);
    }
    assert_eq!(pool.stats().total.idle, 1);
    mock.increment(Duration::from_secs(20));
    eventually("lifetime-expired closed", || {
        pool.stats().total.connections == 0
    })
    .await;
    assert_eq!(pool.stats().total.swept, 4);

    // Closed by the peer while idle.
    drop(pool.get(DOMAIN).await.unwrap());
    let created = ledger.created.load(Ordering::SeqCst);
    ledger.dead_below.store(created, Ordering::SeqCst);
    eventually("peer-closed closed", || pool.stats().total.connections == 0).await;
    pool.close();
}

#[tokio::test]
async fn a_probe_blacklists_an_address_that_started_answering_403() {
    let ca = Ca::new();
    let server = serve(&ca, &[ip(2), ip(3)], Opts::default()).await;
    let client = builder(&ca)
        .health_check_interval(Duration::from_millis(100))
        .build()
        .unwrap();
    client.set_ips(&server.key(), [ip(2), ip(3)]);
    assert_eq!(client.prewarm(&server.key(), 2).await.unwrap(), 2);
    assert_eq!(server.accepts(), 2);
    server.set(|o| o.forbidden = vec![ip(2)]);
    // The connections sit idle past the interval; a sweep probes them.
    eventually("403 address blocked for the domain", || {
        client.pool().is_blocked_for(&server.key(), ip(2))
    })
    .await;
    let s = client.stats();
    assert!(
        s.total.probes >= 1 && s.total.probe_failures >= 1,
        "{:?}",
        s.total
    );
    assert!(!client.pool().is_blocked_for(&server.key(), ip(3)));
    assert!(!client.pool().is_blocked(ip(2)), "one domain: a pair block");
    eventually("its connection closed", || {
        client
            .pool()
            .connections()
            .iter()
            .all(|c| c.addr.ip() == ip(3))
    })
    .await;
    let resp = client.get(&server.url("/")).await.unwrap();
    assert_eq!(resp.remote_addr().ip(), ip(3));
    drop(resp);
    client.shutdown().await;
}

#[tokio::test]
async fn min_idle_is_refilled_after_the_server_drops_connections() {
    let ca = Ca::new();
    let server = serve(
        &ca,
        &[ip(2)],
        Opts {
            idle_close: Some(Duration::from_millis(100)),
            ..Opts::default()
        },
    )
    .await;
    let client = builder(&ca)
        .health_check_interval(Duration::from_millis(300))
        .min_idle_per_domain(2)
        .build()
        .unwrap();
    client.set_ips(&server.key(), [ip(2)]);
    client.prewarm(&server.key(), 2).await.unwrap();
    let idle = || client.stats().total.idle;
    assert_eq!(idle(), 2);
    // The server closes them after 100 ms idle; the next sweep (every
    // 300 ms) finds them closed and dials two more.
    eventually("refilled with new connections", || {
        server.accepts() >= 4 && idle() == 2
    })
    .await;
    assert!(client.stats().total.swept >= 2);
    client.shutdown().await;
}

#[tokio::test]
async fn prewarm_validates_and_reports_what_stopped_it() {
    let ca = Ca::new();
    let server = serve(&ca, &[ip(2)], Opts::default()).await;
    let client = builder(&ca).max_conns_per_domain(4).build().unwrap();
    client.set_ips(&server.key(), [ip(2)]);
    assert_eq!(client.prewarm(&server.key(), 3).await.unwrap(), 3);
    assert_eq!(client.stats().total.idle, 3);
    let probes = server.seen().iter().filter(|s| s.method == "HEAD").count();
    assert_eq!(probes, 3, "each prewarmed connection was validated");
    assert_eq!(
        client.prewarm(&server.key(), 2).await.unwrap(),
        0,
        "already there"
    );
    let e = client.prewarm(&server.key(), 5).await.unwrap_err();
    assert!(e.to_string().contains("prewarm"), "{e}");
    // A domain whose only address refuses: the dial's error.
    let e = client.prewarm("nowhere.test:1", 1).await.unwrap_err();
    assert!(e.is_no_address(), "{e}");
    client.shutdown().await;
}

/// A resolver whose answer the test changes.
#[derive(Clone)]
struct Switch(Arc<Mutex<Vec<IpAddr>>>);

impl Resolve for Switch {
    async fn resolve(&self, _host: &str, _port: u16) -> Result<Vec<IpAddr>, Error> {
        Ok(self.0.lock().unwrap().clone())
    }
}

#[tokio::test]
async fn a_changed_resolver_answer_retires_the_old_address() {
    let ca = Ca::new();
    let server = serve(&ca, &[ip(2), ip(3)], Opts::default()).await;
    let answer = Switch(Arc::new(Mutex::new(vec![ip(2)])));
    let client = builder(&ca)
        .resolver(answer.clone())
        .allow_private_addresses(true)
        .health_check_interval(Duration::from_millis(50))
        .dns_refresh_interval(Duration::from_millis(100))
        .build()
        .unwrap();
    // No set_ips: the resolver fills the list at first use.
    let resp = client.get(&server.url("/")).await.unwrap();
    assert_eq!(resp.remote_addr().ip(), ip(2));
    resp.bytes().await.unwrap();
    assert_eq!(
        client.pool().ips(&server.key()),
        vec![server_addr(&server, 2)]
    );

    *answer.0.lock().unwrap() = vec![ip(3)];
    eventually("list refreshed", || {
        client.pool().ips(&server.key()) == vec![server_addr(&server, 3)]
    })
    .await;
    eventually("old idle connection retired", || {
        client
            .pool()
            .connections()
            .iter()
            .all(|c| c.addr.ip() != ip(2))
    })
    .await;
    let resp = client.get(&server.url("/")).await.unwrap();
    assert_eq!(resp.remote_addr().ip(), ip(3));
    resp.bytes().await.unwrap();
    client.shutdown().await;
}

fn server_addr(server: &http_support::HttpServer, last: u8) -> std::net::SocketAddr {
    http_support::addr(server, ip(last))
}

#[tokio::test]
async fn max_concurrent_dials_is_never_exceeded() {
    let ca = Ca::new();
    let server = serve(
        &ca,
        &[ip(2)],
        Opts {
            accept_delay: Some(Duration::from_millis(50)),
            ..Opts::default()
        },
    )
    .await;
    let client = builder(&ca)
        .max_concurrent_dials(2)
        .max_conns_per_domain(8)
        .build()
        .unwrap();
    client.set_ips(&server.key(), [ip(2)]);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (c, url) = (client.clone(), server.url("/"));
        tasks.spawn(async move {
            let resp = c.get(&url).await.unwrap();
            // Hold the connection so that every task dials its own.
            tokio::time::sleep(Duration::from_millis(300)).await;
            resp.bytes().await.unwrap();
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    assert_eq!(server.accepts(), 8, "eight dials");
    assert!(
        server.max_dialing() <= 2,
        "{} dials at once",
        server.max_dialing()
    );
    assert_eq!(server.max_dialing(), 2, "the limit was reached");
    client.shutdown().await;
}

#[tokio::test]
async fn update_config_lowers_a_limit_without_dropping_lent_connections() {
    let dummy = Dummy::new();
    let ledger = dummy.ledger.clone();
    let pool = Pool::builder()
        .max_conns_per_domain(4)
        .wait_timeout(Duration::from_millis(50))
        .build(dummy)
        .unwrap();
    pool.set_ips(DOMAIN, [ip(2)]);
    let mut lent = Vec::new();
    for _ in 0..4 {
        lent.push(pool.get(DOMAIN).await.unwrap());
    }
    let mut smaller = pool.config();
    smaller.max_conns_per_domain = 2;
    smaller.wait_timeout = Duration::from_millis(30);
    pool.update_config(smaller.clone()).unwrap();
    assert_eq!(pool.config().max_conns_per_domain, 2);

    // Lent connections are untouched and usable.
    for c in &lent {
        c.enter();
        c.leave();
    }
    assert_eq!(ledger.closed.load(Ordering::SeqCst), 0);
    // No new dial above the new limit.
    let e = pool.get(DOMAIN).await.unwrap_err();
    assert!(e.is_wait_timeout(), "{e}");
    // Returned, they go idle; the sweeper brings the domain under the limit.
    drop(lent);
    pool.sweep_now().await;
    let s = pool.stats();
    assert_eq!((s.total.connections, s.total.idle), (2, 2));
    assert_eq!(ledger.closed.load(Ordering::SeqCst), 2);
    drop(pool.get(DOMAIN).await.unwrap());

    // Invalid or fixed settings are refused, naming the key; nothing changes.
    let mut bad = smaller.clone();
    bad.max_conns = 0;
    let e = pool.update_config(bad).unwrap_err();
    assert!(e.to_string().contains("max_conns"), "{e}");
    let mut port = smaller;
    port.default_port = 8443;
    let e = pool.update_config(port).unwrap_err();
    assert!(e.to_string().contains("default_port"), "{e}");
    assert_eq!(pool.config().max_conns, Config::default().max_conns);
    pool.close();
}

#[tokio::test]
async fn get_to_connections_snapshot_and_health() {
    let dummy = Dummy::new();
    let pool = Pool::builder().build(dummy).unwrap();
    assert!(!pool.is_healthy(), "no connection yet");
    pool.set_ips(DOMAIN, [ip(2), ip(3)]);
    let c = pool.get_to(DOMAIN, ip(3)).await.unwrap();
    assert_eq!(Pooled::target(&c).addr().ip(), ip(3));
    let snap = pool.connections();
    assert_eq!(snap.len(), 1);
    assert!(snap[0].in_use);
    assert_eq!(snap[0].addr.ip(), ip(3));
    assert_eq!(snap[0].domain, DOMAIN);
    assert_eq!(snap[0].lends, 1);
    drop(c);
    // The idle connection to .3 is lent again by get_to, not a new one.
    let c = pool.get_to(DOMAIN, ip(3)).await.unwrap();
    assert!(Pooled::is_reused(&c));
    drop(c);
    let snap = pool.connections();
    assert!(!snap[0].in_use);
    assert_eq!(snap[0].lends, 2);
    let e = pool.get_to(DOMAIN, ip(9)).await.unwrap_err();
    assert!(e.is_no_address(), "{e}");
    pool.block(ip(2));
    let e = pool.get_to(DOMAIN, ip(2)).await.unwrap_err();
    assert!(e.is_blocked(), "{e}");
    assert!(pool.is_healthy());
    pool.close();
    assert!(!pool.is_healthy());
}

/// Open file descriptors of this process.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_leaves_no_task_and_no_socket() {
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
    let metrics = tokio::runtime::Handle::current().metrics();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let fds_before = open_fds();
    let tasks_before = metrics.num_alive_tasks();

    // One connection per domain, lent exclusively (one stream per h2
    // connection): the in-flight request holds it, so a second request
    // waits.
    let client = builder(&ca)
        .health_check_interval(Duration::from_millis(20))
        .max_conns_per_domain(1)
        .max_streams_per_connection(1)
        .build()
        .unwrap();
    client.set_ips(&server.key(), [ip(2)]);
    // HTTP/1.1 connections on a second client, idle.
    let h1 = builder(&ca)
        .profile_choice(ProfileChoice::Fixed("tls13-h1".into()))
        .build()
        .unwrap();
    h1.set_ips(&server.key(), [ip(2)]);
    h1.prewarm(&server.key(), 3).await.unwrap();
    let in_flight = client.get(&server.url("/big")).await.unwrap();
    assert_eq!(in_flight.version(), hotpool::http::Version::HTTP_2);
    assert!(open_fds() > fds_before);
    let waiter = {
        let c = client.clone();
        let url = server.url("/");
        tokio::spawn(async move { c.get(&url).await.map(|_| ()) })
    };
    tokio::time::sleep(Duration::from_millis(30)).await;
    let shutting = {
        let c = client.clone();
        tokio::spawn(async move { c.shutdown().await })
    };
    let e = waiter.await.unwrap().unwrap_err();
    assert!(matches!(e, Error::Closed), "{e}");
    // The in-flight response finishes; its connection closes on return.
    assert_eq!(in_flight.bytes().await.unwrap().len(), 1 << 20);
    tokio::time::timeout(Duration::from_secs(5), shutting)
        .await
        .expect("shutdown finished")
        .unwrap();
    h1.shutdown().await;
    assert_eq!(client.stats().total.connections, 0);
    drop(client);
    drop(h1);

    eventually("server saw every connection close", || server.open() == 0).await;
    eventually("no task left", || metrics.num_alive_tasks() <= tasks_before).await;
    eventually("no socket left", || open_fds() <= fds_before).await;
}

/// Shutdown while an HTTP/2 connection carries shared streams: the request
/// waiting for a stream fails with `Closed`, the streams in flight finish,
/// and the connection closes when the last of them ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_with_shared_streams_in_flight() {
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
    let client = builder(&ca)
        .max_conns_per_domain(1)
        .max_streams_per_connection(2)
        .build()
        .unwrap();
    client.set_ips(&server.key(), [ip(2)]);
    let a = client.get(&server.url("/big")).await.unwrap();
    let b = client.get(&server.url("/big")).await.unwrap();
    let streams = client.stats().streams;
    assert_eq!(streams.in_flight, 2, "{streams:?}");
    assert_eq!(client.stats().total.connections, 1);
    let waiter = {
        let c = client.clone();
        let url = server.url("/");
        tokio::spawn(async move { c.get(&url).await.map(|_| ()) })
    };
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert!(
        !waiter.is_finished(),
        "the third request waits for a stream"
    );
    let shutting = {
        let c = client.clone();
        tokio::spawn(async move { c.shutdown().await })
    };
    let e = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("the waiter is woken by the shutdown")
        .unwrap()
        .unwrap_err();
    assert!(matches!(e, Error::Closed), "{e}");
    assert_eq!(a.bytes().await.unwrap().len(), 1 << 20);
    assert_eq!(b.bytes().await.unwrap().len(), 1 << 20);
    tokio::time::timeout(Duration::from_secs(5), shutting)
        .await
        .expect("shutdown finished")
        .unwrap();
    assert_eq!(client.stats().streams.in_flight, 0);
    assert_eq!(client.stats().total.connections, 0);
    drop(client);
    eventually("server saw the connection close", || server.open() == 0).await;
}

#[tokio::test]
async fn the_sweeper_ends_with_the_pool() {
    let metrics = tokio::runtime::Handle::current().metrics();
    let before = metrics.num_alive_tasks();
    let pool = Pool::builder()
        .health_check_interval(Duration::from_millis(10))
        .build(Dummy::new())
        .unwrap();
    assert_eq!(metrics.num_alive_tasks(), before + 1, "the sweeper runs");
    drop(pool);
    eventually("sweeper gone", || metrics.num_alive_tasks() == before).await;
    let pool = Pool::builder().build(Dummy::new()).unwrap();
    pool.close();
    eventually("sweeper stopped by close", || {
        metrics.num_alive_tasks() == before
    })
    .await;
}
