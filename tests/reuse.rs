//! An idle connection is lent again instead of dialing.
mod support;
use hotpool::{Pool, Pooled};
use support::*;

#[tokio::test]
async fn returned_connection_is_reused() {
    let dummy = Dummy::new();
    let pool = Pool::builder().build(dummy.clone()).unwrap();
    pool.set_ips(DOMAIN, [ip(2)]);

    let c = pool.get(DOMAIN).await.unwrap();
    let first = c.id;
    assert!(!Pooled::is_reused(&c));
    assert_eq!(Pooled::target(&c).domain(), DOMAIN);
    assert_eq!(Pooled::target(&c).addr(), "127.0.0.2:443".parse().unwrap());
    drop(c);

    for _ in 0..100 {
        let c = pool.get(DOMAIN).await.unwrap();
        assert_eq!(c.id, first, "the one idle connection is lent again");
        assert!(Pooled::is_reused(&c));
    }
    assert_eq!(
        dummy.ledger.dials.load(std::sync::atomic::Ordering::SeqCst),
        1
    );

    let s = pool.stats();
    let d = s.domain(DOMAIN).unwrap();
    assert_eq!((d.gets, d.hits, d.fresh, d.misses), (101, 100, 1, 0));
    assert_eq!(d.puts_recycled, 101);
    assert_eq!(d.puts_discarded, 0);
    assert_eq!((d.connections, d.idle, d.in_use), (1, 1, 0));
    assert!((s.reuse_rate() - 100.0 / 101.0).abs() < 1e-9);
    assert_eq!(s.recycle_rate(), 1.0);
    assert_quiet(&pool, DOMAIN, 1);
}

#[tokio::test]
async fn try_get_lends_only_idle_connections() {
    let dummy = Dummy::new();
    let pool = Pool::builder().build(dummy.clone()).unwrap();
    pool.set_ips(DOMAIN, [ip(2)]);

    assert!(pool.try_get(DOMAIN).is_none(), "nothing idle yet");
    assert!(pool.try_get("unknown.test").is_none());
    assert_eq!(
        dummy.ledger.dials.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "try_get never dials"
    );

    drop(pool.get(DOMAIN).await.unwrap());
    let c = pool.try_get(DOMAIN).expect("idle connection");
    assert!(Pooled::is_reused(&c));
    assert!(
        pool.try_get(DOMAIN).is_none(),
        "the only connection is lent"
    );
    drop(c);
    assert!(pool.try_get(DOMAIN).is_some());
}

#[tokio::test]
async fn take_detaches_and_frees_capacity() {
    let dummy = Dummy::new();
    let pool = Pool::builder()
        .max_conns_per_domain(1)
        .build(dummy.clone())
        .unwrap();
    pool.set_ips(DOMAIN, [ip(2)]);

    let c = pool.get(DOMAIN).await.unwrap();
    let conn = Pooled::take(c);
    assert_quiet(&pool, DOMAIN, 0);
    // capacity is free again: a new dial happens
    let c2 = pool.get(DOMAIN).await.unwrap();
    assert_ne!(c2.id, conn.id);
    let s = pool.stats();
    assert_eq!(s.total.detached, 1);
    assert_eq!(
        s.total.created,
        s.total.connections + s.total.closed + s.total.detached
    );
}

#[tokio::test]
async fn ports_in_keys_and_round_robin() {
    let dummy = Dummy::new();
    // Round-robin, not the default choice by score (tests/address_scores.rs).
    let pool = Pool::builder()
        .address_choice(hotpool::AddressChoice::RoundRobin)
        .build(dummy.clone())
        .unwrap();
    let key = "example.test:8443";
    pool.set_ips(key, [ip(2), ip(3)]);
    assert_eq!(
        pool.ips(key),
        vec![
            "127.0.0.2:8443".parse().unwrap(),
            "127.0.0.3:8443".parse().unwrap()
        ]
    );
    let a = pool.get(key).await.unwrap();
    let b = pool.get(key).await.unwrap();
    let c = pool.get(key).await.unwrap();
    let addrs: Vec<_> = [&a, &b, &c]
        .iter()
        .map(|p| Pooled::target(p).addr().ip())
        .collect();
    assert_eq!(
        addrs,
        vec![ip(2), ip(3), ip(2)],
        "dials go round-robin over the addresses"
    );
    assert_eq!(
        Pooled::target(&a).domain(),
        "example.test",
        "SNI name has no port"
    );
}

#[test]
fn guard_and_pool_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Pool<Dummy>>();
    send_sync::<Pooled<Conn>>();
    send_sync::<hotpool::Error>();
    send_sync::<hotpool::Stats>();
    fn send_future<F: std::future::Future + Send>(_: F) {}
    let pool = Pool::builder().build(Dummy::new()).unwrap();
    send_future(pool.get(DOMAIN));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guards_move_between_threads_pools_and_handles() {
    // The put parks its domain reference per thread for the next lend;
    // returns on other threads, to other pools and through handles must all
    // keep the books straight.
    let a = Pool::builder().build(Dummy::new()).unwrap();
    let b = Pool::builder().build(Dummy::new()).unwrap();
    for p in [&a, &b] {
        p.set_ips(DOMAIN, [ip(2)]);
        p.set_ips("other.test", [ip(3)]);
    }
    let ha = a.domain(DOMAIN);
    assert_eq!(ha.key(), DOMAIN);
    for i in 0..200 {
        let pool = if i % 2 == 0 { &a } else { &b };
        let key = if i % 3 == 0 { "other.test" } else { DOMAIN };
        let c = pool.get(key).await.unwrap();
        assert_eq!(Pooled::target(&c).domain(), key);
        // return it on another thread half of the time
        if i % 4 == 0 {
            std::thread::spawn(move || drop(c)).join().unwrap();
        } else {
            drop(c);
        }
        let h = ha.get().await.unwrap();
        assert_eq!(Pooled::target(&h).domain(), DOMAIN);
    }
    for p in [&a, &b] {
        let s = p.stats();
        assert_eq!(
            s.total.created, 2,
            "one connection per domain, reused throughout"
        );
        assert_eq!((s.total.in_use, s.total.idle), (0, 2));
    }
    drop(ha);
    drop(a);
    drop(b);
}
