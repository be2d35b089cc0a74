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

/// A sweep cancelled while its health probes are running (connections
/// idle past the health interval on a mock clock, probes that never
/// answer): the probed connections are closed, not lost, and shutdown
/// finishes.
#[tokio::test]
async fn sweep_cancelled_mid_probe_closes_the_probed_connections() {
    let dummy = Dummy::new();
    let (clock, mock) = hotpool::quanta::Clock::mock();
    let pool = Pool::builder()
        .clock(clock)
        .health_check_interval(Duration::from_secs(30))
        .idle_timeout(Duration::from_secs(3600))
        .probe_timeout(Duration::from_secs(3600))
        .build(dummy.clone())
        .unwrap();
    pool.set_ips(DOMAIN, [ip(2)]);
    assert_eq!(pool.prewarm(DOMAIN, 3).await.unwrap(), 3);
    dummy.ledger.probe_hang.store(true, Ordering::SeqCst);
    mock.increment(Duration::from_secs(31));
    // Let the sweep start its probes, then drop it.
    for polls in [1usize, 3, 10] {
        let before = dummy.ledger.probes.load(Ordering::SeqCst);
        assert!(!poll_n_then_drop(pool.sweep_now(), polls).await);
        if dummy.ledger.probes.load(Ordering::SeqCst) > before {
            break;
        }
    }
    assert!(
        dummy.ledger.probes.load(Ordering::SeqCst) > 0,
        "the sweep reached the probes"
    );
    // The probed connections were closed when their probes were dropped.
    // Aborted probe tasks are dropped by the runtime soon after.
    for _ in 0..200 {
        if pool.debug_counts(DOMAIN).2 == pool.stats().total.idle as usize {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let idle = pool.stats().total.idle as usize;
    assert_eq!(pool.debug_counts(DOMAIN).2, idle, "live = idle: none lost");
    assert_eq!(dummy.ledger.open.load(Ordering::SeqCst), idle);
    tokio::time::timeout(Duration::from_secs(5), pool.shutdown())
        .await
        .expect("shutdown finishes");
    assert_eq!(dummy.ledger.open.load(Ordering::SeqCst), 0);
}
