//! Background work never holds up a request: a waiter at the domain limit
//! gets a connection back from its health probe (bounded by
//! `probe_timeout`), and a slow resolution holds no dial permit.
mod support;

use hotpool::{Error, Pool, Resolve};
use std::{
    net::IpAddr,
    sync::atomic::Ordering,
    time::{Duration, Instant},
};
use support::{ip, Dummy, DOMAIN};

#[tokio::test]
async fn a_waiter_gets_the_connection_back_from_its_probe() {
    let dummy = Dummy::new();
    let (clock, mock) = hotpool::quanta::Clock::mock();
    let pool = Pool::builder()
        .clock(clock)
        .max_conns_per_domain(1)
        .wait_timeout(Duration::from_secs(20))
        .health_check_interval(Duration::from_secs(30))
        .idle_timeout(Duration::from_secs(3600))
        .build(dummy.clone())
        .unwrap();
    pool.set_ips(DOMAIN, [ip(2)]);
    drop(pool.get(DOMAIN).await.unwrap());
    dummy.ledger.probe_delay_ms.store(300, Ordering::SeqCst);
    mock.increment(Duration::from_secs(31));
    let sweep = tokio::spawn({
        let pool = pool.clone();
        async move { pool.sweep_now().await }
    });
    // The probe has the only connection out of the queue.
    while dummy.ledger.probes.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let start = Instant::now();
    let c = pool.get(DOMAIN).await.unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(c.id, 0, "the probed connection, not a new one");
    assert_eq!(dummy.ledger.dials.load(Ordering::SeqCst), 1);
    drop(c);
    assert_eq!(sweep.await.unwrap().probed, 1);
}

#[tokio::test]
async fn a_probe_that_does_not_answer_is_bounded_by_probe_timeout() {
    let dummy = Dummy::new();
    let (clock, mock) = hotpool::quanta::Clock::mock();
    let pool = Pool::builder()
        .clock(clock)
        .max_conns_per_domain(1)
        .wait_timeout(Duration::from_secs(20))
        .connect_timeout(Duration::from_secs(60))
        .probe_timeout(Duration::from_millis(200))
        .health_check_interval(Duration::from_secs(30))
        .idle_timeout(Duration::from_secs(3600))
        .build(dummy.clone())
        .unwrap();
    pool.set_ips(DOMAIN, [ip(2)]);
    drop(pool.get(DOMAIN).await.unwrap());
    dummy.ledger.probe_hang.store(true, Ordering::SeqCst);
    mock.increment(Duration::from_secs(31));
    let start = Instant::now();
    let report = pool.sweep_now().await;
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert_eq!((report.probed, report.probe_failures), (1, 1));
    // The connection was closed; a get dials a new one.
    let c = pool.get(DOMAIN).await.unwrap();
    assert_eq!(c.id, 1);
}

/// Resolves `slow.test` after a second, anything else at once.
struct SlowForOne;

impl Resolve for SlowForOne {
    async fn resolve(&self, host: &str, _port: u16) -> Result<Vec<IpAddr>, Error> {
        if host == "slow.test" {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        Ok(vec![ip(2)])
    }
}

#[tokio::test]
async fn a_slow_resolution_holds_no_dial_permit() {
    let pool = Pool::builder()
        .max_concurrent_dials(1)
        .resolver(SlowForOne)
        .allow_private_addresses(true)
        .build(Dummy::new())
        .unwrap();
    let slow = tokio::spawn({
        let pool = pool.clone();
        async move { pool.get("slow.test").await.map(drop) }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    // The only dial permit is free while slow.test resolves.
    let start = Instant::now();
    drop(pool.get("fast.test").await.unwrap());
    assert!(
        start.elapsed() < Duration::from_millis(500),
        "waited {:?} behind a resolution",
        start.elapsed()
    );
    slow.await.unwrap().unwrap();
}
