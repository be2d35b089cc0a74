//! A connection over `max_errors` is closed.
mod support;
use hotpool::{Pool, Pooled};
use support::*;

#[tokio::test]
async fn connection_over_the_error_limit_is_closed_on_return() {
    let pool = Pool::builder().max_errors(2).build(Dummy::new()).unwrap();
    pool.set_ips(DOMAIN, [ip(2)]);
    for round in 1..=2u8 {
        let mut c = pool.get(DOMAIN).await.unwrap();
        assert_eq!(c.id, 0);
        c.mark_error();
        assert_eq!(Pooled::error_count(&c), round);
    }
    // two errors: at the limit, still kept
    let mut c = pool.get(DOMAIN).await.unwrap();
    assert_eq!(c.id, 0);
    c.mark_error(); // three > two
    drop(c);
    let s = pool.stats();
    assert_eq!(
        (s.total.connections, s.total.closed, s.total.puts_discarded),
        (0, 1, 1)
    );
    let c = pool.get(DOMAIN).await.unwrap();
    assert_eq!(c.id, 1);
    assert_eq!(Pooled::error_count(&c), 0);
}

#[tokio::test]
async fn discard_closes_instead_of_returning() {
    let pool = Pool::builder().build(Dummy::new()).unwrap();
    pool.set_ips(DOMAIN, [ip(2)]);
    let c = pool.get(DOMAIN).await.unwrap();
    Pooled::discard(c);
    let s = pool.stats();
    assert_eq!(
        (s.total.connections, s.total.closed, s.total.puts_discarded),
        (0, 1, 1)
    );
    assert_eq!(s.recycle_rate(), 0.0);
    assert_quiet(&pool, DOMAIN, 0);
}
