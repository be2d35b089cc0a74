//! A `get` future dropped at any await point leaks no capacity, no waiter
//! count and no connection.
mod support;
use hotpool::Pool;
use std::{
    future::Future,
    pin::pin,
    sync::atomic::Ordering,
    task::{Context, Poll, Waker},
    time::Duration,
};
use support::*;

/// Polls `fut` exactly `polls` times (fewer if it finishes), then drops it.
/// Returns whether it finished.
async fn poll_n_then_drop<F: Future>(fut: F, polls: usize) -> bool {
    let mut fut = pin!(fut);
    for _ in 0..polls {
        let done = std::future::poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx).is_ready())).await;
        if done {
            return true;
        }
        tokio::task::yield_now().await;
    }
    false
}

#[tokio::test]
async fn dropped_while_waiting() {
    let pool = Pool::builder()
        .max_conns_per_domain(1)
        .wait_timeout(Duration::from_secs(60))
        .build(Dummy::new())
        .unwrap();
    pool.set_ips(DOMAIN, [ip(2)]);
    let held = pool.get(DOMAIN).await.unwrap();
    for polls in 1..=5 {
        let finished = poll_n_then_drop(pool.get(DOMAIN), polls).await;
        assert!(!finished);
        assert_quiet(&pool, DOMAIN, 1);
    }
    drop(held);
    // nothing is left registered: the connection is idle and lendable
    assert!(pool.try_get(DOMAIN).is_some());
}

#[tokio::test]
async fn dropped_while_dialing() {
    let dummy = Dummy::new();
    dummy.ledger.delay_ms.store(50, Ordering::SeqCst);
    let pool = Pool::builder()
        .max_conns_per_domain(1)
        .build(dummy.clone())
        .unwrap();
    pool.set_ips(DOMAIN, [ip(2)]);
    for polls in 1..=4 {
        assert!(!poll_n_then_drop(pool.get(DOMAIN), polls).await);
        assert_quiet(&pool, DOMAIN, 0);
    }
    assert_eq!(
        dummy.ledger.open.load(Ordering::SeqCst),
        0,
        "no connection was made or kept"
    );
    dummy.ledger.delay_ms.store(0, Ordering::SeqCst);
    let c = pool.get(DOMAIN).await.unwrap();
    assert_eq!(pool.stats().total.connections, 1);
    drop(c);
}

/// Drives `get` with a manual poll count on a fresh waker each time, without
/// yielding to the runtime in between: every possible stopping point of the
/// future, for every scenario, leaks nothing.
#[tokio::test(start_paused = true)]
async fn every_stopping_point() {
    for scenario in 0..3 {
        for stop_after in 0..8 {
            let dummy = Dummy::new();
            if scenario == 1 {
                dummy.ledger.delay_ms.store(10, Ordering::SeqCst);
            }
            let pool = Pool::builder()
                .max_conns_per_domain(1)
                .wait_timeout(Duration::from_millis(20))
                .build(dummy.clone())
                .unwrap();
            pool.set_ips(DOMAIN, [ip(2)]);
            let held = if scenario == 2 {
                Some(pool.get(DOMAIN).await.unwrap())
            } else {
                None
            };
            {
                let mut fut = pin!(pool.get(DOMAIN));
                let mut cx = Context::from_waker(Waker::noop());
                for _ in 0..stop_after {
                    if fut.as_mut().poll(&mut cx).is_ready() {
                        break;
                    }
                    tokio::time::advance(Duration::from_millis(5)).await;
                }
            }
            let live = usize::from(held.is_some()) + pool.stats().total.connections as usize
                - usize::from(held.is_some());
            assert_quiet(&pool, DOMAIN, live);
            let s = pool.stats();
            assert_eq!(s.total.created, s.total.connections + s.total.closed);
            assert_eq!(
                dummy.ledger.open.load(Ordering::SeqCst) as u64,
                s.total.connections,
                "scenario {scenario}, stopped after {stop_after} polls"
            );
            drop(held);
        }
    }
}
