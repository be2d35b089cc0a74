//! One key per host and port, whatever the spelling, and addresses that
//! belong to the host on every port.
mod http_support;
mod support;
mod tls_support;

use hotpool::{Client, Pool, ProfileChoice};
use http_support::{serve, Opts};
use std::{net::SocketAddr, time::Duration};
use support::{ip, Dummy};
use tls_support::{Ca, NAME};

#[tokio::test]
async fn every_spelling_of_a_host_is_one_domain() {
    let pool = Pool::builder().build(Dummy::new()).unwrap();
    pool.set_ips("Example.COM.", [ip(2)]);
    for k in [
        "example.com",
        "EXAMPLE.com",
        "example.com.",
        "example.com:443",
    ] {
        drop(pool.get(k).await.unwrap());
    }
    let s = pool.stats();
    assert_eq!(s.domains.len(), 1, "{:?}", s.domains);
    assert_eq!(&*s.domains[0].domain, "example.com");
    assert_eq!(
        s.total.connections, 1,
        "one connection served every spelling"
    );

    // Internationalised names are their punycode form.
    pool.set_ips("bücher.example", [ip(3)]);
    assert_eq!(
        pool.ips("xn--bcher-kva.example"),
        ["127.0.0.3:443".parse::<SocketAddr>().unwrap()]
    );
    assert_eq!(
        pool.ips("BÜCHER.example."),
        pool.ips("xn--bcher-kva.example")
    );
    // IPv6 literals are bracketed, the default port elided.
    pool.set_ips("2001:DB8::1", [ip(4)]);
    assert_eq!(pool.ips("[2001:db8::1]:443").len(), 1);
}

#[tokio::test]
async fn addresses_belong_to_the_host_not_the_port() {
    let pool = Pool::builder().build(Dummy::new()).unwrap();
    // A domain on another port, made before the addresses are set...
    let early = pool.domain("shop.test:9443");
    pool.set_ips("shop.test", [ip(2), ip(3)]);
    let want = |port: u16| -> Vec<SocketAddr> {
        vec![SocketAddr::new(ip(2), port), SocketAddr::new(ip(3), port)]
    };
    assert_eq!(pool.ips("shop.test:9443"), want(9443));
    drop(early.get().await.unwrap());
    // ...and one made after.
    assert_eq!(pool.ips("shop.test:8443"), want(8443));
    drop(pool.get("shop.test:8443").await.unwrap());
    assert_eq!(pool.ips("shop.test"), want(443));
    // Setting them through a key with a port is the same.
    pool.set_ips("SHOP.test:8443", [ip(4)]);
    assert_eq!(pool.ips("shop.test"), [SocketAddr::new(ip(4), 443)]);
}

#[tokio::test]
async fn urls_are_keyed_canonically_and_user_info_is_refused() {
    let ca = Ca::new();
    let server = serve(&ca, &[ip(2)], Opts::default()).await;
    let client = Client::builder()
        .add_root_certificate(ca.cert())
        .profile_choice(ProfileChoice::Fixed("classic-h2".into()))
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    // Addresses set for the bare host serve the URL's port.
    client.set_ips(NAME, [ip(2)]);
    let upper = NAME.to_ascii_uppercase();
    for host in [NAME, upper.as_str(), &format!("{NAME}.")] {
        let url = format!("https://{host}:{}/", server.port);
        let resp = client.get(&url).await.unwrap();
        assert_eq!(resp.status(), 200, "{url}");
        resp.bytes().await.unwrap();
    }
    assert_eq!(server.accepts(), 1, "one domain, one connection");
    // The Host the server saw is the canonical one.
    assert!(server.seen().iter().all(|s| s.host == NAME));

    let e = client
        .get(&format!("https://crawler:s3cret@{NAME}:{}/", server.port))
        .await
        .unwrap_err();
    assert!(e.is_invalid_url(), "{e}");
    let msg = e.to_string();
    assert!(msg.contains("user info"), "{msg}");
    assert!(!msg.contains("s3cret"), "the password leaked: {msg}");
    assert_eq!(server.accepts(), 1, "nothing dialed");
}

#[tokio::test]
async fn deny_ranges_block_every_address_they_cover() {
    let pool = Pool::builder()
        .deny_ranges(["127.0.0.0/30".parse().unwrap()])
        .build(Dummy::new())
        .unwrap();
    pool.set_ips("a.test", [ip(2)]);
    pool.set_ips("b.test", [ip(5)]);
    let e = pool.get("a.test").await.expect_err("denied");
    assert!(e.is_blocked(), "{e}");
    assert!(pool.is_blocked(ip(3)));
    assert!(!pool.is_blocked(ip(5)));
    drop(pool.get("b.test").await.unwrap());

    // In the config file, ranges share the `deny` list with addresses.
    let cfg = hotpool::ClientConfig::from_toml(
        "[blacklist]\ndeny = [\"192.0.2.1\", \"10.0.0.0/8\", \"fd00::/8\"]\n",
    )
    .unwrap();
    assert_eq!(cfg.pool.deny_ips.len(), 1);
    assert_eq!(cfg.pool.deny_ranges.len(), 2);
    let again = hotpool::ClientConfig::from_toml(&cfg.to_toml()).unwrap();
    assert_eq!(again, cfg);
    let e =
        hotpool::ClientConfig::from_toml("[blacklist]\ndeny = [\"10.0.0.0/33\"]\n").unwrap_err();
    assert!(e.to_string().contains("blacklist.deny"), "{e}");
}

/// Keys are compared in two parts (the first 23 bytes beside the domain's
/// hash, the rest through the key): keys that agree on their first 23
/// bytes, or are one byte longer than another, are still distinct domains,
/// on the map's path and on the thread's last-domain path alike.
#[tokio::test]
async fn keys_sharing_a_long_prefix_are_distinct_domains() {
    let pool = Pool::builder().build(Dummy::new()).unwrap();
    let keys = [
        "abcdefghijklmnop.example",   // 24 bytes
        "abcdefghijklmnop.exampl",    // 23: all of it inline
        "abcdefghijklmnop.exampl.e",  // 25, same first 23
        "abcdefghijklmnop.example.a", // 26, same first 24
        "abcdefghijklmnop.example.b",
        "abcdefghijklmnop.ex",
    ];
    for (i, k) in keys.iter().enumerate() {
        pool.set_ips(k, [ip(2 + i as u8)]);
    }
    for _ in 0..3 {
        for (i, k) in keys.iter().enumerate() {
            // Twice in a row: the second get finds the domain in the
            // thread's cache, the first (its slot held another key's
            // domain, or none) may go through the map.
            for _ in 0..2 {
                let c = pool.get(k).await.unwrap();
                assert_eq!(
                    hotpool::Pooled::target(&c).addr().ip(),
                    ip(2 + i as u8),
                    "{k} lent another domain's connection"
                );
                assert_eq!(hotpool::Pooled::target(&c).domain(), *k);
            }
        }
    }
    let s = pool.stats();
    assert_eq!(s.domains.len(), keys.len());
    assert_eq!(
        s.total.connections as usize,
        keys.len(),
        "one connection per key, reused"
    );
}
