//! `ClientConfig` from TOML: the example file, a round trip of every key,
//! and one test per class of rejection, each naming the key and the value.
use hotpool::{ClientConfig, DomainEntry, Error};
use std::{net::IpAddr, time::Duration};

fn rejected(toml: &str) -> (String, String, String) {
    match ClientConfig::from_toml(toml) {
        Err(Error::InvalidConfig { key, value, reason }) => (key, value, reason),
        other => panic!("expected InvalidConfig for {toml:?}, got {other:?}"),
    }
}

#[test]
fn the_example_file_parses_to_the_defaults() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/hotpool.example.toml");
    let cfg = ClientConfig::load(path).unwrap();
    assert_eq!(cfg, ClientConfig::default());
    // Every key the loader knows appears in the example.
    let text = std::fs::read_to_string(path).unwrap();
    let written = ClientConfig::default().to_toml();
    for line in written.lines() {
        if let Some((key, _)) = line.split_once(" = ") {
            assert!(
                text.contains(&format!("{key} = ")),
                "hotpool.example.toml lacks {key}"
            );
        }
    }
}

#[test]
fn every_key_round_trips() {
    let mut c = ClientConfig::default();
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    c.pool.address_choice = hotpool::AddressChoice::RoundRobin;
    c.pool.max_conns = 321;
    c.pool.max_conns_per_domain = 7;
    c.pool.wait_timeout = Duration::from_millis(1500);
    c.pool.connect_timeout = Duration::from_secs(4);
    c.pool.idle_timeout = Duration::from_secs(90);
    c.pool.max_lifetime = Duration::from_secs(3600);
    c.pool.max_errors = 3;
    c.pool.default_port = 8443;
    c.pool.health_check_interval = Duration::from_secs(12);
    c.pool.min_idle_per_domain = 2;
    c.pool.max_concurrent_dials = 5;
    c.pool.probe_concurrency = 3;
    c.pool.dns_refresh_interval = Duration::from_secs(600);
    c.pool.min_success_rate = 0.75;
    c.pool.blacklist_ttl = Duration::from_secs(120);
    c.pool.allow_ips = vec![ip("192.0.2.7")];
    c.pool.deny_ips = vec![ip("2001:db8::1"), ip("192.0.2.9")];
    c.tls.profiles = vec!["pq-h2".into(), "tls13-h1".into()];
    c.tls.profile_choice = "tls13-h1".into();
    c.tls.connect_timeout = Duration::from_secs(2);
    c.tls.handshake_timeout = Duration::from_secs(3);
    c.tls.max_retries = 1;
    c.tls.local_addresses = vec![ip("127.0.0.1")];
    c.tls.root_certificates = vec!["/etc/ca.pem".into()];
    c.tls.dangerous_accept_invalid_certificates = true;
    c.http.user_agent = "bot/2".into();
    c.http.accept = "*/*".into();
    c.http.accept_languages = vec!["de".into(), "fr".into()];
    c.http.decompress = false;
    c.http.cookies = true;
    c.http.proxies = vec!["socks5h://u:p@10.0.0.8:1080".into()];
    c.http.proxy_choice = "random".into();
    c.http.timeout = Duration::from_secs(7);
    c.http.max_response_header_size = 4096;
    c.http.headers = vec![("x-crawler".into(), "yes".into())];
    c.http.resolver = "none".into();
    c.validation.enabled = false;
    c.validation.method = "GET".into();
    c.validation.path = "/robots.txt".into();
    c.validation.timeout = Duration::from_secs(2);
    c.domains = vec![
        DomainEntry::new("example.com", vec![ip("192.0.2.1"), ip("192.0.2.2")]),
        DomainEntry::new("example.org:8443", vec![ip("2001:db8::2")]),
    ];
    let text = c.to_toml();
    let back = ClientConfig::from_toml(&text).unwrap();
    assert_eq!(back, c, "{text}");
    // Each field differs from its default, so the round trip shows every
    // key is both written and read.
    let d = ClientConfig::default();
    assert_ne!(c.pool, d.pool);
    assert_ne!(c.tls, d.tls);
    assert_ne!(c.http, d.http);
    assert_ne!(c.validation, d.validation);
}

