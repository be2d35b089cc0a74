//! The expiring IP blacklist: dials skip blocked IPs, their connections are
//! not lent or kept, blocks expire, and allow/deny lists hold.
mod support;
use hotpool::{quanta::Clock, Pool, Pooled};
use std::time::Duration;
use support::*;

#[tokio::test]
async fn dials_skip_a_blocked_ip_until_its_block_expires() {
    let (clock, mock) = Clock::mock();
    let pool = Pool::builder()
        .blacklist_ttl(Duration::from_secs(60))
        .idle_timeout(Duration::from_secs(3600))
        .clock(clock)
        .build(Dummy::new())
        .unwrap();
    pool.set_ips(DOMAIN, [ip(2), ip(3)]);
    assert!(pool.block(ip(2)));
    assert!(pool.is_blocked(ip(2)));
    assert_eq!(pool.blocked(), vec![ip(2)]);
    assert_eq!(pool.stats().blacklisted, 1);

    let mut held = Vec::new();
    for _ in 0..4 {
        let c = pool.get(DOMAIN).await.unwrap();
        assert_eq!(
            Pooled::target(&c).addr().ip(),
            ip(3),
            "the blocked IP is skipped"
        );
        held.push(c);
    }
    drop(held);

    mock.increment(Duration::from_secs(61));
    assert!(!pool.is_blocked(ip(2)));
    assert!(pool.blocked().is_empty());
    assert_eq!(pool.stats().blacklisted, 0);
    // four idle .3 connections are lent first; a fifth dial goes to .2 again
    let mut held = Vec::new();
    for _ in 0..6 {
        held.push(pool.get(DOMAIN).await.unwrap());
    }
    assert!(held.iter().any(|c| Pooled::target(c).addr().ip() == ip(2)));
}

#[tokio::test]
async fn connections_to_a_newly_blocked_ip_are_not_lent_or_kept() {
    let pool = Pool::builder().build(Dummy::new()).unwrap();
    pool.set_ips(DOMAIN, [ip(2), ip(3)]);
    let a = pool.get(DOMAIN).await.unwrap(); // .2
    let b = pool.get(DOMAIN).await.unwrap(); // .3
    let a_id = a.id;
    drop(a); // idle on .2
    pool.block(ip(2));
    let c = pool.get(DOMAIN).await.unwrap();
    assert_ne!(c.id, a_id, "the idle .2 connection is not lent");
    assert_eq!(Pooled::target(&c).addr().ip(), ip(3));
    assert_eq!(pool.stats().total.closed, 1);

    pool.block(ip(3));
    drop(b); // returned to a blocked IP: closed
    drop(c);
    let s = pool.stats();
    assert_eq!((s.total.connections, s.total.closed), (0, 3));

    let e = pool.get(DOMAIN).await.unwrap_err();
    assert!(e.is_blocked(), "{e}");
    assert_eq!(e.domain(), Some(DOMAIN));
    assert_quiet(&pool, DOMAIN, 0);

    assert!(pool.unblock(ip(3)));
    assert!(!pool.unblock(ip(3)));
    let c = pool.get(DOMAIN).await.unwrap();
    assert_eq!(Pooled::target(&c).addr().ip(), ip(3));
}

#[tokio::test]
async fn a_blocked_ip_is_blocked_in_every_domain_and_for_new_addresses() {
    let pool = Pool::builder().build(Dummy::new()).unwrap();
    pool.set_ips("a.test", [ip(2), ip(3)]);
    pool.block(ip(2));
    pool.set_ips("b.test", [ip(2), ip(4)]); // added after the block
    for d in ["a.test", "b.test"] {
        for _ in 0..3 {
            let c = pool.get(d).await.unwrap();
            assert_ne!(Pooled::target(&c).addr().ip(), ip(2), "{d}");
        }
    }
}

#[tokio::test]
async fn allow_and_deny_lists() {
    let pool = Pool::builder()
        .allow_ips([ip(2)])
        .deny_ips([ip(3)])
        .build(Dummy::new())
        .unwrap();
    pool.set_ips(DOMAIN, [ip(2), ip(3)]);
    assert!(!pool.block(ip(2)), "allow-listed IPs are never blocked");
    assert!(!pool.is_blocked(ip(2)));
    assert!(pool.is_blocked(ip(3)), "deny-listed IPs always are");
    assert!(!pool.unblock(ip(3)));
    assert!(pool.is_blocked(ip(3)));
    assert_eq!(pool.stats().blacklisted, 1);
    for _ in 0..3 {
        let c = pool.get(DOMAIN).await.unwrap();
        assert_eq!(Pooled::target(&c).addr().ip(), ip(2));
    }

    let e = Pool::builder()
        .allow_ips([ip(5)])
        .deny_ips([ip(5)])
        .build(Dummy::new())
        .unwrap_err();
    assert!(
        e.to_string().contains("deny_ips") && e.to_string().contains("127.0.0.5"),
        "{e}"
    );
}

#[tokio::test]
async fn blocking_again_extends_never_shortens() {
    let (clock, mock) = Clock::mock();
    let pool = Pool::builder().clock(clock).build(Dummy::new()).unwrap();
    pool.block_for(ip(2), Duration::from_secs(100));
    pool.block_for(ip(2), Duration::from_secs(10));
    mock.increment(Duration::from_secs(50));
    assert!(pool.is_blocked(ip(2)));
    mock.increment(Duration::from_secs(51));
    assert!(!pool.is_blocked(ip(2)));
}
