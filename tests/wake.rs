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

/// A waker that counts its wake-ups.
#[derive(Default)]
struct Count(std::sync::atomic::AtomicUsize);

impl std::task::Wake for Count {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Count {
    fn get(&self) -> usize {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

type GetFuture<'a> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<Pooled<support::Conn>, hotpool::Error>> + 'a>,
>;

/// `n` gets of `DOMAIN`, each polled once (registered and asleep), with
/// the waker each polled with.
fn asleep(pool: &Pool<Dummy>, n: usize) -> Vec<(GetFuture<'_>, std::sync::Arc<Count>)> {
    (0..n)
        .map(|_| {
            let mut get: GetFuture<'_> = Box::pin(pool.get(DOMAIN));
            let count = std::sync::Arc::new(Count::default());
            let polled = poll_with(&mut get, &count);
            assert!(
                polled.is_pending(),
                "nothing idle and no capacity: it waits"
            );
            (get, count)
        })
        .collect()
}

/// Polls `get` once with the waker that counts into `count`.
fn poll_with(
    get: &mut GetFuture<'_>,
    count: &std::sync::Arc<Count>,
) -> std::task::Poll<Result<Pooled<support::Conn>, hotpool::Error>> {
    let waker = std::task::Waker::from(count.clone());
    get.as_mut()
        .poll(&mut std::task::Context::from_waker(&waker))
}

fn woken(gets: &[(GetFuture<'_>, std::sync::Arc<Count>)]) -> usize {
    gets.iter().filter(|(_, c)| c.get() > 0).count()
}

#[tokio::test]
async fn a_put_wakes_one_waiter_with_wake_one_and_every_waiter_with_broadcast() {
    for (wake, expected) in [(hotpool::Wake::One, 1), (hotpool::Wake::Broadcast, 8)] {
        let pool = Pool::builder()
            .max_conns_per_domain(1)
            .wake(wake)
            .wait_timeout(Duration::from_secs(30))
            .build(Dummy::new())
            .unwrap();
        pool.set_ips(DOMAIN, [ip(2)]);
        let held = pool.get(DOMAIN).await.unwrap();
        let mut gets = asleep(&pool, 8);
        assert_eq!(pool.debug_counts(DOMAIN).3, 8);
        drop(held);
        assert_eq!(woken(&gets), expected, "{wake:?}: wakers called by one put");
        // The first waiter (FIFO) is among the woken and gets the
        // connection; the rest are dropped (cancelled).
        let (first, count) = &mut gets[0];
        assert_eq!(count.get(), 1);
        match poll_with(first, count) {
            std::task::Poll::Ready(Ok(c)) => assert_eq!(c.id, 0),
            other => panic!("{wake:?}: the woken waiter was not served: {other:?}"),
        }
        drop(gets);
        assert_quiet(&pool, DOMAIN, 1);
    }
}

#[tokio::test]
async fn two_puts_wake_two_waiters_and_a_cancelled_waiter_passes_its_wake_on() {
    let pool = Pool::builder()
        .max_conns_per_domain(2)
        .wait_timeout(Duration::from_secs(30))
        .build(Dummy::new())
        .unwrap();
    pool.set_ips(DOMAIN, [ip(2)]);
    let (a, b) = (
        pool.get(DOMAIN).await.unwrap(),
        pool.get(DOMAIN).await.unwrap(),
    );
    let mut gets = asleep(&pool, 3);
    // Two puts before any waiter runs: two waiters woken, not one (each
    // put wakes one *more* listener).
    drop(a);
    drop(b);
    assert_eq!(woken(&gets), 2, "two puts, two wake-ups");
    assert_eq!(gets[2].1.get(), 0);
    // The first woken waiter is cancelled before it runs: its wake-up
    // passes to the third, which is served.
    drop(gets.remove(0));
    assert_eq!(
        gets[1].1.get(),
        1,
        "the cancelled waiter's wake-up moved on"
    );
    for (get, count) in &mut gets {
        let r = poll_with(get, count);
        assert!(matches!(r, std::task::Poll::Ready(Ok(_))), "{r:?}");
    }
    drop(gets);
    assert_quiet(&pool, DOMAIN, 2);
}
