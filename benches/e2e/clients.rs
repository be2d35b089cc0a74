//! The contenders: hotpool's client (sharing HTTP/2 streams, or lending
//! HTTP/2 connections exclusively), reqwest (rustls), a fresh TLS
//! connection per request, and the **floor**: hyper client connections
//! opened before the run and held by the request tasks themselves, with
//! no pool at all (HTTP/1.1: one per task; HTTP/2: one shared by every
//! task) — the most any pool can reach on this server.

use super::server::{ip, Server, BODY, NAME};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::ClientConfig;
use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

/// hotpool's TLS profile. Its first cipher suite is AES-128-GCM, and
/// [`tls_config`] (the floor's and reqwest's) puts the same suite first, so
/// every contender encrypts alike: with ChaCha20 first (`classic-h2`) the
/// cipher alone costs hotpool about 10% of this loopback run's CPU.
const PROFILE: &str = "pq-h2";

/// The headers every contender sends: hotpool sends a browser's kind by
/// default (set here to these values), and the floor and reqwest send the
/// same, so that every request is the same on the wire.
pub const HEADERS: [(&str, &str); 4] = [
    ("user-agent", "hotpool-e2e"),
    (
        "accept",
        "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    ),
    ("accept-language", "en-US,en;q=0.9"),
    // What hotpool advertises (it decodes these); the server never encodes.
    ("accept-encoding", "gzip, deflate, br"),
];

/// [`HEADERS`] as a map (parsed once; each request clones it).
fn header_map() -> http::HeaderMap {
    static MAP: std::sync::OnceLock<http::HeaderMap> = std::sync::OnceLock::new();
    MAP.get_or_init(|| {
        HEADERS
            .iter()
            .map(|(k, v)| (k.parse().unwrap(), v.parse().unwrap()))
            .collect()
    })
    .clone()
}

/// hotpool's client. `keep_alive: false` is the fresh-TLS-per-request
/// contender; `max_streams` is `max_streams_per_connection` (1 lends an
/// HTTP/2 connection exclusively, as before streams were shared).
pub fn hotpool_client(
    server: &Server,
    keep_alive: bool,
    max_conns: usize,
    max_streams: usize,
) -> hotpool::Client {
    let mut b = hotpool::Client::builder()
        .add_root_certificate(server.ca.clone().into())
        .profile_choice(hotpool::ProfileChoice::Fixed(PROFILE.into()))
        .max_conns(max_conns)
        .max_conns_per_domain(max_conns)
        .max_concurrent_dials(64)
        .max_streams_per_connection(max_streams)
        .user_agent(HEADERS[0].1)
        .accept(HEADERS[1].1)
        .default_header(HEADERS[2].0, HEADERS[2].1)
        .wait_timeout(Duration::from_secs(30))
        .no_resolver();
    if !keep_alive {
        b = b.keep_alive(false).no_validation();
    }
    let c = b.build().unwrap();
    c.set_ips(&format!("{NAME}:{}", server.port), [ip()]);
    c
}

/// reqwest with rustls; `h2`: it negotiates HTTP/2 by ALPN, else HTTP/1.1
/// only.
pub fn reqwest_client(server: &Server, max_idle: usize, h2: bool) -> reqwest::Client {
    let alpn: &[&[u8]] = if h2 {
        &[b"h2", b"http/1.1"]
    } else {
        &[b"http/1.1"]
    };
    let b = reqwest::Client::builder()
        .tls_backend_preconfigured(ClientConfig::clone(&tls_config(server, alpn)))
        .default_headers(header_map())
        .resolve(NAME, SocketAddr::new(ip(), server.port))
        .pool_max_idle_per_host(max_idle);
    if h2 { b } else { b.http1_only() }.build().unwrap()
}

/// A rustls client config trusting the server's CA, offering `alpn`, with
/// the cipher suites in [`PROFILE`]'s order of preference (AES-128-GCM
/// first).
fn tls_config(server: &Server, alpn: &[&[u8]]) -> Arc<ClientConfig> {
    use rustls::crypto::aws_lc_rs::{cipher_suite as cs, default_provider};
    let mut roots = rustls::RootCertStore::empty();
    roots.add(server.ca.clone().into()).unwrap();
    let mut provider = default_provider();
    provider.cipher_suites = vec![
        cs::TLS13_AES_128_GCM_SHA256,
        cs::TLS13_AES_256_GCM_SHA384,
        cs::TLS13_CHACHA20_POLY1305_SHA256,
    ];
    let mut config = ClientConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// A TLS connection to the server, `alpn` negotiated.
async fn tls(
    server: &Server,
    config: &Arc<ClientConfig>,
) -> TokioIo<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let tcp = tokio::net::TcpStream::connect(SocketAddr::new(ip(), server.port))
        .await
        .unwrap();
    tcp.set_nodelay(true).unwrap();
    let name = rustls_pki_types::ServerName::try_from(NAME).unwrap();
    let tls = tokio_rustls::TlsConnector::from(config.clone())
        .connect(name, tcp)
        .await
        .unwrap();
    TokioIo::new(tls)
}

/// `n` HTTP/1.1 connections, one per request task.
pub async fn floor_h1(server: &Server, n: usize) -> Contender {
    let config = tls_config(server, &[b"http/1.1"]);
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        let (send, conn) = http1::handshake(tls(server, &config).await).await.unwrap();
        tokio::spawn(conn);
        conns.push(send);
    }
    Contender::FloorH1(Arc::new(Mutex::new(conns)))
}