#[test]
fn an_unknown_key_is_named() {
    let (key, value, reason) = rejected("[pool]\nmax_con = 5");
    assert_eq!(key, "pool.max_con");
    assert_eq!(value, "5");
    assert!(
        reason.contains("unknown key") && reason.contains("max_conns"),
        "{reason}"
    );
    let (key, _, reason) = rejected("[pools]\nmax_conns = 5");
    assert_eq!(key, "pools");
    assert!(reason.contains("unknown section"), "{reason}");
    let (key, value, _) = rejected("[[domain]]\nname = \"a\"\nips = [\"192.0.2.1\"]\nport = 1");
    assert_eq!((key.as_str(), value.as_str()), ("domain[0].port", "1"));
}

#[test]
fn a_wrong_type_is_named() {
    let (key, value, reason) = rejected("[pool]\nmax_conns = \"ten\"");
    assert_eq!(
        (key.as_str(), value.as_str()),
        ("pool.max_conns", "\"ten\"")
    );
    assert!(reason.contains("integer"), "{reason}");
    let (key, value, _) = rejected("[pool]\nidle_timeout = 60");
    assert_eq!((key.as_str(), value.as_str()), ("pool.idle_timeout", "60"));
    let (key, value, _) = rejected("[http]\ndecompress = \"yes\"");
    assert_eq!(
        (key.as_str(), value.as_str()),
        ("http.decompress", "\"yes\"")
    );
    let (key, _, _) = rejected("pool = 3");
    assert_eq!(key, "pool");
    let (key, value, _) = rejected("[pool]\nmax_conns = -1");
    assert_eq!((key.as_str(), value.as_str()), ("pool.max_conns", "-1"));
}

#[test]
fn invalid_values_are_named() {
    let cases = [
        ("[pool]\nmax_conns = 0", "pool.max_conns", "0"),
        (
            "[http]\nproxies = [\"ftp://u:hunter2@p.test\"]",
            "http.proxies",
            "ftp://u:***@p.test",
        ),
        (
            "[http]\nproxy_choice = \"sticky\"",
            "http.proxy_choice",
            "\"sticky\"",
        ),
        (
            "[pool]\nmax_conns_per_domain = 0",
            "pool.max_conns_per_domain",
            "0",
        ),
        (
            "[pool]\nhealth_check_interval = \"0s\"",
            "pool.health_check_interval",
            "0s",
        ),
        (
            "[pool]\nidle_timeout = \"soon\"",
            "pool.idle_timeout",
            "\"soon\"",
        ),
        ("[blacklist]\nttl = \"0s\"", "blacklist.ttl", "0s"),
        (
            "[blacklist]\ndeny = [\"300.1.2.3\"]",
            "blacklist.deny",
            "\"300.1.2.3\"",
        ),
        (
            "[[domain]]\nname = \"example.com\"\nips = [\"192.0.2.1\", \"not-an-ip\"]",
            "domain[0].ips",
            "\"not-an-ip\"",
        ),
        (
            "[tls]\nprofiles = [\"chrome\"]",
            "tls.profiles",
            "\"chrome\"",
        ),
        (
            "[tls]\nprofile_choice = \"best\"",
            "tls.profile_choice",
            "\"best\"",
        ),
        (
            "[validation]\npath = \"robots.txt\"",
            "validation.path",
            "\"robots.txt\"",
        ),
        ("[http]\nresolver = \"dns\"", "http.resolver", "\"dns\""),
    ];
    for (toml, want_key, want_value) in cases {
        let (key, value, reason) = rejected(toml);
        assert_eq!(key, want_key, "{toml}: {reason}");
        assert!(value.contains(want_value), "{toml}: value {value}");
        let msg = Error::invalid_config(&key, &value, &reason).to_string();
        assert!(msg.contains(want_key) && msg.contains(want_value), "{msg}");
    }
}

