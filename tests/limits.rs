//! Per-domain and per-pool limits are never exceeded.
mod support;
use hotpool::Pool;
use std::time::Duration;
use support::*;

#[tokio::test(start_paused = true)]
async fn per_domain_limit() {
    let dummy = Dummy::new();
    let pool = Pool::builder()
        .max_conns_per_domain(2)
        .wait_timeout(Duration::from_millis(100))
        .build(dummy.clone())
        .unwrap();
    pool.set_ips(DOMAIN, [ip(2)]);
    let a = pool.get(DOMAIN).await.unwrap();
    let b = pool.get(DOMAIN).await.unwrap();
    let e = pool.get(DOMAIN).await.unwrap_err();
    assert!(e.is_wait_timeout(), "{e}");
    assert_eq!(
        dummy
            .ledger
            .created
            .load(std::sync::atomic::Ordering::SeqCst),
        2
    );
    drop((a, b));
    assert_quiet(&pool, DOMAIN, 2);
}

#[tokio::test(start_paused = true)]
async fn per_pool_limit_across_domains() {
    let dummy = Dummy::new();
    let pool = Pool::builder()
        .max_conns(3)
        .max_conns_per_domain(2)
        .wait_timeout(Duration::from_millis(100))
        .build(dummy.clone())
        .unwrap();
    for d in ["a.test", "b.test"] {
        pool.set_ips(d, [ip(2)]);
    }
    let a1 = pool.get("a.test").await.unwrap();
    let a2 = pool.get("a.test").await.unwrap();
    let b1 = pool.get("b.test").await.unwrap();
    // b is under its own limit, but the pool is full and nothing is idle
    let e = pool.get("b.test").await.unwrap_err();
    assert!(e.is_wait_timeout(), "{e}");
    assert_eq!(pool.stats().reserved, 3);
    drop(a1);
    // a1 is idle now; b needs a slot and has none idle: the idle
    // a-connection is evicted to make room
    let b2 = pool.get("b.test").await.unwrap();
    assert!(!hotpool::Pooled::is_reused(&b2));
    let s = pool.stats();
    assert_eq!(s.total.connections, 3, "never more than max_conns");
    assert_eq!(s.domain("a.test").unwrap().connections, 1);
    assert_eq!(s.domain("b.test").unwrap().connections, 2);
    assert_eq!(
        dummy
            .ledger
            .max_open
            .load(std::sync::atomic::Ordering::SeqCst),
        3
    );
    drop((a2, b1, b2));
}

#[tokio::test]
async fn many_tasks_never_exceed_limits() {
    let dummy = Dummy::new();
    dummy
        .ledger
        .delay_ms
        .store(1, std::sync::atomic::Ordering::SeqCst);
    let pool = Pool::builder()
        .max_conns(6)
        .max_conns_per_domain(4)
        .build(dummy.clone())
        .unwrap();
    let domains = ["a.test", "b.test", "c.test"];
    for d in domains {
        pool.set_ips(d, [ip(2), ip(3)]);
    }
    let mut tasks = Vec::new();
    for t in 0..24 {
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..50 {
                let d = domains[(t + i) % 3];
                let c = pool.get(d).await.unwrap();
                c.enter();
                assert_eq!(hotpool::Pooled::target(&c).domain(), d);
                tokio::task::yield_now().await;
                c.leave();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let max = dummy
        .ledger
        .max_open
        .load(std::sync::atomic::Ordering::SeqCst);
    assert!(max <= 6, "{max} connections open at once, limit 6");
    let s = pool.stats();
    assert!(s.domains.iter().all(|d| d.connections <= 4));
    assert_eq!(s.total.gets, 24 * 50);
    assert_eq!(s.total.created, s.total.connections + s.total.closed);
}

#[tokio::test]
async fn a_broad_crawl_at_the_pool_limit_evicts_the_others_idle_connections() {
    // 2,000 domains, each touched once, through a pool of 20: every new
    // domain past the 20th closes another domain's idle connection. The
    // domains that no longer hold a connection are not where eviction
    // looks (src/engine/map.rs, `active`): the pool ends with 20
    // connections on 20 domains.
    let dummy = Dummy::new();
    let pool = hotpool::Pool::builder()
        .max_conns(20)
        .max_conns_per_domain(2)
        .wait_timeout(Duration::from_millis(500))
        .build(dummy.clone())
        .unwrap();
    let n = 2_000;
    for i in 0..n {
        let d = format!("d{i}.test");
        pool.set_ips(&d, [ip(2)]);
        let c = pool.get(&d).await.unwrap();
        drop(c);
    }
    let s = pool.stats();
    assert_eq!(s.total.connections, 20, "never more than max_conns");
    assert_eq!(s.total.created, n as u64);
    assert_eq!(s.total.closed, n as u64 - 20, "one eviction per new domain");
    let holding: Vec<&str> = s
        .domains
        .iter()
        .filter(|d| d.connections > 0)
        .map(|d| &*d.domain)
        .collect();
    assert_eq!(holding.len(), 20, "one connection each on 20 domains");
    assert!(
        holding.contains(&format!("d{}.test", n - 1).as_str()),
        "the last domain keeps the connection it just returned"
    );
    // Back to a domain evicted long ago: dialed afresh, evicting again.
    let c = pool.get("d0.test").await.unwrap();
    assert!(!hotpool::Pooled::is_reused(&c));
    drop(c);
    assert_eq!(pool.stats().total.connections, 20);
}
