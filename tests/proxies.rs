//! Proxies against loopback CONNECT and SOCKS5 proxies (tests/proxy_support)
//! in front of a loopback HTTPS site: requests really cross them (the proxy
//! counts tunnels, the site counts handshakes), the target goes as the
//! pool's IP or as the name, the ClientHello crosses unchanged (its JA4 is
//! the profile's pinned one), a wrong password is a proxy error that does
//! not show it, a dead proxy is skipped, and a session pinned to a proxy
//! has connections of its own.
#[path = "proxy_support/site.rs"]
mod proxy_site;
mod proxy_support;
mod tls_support;

use hotpool::{fingerprint::ClientHello, proxy::Proxy};
use proxy_site::{builder, client, get_ok, site, site_ip, A};
use proxy_support::{connect_proxy, socks5_proxy, ProxyServer};
use std::{collections::HashMap, sync::atomic::Ordering::Relaxed};
use tls_support::Ca;
use tokio::net::TcpListener;

/// tests/tls_profiles.rs pins this JA4 for `tls13-h1` on a direct dial.
const TLS13_H1_JA4: &str = "t13d0310h1_55b375c5d22e_76ad8fd2bde2";

fn ja4_of(p: &ProxyServer, i: usize) -> String {
    let hellos = p.seen.hellos.lock().unwrap();
    let hello = ClientHello::parse(&hellos[i]).unwrap();
    assert_eq!(hello.server_name.as_deref(), Some(A));
    hello.ja4()
}

#[tokio::test]
async fn a_connect_proxy_with_basic_auth_carries_the_requests() {
    let ca = Ca::new();
    let site = site(&ca).await;
    let proxy = connect_proxy(Some(("crawler", "s3cret"))).await;
    let p = Proxy::parse(&proxy.url("http", Some(("crawler", "s3cret")))).unwrap();
    let name = p.name().to_owned();
    let client = client(builder(&ca).proxy(p));
    for _ in 0..8 {
        let resp = get_ok(&client, &site.url(A, "/page")).await;
        assert_eq!(resp.proxy(), Some(name.as_str()));
        assert_eq!(resp.remote_addr().ip(), site_ip(), "the pool's address");
        assert_eq!(resp.text().await.unwrap(), format!("{A}:{}", site.port));
    }
    assert_eq!(proxy.tunnels(), 1, "one tunnel, reused for all 8");
    assert_eq!(site.handshakes.load(Relaxed), 1);
    assert_eq!(
        proxy.targets(),
        [format!("127.0.0.2:{}", site.port)],
        "CONNECT to the pool's IP: dialing stays IP-direct"
    );
    assert_eq!(
        ja4_of(&proxy, 0),
        TLS13_H1_JA4,
        "the hello crossed unchanged"
    );
    let stats = client.proxies();
    assert_eq!(
        (stats[0].name.as_str(), stats[0].tunnels),
        (name.as_str(), 1)
    );
}

#[tokio::test]
async fn socks5_sends_the_pools_ip_or_the_name_for_socks5h() {
    let ca = Ca::new();
    let site = site(&ca).await;
    let names = HashMap::from([(A.to_owned(), site_ip())]);
    let proxy = socks5_proxy(Some(("u", "pw")), names).await;
    for (scheme, target) in [
        ("socks5", format!("127.0.0.2:{}", site.port)),
        ("socks5h", format!("{A}:{}", site.port)),
    ] {
        let p = Proxy::parse(&proxy.url(scheme, Some(("u", "pw")))).unwrap();
        let client = client(builder(&ca).proxy(p));
        for _ in 0..3 {
            let resp = get_ok(&client, &site.url(A, "/")).await;
            assert!(resp.proxy().unwrap().starts_with(&format!("{scheme}://u@")));
            resp.bytes().await.unwrap();
        }
        assert_eq!(proxy.targets().last(), Some(&target), "{scheme}");
    }
    assert_eq!(proxy.tunnels(), 2, "one per client");
    assert_eq!(site.handshakes.load(Relaxed), 2);
    assert_eq!(ja4_of(&proxy, 0), TLS13_H1_JA4);
    assert_eq!(ja4_of(&proxy, 1), TLS13_H1_JA4);
}

