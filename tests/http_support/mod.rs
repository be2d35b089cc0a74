//! A loopback HTTPS server for the client tests: hyper (HTTP/1.1 and, when
//! asked, HTTP/2 by ALPN) over rustls, on several 127.0.0.x addresses
//! sharing one port, with switchable faults and a log of what it saw.
#![allow(dead_code)]

use crate::tls_support::{bind_all, Ca, NAME};
use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::{body::Incoming, service::service_fn, Request, Response, StatusCode};
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto,
};
use std::{
    convert::Infallible,
    io::{self, Write},
    net::{IpAddr, SocketAddr},
    sync::{
        atomic::{AtomicUsize, Ordering::SeqCst},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};
use tokio::task::JoinSet;

mod bodies;
use bodies::*;
pub use bodies::{BOMB_SIZE, GZIP_TEXT};

/// A fault injected on one address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Accept TCP and never answer (a handshake stall).
    Stall,
    /// Answer bytes that are not TLS, then close.
    Garbage,
    /// Present a certificate for another name.
    WrongCert,
    /// Answer every request with 403.
    Forbidden,
    /// Close a connection after this many answered requests (HTTP/2:
    /// GOAWAY; HTTP/1.1: `Connection: close`), gracefully.
    GoAwayAfter(usize),
    /// Answer this many non-HEAD requests per connection, then drop the
    /// connection on the next one without a byte of response.
    CloseAfter(usize),
    /// Close connections idle for this many milliseconds.
    IdleCloseMs(u64),
    /// Drop the connection on every HEAD request (the validation probe)
    /// without a byte of response: a protocol-level probe failure.
    DropProbe,
}

/// How the server behaves.
#[derive(Clone, Debug, Default)]
pub struct Opts {
    /// Faults per address (on top of the options below).
    pub faults: std::collections::HashMap<IpAddr, Fault>,
    /// Offer HTTP/2 by ALPN (besides HTTP/1.1).
    pub h2: bool,
    /// Addresses that answer every request with 403.
    pub forbidden: Vec<IpAddr>,
    /// Host names answered 403 on every address (a site refusing us,
    /// behind an address other sites share).
    pub forbidden_hosts: Vec<String>,
    /// Close a connection that has been idle this long.
    pub idle_close: Option<Duration>,
    /// Per connection: answer this many non-HEAD requests, then close the
    /// connection on the next one without a byte of response.
    pub close_after: Option<usize>,
    /// Status of every HEAD request (the validation probe) on paths other
    /// than `/`, or on all paths with `head_status_all`.
    pub head_status: Option<u16>,
    /// Whether `head_status` applies to `/` as well.
    pub head_status_all: bool,
    /// Wait this long after the TCP accept before the TLS handshake (a
    /// slow server), so that concurrent dials overlap.
    pub accept_delay: Option<Duration>,
}

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub ip: IpAddr,
    /// The host the request named (`Host` or the HTTP/2 authority).
    pub host: String,
    pub method: String,
    pub path: String,
    pub version: hyper::Version,
}

/// A running server; dropping it stops it and closes its connections.
pub struct HttpServer {
    pub port: u16,
    accepts: Arc<AtomicUsize>,
    /// Connections accepted whose first request has not been answered yet
    /// (a client's dial in progress), now and at most.
    dialing: Arc<AtomicUsize>,
    max_dialing: Arc<AtomicUsize>,
    open: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<Seen>>>,
    opts: Arc<Mutex<Opts>>,
    _tasks: JoinSet<()>,
}

impl HttpServer {
    /// TCP connections accepted.
    pub fn accepts(&self) -> usize {
        self.accepts.load(SeqCst)
    }

    /// The most connections that were being dialed (accepted, first
    /// request not yet answered) at once.
    pub fn max_dialing(&self) -> usize {
        self.max_dialing.load(SeqCst)
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.load(SeqCst)
    }

    /// Requests seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Requests seen at `ip` (probes included).
    pub fn seen_at(&self, ip: IpAddr) -> usize {
        self.seen().iter().filter(|s| s.ip == ip).count()
    }

    /// Changes the behaviour from now on.
    pub fn set(&self, f: impl FnOnce(&mut Opts)) {
        f(&mut self.opts.lock().unwrap());
    }

    /// The URL of `path` on this server.
    pub fn url(&self, path: &str) -> String {
        format!("https://{NAME}:{}{path}", self.port)
    }

    /// The client's pool key for this server.
    pub fn key(&self) -> String {
        format!("{NAME}:{}", self.port)
    }
}

