//! Domain addresses: no address, retiring addresses that leave the list.
mod support;
use hotpool::{Pool, Pooled};
use support::*;

#[tokio::test]
async fn a_domain_without_addresses_is_an_error_and_leaks_nothing() {
    let pool = Pool::builder().build(Dummy::new()).unwrap();
    let e = pool.get("nowhere.test").await.unwrap_err();
    assert!(e.is_no_address(), "{e}");
    assert_eq!(e.domain(), Some("nowhere.test"));
    assert!(e.to_string().contains("nowhere.test"));
    assert_quiet(&pool, "nowhere.test", 0);
    assert_eq!(pool.stats().total.misses, 1);
}

#[tokio::test]
async fn removed_addresses_retire_their_connections() {
    let dummy = Dummy::new();
    let pool = Pool::builder().build(dummy.clone()).unwrap();
    pool.set_ips(DOMAIN, [ip(2), ip(3)]);
    let a = pool.get(DOMAIN).await.unwrap(); // .2
    let b = pool.get(DOMAIN).await.unwrap(); // .3
    assert_eq!(Pooled::target(&a).addr().ip(), ip(2));
    drop(a); // idle on .2

    pool.set_ips(DOMAIN, [ip(3), ip(4)]);
    // the idle .2 connection was closed at once
    assert_eq!(pool.stats().total.connections, 1);
    // a lent .3 connection survives
    drop(b);
    assert_eq!(pool.stats().total.connections, 1);

    let lent = pool.get(DOMAIN).await.unwrap();
    pool.set_ips(DOMAIN, [ip(4)]);
    assert_eq!(
        pool.stats().total.connections,
        1,
        "lent connection is not touched"
    );
    drop(lent); // returned to a retired address: closed
    assert_eq!(pool.stats().total.connections, 0);

    let c = pool.get(DOMAIN).await.unwrap();
    assert_eq!(Pooled::target(&c).addr().ip(), ip(4));
}
