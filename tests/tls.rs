//! `Pool<TlsConnector>` against real loopback rustls servers: dialing by IP
//! with the right SNI, reuse, certificate errors, profile rotation,
//! handshake time-outs, refused connections — and nothing left live.
mod tls_support;

use hotpool::{profile::Profile, Pool, Pooled, ProfileChoice, TlsConnector};
use std::{net::IpAddr, time::Duration};
use tls_support::{start, tls12_only, Ca, Mode, NAME};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn ip(last: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, last])
}

fn connector(ca: &Ca) -> hotpool::TlsConnectorBuilder {
    TlsConnector::builder()
        .add_root_certificate(ca.cert())
        .unwrap()
        .handshake_timeout(Duration::from_millis(500))
        .connect_timeout(Duration::from_millis(500))
}

/// A pool over `connector` whose key `NAME:port` dials `ips`.
fn pool_for(connector: TlsConnector, port: u16, ips: &[IpAddr]) -> (Pool<TlsConnector>, String) {
    let pool = Pool::builder().build(connector).unwrap();
    let key = format!("{NAME}:{port}");
    pool.set_ips(&key, ips.iter().copied());
    (pool, key)
}

fn assert_no_live(pool: &Pool<TlsConnector>, key: &str) {
    let (pool_live, _, domain_live, _) = pool.debug_counts(key);
    assert_eq!((pool_live, domain_live), (0, 0), "capacity released");
}

#[tokio::test]
async fn dials_by_ip_with_sni_and_reuses_the_stream() {
    let ca = Ca::new();
    let server = start(&[ip(2), ip(3)], ca.server_config(&[NAME]), Mode::Echo).await;
    let (pool, key) = pool_for(
        connector(&ca).build().unwrap(),
        server.port,
        &[ip(2), ip(3)],
    );

    let mut conn = pool.get(&key).await.unwrap();
    assert_eq!(Pooled::target(&conn).domain(), NAME);
    assert_eq!(Pooled::target(&conn).addr(), server.addr(ip(2)));
    conn.write_all(b"ping").await.unwrap();
    let mut buf = [0u8; 4];
    conn.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"ping");
    assert_eq!(conn.alpn(), None, "the echo server negotiates no ALPN");
    drop(conn);

    for _ in 0..10 {
        let mut c = pool.get(&key).await.unwrap();
        assert!(Pooled::is_reused(&c));
        c.write_all(b"pong").await.unwrap();
        c.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"pong");
    }
    assert_eq!(server.handshakes(), 1, "one handshake for eleven uses");
    assert_eq!(
        server.server_names.lock().unwrap().as_slice(),
        [NAME],
        "SNI = the domain"
    );
    let s = pool.stats();
    assert_eq!(s.profiles.iter().map(|p| p.dials).sum::<u64>(), 1);
    pool.close();
    assert_no_live(&pool, &key);
}

#[tokio::test]
async fn a_certificate_for_another_name_is_rejected_and_nothing_pooled() {
    let ca = Ca::new();
    let server = start(&[ip(2)], ca.server_config(&["other.example"]), Mode::Echo).await;
    let (pool, key) = pool_for(connector(&ca).build().unwrap(), server.port, &[ip(2)]);
    let e = pool.get(&key).await.unwrap_err();
    assert!(e.is_certificate(), "{e}");
    assert_eq!(e.domain(), Some(NAME));
    assert_eq!(e.addr(), Some(server.addr(ip(2))));
    assert_eq!(pool.stats().total.connections, 0);
    assert_no_live(&pool, &key);

    // an untrusted CA is a certificate error too
    let other_ca = Ca::new();
    let pool = Pool::builder()
        .build(connector(&other_ca).build().unwrap())
        .unwrap();
    let server = start(&[ip(2)], ca.server_config(&[NAME]), Mode::Echo).await;
    let key = format!("{NAME}:{}", server.port);
    pool.set_ips(&key, [ip(2)]);
    assert!(pool.get(&key).await.unwrap_err().is_certificate());
    assert_no_live(&pool, &key);
}

#[tokio::test]
async fn a_tls12_only_server_is_reached_by_rotating_profiles() {
    let ca = Ca::new();
    let server = start(&[ip(3)], tls12_only(&ca), Mode::Echo).await;
    // start with the TLS 1.3-only profile: the server refuses it
    let connector = connector(&ca)
        .profile_choice(ProfileChoice::Fixed("tls13-h1".into()))
        .build()
        .unwrap();
    let pool = Pool::builder().build(connector).unwrap();
    let key = format!("{NAME}:{}", server.port);
    pool.set_ips(&key, [ip(3)]);
    let conn = pool.get(&key).await.unwrap();
    assert_ne!(
        conn.profile(),
        "tls13-h1",
        "a later profile made the connection"
    );
    let s = pool.stats();
    let tls13 = s.profiles.iter().find(|p| &*p.name == "tls13-h1").unwrap();
    assert_eq!(
        (tls13.dials, tls13.handshake_failures),
        (1, 1),
        "the rotation is counted"
    );
    assert_eq!(server.handshakes(), 1);
    drop(conn);
    pool.close();
    assert_no_live(&pool, &key);
}

#[tokio::test]
async fn no_profile_fits_after_max_retries_is_a_tls_error() {
    let ca = Ca::new();
    let server = start(&[ip(3)], tls12_only(&ca), Mode::Echo).await;
    let only13 = Profile::builtin()
        .into_iter()
        .filter(|p| p.name() == "tls13-h1")
        .collect();
    let (pool, key) = pool_for(
        connector(&ca)
            .profiles(only13)
            .max_retries(2)
            .build()
            .unwrap(),
        server.port,
        &[ip(3)],
    );
    let e = pool.get(&key).await.unwrap_err();
    assert!(e.is_tls(), "{e}");
    assert!(e.to_string().contains("tls13-h1"), "{e}");
    assert_no_live(&pool, &key);
}