/// Starts a server for `NAME` on `ips`, with a certificate from `ca`.
pub async fn serve(ca: &Ca, ips: &[IpAddr], opts: Opts) -> HttpServer {
    serve_names(ca, ips, opts, &[NAME]).await
}

/// A server whose certificate covers `names`.
pub async fn serve_names(ca: &Ca, ips: &[IpAddr], opts: Opts, names: &[&str]) -> HttpServer {
    let mut wrong = ca.server_config(&["other.hotpool.example"]);
    wrong.alpn_protocols = vec![b"http/1.1".to_vec()];
    let wrong = tokio_rustls::TlsAcceptor::from(Arc::new(wrong));
    let mut config = ca.server_config(names);
    config.alpn_protocols = if opts.h2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let (port, listeners) = bind_all(ips).await;
    let accepts = Arc::new(AtomicUsize::new(0));
    let dialing = Arc::new(AtomicUsize::new(0));
    let max_dialing = Arc::new(AtomicUsize::new(0));
    let open = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let opts = Arc::new(Mutex::new(opts));
    let mut tasks = JoinSet::new();
    for l in listeners {
        let (acceptor, accepts, open, seen, opts) = (
            acceptor.clone(),
            accepts.clone(),
            open.clone(),
            seen.clone(),
            opts.clone(),
        );
        let (dialing, max_dialing) = (dialing.clone(), max_dialing.clone());
        let wrong = wrong.clone();
        tasks.spawn(async move {
            let mut conns = JoinSet::new();
            loop {
                let Ok((tcp, _)) = l.accept().await else {
                    return;
                };
                accepts.fetch_add(1, SeqCst);
                let local = tcp.local_addr().unwrap().ip();
                let fault = opts.lock().unwrap().faults.get(&local).copied();
                match fault {
                    Some(Fault::Stall) => {
                        conns.spawn(async move {
                            let _hold = tcp;
                            std::future::pending::<()>().await;
                        });
                        continue;
                    }
                    Some(Fault::Garbage) => {
                        conns.spawn(async move {
                            let mut tcp = tcp;
                            use tokio::io::AsyncWriteExt;
                            let _ = tcp
                                .write_all(b"HTTP/1.0 200 OK\r\n\r\nnot TLS at all")
                                .await;
                        });
                        continue;
                    }
                    Some(Fault::WrongCert) => {
                        let wrong = wrong.clone();
                        conns.spawn(async move {
                            let _ = wrong.accept(tcp).await;
                        });
                        continue;
                    }
                    _ => {}
                }
                let (acceptor, open, seen, opts) =
                    (acceptor.clone(), open.clone(), seen.clone(), opts.clone());
                let now = dialing.fetch_add(1, SeqCst) + 1;
                max_dialing.fetch_max(now, SeqCst);
                let dial = Arc::new(Once(Mutex::new(Some(Decrement(dialing.clone())))));
                conns.spawn(async move {
                    let delay = opts.lock().unwrap().accept_delay;
                    if let Some(d) = delay {
                        tokio::time::sleep(d).await;
                    }
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        dial.fire();
                        return;
                    };
                    open.fetch_add(1, SeqCst);
                    let _open = Decrement(open);
                    connection(tls, local, seen, opts, dial.clone()).await;
                    dial.fire();
                });
            }
        });
    }
    HttpServer {
        port,
        accepts,
        dialing,
        max_dialing,
        open,
        seen,
        opts,
        _tasks: tasks,
    }
}

struct Decrement(Arc<AtomicUsize>);

/// Drops its decrement once: when the connection's first request has been
/// answered, or when the connection ends.
struct Once(Mutex<Option<Decrement>>);

impl Once {
    fn fire(&self) {
        self.0.lock().unwrap().take();
    }
}

impl Drop for Decrement {
    fn drop(&mut self) {
        self.0.fetch_sub(1, SeqCst);
    }
}

/// Per-connection state.
struct Conn {
    served: AtomicUsize,
    in_flight: AtomicUsize,
    last: Mutex<Instant>,
}

type Out = BoxBody<Bytes, io::Error>;

