//! `update_config` at run time: raised limits reach existing domains and
//! wake the waiters they free; the dial permits end exactly as configured
//! whatever the order of changes.
mod support;

use hotpool::Pool;
use std::{sync::atomic::Ordering, time::Duration};
use support::{ip, Dummy, DOMAIN};

#[tokio::test]
async fn raising_max_conns_per_domain_reaches_existing_domains() {
    let dummy = Dummy::new();
    let pool = Pool::builder()
        .max_conns_per_domain(2)
        .build(dummy.clone())
        .unwrap();
    pool.set_ips(DOMAIN, [ip(2)]);
    // The domain (and its idle queue) is made under the old limit.
    drop(pool.get(DOMAIN).await.unwrap());
    let mut c = pool.config();
    c.max_conns_per_domain = 5;
    pool.update_config(c).unwrap();
    let mut lent = Vec::new();
    for _ in 0..5 {
        lent.push(pool.get(DOMAIN).await.unwrap());
    }
    drop(lent);
    let t = pool.stats().total;
    assert_eq!((t.connections, t.idle), (5, 5), "{t:?}");
    assert_eq!(dummy.ledger.closed.load(Ordering::SeqCst), 0, "none closed");
    // All five are lent again without a dial.
    let again: Vec<_> = (0..5).filter_map(|_| pool.try_get(DOMAIN)).collect();
    assert_eq!(again.len(), 5);
    assert_eq!(dummy.ledger.dials.load(Ordering::SeqCst), 5);
}

#[tokio::test]
async fn raising_a_limit_wakes_the_waiters_it_frees() {
    let pool = Pool::builder()
        .max_conns_per_domain(1)
        .wait_timeout(Duration::from_secs(30))
        .build(Dummy::new())
        .unwrap();
    pool.set_ips(DOMAIN, [ip(2)]);
    let held = pool.get(DOMAIN).await.unwrap();
    let waiter = tokio::spawn({
        let pool = pool.clone();
        async move { pool.get(DOMAIN).await.map(drop) }
    });
    // The waiter is registered.
    for _ in 0..100 {
        if pool.stats().total.waits > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(pool.stats().total.waits, 1);
    let mut c = pool.config();
    c.max_conns_per_domain = 2;
    pool.update_config(c).unwrap();
    tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("woken by the raised limit, not by its 30 s time-out")
        .unwrap()
        .unwrap();
    drop(held);
}

#[tokio::test]
async fn lowering_then_raising_dials_ends_with_exactly_the_configured_permits() {
    let dummy = Dummy::new();
    dummy.ledger.delay_ms.store(200, Ordering::SeqCst);
    let pool = Pool::builder()
        .max_concurrent_dials(4)
        .build(dummy.clone())
        .unwrap();
    let domains: Vec<String> = (0..12).map(|i| format!("d{i}.test")).collect();
    for d in &domains {
        pool.set_ips(d, [ip(2)]);
    }
    // Four dials hold every permit while the limit goes to 1, then to 3.
    let first: Vec<_> = domains[..4]
        .iter()
        .map(|d| {
            let pool = pool.clone();
            let d = d.clone();
            tokio::spawn(async move { pool.get(&d).await.map(drop) })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(dummy.ledger.in_flight.load(Ordering::SeqCst), 4);
    let mut c = pool.config();
    c.max_concurrent_dials = 1;
    pool.update_config(c.clone()).unwrap();
    c.max_concurrent_dials = 3;
    pool.update_config(c).unwrap();
    for t in first {
        t.await.unwrap().unwrap();
    }
    // Eight more dials at once: three at a time, no more, no fewer.
    dummy.ledger.max_in_flight.store(0, Ordering::SeqCst);
    let rest: Vec<_> = domains[4..]
        .iter()
        .map(|d| {
            let pool = pool.clone();
            let d = d.clone();
            tokio::spawn(async move { pool.get(&d).await.map(drop) })
        })
        .collect();
    for t in rest {
        t.await.unwrap().unwrap();
    }
    assert_eq!(dummy.ledger.max_in_flight.load(Ordering::SeqCst), 3);
}
