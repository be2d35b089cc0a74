//! Each model is named after the race it checks; 2–3 threads, 1–2
//! operations each. See the crate docs for how to run them.
#![cfg(loom)]

use hotpool::{Pool, Pooled};
use loom::{future::block_on, thread};
use loom_tests::{Dummy, DOMAIN};
use std::sync::atomic::Ordering;

fn pool(max_per_domain: usize, max_conns: usize) -> (Pool<Dummy>, Dummy) {
    let dummy = Dummy::default();
    let pool = Pool::builder()
        .max_conns_per_domain(max_per_domain)
        .max_conns(max_conns)
        .build(dummy.clone())
        .unwrap();
    pool.set_ips(DOMAIN, [std::net::IpAddr::from([127, 0, 0, 2])]);
    pool.set_ips("other.test", [std::net::IpAddr::from([127, 0, 0, 3])]);
    (pool, dummy)
}

/// Pool and domain reserved counts equal `live`, nobody is registered as
/// waiting, and the connector agrees on how many connections are open.
fn assert_settled(pool: &Pool<Dummy>, dummy: &Dummy, domain: &str, live: usize) {
    let (pl, pw, dl, dw) = pool.debug_counts(domain);
    assert_eq!(pw, 0, "pool waiter count leaked");
    assert_eq!(dw, 0, "domain waiter count leaked");
    assert_eq!(dl, live, "domain capacity leaked");
    assert!(pl >= dl);
    let s = pool.stats();
    assert_eq!(
        s.total.connections as usize,
        dummy.ledger.open.load(Ordering::SeqCst)
    );
    assert_eq!(
        s.total.created,
        s.total.connections + s.total.closed + s.total.detached,
        "conservation"
    );
}

/// (a) Two borrowers race for one idle connection: never both get it.
#[test]
fn two_borrowers_race_for_one_idle_connection() {
    loom::model(|| {
        let (pool, dummy) = pool(1, 4);
        drop(block_on(pool.get(DOMAIN)).unwrap());
        let ths: Vec<_> = (0..2)
            .map(|_| {
                let pool = pool.clone();
                thread::spawn(move || {
                    if let Some(c) = pool.try_get(DOMAIN) {
                        c.enter();
                        c.leave();
                    }
                })
            })
            .collect();
        for t in ths {
            t.join().unwrap();
        }
        assert_eq!(dummy.ledger.created.load(Ordering::SeqCst), 1);
        assert_settled(&pool, &dummy, DOMAIN, 1);
    });
}

/// (b) A put races a waiter registering: the waiter is never left asleep,
/// whether the put sees its count (notify) or not (skip-notify path: then
/// the waiter's re-check must see the pushed connection).
#[test]
fn put_races_a_waiter_registering() {
    loom::model(|| {
        let (pool, dummy) = pool(1, 4);
        let held = block_on(pool.get(DOMAIN)).unwrap();
        let p = pool.clone();
        let waiter = thread::spawn(move || {
            let c = block_on(p.get(DOMAIN)).expect("waiter served");
            c.enter();
            c.leave();
            c.id
        });
        let putter = thread::spawn(move || drop(held));
        putter.join().unwrap();
        assert_eq!(
            waiter.join().unwrap(),
            0,
            "the returned connection went to the waiter"
        );
        assert_settled(&pool, &dummy, DOMAIN, 1);
    });
}

/// (c) A capacity reservation races a connection closing: the pool limit is
/// never exceeded, and the freed slot wakes the waiter, which dials.
#[test]
fn reservation_races_a_closing_connection() {
    loom::model(|| {
        let (pool, dummy) = pool(4, 1);
        let held = block_on(pool.get("other.test")).unwrap();
        let p = pool.clone();
        let waiter = thread::spawn(move || {
            let c = block_on(p.get(DOMAIN)).expect("waiter served");
            c.id
        });
        let closer = thread::spawn(move || Pooled::discard(held));
        closer.join().unwrap();
        assert_eq!(
            waiter.join().unwrap(),
            1,
            "the waiter dialed a new connection"
        );
        assert_eq!(
            dummy.ledger.max_open.load(Ordering::SeqCst),
            1,
            "pool limit exceeded"
        );
        assert_settled(&pool, &dummy, DOMAIN, 1);
    });
}

/// (d) `close()` races a waiting get and a put: the waiter always wakes
/// (served or `Closed`), and no connection stays open.
#[test]
fn close_races_get_and_put() {
    loom::model(|| {
        let (pool, dummy) = pool(1, 4);
        let held = block_on(pool.get(DOMAIN)).unwrap();
        let p = pool.clone();
        let waiter = thread::spawn(move || match block_on(p.get(DOMAIN)) {
            Ok(c) => {
                c.enter();
                c.leave();
                true
            }
            Err(e) => {
                assert!(e.is_closed(), "{e}");
                false
            }
        });
        let putter = thread::spawn(move || drop(held));
        pool.close();
        putter.join().unwrap();
        waiter.join().unwrap();
        assert_eq!(
            dummy.ledger.open.load(Ordering::SeqCst),
            0,
            "a connection survived close"
        );
        assert_settled(&pool, &dummy, DOMAIN, 0);
    });
}

/// (e) A drain-and-re-queue pass (the sweeper) races a get: the get is never
/// stranded while the connection is out of the queue, and nothing is dialed
/// past the limit.
#[test]
fn sweep_races_get() {
    loom::model(|| {
        let (pool, dummy) = pool(1, 4);
        drop(block_on(pool.get(DOMAIN)).unwrap());
        let p = pool.clone();
        let getter = thread::spawn(move || {
            let c = block_on(p.get(DOMAIN)).expect("served");
            c.enter();
            c.leave();
            c.id
        });
        let (kept, closed) = pool.sweep_idle();
        assert_eq!(closed, 0);
        assert!(kept <= 1);
        assert_eq!(getter.join().unwrap(), 0, "the one connection was lent");
        assert_eq!(dummy.ledger.created.load(Ordering::SeqCst), 1);
        assert_settled(&pool, &dummy, DOMAIN, 1);
    });
}

/// (f) `block(ip)` races a refresh of the address list that adds `ip`:
/// the refreshed list never holds an unblocked copy of the blocked
/// address (the refresh makes its address records from the blacklist, the
/// block copies its deadline to the records; both under the domain's list
/// lock).
#[test]
fn block_races_an_address_refresh() {
    loom::model(|| {
        let dummy = Dummy::default();
        let pool = Pool::builder()
            .max_conns_per_domain(1)
            .max_conns(2)
            .build(dummy.clone())
            .unwrap();
        let (old, new) = (
            std::net::IpAddr::from([127, 0, 0, 3]),
            std::net::IpAddr::from([127, 0, 0, 2]),
        );
        pool.set_ips(DOMAIN, [old]);
        let p = pool.clone();
        let refresh = thread::spawn(move || p.set_ips(DOMAIN, [new]));
        assert!(pool.block(new));
        refresh.join().unwrap();
        // The only address is blocked: the get must not dial it.
        let e = block_on(pool.get(DOMAIN))
            .err()
            .expect("blocked, not dialed");
        assert!(e.is_blocked(), "{e}");
        assert_eq!(dummy.ledger.created.load(Ordering::SeqCst), 0);
    });
}