async fn connection(
    tls: tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
    ip: IpAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    opts: Arc<Mutex<Opts>>,
    dial: Arc<Once>,
) {
    let state = Arc::new(Conn {
        served: AtomicUsize::new(0),
        in_flight: AtomicUsize::new(0),
        last: Mutex::new(Instant::now()),
    });
    let (idle_close, fault) = {
        let o = opts.lock().unwrap();
        (o.idle_close, o.faults.get(&ip).copied())
    };
    let idle_close = match fault {
        Some(Fault::IdleCloseMs(ms)) => Some(Duration::from_millis(ms)),
        _ => idle_close,
    };
    let goaway_after = match fault {
        Some(Fault::GoAwayAfter(n)) => Some(n),
        _ => None,
    };
    let st = state.clone();
    let svc = service_fn(move |req: Request<Incoming>| {
        let (seen, opts, st, dial) = (seen.clone(), opts.clone(), st.clone(), dial.clone());
        async move {
            st.in_flight.fetch_add(1, SeqCst);
            let r = handle(req, ip, &seen, &opts, &st).await;
            dial.fire();
            *st.last.lock().unwrap() = Instant::now();
            st.in_flight.fetch_sub(1, SeqCst);
            r
        }
    });
    let builder = auto::Builder::new(TokioExecutor::new());
    let conn = builder.serve_connection(TokioIo::new(tls), svc);
    tokio::pin!(conn);
    if let Some(n) = goaway_after {
        loop {
            tokio::select! {
                _ = conn.as_mut() => return,
                _ = tokio::time::sleep(Duration::from_millis(5)) => {
                    if state.served.load(SeqCst) >= n {
                        conn.as_mut().graceful_shutdown();
                        let _ = tokio::time::timeout(Duration::from_secs(2), conn.as_mut()).await;
                        return;
                    }
                }
            }
        }
    }
    let Some(idle) = idle_close else {
        let _ = conn.await;
        return;
    };
    loop {
        tokio::select! {
            _ = conn.as_mut() => return,
            _ = tokio::time::sleep(Duration::from_millis(20)) => {
                let quiet = state.in_flight.load(SeqCst) == 0
                    && state.last.lock().unwrap().elapsed() >= idle;
                if quiet {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(Duration::from_secs(2), conn.as_mut()).await;
                    return;
                }
            }
        }
    }
}

fn full(b: impl Into<Bytes>) -> Out {
    Full::new(b.into())
        .map_err(|e: Infallible| match e {})
        .boxed()
}

fn status(code: u16) -> Response<Out> {
    let mut r = Response::new(full(format!("status {code}")));
    *r.status_mut() = StatusCode::from_u16(code).unwrap();
    if code == 429 {
        r.headers_mut().insert("retry-after", "30".parse().unwrap());
    }
    r
}

