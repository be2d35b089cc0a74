//! Each model is named after the race it checks; 2–4 threads, 1–2
//! operations each. See the crate docs for how to run them.
//!
//! Threads reach their domain through a `DomainHandle` taken before they
//! start: under loom the domain map's swap cell is a mutex, whose lock and
//! unlock would add happens-before edges that the real `ArcSwap` load does
//! not, and could hide a missing edge in the protocol. Connections are used
//! with `Conn::hold`, which yields inside the use so that a second holder
//! of the same connection is caught.
#![cfg(loom)]

use hotpool::{Pool, Pooled, Wake};
use loom::{future::block_on, thread};
use loom_tests::{Dummy, DOMAIN};
use std::{
    future::Future,
    sync::atomic::Ordering,
    task::{Context, Poll, Waker},
};

fn pool(max_per_domain: usize, max_conns: usize) -> (Pool<Dummy>, Dummy) {
    pool_waking(max_per_domain, max_conns, Wake::One)
}

fn pool_waking(max_per_domain: usize, max_conns: usize, wake: Wake) -> (Pool<Dummy>, Dummy) {
    let dummy = Dummy::default();
    let pool = Pool::builder()
        .max_conns_per_domain(max_per_domain)
        .max_conns(max_conns)
        .wake(wake)
        .build(dummy.clone())
        .unwrap();
    pool.set_ips(DOMAIN, [std::net::IpAddr::from([127, 0, 0, 2])]);
    pool.set_ips(OTHER, [std::net::IpAddr::from([127, 0, 0, 3])]);
    (pool, dummy)
}

/// The second domain of the models.
const OTHER: &str = "other.test";

/// A model checker with at most `n` preemptions (below the environment's
/// `LOOM_MAX_PREEMPTIONS`, if that is set lower).
fn bounded(n: usize) -> loom::model::Builder {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(b.preemption_bound.map_or(n, |env| env.min(n)));
    b
}