#[tokio::test]
async fn a_wrong_password_is_a_proxy_error_that_does_not_show_it() {
    let ca = Ca::new();
    let site = site(&ca).await;
    let connect = connect_proxy(Some(("crawler", "right"))).await;
    let socks = socks5_proxy(Some(("crawler", "right")), HashMap::new()).await;
    for (proxy, scheme, says) in [(&connect, "http", "407"), (&socks, "socks5", "rejected")] {
        let p = Proxy::parse(&proxy.url(scheme, Some(("crawler", "Wr0ngPassw0rd")))).unwrap();
        let client = client(builder(&ca).proxy(p));
        let err = client.get(&site.url(A, "/")).await.unwrap_err();
        let text = err.to_string();
        assert!(err.is_proxy(), "{scheme}: {err:?}");
        assert!(
            text.contains(&proxy.addr.to_string()),
            "names the proxy: {text}"
        );
        assert!(text.contains("crawler@"), "and its user: {text}");
        assert!(text.contains(says), "{text}");
        assert!(text.contains(A), "and the target: {text}");
        assert!(
            !text.contains("Wr0ngPassw0rd"),
            "never the password: {text}"
        );
        assert!(!format!("{err:?}").contains("Wr0ngPassw0rd"));
        assert_eq!(
            proxy.seen.auth_failures.load(Relaxed),
            1,
            "{scheme}: tried once"
        );
        let st = client.stats();
        assert_eq!(
            (st.total.connections, st.total.in_use),
            (0, 0),
            "nothing leaked"
        );
        assert_eq!(client.proxies()[0].failures, 1);
    }
    assert_eq!(site.handshakes.load(Relaxed), 0);
}

#[tokio::test]
async fn a_dead_proxy_is_skipped_for_new_connections() {
    let ca = Ca::new();
    let site = site(&ca).await;
    // A port nothing listens on.
    let dead = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead_addr = dead.local_addr().unwrap();
    drop(dead);
    let good = connect_proxy(None).await;
    let client = client(
        builder(&ca)
            .proxy(Proxy::parse(&format!("http://{dead_addr}")).unwrap())
            .proxy(Proxy::parse(&good.url("http", None)).unwrap()),
    );
    for i in 0..6 {
        // A new domain each time: each request needs a new connection.
        let host = format!("d{i}.proxy.test");
        let resp = get_ok(&client, &site.url(&host, "/")).await;
        assert_eq!(resp.proxy(), Some(format!("http://{}", good.addr).as_str()));
    }
    let stats = client.proxies();
    assert_eq!(stats[0].failures, 1, "tried once, then skipped: {stats:?}");
    assert!(stats[0].skipped_for.is_some());
    assert_eq!(stats[0].tunnels, 0);
    assert_eq!(stats[1].tunnels, 6);
    assert_eq!(good.tunnels(), 6);
}

#[tokio::test]
async fn a_session_pinned_to_a_proxy_has_connections_of_its_own() {
    let ca = Ca::new();
    let site = site(&ca).await;
    let listed = connect_proxy(None).await;
    let pinned = socks5_proxy(None, HashMap::new()).await;
    let client = client(builder(&ca).proxy(Proxy::parse(&listed.url("http", None)).unwrap()));
    let session = client
        .session()
        .proxy(Proxy::parse(&pinned.url("socks5", None)).unwrap());
    let pinned_name = format!("socks5://{}", pinned.addr);
    for _ in 0..3 {
        let r = get_ok(&client, &site.url(A, "/")).await;
        assert_eq!(r.proxy(), Some(format!("http://{}", listed.addr).as_str()));
        r.bytes().await.unwrap();
        let r = session.get(&site.url(A, "/")).await.unwrap();
        assert_eq!(r.proxy(), Some(pinned_name.as_str()));
        r.bytes().await.unwrap();
    }
    assert_eq!((listed.tunnels(), pinned.tunnels()), (1, 1));
    let keys: Vec<String> = client
        .stats()
        .domains
        .iter()
        .map(|d| d.domain.to_string())
        .collect();
    let plain = format!("{A}:{}", site.port);
    assert!(keys.contains(&plain), "{keys:?}");
    assert!(keys.contains(&format!("{plain}#{pinned_name}")), "{keys:?}");
    let st = client.proxies();
    assert_eq!(st.len(), 2);
    assert!(st[0].listed && !st[1].listed);
}
