//! Sites that refuse, limit or misanswer us: validation keeps them usable
//! (any complete answer proves a connection), a 403 blocks the pair
//! (domain, address) and not the address for every domain, a 429 slows
//! the domain down without trying other addresses, and DNS is resolved
//! once, remembered when it fails, and never pointed inward.
mod http_support;
mod tls_support;

use hotpool::{Client, ClientBuilder, Error, ProfileChoice, Resolve};
use http_support::{serve_names, HttpServer, Opts};
use std::{
    net::IpAddr,
    sync::{
        atomic::{AtomicUsize, Ordering::SeqCst},
        Arc,
    },
    time::Duration,
};
use tls_support::Ca;

fn ip(last: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, last])
}

fn builder(ca: &Ca) -> ClientBuilder {
    Client::builder()
        .add_root_certificate(ca.cert())
        .profile_choice(ProfileChoice::Fixed("classic-h2".into()))
        .timeout(Duration::from_secs(5))
        .connect_timeout(Duration::from_secs(3))
}

const NAMES: [&str; 4] = ["a.site.test", "b.site.test", "c.site.test", "d.site.test"];

fn key(server: &HttpServer, name: &str) -> String {
    format!("{name}:{}", server.port)
}

fn url(server: &HttpServer, name: &str, path: &str) -> String {
    format!("https://{name}:{}{path}", server.port)
}

#[tokio::test]
async fn a_site_whose_root_answers_404_is_crawled_on_one_connection() {
    let ca = Ca::new();
    let server = serve_names(
        &ca,
        &[ip(2)],
        Opts {
            head_status: Some(404),
            head_status_all: true,
            ..Opts::default()
        },
        &NAMES,
    )
    .await;
    let client = builder(&ca).build().unwrap();
    client.set_ips(&key(&server, NAMES[0]), [ip(2)]);
    for _ in 0..20 {
        let resp = client.get(&url(&server, NAMES[0], "/")).await.unwrap();
        assert_eq!(resp.status(), 200);
        resp.bytes().await.unwrap();
    }
    assert_eq!(server.accepts(), 1, "one handshake for twenty requests");
    // The seed's strict rule still closes on anything but 200.
    let strict = builder(&ca).strict_validation().build().unwrap();
    strict.set_ips(&key(&server, NAMES[0]), [ip(2)]);
    let e = strict.get(&url(&server, NAMES[0], "/")).await.unwrap_err();
    assert!(e.is_validation(), "{e}");
    assert!(e.to_string().contains("404"), "{e}");
}

#[tokio::test]
async fn a_403_site_does_not_cost_others_their_shared_address() {
    let ca = Ca::new();
    let shared = ip(2);
    let server = serve_names(
        &ca,
        &[shared],
        Opts {
            forbidden_hosts: vec![NAMES[0].into()],
            ..Opts::default()
        },
        &NAMES,
    )
    .await;
    let client = builder(&ca).keep_alive(false).build().unwrap();
    for n in &NAMES[..2] {
        client.set_ips(&key(&server, n), [shared]);
    }
    let e = client.get(&url(&server, NAMES[0], "/")).await.unwrap_err();
    assert!(e.is_blocked(), "{e}");
    // The other site keeps crawling through the same address, dialing
    // anew each time (keep_alive off), its probes all passing.
    for _ in 0..10 {
        let resp = client.get(&url(&server, NAMES[1], "/")).await.unwrap();
        assert_eq!(resp.status(), 200);
        resp.bytes().await.unwrap();
    }
    let pool = client.pool();
    assert!(pool.is_blocked_for(&key(&server, NAMES[0]), shared));
    assert!(!pool.is_blocked_for(&key(&server, NAMES[1]), shared));
    assert!(!pool.is_blocked(shared), "not blocked for every domain");
    assert_eq!(
        pool.blocked_pairs(),
        [(key(&server, NAMES[0]), shared)],
        "one pair"
    );
    // The refused site does not dial again while its pair is blocked.
    let before = server.accepts();
    let e = client.get(&url(&server, NAMES[0], "/")).await.unwrap_err();
    assert!(e.is_blocked(), "{e}");
    assert_eq!(server.accepts(), before);
    // The pair can be lifted (and set) by hand.
    assert!(pool.unblock_pair(&key(&server, NAMES[0]), shared));
    assert!(!pool.is_blocked_for(&key(&server, NAMES[0]), shared));
    assert!(pool.block_pair(&key(&server, NAMES[1]), shared));
    assert!(pool.is_blocked_for(&key(&server, NAMES[1]), shared));
    assert!(!pool.is_blocked(shared));
}