async fn handle(
    req: Request<Incoming>,
    ip: IpAddr,
    seen: &Mutex<Vec<Seen>>,
    opts: &Mutex<Opts>,
    st: &Conn,
) -> Result<Response<Out>, io::Error> {
    let path = req.uri().path().to_owned();
    let query = req.uri().query().map(str::to_owned);
    let head = req.method() == hyper::Method::HEAD;
    let host = req
        .uri()
        .host()
        .map(str::to_owned)
        .or_else(|| {
            req.headers()
                .get("host")
                .and_then(|h| h.to_str().ok())
                .map(|h| h.split(':').next().unwrap_or(h).to_owned())
        })
        .unwrap_or_default();
    let host_seen = host.clone();
    seen.lock().unwrap().push(Seen {
        ip,
        host,
        method: req.method().to_string(),
        path: path.clone(),
        version: req.version(),
    });
    let o = opts.lock().unwrap().clone();
    let fault = o.faults.get(&ip).copied();
    if o.forbidden.contains(&ip)
        || fault == Some(Fault::Forbidden)
        || o.forbidden_hosts.contains(&host_seen)
    {
        return Ok(status(403));
    }
    if head && fault == Some(Fault::DropProbe) {
        return Err(io::Error::other("injected probe drop"));
    }
    let close_after = match fault {
        Some(Fault::CloseAfter(n)) => Some(n),
        _ => o.close_after,
    };
    if !head {
        let n = st.served.fetch_add(1, SeqCst) + 1;
        if close_after.is_some_and(|max| n > max) {
            // hyper closes the connection without answering.
            return Err(io::Error::other("injected close"));
        }
    }
    if head {
        if let Some(s) = o.head_status {
            if o.head_status_all || path != "/" {
                return Ok(status(s));
            }
        }
    }
    // Drain the request body.
    let _ = req.headers().clone();
    let headers = req.headers().clone();
    let _ = req.into_body().collect().await;
    let resp = match path.as_str() {
        "/" => Response::new(full("hello")),
        "/big" => Response::new(full(vec![b'x'; 1 << 20])),
        // 1 MiB without a Content-Length: 16 chunks of 64 KiB.
        "/big-chunked" => {
            let chunk = Bytes::from(vec![b'x'; 64 << 10]);
            let mut n: i32 = 16;
            Response::new(BoxBody::new(Gen::new(move || {
                n -= 1;
                (n >= 0).then(|| chunk.clone())
            })))
        }
        "/reset" => {
            let mut r = Response::new(BoxBody::new(Broken::new()));
            r.headers_mut()
                .insert("content-length", "100000".parse().unwrap());
            r
        }
        "/huge-headers" => {
            let mut r = Response::new(full("too much"));
            for i in 0..100 {
                r.headers_mut().insert(
                    hyper::header::HeaderName::from_bytes(format!("x-filler-{i}").as_bytes())
                        .unwrap(),
                    "f".repeat(1000).parse().unwrap(),
                );
            }
            r
        }
        "/echo-headers" => {
            let mut s = String::new();
            for (k, v) in &headers {
                s.push_str(&format!("{}: {}\n", k, v.to_str().unwrap_or("?")));
            }
            Response::new(full(s))
        }
        "/gzip" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(GZIP_TEXT.repeat(1000).as_bytes()).unwrap();
            let mut r = Response::new(full(e.finish().unwrap()));
            r.headers_mut()
                .insert("content-encoding", "gzip".parse().unwrap());
            r
        }
        "/drip" => Response::new(BoxBody::new(Drip::new(10, 100, Duration::from_millis(20)))),
        // One byte every 200 ms for a minute: slower than any test's
        // time-out.
        "/slow-drip" => Response::new(BoxBody::new(Drip::new(300, 1, Duration::from_millis(200)))),
        // Zeros in 64 KiB frames, forever.
        "/endless" => {
            let chunk = Bytes::from(vec![0u8; 64 << 10]);
            Response::new(BoxBody::new(Gen::new(move || Some(chunk.clone()))))
        }
        // Claims 10 GiB, then sends zeros (forever, were it read).
        "/claims-10g" => {
            let chunk = Bytes::from(vec![0u8; 64 << 10]);
            let mut r = Response::new(BoxBody::new(Gen::new(move || Some(chunk.clone()))));
            r.headers_mut()
                .insert("content-length", (10u64 << 30).to_string().parse().unwrap());
            r
        }
        p if p.starts_with("/bomb/") => {
            let enc = &p[6..];
            // `?endless`: a bomb without end, for the time-out tests.
            let size = if query.as_deref() == Some("endless") {
                u64::MAX
            } else {
                BOMB_SIZE
            };
            let mut r = Response::new(BoxBody::new(bomb(enc, size)));
            let name = if enc == "deflate-raw" { "deflate" } else { enc };
            r.headers_mut()
                .insert("content-encoding", name.parse().unwrap());
            r
        }
        p if p.starts_with("/compressed/") => {
            // A small body in each encoding, to check decoding itself.
            let enc = &p[12..];
            let text = GZIP_TEXT.repeat(1000);
            let body = match enc {
                "deflate" => {
                    let mut e =
                        flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
                    e.write_all(text.as_bytes()).unwrap();
                    e.finish().unwrap()
                }
                "deflate-raw" => {
                    let mut e = flate2::write::DeflateEncoder::new(
                        Vec::new(),
                        flate2::Compression::default(),
                    );
                    e.write_all(text.as_bytes()).unwrap();
                    e.finish().unwrap()
                }
                "br" => {
                    let mut e = brotli::CompressorWriter::new(Vec::new(), 4096, 5, 22);
                    e.write_all(text.as_bytes()).unwrap();
                    e.into_inner()
                }
                _ => {
                    let mut e =
                        flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                    e.write_all(text.as_bytes()).unwrap();
                    e.finish().unwrap()
                }
            };
            let mut r = Response::new(full(body));
            let name = if enc == "deflate-raw" { "deflate" } else { enc };
            r.headers_mut()
                .insert("content-encoding", name.parse().unwrap());
            r
        }
        "/stall-body" => Response::new(BoxBody::new(Stalled)),
        p if p.starts_with("/status/") => status(p[8..].parse().unwrap_or(500)),
        _ => status(404),
    };
    if head {
        // A HEAD response has the headers of a GET and no body.
        let (parts, _) = resp.into_parts();
        return Ok(Response::from_parts(parts, full(Bytes::new())));
    }
    Ok(resp)
}

/// The address of `ip` on this server.
pub fn addr(server: &HttpServer, ip: IpAddr) -> SocketAddr {
    SocketAddr::new(ip, server.port)
}