/// One HTTP/2 connection shared by every request task.
pub async fn floor_h2(server: &Server) -> Contender {
    let config = tls_config(server, &[b"h2"]);
    let (send, conn) = http2::handshake(TokioExecutor::new(), tls(server, &config).await)
        .await
        .unwrap();
    tokio::spawn(conn);
    Contender::FloorH2(send)
}

/// One contender, cloned into each request task.
#[derive(Clone)]
pub enum Contender {
    /// `hotpool::Client`.
    Hotpool(hotpool::Client),
    /// `reqwest::Client`.
    Reqwest(reqwest::Client),
    /// Pre-opened HTTP/1.1 connections, handed one to each task.
    FloorH1(Arc<Mutex<Vec<http1::SendRequest<Empty<Bytes>>>>>),
    /// One pre-opened HTTP/2 connection.
    FloorH2(http2::SendRequest<Empty<Bytes>>),
}

impl Contender {
    /// What one request task uses: the client itself, or its own floor
    /// connection taken out of the shared list.
    pub fn for_task(&self) -> Task {
        match self {
            Contender::Hotpool(c) => Task::Hotpool(c.clone()),
            Contender::Reqwest(c) => Task::Reqwest(c.clone()),
            Contender::FloorH1(conns) => {
                Task::FloorH1(conns.lock().unwrap().pop().expect("a connection per task"))
            }
            Contender::FloorH2(send) => Task::FloorH2(send.clone()),
        }
    }

    /// Gives a task's floor connection back, for the next run.
    pub fn give_back(&self, task: Task) {
        if let (Contender::FloorH1(conns), Task::FloorH1(send)) = (self, task) {
            conns.lock().unwrap().push(send);
        }
    }
}

/// One request task's client.
pub enum Task {
    /// `hotpool::Client`.
    Hotpool(hotpool::Client),
    /// `reqwest::Client`.
    Reqwest(reqwest::Client),
    /// The task's own HTTP/1.1 connection.
    FloorH1(http1::SendRequest<Empty<Bytes>>),
    /// The shared HTTP/2 connection.
    FloorH2(http2::SendRequest<Empty<Bytes>>),
}

impl Task {
    /// GETs `url` and reads the body; returns its length.
    pub async fn get(&mut self, url: &str) -> usize {
        match self {
            Task::Hotpool(c) => {
                let r = c.get(url).await.expect("hotpool GET");
                assert!(r.status().is_success());
                r.bytes().await.expect("hotpool body").len()
            }
            Task::Reqwest(c) => {
                let r = c.get(url).send().await.expect("reqwest GET");
                assert!(r.status().is_success());
                r.bytes().await.expect("reqwest body").len()
            }
            Task::FloorH1(send) => {
                send.ready().await.expect("floor h1 ready");
                let mut req = http::Request::get("/").body(Empty::new()).unwrap();
                *req.headers_mut() = header_map();
                req.headers_mut()
                    .insert(http::header::HOST, http::HeaderValue::from_static(NAME));
                let r = send.send_request(req).await.expect("floor h1 GET");
                assert!(r.status().is_success());
                let body = r.into_body().collect().await.expect("floor h1 body");
                body.to_bytes().len()
            }
            Task::FloorH2(send) => {
                let mut req = http::Request::get(url).body(Empty::new()).unwrap();
                *req.headers_mut() = header_map();
                let r = send.send_request(req).await.expect("floor h2 GET");
                assert!(r.status().is_success());
                let body = r.into_body().collect().await.expect("floor h2 body");
                body.to_bytes().len()
            }
        }
    }
}

/// The body every request must get.
pub const BODY_LEN: usize = BODY.len();
