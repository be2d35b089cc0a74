//! Idle time-out and max lifetime, on quanta's mock clock.
mod support;
use hotpool::{quanta::Clock, Pool, Pooled};
use std::time::Duration;
use support::*;

#[tokio::test]
async fn idle_connection_expires_after_idle_timeout() {
    let (clock, mock) = Clock::mock();
    let dummy = Dummy::new();
    let pool = Pool::builder()
        .idle_timeout(Duration::from_secs(60))
        .clock(clock)
        .build(dummy.clone())
        .unwrap();
    pool.set_ips(DOMAIN, [ip(2)]);
    drop(pool.get(DOMAIN).await.unwrap());

    mock.increment(Duration::from_secs(59));
    let c = pool.get(DOMAIN).await.unwrap();
    assert!(Pooled::is_reused(&c), "59 s idle is within the time-out");
    drop(c); // stamps last_used again

    mock.increment(Duration::from_secs(61));
    let c = pool.get(DOMAIN).await.unwrap();
    assert!(
        !Pooled::is_reused(&c),
        "61 s idle: closed, a new one dialed"
    );
    assert_eq!(c.id, 1);
    let s = pool.stats();
    assert_eq!((s.total.created, s.total.closed), (2, 1));
}

#[tokio::test]
async fn connection_expires_after_max_lifetime() {
    let (clock, mock) = Clock::mock();
    let pool = Pool::builder()
        .idle_timeout(Duration::from_secs(60))
        .max_lifetime(Duration::from_secs(100))
        .clock(clock)
        .build(Dummy::new())
        .unwrap();
    pool.set_ips(DOMAIN, [ip(2)]);
    drop(pool.get(DOMAIN).await.unwrap());
    // keep it busy so it never idles out, until its lifetime is over
    for _ in 0..3 {
        mock.increment(Duration::from_secs(30));
        let c = pool.get(DOMAIN).await.unwrap();
        assert_eq!(c.id, 0);
    }
    mock.increment(Duration::from_secs(30)); // age 120 s > 100 s
    let c = pool.get(DOMAIN).await.unwrap();
    assert_eq!(c.id, 1, "lifetime over: a new connection");
}

#[tokio::test]
async fn a_lent_connection_past_its_lifetime_is_closed_on_return() {
    let (clock, mock) = Clock::mock();
    let pool = Pool::builder()
        .max_lifetime(Duration::from_secs(10))
        .clock(clock)
        .build(Dummy::new())
        .unwrap();
    pool.set_ips(DOMAIN, [ip(2)]);
    let c = pool.get(DOMAIN).await.unwrap();
    mock.increment(Duration::from_secs(11));
    drop(c);
    let s = pool.stats();
    assert_eq!(
        (s.total.connections, s.total.closed, s.total.puts_discarded),
        (0, 1, 1)
    );
    assert_quiet(&pool, DOMAIN, 0);
}

#[tokio::test]
async fn peer_closed_connections_are_never_lent() {
    let dummy = Dummy::new();
    let pool = Pool::builder().build(dummy.clone()).unwrap();
    pool.set_ips(DOMAIN, [ip(2)]);
    let a = pool.get(DOMAIN).await.unwrap();
    let b = pool.get(DOMAIN).await.unwrap();
    drop((a, b));
    dummy
        .ledger
        .dead_below
        .store(2, std::sync::atomic::Ordering::SeqCst);
    let c = pool.get(DOMAIN).await.unwrap();
    assert_eq!(c.id, 2, "both idle connections were closed by the peer");
    assert_eq!(pool.stats().total.closed, 2);
}

#[tokio::test]
async fn sweep_closes_expired_idle_connections() {
    let (clock, mock) = Clock::mock();
    let pool = Pool::builder()
        .idle_timeout(Duration::from_secs(60))
        .clock(clock)
        .build(Dummy::new())
        .unwrap();
    pool.set_ips(DOMAIN, [ip(2)]);
    let a = pool.get(DOMAIN).await.unwrap();
    let b = pool.get(DOMAIN).await.unwrap();
    drop(a);
    mock.increment(Duration::from_secs(61));
    drop(b); // fresh last_used
    assert_eq!(pool.sweep_idle(), (1, 1));
    assert_eq!(pool.stats().total.connections, 1);
}

#[tokio::test]
async fn the_seeds_metrics_healthy_ratio_and_recycle_latency() {
    let (clock, mock) = Clock::mock();
    let pool = Pool::builder()
        .idle_timeout(Duration::from_secs(60))
        .max_errors(5)
        .clock(clock)
        .build(Dummy::new())
        .unwrap();
    pool.set_ips(DOMAIN, [ip(2)]);
    let s = pool.stats();
    assert_eq!(s.healthy_ratio(), 1.0, "no connection, none unhealthy");
    assert_eq!(s.avg_recycle_latency(), Duration::ZERO);
    // Two connections; one put back, then lent again after 4 s and 8 s.
    let a = pool.get(DOMAIN).await.unwrap();
    let mut b = pool.get(DOMAIN).await.unwrap();
    drop(a);
    mock.increment(Duration::from_secs(4));
    let a = pool.get(DOMAIN).await.unwrap();
    assert!(Pooled::is_reused(&a));
    drop(a);
    mock.increment(Duration::from_secs(8));
    let a = pool.get(DOMAIN).await.unwrap();
    let s = pool.stats();
    assert_eq!(s.total.hits, 2);
    let avg = s.avg_recycle_latency();
    assert!(
        avg.abs_diff(Duration::from_secs(6)) < Duration::from_millis(1),
        "(4 s + 8 s) / 2 reuses: {avg:?}"
    );
    assert_eq!((s.total.connections, s.total.healthy), (2, 2));
    // An error counted against one: healthy 1 of 2.
    b.mark_error();
    drop(b);
    let s = pool.stats();
    assert_eq!(s.total.healthy, 1, "{:?}", s.total);
    assert_eq!(s.healthy_ratio(), 0.5);
    // A lent connection is not idling: still healthy 61 s on.
    mock.increment(Duration::from_secs(61));
    assert_eq!(pool.stats().total.healthy, 1);
    // Returned, then idle past the limit: not lendable, not healthy.
    drop(a);
    assert_eq!(pool.stats().total.healthy, 1);
    mock.increment(Duration::from_secs(61));
    assert_eq!(pool.stats().total.healthy, 0);
}
