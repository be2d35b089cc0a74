//! A bad address costs one address, not the request: a stalled handshake,
//! garbage instead of TLS and a wrong certificate each move the dial to
//! the domain's next address, and the failing address is set aside.
mod http_support;
mod support;
mod tls_support;

use hotpool::{Client, Pool, ProfileChoice};
use http_support::{serve, Fault, Opts};
use std::{future::Future, pin::pin, sync::atomic::Ordering, task::Poll, time::Duration};
use support::{ip, Dummy, DOMAIN};
use tls_support::Ca;

fn client(ca: &Ca) -> Client {
    Client::builder()
        .add_root_certificate(ca.cert())
        .profile_choice(ProfileChoice::Fixed("classic-h2".into()))
        .timeout(Duration::from_secs(10))
        // The handshake time-out fires long before the pool's: the case
        // that used to fail the request.
        .connect_timeout(Duration::from_secs(5))
        .handshake_timeout(Duration::from_millis(500))
        .keep_alive(false)
        .build()
        .unwrap()
}

#[tokio::test]
async fn every_kind_of_bad_address_moves_the_dial_to_the_next() {
    let ca = Ca::new();
    let (stall, garbage, wrong, good) = (ip(2), ip(3), ip(4), ip(5));
    let mut faults = std::collections::HashMap::new();
    faults.insert(stall, Fault::Stall);
    faults.insert(garbage, Fault::Garbage);
    faults.insert(wrong, Fault::WrongCert);
    let server = serve(
        &ca,
        &[stall, garbage, wrong, good],
        Opts {
            faults,
            ..Opts::default()
        },
    )
    .await;
    let client = client(&ca);
    client.set_ips(&server.key(), [stall, garbage, wrong, good]);
    // keep_alive off: every request dials.
    for i in 0..8 {
        let resp = client
            .get(&server.url("/"))
            .await
            .unwrap_or_else(|e| panic!("request {i}: {e}"));
        assert_eq!(resp.remote_addr().ip(), good);
        resp.bytes().await.unwrap();
    }
    let s = client.stats();
    assert_eq!(s.requests.failures.total(), 0, "{:?}", s.requests);
    // Each bad address failed once, then was set aside: no more dials.
    assert_eq!(s.total.dial_failures, 3, "{:?}", s.total);
    assert_eq!(s.total.created, 8);
}

#[tokio::test]
async fn wrong_certificates_end_in_certificate_errors_when_nothing_else_serves() {
    let ca = Ca::new();
    let mut faults = std::collections::HashMap::new();
    faults.insert(ip(2), Fault::WrongCert);
    let server = serve(
        &ca,
        &[ip(2)],
        Opts {
            faults,
            ..Opts::default()
        },
    )
    .await;
    let client = client(&ca);
    client.set_ips(&server.key(), [ip(2)]);
    for _ in 0..3 {
        let e = client.get(&server.url("/")).await.unwrap_err();
        assert!(e.is_certificate(), "{e}");
        assert!(e.to_string().contains("127.0.0.2"), "{e}");
    }
}

#[tokio::test]
async fn dials_dropped_by_their_caller_are_counted() {
    let dummy = Dummy::new();
    dummy.ledger.delay_ms.store(50, Ordering::SeqCst);
    let pool = Pool::builder().build(dummy.clone()).unwrap();
    pool.set_ips(DOMAIN, [ip(2)]);
    for _ in 0..3 {
        let mut get = pin!(pool.get(DOMAIN));
        // Started (the dial is under way), then dropped.
        let polled =
            std::future::poll_fn(|cx| Poll::Ready(get.as_mut().poll(cx).is_pending())).await;
        assert!(polled);
    }
    dummy.ledger.delay_ms.store(0, Ordering::SeqCst);
    drop(pool.get(DOMAIN).await.unwrap());
    let t = pool.stats().total;
    assert_eq!(t.dials, 4, "{t:?}");
    assert_eq!(t.dials_cancelled, 3, "{t:?}");
    assert_eq!(t.created + t.dial_failures + t.dials_cancelled, t.dials);
}

#[tokio::test]
async fn a_probe_broken_at_the_protocol_level_names_its_url_and_moves_on() {
    let ca = Ca::new();
    let mut faults = std::collections::HashMap::new();
    faults.insert(ip(2), Fault::DropProbe);
    let server = serve(
        &ca,
        &[ip(2), ip(3)],
        Opts {
            faults,
            ..Opts::default()
        },
    )
    .await;
    let client = client(&ca);
    client.set_ips(&server.key(), [ip(2), ip(3)]);
    for _ in 0..4 {
        let resp = client.get(&server.url("/")).await.unwrap();
        assert_eq!(resp.remote_addr().ip(), ip(3));
        resp.bytes().await.unwrap();
    }
    // With nothing else to go to, the error names the probe and address.
    let alone = self::client(&ca);
    alone.set_ips(&server.key(), [ip(2)]);
    let e = alone.get(&server.url("/")).await.unwrap_err();
    assert!(e.is_validation(), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains(&format!("probe HEAD https://{}/", server.key())) && msg.contains("127.0.0.2"),
        "{msg}"
    );
}
