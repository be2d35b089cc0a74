//! The embedded site: three domains on nine 127.0.0.x addresses, one of
//! which answers 403.

use http_body_util::Full;
use hyper::{body::Incoming, service::service_fn, Request, Response, StatusCode};
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto,
};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::{
    convert::Infallible,
    net::{IpAddr, SocketAddr},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
};
use tokio::net::TcpListener;

pub const DOMAINS: [&str; 3] = [
    "shop.hotpool.test",
    "news.hotpool.test",
    "blog.hotpool.test",
];

/// The addresses of domain `d`: 127.0.0.{10d+11, +12, +13}.
pub fn ips(d: usize) -> Vec<IpAddr> {
    (1..=3)
        .map(|k| IpAddr::from([127, 0, 0, (10 * (d + 1) + k) as u8]))
        .collect()
}

/// The address that answers 403 to everything.
pub fn forbidden() -> IpAddr {
    IpAddr::from([127, 0, 0, 11])
}

pub struct Site {
    pub port: u16,
    pub ca: CertificateDer<'static>,
    pub handshakes: Arc<AtomicUsize>,
}

pub async fn start() -> std::io::Result<Site> {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let issuer =
        CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("CA");
    let key = KeyPair::generate().expect("key");
    let leaf = CertificateParams::new(DOMAINS.iter().map(|d| d.to_string()).collect::<Vec<_>>())
        .expect("leaf params")
        .signed_by(&key, &issuer)
        .expect("leaf");
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .expect("server config");
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let all: Vec<IpAddr> = (0..DOMAINS.len()).flat_map(ips).collect();
    let (port, listeners) = bind_all(&all).await?;
    let handshakes = Arc::new(AtomicUsize::new(0));
    for l in listeners {
        let (acceptor, handshakes) = (acceptor.clone(), handshakes.clone());
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = l.accept().await else {
                    return;
                };
                let _ = tcp.set_nodelay(true);
                let local = tcp.local_addr().map(|a| a.ip()).ok();
                let (acceptor, handshakes) = (acceptor.clone(), handshakes.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    handshakes.fetch_add(1, Ordering::Relaxed);
                    let forbidden = local == Some(forbidden());
                    let svc = service_fn(move |req: Request<Incoming>| async move {
                        Ok::<_, Infallible>(page(&req, forbidden))
                    });
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tls), svc)
                        .await;
                });
            }
        });
    }
    Ok(Site {
        port,
        ca: issuer.der().clone(),
        handshakes,
    })
}

fn page(req: &Request<Incoming>, forbidden: bool) -> Response<Full<bytes::Bytes>> {
    if forbidden {
        let mut r = Response::new(Full::from("forbidden"));
        *r.status_mut() = StatusCode::FORBIDDEN;
        return r;
    }
    if req.method() == hyper::Method::HEAD {
        // Headers only: hyper's HTTP/2 server would send a body.
        return Response::new(Full::default());
    }
    let host = req
        .uri()
        .host()
        .or_else(|| req.headers().get("host").and_then(|h| h.to_str().ok()))
        .unwrap_or("?");
    let body = format!(
        "<!doctype html><title>{host}{path}</title><h1>{path}</h1><p>{filler}</p>",
        path = req.uri().path(),
        filler = "lorem ipsum dolor sit amet ".repeat(32)
    );
    Response::new(Full::from(body))
}

/// Binds every address on one shared port.
async fn bind_all(ips: &[IpAddr]) -> std::io::Result<(u16, Vec<TcpListener>)> {
    let mut last = None;
    'retry: for _ in 0..50 {
        let first = TcpListener::bind(SocketAddr::new(ips[0], 0)).await?;
        let port = first.local_addr()?.port();
        let mut ls = vec![first];
        for ip in &ips[1..] {
            match TcpListener::bind(SocketAddr::new(*ip, port)).await {
                Ok(l) => ls.push(l),
                Err(e) => {
                    last = Some(e);
                    continue 'retry;
                }
            }
        }
        return Ok((port, ls));
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no common free port")))
}