#[test]
fn text_that_is_not_toml_is_rejected_with_its_line() {
    let (key, _, reason) = rejected("[pool\nmax_conns = 1");
    assert_eq!(key, "toml");
    assert!(reason.contains("line 1"), "{reason}");
}

#[tokio::test]
async fn a_config_builds_a_client_with_its_domains() {
    let cfg = ClientConfig::from_toml(
        r#"
        [pool]
        max_conns_per_domain = 3
        [http]
        resolver = "none"
        [[domain]]
        name = "example.com"
        ips = ["192.0.2.1"]
        "#,
    )
    .unwrap();
    let client = cfg.build().unwrap();
    assert_eq!(client.pool().config().max_conns_per_domain, 3);
    assert_eq!(
        client.pool().ips("example.com"),
        vec!["192.0.2.1:443".parse().unwrap()]
    );
    // A root certificate file that does not exist is named.
    let mut bad = cfg.clone();
    bad.tls.root_certificates = vec!["/nonexistent/ca.pem".into()];
    let e = bad.build().unwrap_err();
    assert!(e.to_string().contains("tls.root_certificates"), "{e}");
    assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
    client.shutdown().await;
}

#[test]
fn max_body_size_and_the_new_keys_read_and_write_back() {
    let cfg = ClientConfig::from_toml(
        "[http]\nmax_body_size = \"none\"\n[pool]\nprobe_timeout = \"1s\"\nnegative_dns_ttl = \"5s\"\nallow_private_addresses = true\n[blacklist]\nblock_ip_after_domains = 5\n[validation]\nrule = \"strict\"\n",
    )
    .unwrap();
    assert_eq!(cfg.http.max_body_size, None);
    assert_eq!(cfg.pool.block_ip_after_domains, 5);
    assert!(cfg.pool.allow_private_addresses);
    assert_eq!(cfg.validation.rule, "strict");
    assert_eq!(ClientConfig::from_toml(&cfg.to_toml()).unwrap(), cfg);
    let cfg = ClientConfig::from_toml("[http]\nmax_body_size = 1048576\n").unwrap();
    assert_eq!(cfg.http.max_body_size, Some(1 << 20));
    cfg.build().unwrap();
    for (text, key) in [
        ("[http]\nmax_body_size = 0\n", "http.max_body_size"),
        ("[http]\nmax_body_size = \"lots\"\n", "http.max_body_size"),
        ("[validation]\nrule = \"lenient\"\n", "validation.rule"),
        (
            "[blacklist]\nblock_ip_after_domains = 0\n",
            "blacklist.block_ip_after_domains",
        ),
        (
            "[pool]\nmax_conns_per_domain = 100000000\n",
            "pool.max_conns_per_domain",
        ),
    ] {
        let e = ClientConfig::from_toml(text).unwrap_err();
        assert!(e.to_string().contains(key), "{text}: {e}");
    }
}

#[test]
fn wake_reads_one_or_broadcast_and_names_a_bad_value() {
    let cfg = ClientConfig::from_toml("[pool]\nwake = \"broadcast\"\n").unwrap();
    assert_eq!(cfg.pool.wake, hotpool::Wake::Broadcast);
    assert_eq!(ClientConfig::from_toml(&cfg.to_toml()).unwrap(), cfg);
    assert_eq!(
        ClientConfig::from_toml("").unwrap().pool.wake,
        hotpool::Wake::One
    );
    for text in ["[pool]\nwake = \"all\"\n", "[pool]\nwake = 1\n"] {
        let (key, _, reason) = rejected(text);
        assert_eq!(key, "pool.wake");
        assert!(reason.contains("\"one\" or \"broadcast\""), "{reason}");
    }
}
