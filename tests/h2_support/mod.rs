//! A loopback HTTP/2 server built on the `h2` crate, for the stream-sharing
//! tests: a chosen `SETTINGS_MAX_CONCURRENT_STREAMS`, a graceful `GOAWAY`
//! after so many streams, refused and reset streams on demand, and a count
//! of what it processed (per `x-id` header) and of its TLS handshakes.
#![allow(dead_code)]

use crate::tls_support::{bind_all, Ca, NAME};
use bytes::Bytes;
use h2::{server, Reason};
use http::{Response, StatusCode};
use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{
        atomic::{AtomicUsize, Ordering::SeqCst},
        Arc, Mutex,
    },
    time::Duration,
};
use tokio::task::JoinSet;

/// How the server behaves.
#[derive(Clone, Debug)]
pub struct H2Opts {
    /// `SETTINGS_MAX_CONCURRENT_STREAMS`.
    pub max_streams: u32,
    /// Per connection: start a graceful shutdown (`GOAWAY`) once this many
    /// streams were accepted.
    pub goaway_after: Option<usize>,
    /// Hold each response this long (so that streams overlap).
    pub delay: Duration,
    /// Refuse (`RST_STREAM REFUSED_STREAM`, unprocessed) the first attempt
    /// of every request whose `x-id` is a multiple of this.
    pub refuse_every: Option<usize>,
    /// Answer `HEAD` with a body anyway (as hyper's h2 server does), which
    /// the h2 client treats as a protocol error on that stream.
    pub body_for_head: bool,
}

impl Default for H2Opts {
    fn default() -> Self {
        H2Opts {
            max_streams: 100,
            goaway_after: None,
            delay: Duration::from_millis(50),
            refuse_every: None,
            body_for_head: false,
        }
    }
}

/// A running server; dropping it stops it.
pub struct H2Server {
    pub port: u16,
    handshakes: Arc<AtomicUsize>,
    /// Processed requests per `x-id` (probes without an id not counted).
    processed: Arc<Mutex<HashMap<String, usize>>>,
    /// Streams open at once, now and at most, over all connections.
    open_streams: Arc<AtomicUsize>,
    max_open_streams: Arc<AtomicUsize>,
    goaways: Arc<AtomicUsize>,
    refused: Arc<AtomicUsize>,
    open_conns: Arc<AtomicUsize>,
    max_open_conns: Arc<AtomicUsize>,
    _tasks: JoinSet<()>,
}

impl H2Server {
    /// TLS handshakes completed.
    pub fn handshakes(&self) -> usize {
        self.handshakes.load(SeqCst)
    }

    /// How often each `x-id` was processed.
    pub fn processed(&self) -> HashMap<String, usize> {
        self.processed.lock().unwrap().clone()
    }

    /// The most streams that were open at once.
    pub fn max_open_streams(&self) -> usize {
        self.max_open_streams.load(SeqCst)
    }

    /// The most TLS connections that were open at once.
    pub fn max_open_conns(&self) -> usize {
        self.max_open_conns.load(SeqCst)
    }

    /// Starts `max_open_conns` over from the connections open now.
    pub fn reset_max_open_conns(&self) {
        self.max_open_conns
            .store(self.open_conns.load(SeqCst), SeqCst);
    }

    /// Graceful shutdowns started.
    pub fn goaways(&self) -> usize {
        self.goaways.load(SeqCst)
    }

    /// Streams refused unprocessed.
    pub fn refused(&self) -> usize {
        self.refused.load(SeqCst)
    }

    /// The URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("https://{NAME}:{}{path}", self.port)
    }

    /// The client's pool key.
    pub fn key(&self) -> String {
        format!("{NAME}:{}", self.port)
    }
}

struct Shared {
    opts: H2Opts,
    handshakes: Arc<AtomicUsize>,
    processed: Arc<Mutex<HashMap<String, usize>>>,
    attempts: Mutex<HashMap<String, usize>>,
    open_streams: Arc<AtomicUsize>,
    max_open_streams: Arc<AtomicUsize>,
    goaways: Arc<AtomicUsize>,
    refused: Arc<AtomicUsize>,
    open_conns: Arc<AtomicUsize>,
    max_open_conns: Arc<AtomicUsize>,
}

