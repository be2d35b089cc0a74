//! A waiting task is woken by a put and by a freed slot.
mod support;
use hotpool::{Pool, Pooled};
use std::time::Duration;
use support::*;

#[tokio::test]
async fn waiter_is_woken_by_a_put() {
    let pool = Pool::builder()
        .max_conns_per_domain(1)
        .wait_timeout(Duration::from_secs(30))
        .build(Dummy::new())
        .unwrap();
    pool.set_ips(DOMAIN, [ip(2)]);
    let held = pool.get(DOMAIN).await.unwrap();
    let id = held.id;
    let p = pool.clone();
    let waiter = tokio::spawn(async move { p.get(DOMAIN).await.map(|c| c.id) });
    // wait until it is registered
    until("a registered waiter", || pool.debug_counts(DOMAIN).3 > 0).await;
    assert_eq!(pool.stats().waiting, 1);
    drop(held);
    let got = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        got.unwrap(),
        id,
        "the returned connection went to the waiter"
    );
    assert_eq!(pool.stats().total.waits, 1);
    assert_quiet(&pool, DOMAIN, 1);
}

#[tokio::test]
async fn waiter_is_woken_by_a_freed_slot() {
    let dummy = Dummy::new();
    let pool = Pool::builder()
        .max_conns_per_domain(1)
        .wait_timeout(Duration::from_secs(30))
        .build(dummy.clone())
        .unwrap();
    pool.set_ips(DOMAIN, [ip(2)]);
    let held = pool.get(DOMAIN).await.unwrap();
    let p = pool.clone();
    let waiter = tokio::spawn(async move { p.get(DOMAIN).await.map(|c| c.id) });
    until("a registered waiter", || pool.debug_counts(DOMAIN).3 > 0).await;
    Pooled::discard(held);
    let got = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.unwrap(), 1, "the waiter dialed a new connection");
    assert_quiet(&pool, DOMAIN, 1);
}

#[tokio::test]
async fn waiter_blocked_by_the_pool_limit_is_woken_by_another_domain() {
    let pool = Pool::builder()
        .max_conns(1)
        .wait_timeout(Duration::from_secs(30))
        .build(Dummy::new())
        .unwrap();
    pool.set_ips("a.test", [ip(2)]);
    pool.set_ips("b.test", [ip(3)]);
    let held = pool.get("a.test").await.unwrap();
    let p = pool.clone();
    let waiter = tokio::spawn(async move { p.get("b.test").await.map(|c| c.id) });
    until("a registered waiter", || pool.debug_counts("b.test").1 > 0).await;
    assert_eq!(
        pool.stats().waiting,
        1,
        "a pool-blocked waiter is counted once"
    );
    Pooled::discard(held);
    let got = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .unwrap()
        .unwrap();
    assert!(got.is_ok());
}

#[tokio::test]
async fn every_waiter_is_served_in_turn() {
    let pool = Pool::builder()
        .max_conns_per_domain(2)
        .wait_timeout(Duration::from_secs(30))
        .build(Dummy::new())
        .unwrap();
    pool.set_ips(DOMAIN, [ip(2)]);
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let p = pool.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..20 {
                let c = p.get(DOMAIN).await.unwrap();
                c.enter();
                tokio::time::sleep(Duration::from_micros(50)).await;
                c.leave();
            }
        }));
    }
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(30), t)
            .await
            .unwrap()
            .unwrap();
    }
    let s = pool.stats();
    assert_eq!(s.total.gets, 640);
    assert_eq!(s.total.created, 2);
    assert!(s.total.waits > 0);
    assert_quiet(&pool, DOMAIN, 2);
}
