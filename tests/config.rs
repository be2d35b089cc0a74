//! Invalid settings are rejected with the setting's name.
mod support;
use hotpool::{Config, Error, Pool};
use std::time::Duration;
use support::*;

fn key_of(r: Result<Pool<Dummy>, Error>) -> String {
    match r {
        Err(Error::InvalidConfig { key, .. }) => key,
        Err(e) => panic!("wrong error {e}"),
        Ok(_) => panic!("accepted"),
    }
}

#[test]
fn zero_values_are_rejected_by_name() {
    let b = Pool::builder;
    assert_eq!(key_of(b().max_conns(0).build(Dummy::new())), "max_conns");
    assert_eq!(
        key_of(b().max_conns_per_domain(0).build(Dummy::new())),
        "max_conns_per_domain"
    );
    assert_eq!(
        key_of(b().wait_timeout(Duration::ZERO).build(Dummy::new())),
        "wait_timeout"
    );
    assert_eq!(
        key_of(b().connect_timeout(Duration::ZERO).build(Dummy::new())),
        "connect_timeout"
    );
    assert_eq!(
        key_of(b().idle_timeout(Duration::ZERO).build(Dummy::new())),
        "idle_timeout"
    );
    assert_eq!(
        key_of(b().max_lifetime(Duration::ZERO).build(Dummy::new())),
        "max_lifetime"
    );
    let msg = b()
        .max_conns(0)
        .build(Dummy::new())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("max_conns") && msg.contains('0'), "{msg}");
}

#[test]
fn a_whole_config_can_be_passed() {
    let mut c = Config::default();
    c.max_conns = 7;
    let b = Pool::builder().config(c.clone());
    assert_eq!(b.settings(), &c);
    assert!(b.build(Dummy::new()).is_ok());
}

#[tokio::test(start_paused = true)]
async fn dial_failures_and_time_outs_release_capacity() {
    let dummy = Dummy::new();
    let pool = Pool::builder()
        .max_conns_per_domain(1)
        .connect_timeout(Duration::from_millis(50))
        .build(dummy.clone())
        .unwrap();
    pool.set_ips(DOMAIN, [ip(2)]);
    dummy
        .ledger
        .fail
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let e = pool.get(DOMAIN).await.unwrap_err();
    assert!(e.is_connect(), "{e}");
    assert!(
        e.to_string().contains("127.0.0.2:443") && e.to_string().contains(DOMAIN),
        "{e}"
    );
    assert_quiet(&pool, DOMAIN, 0);

    dummy
        .ledger
        .fail
        .store(false, std::sync::atomic::Ordering::SeqCst);
    dummy
        .ledger
        .delay_ms
        .store(1000, std::sync::atomic::Ordering::SeqCst);
    let e = pool.get(DOMAIN).await.unwrap_err();
    assert!(e.is_connect_timeout(), "{e}");
    assert_eq!(e.addr(), Some("127.0.0.2:443".parse().unwrap()));
    assert_quiet(&pool, DOMAIN, 0);
    let s = pool.stats();
    assert_eq!(
        (s.total.dials, s.total.dial_failures, s.total.misses),
        (2, 2, 2)
    );
}

#[tokio::test]
async fn counts_have_upper_bounds_and_durations_saturate() {
    use hotpool::MAX_CONNS_PER_DOMAIN;
    // A huge per-domain limit would size a huge queue per domain: refused,
    // naming the key.
    let mut c = Config::default();
    c.max_conns_per_domain = usize::MAX;
    let e = c.validate().unwrap_err();
    assert!(e.to_string().contains("max_conns_per_domain"), "{e}");
    c.max_conns_per_domain = MAX_CONNS_PER_DOMAIN;
    c.validate().unwrap();
    for (key, set) in [
        (
            "max_conns",
            (|c: &mut Config| c.max_conns = usize::MAX) as fn(&mut Config),
        ),
        ("max_concurrent_dials", |c| {
            c.max_concurrent_dials = usize::MAX
        }),
        ("probe_concurrency", |c| c.probe_concurrency = usize::MAX),
        ("block_ip_after_domains", |c| {
            c.block_ip_after_domains = usize::MAX
        }),
        ("block_ip_after_domains", |c| c.block_ip_after_domains = 0),
        ("probe_timeout", |c| c.probe_timeout = Duration::ZERO),
        ("negative_dns_ttl", |c| c.negative_dns_ttl = Duration::ZERO),
    ] {
        let mut c = Config::default();
        set(&mut c);
        let e = c.validate().unwrap_err();
        assert!(e.to_string().contains(key), "{key}: {e}");
    }
    // Duration::MAX everywhere: a pool that works, no overflow panic.
    let max = Duration::MAX;
    let pool = hotpool::Pool::builder()
        .wait_timeout(max)
        .connect_timeout(max)
        .idle_timeout(max)
        .max_lifetime(max)
        .blacklist_ttl(max)
        .health_check_interval(max)
        .dns_refresh_interval(max)
        .probe_timeout(max)
        .negative_dns_ttl(max)
        .build(support::Dummy::new())
        .unwrap();
    pool.set_ips("a.test", [support::ip(2)]);
    drop(pool.get("a.test").await.unwrap());
    assert!(pool.block(support::ip(2)));
    assert!(pool.block_pair("a.test", support::ip(3)));
    pool.throttle("a.test", max);
    assert!(pool.throttled_for("a.test") > Duration::from_secs(3600));
    pool.sweep_now().await;
    assert!(pool.try_get("a.test").is_none(), "its address is blocked");
}