#[tokio::test]
async fn a_silent_server_times_out_the_handshake() {
    let ca = Ca::new();
    let server = start(&[ip(2)], ca.server_config(&[NAME]), Mode::Silent).await;
    let (pool, key) = pool_for(connector(&ca).build().unwrap(), server.port, &[ip(2)]);
    let e = pool.get(&key).await.unwrap_err();
    assert!(e.is_handshake_timeout() && e.is_timeout(), "{e}");
    assert_eq!(server.accepts(), 1);
    assert_no_live(&pool, &key);
}

#[tokio::test]
async fn a_closed_port_is_refused() {
    let ca = Ca::new();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.2:0").unwrap();
        l.local_addr().unwrap().port()
    }; // closed again
    let pool = Pool::builder()
        .build(connector(&ca).build().unwrap())
        .unwrap();
    let key = format!("{NAME}:{port}");
    pool.set_ips(&key, [ip(2)]);
    let e = pool.get(&key).await.unwrap_err();
    assert!(e.is_connect_refused(), "{e}");
    assert_no_live(&pool, &key);
}

#[tokio::test]
async fn a_peer_closed_connection_is_not_lent_again() {
    let ca = Ca::new();
    let server = start(&[ip(2)], ca.server_config(&[NAME]), Mode::Echo).await;
    let (pool, key) = pool_for(connector(&ca).build().unwrap(), server.port, &[ip(2)]);
    let mut conn = pool.get(&key).await.unwrap();
    assert!(conn.is_open());
    conn.shutdown().await.unwrap(); // our close_notify + FIN; the echo server then closes
    let mut buf = [0u8; 1];
    // end of stream (the server closes without close_notify: rustls reports
    // that as an UnexpectedEof error)
    let read = conn.read(&mut buf).await;
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    assert!(!conn.is_open());
    drop(conn);
    let c = pool.get(&key).await.unwrap();
    assert!(
        !Pooled::is_reused(&c),
        "the closed connection was dropped, a new one dialed"
    );
    let s = pool.stats();
    assert_eq!((s.total.created, s.total.closed), (2, 1));
}

#[tokio::test]
async fn local_address_binding() {
    let ca = Ca::new();
    let server = start(&[ip(2)], ca.server_config(&[NAME]), Mode::Echo).await;
    let (pool, key) = pool_for(
        connector(&ca)
            .local_addresses([ip(9), "::1".parse().unwrap()])
            .build()
            .unwrap(),
        server.port,
        &[ip(2)],
    );
    let conn = pool.get(&key).await.unwrap();
    let local = conn.get_ref().get_ref().0.local_addr().unwrap();
    assert_eq!(local.ip(), ip(9), "bound to the IPv4 local address");

    // a local address that cannot be bound falls back to an unbound dial
    let pool = Pool::builder()
        .build(
            connector(&ca)
                .local_addresses(["192.0.2.77".parse().unwrap()])
                .build()
                .unwrap(),
        )
        .unwrap();
    pool.set_ips(&key, [ip(2)]);
    let conn = pool.get(&key).await.unwrap();
    assert_ne!(
        conn.get_ref().get_ref().0.local_addr().unwrap().ip(),
        "192.0.2.77".parse::<IpAddr>().unwrap()
    );
}

#[tokio::test]
async fn profile_choice_random_and_round_robin_spread_dials() {
    let ca = Ca::new();
    let server = start(&[ip(2)], ca.server_config(&[NAME]), Mode::Echo).await;
    for choice in [ProfileChoice::Random, ProfileChoice::RoundRobin] {
        let pool = Pool::builder()
            .max_conns_per_domain(24)
            .build(
                connector(&ca)
                    .profile_choice(choice.clone())
                    .build()
                    .unwrap(),
            )
            .unwrap();
        let key = format!("{NAME}:{}", server.port);
        pool.set_ips(&key, [ip(2)]);
        let mut held = Vec::new();
        for _ in 0..24 {
            held.push(pool.get(&key).await.unwrap());
        }
        let mut used: Vec<&str> = held.iter().map(|c| c.profile()).collect();
        used.sort_unstable();
        used.dedup();
        let stats = pool.stats().profiles;
        assert_eq!(stats.iter().map(|p| p.dials).sum::<u64>(), 24);
        match choice {
            // six profiles, 24 dials: each profile four times
            ProfileChoice::RoundRobin => {
                assert!(stats.iter().all(|p| p.dials == 4), "{stats:?}")
            }
            // the chance that 24 uniform draws over six hit at most two is
            // below 1e-10
            _ => assert!(used.len() > 2, "{used:?}"),
        }
    }
}

#[tokio::test]
async fn sockets_carry_nodelay_keepalive_and_the_profiles_tcp_options() {
    let ca = Ca::new();
    let server = start(&[ip(2)], ca.server_config(&[NAME]), Mode::Echo).await;
    let (pool, key) = pool_for(
        connector(&ca)
            .profile_choice(ProfileChoice::Fixed("p384-h2".into()))
            .build()
            .unwrap(),
        server.port,
        &[ip(2)],
    );
    let conn = pool.get(&key).await.unwrap();
    assert_eq!(conn.profile(), "p384-h2");
    let sock = socket2::SockRef::from(conn.get_ref().get_ref().0);
    assert!(sock.tcp_nodelay().unwrap());
    assert!(sock.keepalive().unwrap());
    assert_eq!(sock.ttl_v4().unwrap(), 64, "the profile's TTL");
    // the kernel doubles the requested size for bookkeeping
    assert!(sock.recv_buffer_size().unwrap() >= 256 * 1024);
}