/// Starts an h2-only server for `NAME` on `ips`.
pub async fn serve_h2(ca: &Ca, ips: &[IpAddr], opts: H2Opts) -> H2Server {
    let mut config = ca.server_config(&[NAME]);
    config.alpn_protocols = vec![b"h2".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let (port, listeners) = bind_all(ips).await;
    let shared = Arc::new(Shared {
        opts,
        handshakes: Arc::default(),
        processed: Arc::default(),
        attempts: Mutex::default(),
        open_streams: Arc::default(),
        max_open_streams: Arc::default(),
        goaways: Arc::default(),
        refused: Arc::default(),
        open_conns: Arc::default(),
        max_open_conns: Arc::default(),
    });
    let server = H2Server {
        port,
        handshakes: shared.handshakes.clone(),
        processed: shared.processed.clone(),
        open_streams: shared.open_streams.clone(),
        max_open_streams: shared.max_open_streams.clone(),
        goaways: shared.goaways.clone(),
        refused: shared.refused.clone(),
        open_conns: shared.open_conns.clone(),
        max_open_conns: shared.max_open_conns.clone(),
        _tasks: JoinSet::new(),
    };
    let mut server = server;
    for l in listeners {
        let (acceptor, shared) = (acceptor.clone(), shared.clone());
        server._tasks.spawn(async move {
            let mut conns = JoinSet::new();
            loop {
                let Ok((tcp, _)) = l.accept().await else {
                    return;
                };
                let (acceptor, shared) = (acceptor.clone(), shared.clone());
                conns.spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    shared.handshakes.fetch_add(1, SeqCst);
                    let now = shared.open_conns.fetch_add(1, SeqCst) + 1;
                    shared.max_open_conns.fetch_max(now, SeqCst);
                    let _open = Open(shared.open_conns.clone());
                    let _ = connection(tls, shared.clone()).await;
                });
            }
        });
    }
    server
}

async fn connection<T>(io: T, shared: Arc<Shared>) -> Result<(), h2::Error>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut conn = server::Builder::new()
        .max_concurrent_streams(shared.opts.max_streams)
        .handshake::<_, Bytes>(io)
        .await?;
    let mut accepted = 0;
    let mut streams = JoinSet::new();
    while let Some(r) = conn.accept().await {
        let (req, respond) = r?;
        accepted += 1;
        streams.spawn(stream(req, respond, shared.clone()));
        if shared.opts.goaway_after == Some(accepted) {
            shared.goaways.fetch_add(1, SeqCst);
            conn.graceful_shutdown();
        }
    }
    // The connection is closed: the streams' tasks end with it.
    while streams.join_next().await.is_some() {}
    Ok(())
}

/// Decrements a gauge when dropped.
struct Open(Arc<AtomicUsize>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.fetch_sub(1, SeqCst);
    }
}

async fn stream(
    req: http::Request<h2::RecvStream>,
    mut respond: server::SendResponse<Bytes>,
    shared: Arc<Shared>,
) {
    let now = shared.open_streams.fetch_add(1, SeqCst) + 1;
    shared.max_open_streams.fetch_max(now, SeqCst);
    let _open = Open(shared.open_streams.clone());
    let id = req
        .headers()
        .get("x-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if req.uri().path() == "/reset" {
        respond.send_reset(Reason::INTERNAL_ERROR);
        return;
    }
    if let (Some(id), Some(every)) = (&id, shared.opts.refuse_every) {
        let n: usize = id.parse().unwrap_or(1);
        let first = {
            let mut a = shared.attempts.lock().unwrap();
            let c = a.entry(id.clone()).or_default();
            *c += 1;
            *c == 1
        };
        if n % every == 0 && first {
            shared.refused.fetch_add(1, SeqCst);
            respond.send_reset(Reason::REFUSED_STREAM);
            return;
        }
    }
    if let Some(id) = &id {
        *shared
            .processed
            .lock()
            .unwrap()
            .entry(id.clone())
            .or_default() += 1;
    }
    let head = req.method() == http::Method::HEAD;
    let mut body = req.into_body();
    while let Some(chunk) = body.data().await {
        let Ok(chunk) = chunk else { return };
        let _ = body.flow_control().release_capacity(chunk.len());
    }
    tokio::time::sleep(shared.opts.delay).await;
    let resp = Response::builder()
        .status(StatusCode::OK)
        .header("content-length", "2")
        .body(())
        .unwrap();
    if head && !shared.opts.body_for_head {
        let _ = respond.send_response(resp, true);
    } else if let Ok(mut send) = respond.send_response(resp, false) {
        let _ = send.send_data(Bytes::from_static(b"ok"), true);
    }
}
