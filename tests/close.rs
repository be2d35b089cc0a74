//! Closing the pool: idle closed, waiters woken with Closed, later gets fail,
//! returned connections closed.
mod support;
use hotpool::Pool;
use std::{sync::atomic::Ordering, time::Duration};
use support::*;

#[tokio::test]
async fn close_closes_idle_wakes_waiters_and_refuses_gets() {
    let dummy = Dummy::new();
    let pool = Pool::builder()
        .max_conns_per_domain(2)
        .wait_timeout(Duration::from_secs(60))
        .build(dummy.clone())
        .unwrap();
    pool.set_ips(DOMAIN, [ip(2)]);
    pool.set_ips("other.test", [ip(3)]);
    let idle = pool.get("other.test").await.unwrap();
    let lent = pool.get(DOMAIN).await.unwrap();
    let lent2 = pool.get(DOMAIN).await.unwrap();
    drop(idle);

    let p = pool.clone();
    let waiter = tokio::spawn(async move { p.get(DOMAIN).await.map(|_| ()) });
    until("a registered waiter", || pool.debug_counts(DOMAIN).3 > 0).await;

    pool.close();
    assert!(pool.is_closed());
    assert_eq!(
        dummy.ledger.closed.load(Ordering::SeqCst),
        1,
        "the idle one is closed at once"
    );

    let woke = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .unwrap()
        .unwrap();
    assert!(
        woke.unwrap_err().is_closed(),
        "the waiter fails with Closed"
    );

    assert!(pool.get(DOMAIN).await.unwrap_err().is_closed());
    assert!(pool.try_get(DOMAIN).is_none());

    drop(lent);
    drop(lent2);
    assert_eq!(
        dummy.ledger.closed.load(Ordering::SeqCst),
        3,
        "returned after close: closed"
    );
    assert_eq!(dummy.ledger.open.load(Ordering::SeqCst), 0);
    let s = pool.stats();
    assert!(s.closed);
    assert_eq!(s.total.connections, 0);
    assert_quiet(&pool, DOMAIN, 0);
    pool.close(); // idempotent
}

#[tokio::test]
async fn dropping_the_last_handle_closes_everything() {
    let dummy = Dummy::new();
    let pool = Pool::builder().build(dummy.clone()).unwrap();
    pool.set_ips(DOMAIN, [ip(2)]);
    let a = pool.get(DOMAIN).await.unwrap();
    drop(pool.get(DOMAIN).await.unwrap());
    drop(pool);
    assert_eq!(
        dummy.ledger.open.load(Ordering::SeqCst),
        1,
        "only the lent one is left"
    );
    drop(a);
    assert_eq!(dummy.ledger.open.load(Ordering::SeqCst), 0);
}
