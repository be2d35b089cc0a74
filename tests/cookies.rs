//! Cookie jars against a loopback HTTPS server with two sites under one
//! registrable domain: cookies set and sent across redirect hops (host-only
//! and domain cookies each where they belong), sessions isolated over one
//! pool (the server's handshake count proves they shared connections), a
//! saved jar resuming its session, a logout removing the cookie, and a
//! client without a jar keeping nothing.
mod tls_support;

use bytes::Bytes;
use hotpool::{cookie::Jar, http, Client, ClientBuilder, ProfileChoice};
use http::{header, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::{
    collections::BTreeSet,
    net::IpAddr,
    sync::{
        atomic::{AtomicUsize, Ordering::Relaxed},
        Arc, Mutex,
    },
    time::Duration,
};
use tls_support::Ca;
use tokio::net::TcpListener;

const A: &str = "a.cookie.test";
const B: &str = "b.cookie.test";

struct Site {
    port: u16,
    /// (host, path, Cookie header) of every request but the probes.
    seen: Arc<Mutex<Vec<(String, String, String)>>>,
    handshakes: Arc<AtomicUsize>,
    _task: tokio::task::JoinHandle<()>,
}

impl Site {
    fn url(&self, host: &str, path: &str) -> String {
        format!("https://{host}:{}{path}", self.port)
    }

    fn cookie_seen(&self, host: &str, path: &str) -> Vec<String> {
        let seen = self.seen.lock().unwrap();
        seen.iter()
            .filter(|(h, p, _)| h == host && p == path)
            .map(|(_, _, c)| c.clone())
            .collect()
    }
}

/// The cookies of a `Cookie` header, as a set (their order is by path,
/// then by age).
fn jar_of(header: &str) -> BTreeSet<String> {
    header
        .split("; ")
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

async fn handle(
    req: Request<hyper::body::Incoming>,
    port: u16,
    seen: Arc<Mutex<Vec<(String, String, String)>>>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .split(':')
        .next()
        .unwrap_or("")
        .to_owned();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    let cookie = req
        .headers()
        .get(header::COOKIE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let account = req
        .headers()
        .get("x-account")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    if path != "/" {
        seen.lock()
            .unwrap()
            .push((host.clone(), path.clone(), cookie.clone()));
    }
    let b = Response::builder();
    let r = match (host.as_str(), path.as_str()) {
        (_, "/") => b.body(Full::new(Bytes::from_static(b"home"))),
        // The Go original's login: a session id cookie from the login
        // response, then on to the other site.
        (A, "/login") => {
            let user = query.strip_prefix("user=").unwrap_or("nobody");
            b.status(StatusCode::FOUND)
                .header(header::SET_COOKIE, format!("sid={user}; Path=/; Secure"))
                .header(header::SET_COOKIE, "wide=1; Domain=cookie.test; Path=/")
                .header(header::LOCATION, format!("https://{B}:{port}/landing"))
                .body(Full::new(Bytes::new()))
        }
        (B, "/landing") => b
            .status(StatusCode::FOUND)
            .header(header::SET_COOKIE, "b=2")
            .header(header::LOCATION, format!("https://{A}:{port}/whoami"))
            .body(Full::new(Bytes::new())),
        (A, "/logout") => b
            .header(header::SET_COOKIE, "sid=; Path=/; Max-Age=0")
            .body(Full::new(Bytes::new())),
        (_, "/whoami") => b.body(Full::new(Bytes::from(format!("{account}|{cookie}")))),
        _ => b
            .status(StatusCode::NOT_FOUND)
            .body(Full::new(Bytes::new())),
    };
    Ok(r.unwrap())
}

async fn site(ca: &Ca) -> Site {
    let config = Arc::new(ca.server_config(&[A, B]));
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let listener = TcpListener::bind((ip(), 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let handshakes = Arc::new(AtomicUsize::new(0));
    let (s, hs) = (seen.clone(), handshakes.clone());
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, seen, hs) = (acceptor.clone(), s.clone(), hs.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                hs.fetch_add(1, Relaxed);
                let svc = service_fn(move |req| handle(req, port, seen.clone()));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    Site {
        port,
        seen,
        handshakes,
        _task: task,
    }
}

fn ip() -> IpAddr {
    IpAddr::from([127, 0, 0, 2])
}

fn builder(ca: &Ca) -> ClientBuilder {
    Client::builder()
        .add_root_certificate(ca.cert())
        .profile_choice(ProfileChoice::Fixed("tls13-h1".into()))
        .max_conns_per_domain(1)
        .timeout(Duration::from_secs(10))
}

fn client(b: ClientBuilder) -> Client {
    let c = b.build().unwrap();
    c.set_ips(A, [ip()]);
    c.set_ips(B, [ip()]);
    c
}

/// `(x-account, cookies)` of a `/whoami` answer.
async fn whoami(resp: hotpool::Response) -> (String, BTreeSet<String>) {
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    let (account, cookie) = text.split_once('|').unwrap();
    (account.to_owned(), jar_of(cookie))
}

#[tokio::test]
async fn cookies_are_kept_and_sent_across_redirect_hops() {
    let ca = Ca::new();
    let site = site(&ca).await;
    let client = client(builder(&ca).cookie_store(true));
    let resp = client.get(&site.url(A, "/login?user=alice")).await.unwrap();
    assert_eq!(resp.redirects().len(), 2);
    let (_, cookies) = whoami(resp).await;
    assert_eq!(
        cookies,
        set(&["sid=alice", "wide=1"]),
        "A's own cookie and the domain cookie, not B's"
    );
    assert_eq!(
        site.cookie_seen(B, "/landing"),
        ["wide=1"],
        "the hop to B carried the domain cookie set one hop before, not A's host-only one"
    );
    let (_, on_b) = whoami(client.get(&site.url(B, "/whoami")).await.unwrap()).await;
    assert_eq!(on_b, set(&["b=2", "wide=1"]));
    // The logout's Max-Age=0 removes the session id.
    let out = client.get(&site.url(A, "/logout")).await.unwrap();
    out.bytes().await.unwrap();
    let (_, after) = whoami(client.get(&site.url(A, "/whoami")).await.unwrap()).await;
    assert_eq!(after, set(&["wide=1"]));
}

#[tokio::test]
async fn sessions_share_the_pool_and_nothing_else() {
    let ca = Ca::new();
    let site = site(&ca).await;
    let client = client(builder(&ca));
    let alice = client
        .session()
        .header("x-account", "alice".parse().unwrap());
    let bob = client.session().header("x-account", "bob".parse().unwrap());
    let visitor = client.session();
    for (s, user) in [(&alice, "alice"), (&bob, "bob")] {
        let r = s.get(&site.url(A, &format!("/login?user={user}"))).await;
        r.unwrap().bytes().await.unwrap();
    }
    for round in 0..5 {
        for (s, user) in [(&alice, "alice"), (&bob, "bob"), (&visitor, "")] {
            let (account, cookies) = whoami(s.get(&site.url(A, "/whoami")).await.unwrap()).await;
            assert_eq!(account, user, "round {round}: the session's own header");
            let want = if user.is_empty() {
                set(&[])
            } else {
                set(&[&format!("sid={user}"), "wide=1"])
            };
            assert_eq!(cookies, want, "round {round}: {user:?}'s cookies only");
        }
    }
    // The client itself keeps no jar.
    let (account, cookies) = whoami(client.get(&site.url(A, "/whoami")).await.unwrap()).await;
    assert_eq!((account.as_str(), cookies), ("", set(&[])));
    assert_eq!(alice.jar().len(), 3, "sid, wide and B's b");
    // 21 requests and 4 redirect hops over one connection per site.
    assert_eq!(site.handshakes.load(Relaxed), 2, "one handshake per host");
    assert_eq!(client.stats().total.created, 2);
}

#[tokio::test]
async fn a_saved_jar_resumes_its_session() {
    let ca = Ca::new();
    let site = site(&ca).await;
    let client = client(builder(&ca));
    let alice = client.session();
    let r = alice.get(&site.url(A, "/login?user=alice")).await.unwrap();
    r.bytes().await.unwrap();
    let mut saved = Vec::new();
    alice.jar().save_json(&mut saved).unwrap();
    drop(alice);

    let jar = Arc::new(Jar::load_json(&saved[..]).unwrap());
    let resumed = client.session_with_jar(jar.clone());
    let (_, cookies) = whoami(resumed.get(&site.url(A, "/whoami")).await.unwrap()).await;
    assert_eq!(cookies, set(&["sid=alice", "wide=1"]));
    // The same jar behind a client of its own.
    let other = self::client(builder(&ca).cookie_jar(jar));
    let (_, cookies) = whoami(other.get(&site.url(B, "/whoami")).await.unwrap()).await;
    assert_eq!(cookies, set(&["b=2", "wide=1"]));
}

#[tokio::test]
async fn a_cookie_header_of_the_caller_wins_and_no_jar_keeps_nothing() {
    let ca = Ca::new();
    let site = site(&ca).await;
    let plain = client(builder(&ca));
    let r = plain.get(&site.url(A, "/login?user=alice")).await.unwrap();
    r.bytes().await.unwrap();
    let (_, cookies) = whoami(plain.get(&site.url(A, "/whoami")).await.unwrap()).await;
    assert!(cookies.is_empty(), "no jar: {cookies:?}");

    let s = plain.session();
    let r = s.get(&site.url(A, "/login?user=alice")).await.unwrap();
    r.bytes().await.unwrap();
    let req = Request::get(site.url(A, "/whoami"))
        .header(header::COOKIE, "mine=1")
        .body(Bytes::new())
        .unwrap();
    let (_, cookies) = whoami(s.request(req).await.unwrap()).await;
    assert_eq!(cookies, set(&["mine=1"]));
    assert!(format!("{:?}", s.jar()).contains("cookies: 3"));
    assert!(
        !format!("{:?}", s.jar()).contains("alice"),
        "values never printed"
    );
}
