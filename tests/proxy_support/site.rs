//! The HTTPS site behind the proxies of tests/proxies.rs and
//! tests/proxy_interop.rs: 127.0.0.2, names `A` and `d0..d7.proxy.test`,
//! every path answered with the Host asked for, handshakes counted.
#![allow(dead_code)]

use crate::tls_support::Ca;
use bytes::Bytes;
use hotpool::{http, Client, ClientBuilder, ProfileChoice};
use http::{header, Request, Response};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::{
    net::IpAddr,
    sync::{
        atomic::{AtomicUsize, Ordering::Relaxed},
        Arc,
    },
    time::Duration,
};
use tokio::net::TcpListener;

pub const A: &str = "a.proxy.test";

pub struct Site {
    pub port: u16,
    pub handshakes: Arc<AtomicUsize>,
    _task: tokio::task::JoinHandle<()>,
}

impl Site {
    pub fn url(&self, host: &str, path: &str) -> String {
        format!("https://{host}:{}{path}", self.port)
    }
}

pub fn site_ip() -> IpAddr {
    IpAddr::from([127, 0, 0, 2])
}

/// An HTTPS site on 127.0.0.2 for `A` and `d0..d7.proxy.test`, answering
/// every path with the Host it was asked for.
pub async fn site(ca: &Ca) -> Site {
    let names: Vec<String> = std::iter::once(A.to_owned())
        .chain((0..8).map(|i| format!("d{i}.proxy.test")))
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(ca.server_config(&names)));
    let listener = TcpListener::bind((site_ip(), 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let handshakes = Arc::new(AtomicUsize::new(0));
    let hs = handshakes.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, hs) = (acceptor.clone(), hs.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                hs.fetch_add(1, Relaxed);
                let svc = service_fn(|req: Request<hyper::body::Incoming>| async move {
                    let host = req.headers()[header::HOST].to_str().unwrap().to_owned();
                    Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from(host))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    Site {
        port,
        handshakes,
        _task: task,
    }
}

pub fn builder(ca: &Ca) -> ClientBuilder {
    Client::builder()
        .add_root_certificate(ca.cert())
        .profile_choice(ProfileChoice::Fixed("tls13-h1".into()))
        .max_conns_per_domain(1)
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(10))
}

pub fn client(b: ClientBuilder) -> Client {
    let c = b.build().unwrap();
    c.set_ips(A, [site_ip()]);
    for i in 0..8 {
        c.set_ips(&format!("d{i}.proxy.test"), [site_ip()]);
    }
    c
}

pub async fn get_ok(client: &Client, url: &str) -> hotpool::Response {
    let resp = client.get(url).await.unwrap();
    assert_eq!(resp.status(), 200, "{url}");
    resp
}