#[tokio::test]
async fn three_refusing_sites_block_the_address_for_a_fourth() {
    let ca = Ca::new();
    let shared = ip(2);
    let server = serve_names(
        &ca,
        &[shared],
        Opts {
            forbidden_hosts: NAMES[..3].iter().map(|s| s.to_string()).collect(),
            ..Opts::default()
        },
        &NAMES,
    )
    .await;
    let client = builder(&ca).build().unwrap();
    for n in &NAMES {
        client.set_ips(&key(&server, n), [shared]);
    }
    for (i, n) in NAMES[..3].iter().enumerate() {
        let e = client.get(&url(&server, n, "/")).await.unwrap_err();
        assert!(e.is_blocked(), "{e}");
        assert_eq!(
            client.pool().is_blocked(shared),
            i == 2,
            "blocked for all at the third refusing domain, not before"
        );
    }
    // The fourth site, which would have been served, does not dial it.
    let before = server.accepts();
    let e = client.get(&url(&server, NAMES[3], "/")).await.unwrap_err();
    assert!(e.is_blocked(), "{e}");
    assert_eq!(server.accepts(), before);
    assert_eq!(client.pool().blocked(), [shared]);
}

#[tokio::test]
async fn a_429_probe_keeps_the_connection_and_holds_new_dials() {
    let ca = Ca::new();
    let server = serve_names(
        &ca,
        &[ip(2), ip(3)],
        Opts {
            head_status: Some(429),
            head_status_all: true,
            ..Opts::default()
        },
        &NAMES,
    )
    .await;
    let client = builder(&ca).build().unwrap();
    let k = key(&server, NAMES[0]);
    client.set_ips(&k, [ip(2), ip(3)]);
    // The probe answered 429 with Retry-After: 30; the connection is kept
    // and serves the request.
    let resp = client.get(&url(&server, NAMES[0], "/")).await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.bytes().await.unwrap();
    assert_eq!(server.accepts(), 1, "no other address tried");
    let held = client.pool().throttled_for(&k);
    assert!(
        held > Duration::from_secs(25) && held <= Duration::from_secs(30),
        "{held:?}"
    );
    // The idle connection is still lent...
    let resp = client.get(&url(&server, NAMES[0], "/")).await.unwrap();
    resp.bytes().await.unwrap();
    assert_eq!(server.accepts(), 1);
    // ...but no new connection is dialed: its own error kind.
    let e = client.pool().get_fresh(&k).await.unwrap_err();
    assert!(e.is_rate_limited(), "{e}");
    assert_eq!(e.domain(), Some(k.as_str()));
    assert_eq!(server.accepts(), 1);
}

/// A resolver that counts its calls and answers after a pause.
#[derive(Clone)]
struct Counting {
    calls: Arc<AtomicUsize>,
    answer: Result<Vec<IpAddr>, String>,
}

impl Resolve for Counting {
    async fn resolve(&self, host: &str, _port: u16) -> Result<Vec<IpAddr>, Error> {
        self.calls.fetch_add(1, SeqCst);
        tokio::time::sleep(Duration::from_millis(100)).await;
        self.answer.clone().map_err(|why| Error::Resolve {
            domain: host.into(),
            source: why.into(),
        })
    }
}

