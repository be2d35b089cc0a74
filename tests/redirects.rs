//! Redirects against a loopback HTTPS server with two sites: a chain across
//! them (each hop through its own host's pool), method and body by status,
//! credentials dropped across hosts, a loop, the limit, a custom policy,
//! `none`, and a hop to plain http refused.
mod tls_support;

use bytes::Bytes;
use hotpool::{http, redirect::Policy, Client, ClientBuilder, ProfileChoice};
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::{
    net::IpAddr,
    sync::{Arc, Mutex},
    time::Duration,
};
use tls_support::Ca;
use tokio::net::TcpListener;

const A: &str = "a.redirect.test";
const B: &str = "b.redirect.test";

/// A request the server saw.
#[derive(Clone, Debug)]
struct Seen {
    host: String,
    method: Method,
    path: String,
    auth: bool,
    cookie: bool,
    body: Bytes,
}

struct Site {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
    _task: tokio::task::JoinHandle<()>,
}

impl Site {
    fn url(&self, host: &str, path: &str) -> String {
        format!("https://{host}:{}{path}", self.port)
    }

    /// What it saw, without the validation probes (`HEAD /`).
    fn requests(&self) -> Vec<Seen> {
        let seen = self.seen.lock().unwrap();
        seen.iter()
            .filter(|s| !(s.method == Method::HEAD && s.path == "/"))
            .cloned()
            .collect()
    }
}

fn redirect(status: u16, to: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header(header::LOCATION, to)
        .body(Full::new(Bytes::from_static(b"moved")))
        .unwrap()
}

async fn handle(
    req: Request<hyper::body::Incoming>,
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
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
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let auth = req.headers().contains_key(header::AUTHORIZATION);
    let cookie = req.headers().contains_key(header::COOKIE);
    let body = req.into_body().collect().await.unwrap().to_bytes();
    seen.lock().unwrap().push(Seen {
        host: host.clone(),
        method: method.clone(),
        path: path.clone(),
        auth,
        cookie,
        body: body.clone(),
    });
    let ok = |text: String| Response::new(Full::new(Bytes::from(text)));
    let r = match (host.as_str(), path.as_str()) {
        (_, "/") => ok("home".into()),
        (A, "/start") => redirect(302, format!("https://{B}:{port}/step")),
        (B, "/step") => redirect(301, "final?x=1".into()),
        (_, "/final") => ok(format!("final on {host}")),
        (A, "/see-other") => redirect(303, "/echo".into()),
        (A, "/temporary") => redirect(307, "/echo".into()),
        (A, "/permanent") => redirect(308, "/echo".into()),
        (A, "/found") => redirect(302, "/echo".into()),
        (A, "/elsewhere") => redirect(307, format!("https://{B}:{port}/echo")),
        (_, "/echo") => ok(format!("{method} {}", String::from_utf8_lossy(&body))),
        (A, "/loop1") => redirect(302, "/loop2".into()),
        (A, "/loop2") => redirect(302, "/loop1".into()),
        (A, p) if p.starts_with("/chain/") => {
            let n: u32 = p["/chain/".len()..].parse().unwrap();
            redirect(302, format!("/chain/{}", n + 1))
        }
        (A, "/plain") => redirect(302, format!("http://{A}:{port}/final")),
        _ => Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Full::new(Bytes::new()))
            .unwrap(),
    };
    Ok(r)
}

async fn site(ca: &Ca) -> Site {
    let config = Arc::new(ca.server_config(&[A, B]));
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let listener = TcpListener::bind((ip(), 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, seen) = (acceptor.clone(), s.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
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
        .timeout(Duration::from_secs(10))
}

fn client(b: ClientBuilder) -> Client {
    let c = b.build().unwrap();
    c.set_ips(A, [ip()]);
    c.set_ips(B, [ip()]);
    c
}

fn with_credentials(method: Method, url: &str, body: &'static str) -> Request<Bytes> {
    Request::builder()
        .method(method)
        .uri(url)
        .header(header::AUTHORIZATION, "Bearer secret")
        .header(header::COOKIE, "session=1")
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Bytes::from_static(body.as_bytes()))
        .unwrap()
}

#[tokio::test]
async fn a_chain_across_two_hosts_ends_at_the_final_url() {
    let ca = Ca::new();
    let site = site(&ca).await;
    let client = client(builder(&ca));
    let req = with_credentials(Method::GET, &site.url(A, "/start"), "");
    let resp = client.request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.url().to_string(), site.url(B, "/final?x=1"));
    let chain: Vec<String> = resp.redirects().iter().map(|u| u.to_string()).collect();
    assert_eq!(chain, [site.url(A, "/start"), site.url(B, "/step")]);
    assert_eq!(resp.text().await.unwrap(), format!("final on {B}"));
    let seen = site.requests();
    let hops: Vec<(&str, &str)> = seen
        .iter()
        .map(|s| (s.host.as_str(), s.path.as_str()))
        .collect();
    assert_eq!(hops, [(A, "/start"), (B, "/step"), (B, "/final")]);
    assert!(seen[0].auth && seen[0].cookie, "the first hop has them");
    assert!(
        seen[1..].iter().all(|s| !s.auth && !s.cookie),
        "credentials stay with the host they were set for: {seen:?}"
    );
    // Each host has its own pooled connection, both back in the pool.
    let stats = client.stats();
    let mut domains: Vec<&str> = stats
        .domains
        .iter()
        .filter(|d| d.connections > 0)
        .map(|d| d.domain.as_ref())
        .collect();
    domains.sort_unstable();
    assert_eq!(domains.len(), 2, "{:?}", stats.domains);
    assert_eq!(stats.total.in_use, 0, "every hop's connection returned");
    assert_eq!(stats.requests.requests, 1, "one request, three hops");
}

