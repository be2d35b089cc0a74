//! The per-thread cache of domain references (`engine/thread_cache.rs`):
//! a get looks there before the map, a put parks its reference there. The
//! cache is only a shortcut: whatever it holds, every get lends a connection
//! of its own key and its own pool, and a closed pool lends nothing.
mod support;

use hotpool::{Connect, Error, Pool, Pooled, Target};
use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc,
};
use support::{ip, Dummy};

fn key(i: usize) -> String {
    format!("d{i}.cache.test")
}

fn address(i: usize) -> std::net::IpAddr {
    ip(2 + (i % 250) as u8)
}

/// Lends and returns `key`'s connection, checking it is that key's.
async fn round_trip<C: Connect>(pool: &Pool<C>, i: usize) {
    let c = pool.get(&key(i)).await.unwrap();
    assert_eq!(
        Pooled::target(&c).domain(),
        key(i),
        "another key's connection"
    );
    assert_eq!(Pooled::target(&c).addr().ip(), address(i));
}

#[tokio::test(flavor = "current_thread")]
async fn a_thread_cycling_through_a_thousand_domains_gets_each_its_own_connection() {
    const N: usize = 1_000;
    let dummy = Dummy::new();
    let pool = Pool::builder()
        .max_conns(N)
        .max_conns_per_domain(1)
        .build(dummy.clone())
        .unwrap();
    for i in 0..N {
        pool.set_ips(&key(i), [address(i)]);
    }
    // Shuffled rounds (the cache fills, evicts and grows meanwhile),
    // through keys and through handles, all on this one thread.
    let handles: Vec<_> = (0..N)
        .step_by(7)
        .map(|i| (i, pool.domain(&key(i))))
        .collect();
    let mut rng = fastrand::Rng::with_seed(11);
    let mut order: Vec<usize> = (0..N).collect();
    for _ in 0..6 {
        rng.shuffle(&mut order);
        for &i in &order {
            round_trip(&pool, i).await;
        }
        for (i, h) in &handles {
            let c = h.get().await.unwrap();
            assert_eq!(Pooled::target(&c).domain(), key(*i));
        }
    }
    let s = pool.stats();
    assert_eq!(dummy.ledger.dials.load(Ordering::SeqCst), N as u64);
    assert_eq!(s.total.connections, N as u64);
    assert_eq!(s.total.hits, (6 * N + 6 * handles.len() - N) as u64);
}

#[tokio::test(flavor = "current_thread")]
async fn two_pools_with_the_same_keys_never_lend_each_others_domains() {
    let (a, b) = (Dummy::new(), Dummy::new());
    let pa = Pool::builder().build(a.clone()).unwrap();
    let pb = Pool::builder().build(b.clone()).unwrap();
    for p in [&pa, &pb] {
        p.set_ips(&key(0), [address(0)]);
    }
    for _ in 0..5 {
        round_trip(&pa, 0).await;
        round_trip(&pb, 0).await;
        assert!(pa.try_get(&key(0)).is_some());
        assert!(pb.try_get(&key(0)).is_some());
    }
    // One connection each, dialed by its own pool's connector.
    assert_eq!(a.ledger.dials.load(Ordering::SeqCst), 1);
    assert_eq!(b.ledger.dials.load(Ordering::SeqCst), 1);
    assert_eq!(pa.stats().total.hits, 9);
    assert_eq!(pb.stats().total.hits, 9);
}

/// A connector of another connection type, to share the thread's cache
/// with `Dummy`'s pools.
#[derive(Clone, Default)]
struct Numbers {
    dials: Arc<AtomicU64>,
}

impl Connect for Numbers {
    type Conn = u64;
    async fn connect(&self, _: &Target) -> Result<u64, Error> {
        Ok(self.dials.fetch_add(1, Ordering::SeqCst))
    }
}

#[tokio::test(flavor = "current_thread")]
async fn pools_of_two_connection_types_share_a_thread() {
    let dummy = Dummy::new();
    let numbers = Numbers::default();
    let pd = Pool::builder().build(dummy.clone()).unwrap();
    let pn = Pool::builder().build(numbers.clone()).unwrap();
    for i in 0..50 {
        pd.set_ips(&key(i), [address(i)]);
        pn.set_ips(&key(i), [address(i)]);
    }
    for _ in 0..4 {
        for i in 0..50 {
            round_trip(&pd, i).await;
            round_trip(&pn, i).await;
            let h = pn.domain(&key(i));
            let c = h.get().await.unwrap();
            assert_eq!(Pooled::target(&c).domain(), key(i));
        }
    }
    assert_eq!(dummy.ledger.dials.load(Ordering::SeqCst), 50);
    assert_eq!(numbers.dials.load(Ordering::SeqCst), 50);
    assert_eq!(pd.stats().total.hits, 150);
    assert_eq!(pn.stats().total.hits, 350);
}

#[tokio::test(flavor = "current_thread")]
async fn a_closed_pool_lends_nothing_from_the_thread_cache() {
    let pool = Pool::builder().build(Dummy::new()).unwrap();
    pool.set_ips(&key(0), [address(0)]);
    let handle = pool.domain(&key(0));
    round_trip(&pool, 0).await;
    pool.close();
    assert!(matches!(pool.get(&key(0)).await, Err(Error::Closed)));
    assert!(pool.try_get(&key(0)).is_none());
    assert!(matches!(handle.get().await, Err(Error::Closed)));
}

#[tokio::test(flavor = "current_thread")]
async fn dropping_the_pool_closes_the_connections_the_cache_saw() {
    let dummy = Dummy::new();
    let pool = Pool::builder().build(dummy.clone()).unwrap();
    for i in 0..20 {
        pool.set_ips(&key(i), [address(i)]);
        round_trip(&pool, i).await;
        round_trip(&pool, i).await;
    }
    assert_eq!(dummy.ledger.open.load(Ordering::SeqCst), 20);
    // The thread's cache still holds domains of this pool: they must not
    // keep its connections open.
    drop(pool);
    assert_eq!(dummy.ledger.open.load(Ordering::SeqCst), 0);
    assert_eq!(dummy.ledger.closed.load(Ordering::SeqCst), 20);
}
