//! Waiting for a connection ends with a time-out naming the domain.
mod support;
use hotpool::Pool;
use std::time::Duration;
use support::*;

#[tokio::test(start_paused = true)]
async fn waiting_times_out_after_wait_timeout() {
    let pool = Pool::builder()
        .max_conns_per_domain(1)
        .wait_timeout(Duration::from_secs(2))
        .build(Dummy::new())
        .unwrap();
    pool.set_ips(DOMAIN, [ip(2)]);
    let held = pool.get(DOMAIN).await.unwrap();
    let started = tokio::time::Instant::now();
    let e = pool.get(DOMAIN).await.unwrap_err();
    let waited = started.elapsed();
    assert!(e.is_wait_timeout() && e.is_timeout(), "{e}");
    assert!(
        waited >= Duration::from_secs(2) && waited < Duration::from_millis(2100),
        "{waited:?}"
    );
    assert!(e.to_string().contains(DOMAIN), "{e}");
    let s = pool.stats();
    assert_eq!(
        (s.total.waits, s.total.wait_timeouts, s.total.misses),
        (1, 1, 1)
    );
    drop(held);
    assert_quiet(&pool, DOMAIN, 1);
}
