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