/// Both waking rules: each model that waits runs under each.
const WAKES: [Wake; 2] = [Wake::One, Wake::Broadcast];

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
        let h = pool.domain(DOMAIN);
        drop(block_on(h.get()).unwrap());
        let ths: Vec<_> = (0..2)
            .map(|_| {
                let h = h.clone();
                thread::spawn(move || {
                    if let Some(c) = h.try_get() {
                        c.hold();
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
    for wake in WAKES {
        loom::model(move || {
            let (pool, dummy) = pool_waking(1, 4, wake);
            let h = pool.domain(DOMAIN);
            let held = block_on(h.get()).unwrap();
            let waiter = thread::spawn(move || {
                let c = block_on(h.get()).expect("waiter served");
                c.hold();
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
}

/// (c) A capacity reservation races a connection closing: the pool limit is
/// never exceeded, and the freed slot wakes the waiter, which dials.
#[test]
fn reservation_races_a_closing_connection() {
    loom::model(|| {
        let (pool, dummy) = pool(4, 1);
        let held = block_on(pool.get(OTHER)).unwrap();
        let h = pool.domain(DOMAIN);
        let waiter = thread::spawn(move || {
            let c = block_on(h.get()).expect("waiter served");
            c.hold();
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

/// (d) The synchronization word: `close()` races a waiting get and a put.
/// The waiter always wakes (served or `Closed`), and no connection stays
/// open: a put whose RMW comes after close's reads `CLOSED` and drains, one
/// before it pushed where close's drain finds it.
#[test]
fn close_races_get_and_put() {
    loom::model(|| {
        let (pool, dummy) = pool(1, 4);
        let h = pool.domain(DOMAIN);
        let held = block_on(h.get()).unwrap();
        let waiter = thread::spawn(move || match block_on(h.get()) {
            Ok(c) => {
                c.hold();
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
        let h = pool.domain(DOMAIN);
        drop(block_on(h.get()).unwrap());
        let getter = thread::spawn(move || {
            let c = block_on(h.get()).expect("served");
            c.hold();
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
        let Err(e) = block_on(pool.get(DOMAIN)) else {
            panic!("blocked, not dialed")
        };
        assert!(e.is_blocked(), "{e}");
        assert_eq!(dummy.ledger.created.load(Ordering::SeqCst), 0);
    });
}

/// (g) Two waiters, two puts: both waiters are served although both
/// connections may come back before either waiter runs. With
/// `Wake::One`, each put must wake one *more* listener
/// (`notify(1.additional())`); a plain `notify(1)` counts the first,
/// still pending, notification and wakes nobody for the second. The
/// waiters keep their connections until joined, so a lost wake-up is not
/// covered by a later put.
///
/// Three threads with long paths: explored with at most two preemptions
/// (the lost wake-up needs none — both waiters asleep, then two puts).
#[test]
fn two_waiters_two_puts() {
    for wake in WAKES {
        bounded(2).check(move || {
            let (pool, dummy) = pool_waking(2, 4, wake);
            let h = pool.domain(DOMAIN);
            let a = block_on(h.get()).unwrap();
            let b = block_on(h.get()).unwrap();
            let waiters: Vec<_> = (0..2)
                .map(|_| {
                    let h = h.clone();
                    thread::spawn(move || {
                        let c = block_on(h.get()).expect("waiter served");
                        c.hold();
                        c
                    })
                })
                .collect();
            drop(a);
            drop(b);
            let got: Vec<_> = waiters.into_iter().map(|t| t.join().unwrap()).collect();
            assert_ne!(got[0].id, got[1].id, "one connection lent twice");
            assert_eq!(dummy.ledger.created.load(Ordering::SeqCst), 2);
            drop(got);
            assert_settled(&pool, &dummy, DOMAIN, 2);
        });
    }
}

/// (h) A waiter that is notified and then dropped (a cancelled or timed-out
/// `get`) passes its notification on: the other waiter is served.
///
/// Explored with at most two preemptions (three put the model past ten
/// minutes; the pass-on needs none: the quitter registered first, the put
/// notifies it, it is dropped).
#[test]
fn a_dropped_notified_waiter_passes_on() {
    for wake in WAKES {
        bounded(2).check(move || {
            let (pool, dummy) = pool_waking(1, 4, wake);
            let h = pool.domain(DOMAIN);
            let held = block_on(h.get()).unwrap();
            let h1 = h.clone();
            let quitter = thread::spawn(move || {
                // One poll: served, or registered and then cancelled.
                let mut get = Box::pin(h1.get());
                let mut cx = Context::from_waker(Waker::noop());
                if let Poll::Ready(r) = get.as_mut().poll(&mut cx) {
                    r.expect("served").hold();
                }
            });
            let waiter = thread::spawn(move || {
                let c = block_on(h.get()).expect("waiter served");
                c.hold();
                c.id
            });
            drop(held);
            quitter.join().unwrap();
            assert_eq!(waiter.join().unwrap(), 0, "the waiter got the connection");
            assert_settled(&pool, &dummy, DOMAIN, 1);
        });
    }
}

/// (i) Two domains share a pool limit of one: the unit freed by one
/// domain's connection wakes the other domain's waiter (pool-level), and
/// the waiter of the first domain too; whoever loses the race is woken by
/// the winner's release. Never more than one connection open.
#[test]
fn two_domains_share_a_pool_limit_of_one() {
    for wake in WAKES {
        loom::model(move || {
            let (pool, dummy) = pool_waking(1, 1, wake);
            let (hd, ho) = (pool.domain(DOMAIN), pool.domain(OTHER));
            let held = block_on(hd.get()).unwrap();
            let ths: Vec<_> = [hd, ho]
                .into_iter()
                .map(|h| {
                    thread::spawn(move || {
                        let c = block_on(h.get()).expect("waiter served");
                        c.hold();
                        Pooled::discard(c);
                    })
                })
                .collect();
            Pooled::discard(held);
            for t in ths {
                t.join().unwrap();
            }
            assert_eq!(
                dummy.ledger.max_open.load(Ordering::SeqCst),
                1,
                "pool limit exceeded"
            );
            assert_eq!(dummy.ledger.created.load(Ordering::SeqCst), 3);
            assert_settled(&pool, &dummy, OTHER, 0);
        });
    }
}

/// (j) The reservation rollback: two gets of one domain both take a pool
/// unit, one finds the domain full and gives its unit back — a release
/// like any other, which must wake the other domain's task that saw the
/// pool full meanwhile.
#[test]
fn reservation_rollback_wakes_the_pool() {
    loom::model(|| {
        let (pool, dummy) = pool(1, 2);
        let (hd, ho) = (pool.domain(DOMAIN), pool.domain(OTHER));
        let ths: Vec<_> = [hd.clone(), ho]
            .into_iter()
            .map(|h| thread::spawn(move || drop(block_on(h.get()).expect("served"))))
            .collect();
        drop(block_on(hd.get()).expect("served"));
        for t in ths {
            t.join().unwrap();
        }
        assert!(dummy.ledger.max_open.load(Ordering::SeqCst) <= 2);
        // The other domain's task may have evicted the first domain's idle
        // connection to make room: count what is left.
        let left = |key: &str| {
            pool.stats()
                .domains
                .iter()
                .find(|d| &*d.domain == key)
                .map_or(0, |d| d.connections as usize)
        };
        assert_settled(&pool, &dummy, DOMAIN, left(DOMAIN));
        assert_settled(&pool, &dummy, OTHER, left(OTHER));
    });
}