#[tokio::test]
async fn the_status_decides_method_and_body() {
    let ca = Ca::new();
    let site = site(&ca).await;
    let client = client(builder(&ca));
    for (path, want) in [
        ("/see-other", "GET "),
        ("/found", "GET "),
        ("/temporary", "POST form"),
        ("/permanent", "POST form"),
    ] {
        let req = with_credentials(Method::POST, &site.url(A, path), "form");
        let resp = client.request(req).await.unwrap();
        assert_eq!(resp.text().await.unwrap(), want, "{path}");
    }
    let echoes: Vec<Seen> = site
        .requests()
        .into_iter()
        .filter(|s| s.path == "/echo")
        .collect();
    assert_eq!(echoes.len(), 4);
    assert!(echoes.iter().all(|s| s.auth), "same host keeps credentials");
    // 303 turns even a PUT into a GET; a HEAD stays a HEAD.
    let req = with_credentials(Method::PUT, &site.url(A, "/see-other"), "x");
    let resp = client.request(req).await.unwrap();
    assert_eq!(resp.text().await.unwrap(), "GET ");
    let resp = client.head(&site.url(A, "/see-other")).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(site.requests().last().unwrap().method, Method::HEAD);
    // 307 to another host keeps the body, not the credentials.
    let req = with_credentials(Method::POST, &site.url(A, "/elsewhere"), "form");
    let resp = client.request(req).await.unwrap();
    assert_eq!(resp.text().await.unwrap(), "POST form");
    let last = site.requests().last().unwrap().clone();
    assert_eq!((last.host.as_str(), last.body.as_ref()), (B, &b"form"[..]));
    assert!(!last.auth && !last.cookie, "{last:?}");
}

#[tokio::test]
async fn a_loop_and_the_limit_are_errors_naming_the_chain() {
    let ca = Ca::new();
    let site = site(&ca).await;
    let client = client(builder(&ca));
    let e = client.get(&site.url(A, "/loop1")).await.unwrap_err();
    assert!(e.is_redirect(), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("loop"), "{msg}");
    assert!(
        msg.contains("/loop1 -> ") && msg.contains("/loop2"),
        "{msg}"
    );
    assert_eq!(
        site.requests().len(),
        2,
        "the loop is seen before a third hop"
    );

    let e = client.get(&site.url(A, "/chain/0")).await.unwrap_err();
    assert!(e.is_redirect(), "{e:?}");
    assert!(
        e.to_string().contains("too many redirects (limit 10)"),
        "{e}"
    );
    let chained = site
        .requests()
        .iter()
        .filter(|s| s.path.starts_with("/chain/"))
        .count();
    assert_eq!(chained, 11, "the first request and 10 hops");

    let strict = self::client(builder(&ca).redirect(Policy::limited(2)));
    let e = strict.get(&site.url(A, "/chain/100")).await.unwrap_err();
    assert!(e.to_string().contains("limit 2"), "{e}");
    assert!(
        e.to_string().contains("/chain/103"),
        "names where it would go: {e}"
    );

    let e = client.get(&site.url(A, "/plain")).await.unwrap_err();
    assert!(
        e.is_redirect() && e.to_string().contains("not https"),
        "{e}"
    );
    assert_eq!(client.stats().total.in_use, 0);
}

#[tokio::test]
async fn none_and_custom_policies() {
    let ca = Ca::new();
    let site = site(&ca).await;
    let none = client(builder(&ca).redirect(Policy::none()));
    let resp = none.get(&site.url(A, "/start")).await.unwrap();
    assert_eq!(resp.status(), 302);
    assert!(resp.redirects().is_empty());
    assert_eq!(resp.text().await.unwrap(), "moved");

    // Stay on the first host: the cross-host redirect is the response.
    let same_site = client(builder(&ca).redirect(Policy::custom(|a| {
        if a.url().host() == a.previous()[0].host() {
            a.follow()
        } else {
            a.stop()
        }
    })));
    let resp = same_site.get(&site.url(A, "/start")).await.unwrap();
    assert_eq!(resp.status(), 302);
    assert_eq!(resp.url().to_string(), site.url(A, "/start"));
    let resp = same_site.get(&site.url(A, "/found")).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.redirects().len(), 1);

    let refuse = client(builder(&ca).redirect(Policy::custom(|a| {
        let why = format!("no {} today", a.status().as_u16());
        a.error(why)
    })));
    let e = refuse.get(&site.url(A, "/found")).await.unwrap_err();
    assert!(
        e.is_redirect() && e.to_string().contains("no 302 today"),
        "{e}"
    );
}