#[tokio::test]
async fn first_requests_share_one_resolution_and_a_failure_is_remembered() {
    let ca = Ca::new();
    let server = serve_names(&ca, &[ip(2)], Opts::default(), &NAMES).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let client = builder(&ca)
        .resolver(Counting {
            calls: calls.clone(),
            answer: Ok(vec![ip(2)]),
        })
        .allow_private_addresses(true)
        .build()
        .unwrap();
    let u = url(&server, NAMES[0], "/");
    let gets: Vec<_> = (0..8).map(|_| client.get(&u)).collect();
    for r in futures_join(gets).await {
        assert_eq!(r.unwrap().status(), 200);
    }
    assert_eq!(calls.load(SeqCst), 1, "one resolution for eight requests");

    let calls = Arc::new(AtomicUsize::new(0));
    let failing = builder(&ca)
        .resolver(Counting {
            calls: calls.clone(),
            answer: Err("NXDOMAIN".into()),
        })
        .build()
        .unwrap();
    for _ in 0..5 {
        let e = failing.get(&u).await.unwrap_err();
        assert!(e.is_resolve(), "{e}");
        assert!(e.to_string().contains("NXDOMAIN"), "{e}");
    }
    assert_eq!(calls.load(SeqCst), 1, "remembered for negative_dns_ttl");
}

#[tokio::test]
async fn resolved_private_addresses_are_refused_unless_allowed() {
    let ca = Ca::new();
    let server = serve_names(&ca, &[ip(2)], Opts::default(), &NAMES).await;
    let resolver = Counting {
        calls: Arc::new(AtomicUsize::new(0)),
        answer: Ok(vec![ip(2)]),
    };
    let client = builder(&ca).resolver(resolver.clone()).build().unwrap();
    let e = client.get(&url(&server, NAMES[0], "/")).await.unwrap_err();
    assert!(e.is_resolve(), "{e}");
    assert!(e.to_string().contains("allow_private_addresses"), "{e}");
    assert_eq!(server.accepts(), 0);
    // Addresses set by hand are trusted.
    client.set_ips(&key(&server, NAMES[1]), [ip(2)]);
    assert_eq!(
        client
            .get(&url(&server, NAMES[1], "/"))
            .await
            .unwrap()
            .status(),
        200
    );
    // And the setting lets resolved ones through.
    let allowed = builder(&ca)
        .resolver(resolver)
        .allow_private_addresses(true)
        .build()
        .unwrap();
    assert_eq!(
        allowed
            .get(&url(&server, NAMES[0], "/"))
            .await
            .unwrap()
            .status(),
        200
    );
}

/// Runs the futures concurrently on this task.
async fn futures_join<F: std::future::Future>(fs: Vec<F>) -> Vec<F::Output> {
    let mut set = Vec::new();
    for f in fs {
        set.push(Box::pin(f));
    }
    let mut out: Vec<Option<F::Output>> = set.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in set.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().map(Option::unwrap).collect()
}

#[tokio::test]
async fn stream_failures_count_against_an_http2_connection_until_max_errors() {
    let ca = Ca::new();
    let server = serve_names(
        &ca,
        &[ip(2)],
        Opts {
            h2: true,
            ..Opts::default()
        },
        &NAMES,
    )
    .await;
    let client = builder(&ca).max_errors(1).build().unwrap();
    let k = key(&server, NAMES[0]);
    client.set_ips(&k, [ip(2)]);
    let reset = url(&server, NAMES[0], "/reset");
    // The server aborts the stream mid-body: the connection survives.
    let e = client.get(&reset).await.unwrap().bytes().await.unwrap_err();
    assert!(e.is_http(), "{e}");
    let conns = client.pool().connections();
    assert_eq!(conns.len(), 1, "{conns:?}");
    assert_eq!(conns[0].errors, 1, "the failure was counted");
    // A second failure passes max_errors (1): the connection is closed.
    let e = client.get(&reset).await.unwrap().bytes().await.unwrap_err();
    assert!(e.is_http(), "{e}");
    assert!(client.pool().connections().is_empty());
    assert_eq!(server.accepts(), 1);
    // The next request dials anew.
    let resp = client.get(&url(&server, NAMES[0], "/")).await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.bytes().await.unwrap();
    assert_eq!(server.accepts(), 2);
}
