//! [`Client`]: HTTP/1.1 and HTTP/2 requests over the pool's hot
//! connections — the crawler's front door.
//!
//! See [`Client`] for a request's path.

use crate::{
    config::Config,
    connect::Target,
    error::Error,
    http_conn::{HttpConnection, HttpConnector, HttpOptions, StatusValidator, Validate},
    pool::{Builder, Pool},
    pooled::Pooled,
    profile::Profile,
    services::{Resolve, ResolverRef, SystemResolver},
    stats::{Failures, RequestStats, Stats, StatusClasses},
    tls::{ProfileChoice, TlsConnector, TlsConnectorBuilder},
};
use bytes::{Bytes, BytesMut};
use http::{
    header::{self, HeaderMap, HeaderName, HeaderValue},
    Method, Request, StatusCode, Uri, Version,
};
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use rustls_pki_types::CertificateDer;
use std::{
    fmt,
    future::Future,
    io::{self, Write},
    net::{IpAddr, SocketAddr},
    pin::Pin,
    sync::{
        atomic::{AtomicU64, Ordering::Relaxed},
        Arc,
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

/// Default limit on a whole request (to the end of its body).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

// --- counters -----------------------------------------------------------------------

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    status: [AtomicU64; 5],
    timeout: AtomicU64,
    connect: AtomicU64,
    tls: AtomicU64,
    blocked: AtomicU64,
    validation: AtomicU64,
    http: AtomicU64,
    other: AtomicU64,
    retries: AtomicU64,
    body_errors: AtomicU64,
    latency_sum_ns: AtomicU64,
    latency_max_ns: AtomicU64,
}

impl Counters {
    fn response(&self, status: StatusCode, latency: Duration) {
        let class = (status.as_u16() / 100).clamp(1, 5) as usize - 1;
        self.status[class].fetch_add(1, Relaxed);
        let ns = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.latency_sum_ns.fetch_add(ns, Relaxed);
        self.latency_max_ns.fetch_max(ns, Relaxed);
    }

    fn failure(&self, e: &Error) {
        let c = if e.is_timeout() || e.is_request_timeout() {
            &self.timeout
        } else if e.is_blocked() {
            &self.blocked
        } else if e.is_validation() {
            &self.validation
        } else if e.is_http() {
            &self.http
        } else if matches!(e, Error::Tls { .. } | Error::Certificate { .. }) {
            &self.tls
        } else if e.is_connect()
            || e.is_connect_refused()
            || e.is_no_address()
            || matches!(e, Error::Reset { .. })
        {
            &self.connect
        } else {
            &self.other
        };
        c.fetch_add(1, Relaxed);
    }

    fn snapshot(&self) -> RequestStats {
        let ld = |c: &AtomicU64| c.load(Relaxed);
        let responses = StatusClasses {
            informational: ld(&self.status[0]),
            success: ld(&self.status[1]),
            redirection: ld(&self.status[2]),
            client_error: ld(&self.status[3]),
            server_error: ld(&self.status[4]),
        };
        let n = responses.total();
        RequestStats {
            requests: ld(&self.requests),
            responses,
            failures: Failures {
                timeout: ld(&self.timeout),
                connect: ld(&self.connect),
                tls: ld(&self.tls),
                blocked: ld(&self.blocked),
                validation: ld(&self.validation),
                http: ld(&self.http),
                other: ld(&self.other),
            },
            retries: ld(&self.retries),
            body_errors: ld(&self.body_errors),
            avg_latency: Duration::from_nanos(ld(&self.latency_sum_ns).checked_div(n).unwrap_or(0)),
            max_latency: Duration::from_nanos(ld(&self.latency_max_ns)),
        }
    }
}

// --- the client -----------------------------------------------------------------------

/// An HTTPS client over a [`Pool<HttpConnector>`](HttpConnector): every
/// request borrows a hot, validated connection (HTTP/2 or HTTP/1.1 by
/// ALPN) and gives it back when its response body has been read.
///
/// Cloning is cheap and shares the pool.
///
/// # A request's path
///
/// 1. The URL is checked (`https`, a host) and mapped to a pool key: the
///    host, with `:port` when the port is not the pool's default.
/// 2. A connection is borrowed from the pool: an idle one (validated when
///    it was dialed), or a new one dialed to the domain's next address that
///    is not blacklisted. A dial whose probe answered 403 blacklists the IP
///    and the client dials the next address, up to one try per address.
/// 3. The request gets the default headers it lacks and is sent. If a
///    *reused* connection fails before a single response byte arrived (the
///    server had closed it while it sat idle) and the method is idempotent
///    (GET, HEAD, PUT, DELETE, OPTIONS, TRACE), the request is sent once
///    more on a freshly dialed connection ([`RequestStats::retries`]
///    counts these). A POST, or anything after response bytes arrived, is
///    never sent twice.
/// 4. The [`Response`] holds the connection until its body has been read
///    to the end, then returns it to the pool. Dropping a response whose
///    HTTP/1.1 body was not read to the end closes the connection (the
///    unread rest would corrupt the next response); an HTTP/2 stream is
///    reset and the connection goes back.
///
/// # Examples
///
/// ```no_run
/// # #[tokio::main]
/// # async fn main() -> Result<(), hotpool::Error> {
/// let client = hotpool::Client::builder()
///     .max_conns_per_domain(8)
///     .user_agent("my-crawler/1.0")
///     .build()?;
/// // The domain's addresses: set them (skipping DNS), or let the system
/// // resolver fill them in at first use.
/// client.set_ips("example.com", ["93.184.215.14".parse().unwrap()]);
/// let resp = client.get("https://example.com/").await?;
/// println!("{} {}", resp.status(), resp.text().await?.len());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool<HttpConnector>,
    opts: Arc<HttpOptions>,
    timeout: Duration,
    default_port: u16,
    keep_alive: bool,
    counters: Arc<Counters>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("pool", &self.inner.pool)
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

/// Where a URL goes.
struct Dest {
    key: String,
}

fn is_idempotent(m: &Method) -> bool {
    matches!(
        *m,
        Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS | Method::TRACE
    )
}

/// Closes a connection whose request was interrupted (the caller dropped
/// the future, or the exchange failed) unless it is handed on.
struct InFlight(Option<Pooled<HttpConnection>>);

impl InFlight {
    fn conn(&mut self) -> &mut Pooled<HttpConnection> {
        self.0.as_mut().expect("connection present until handed on")
    }

    fn into_inner(mut self) -> Pooled<HttpConnection> {
        self.0.take().expect("connection present until handed on")
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(c) = self.0.take() {
            Pooled::discard(c);
        }
    }
}

impl Client {
    /// A builder with the defaults (see [`ClientBuilder`]).
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// `GET url`.
    ///
    /// # Errors
    ///
    /// See [`request`](Client::request).
    pub async fn get(&self, url: &str) -> Result<Response, Error> {
        self.send(Method::GET, url, Bytes::new(), false).await
    }

    /// `HEAD url`.
    ///
    /// # Errors
    ///
    /// See [`request`](Client::request).
    pub async fn head(&self, url: &str) -> Result<Response, Error> {
        self.send(Method::HEAD, url, Bytes::new(), false).await
    }

    /// `POST url` with `body`. A POST is never retried.
    ///
    /// # Errors
    ///
    /// See [`request`](Client::request).
    pub async fn post(&self, url: &str, body: impl Into<Bytes>) -> Result<Response, Error> {
        self.send(Method::POST, url, body.into(), false).await
    }

    /// `GET url`, validating a reused connection on the URL's own path
    /// first (the validator's method, `HEAD` by default): a reused
    /// connection that fails the probe is closed (a 403 also blacklists its
    /// IP) and the request goes out on a freshly dialed connection, which
    /// is validated as every new connection is.
    ///
    /// # Errors
    ///
    /// See [`request`](Client::request).
    pub async fn get_validated(&self, url: &str) -> Result<Response, Error> {
        self.send(Method::GET, url, Bytes::new(), true).await
    }

    async fn send(
        &self,
        method: Method,
        url: &str,
        body: Bytes,
        validated: bool,
    ) -> Result<Response, Error> {
        let uri = match url.parse::<Uri>() {
            Ok(u) => u,
            Err(e) => {
                self.inner.counters.requests.fetch_add(1, Relaxed);
                let err = Error::InvalidUrl {
                    url: url.to_owned(),
                    reason: e.to_string(),
                };
                self.inner.counters.failure(&err);
                return Err(err);
            }
        };
        let mut req = Request::new(body);
        *req.method_mut() = method;
        *req.uri_mut() = uri;
        self.run(req, validated).await
    }

    /// Sends `req`, whose URI must be an absolute `https` URL. The
    /// client's default headers fill in what the request lacks.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidUrl`] naming the URL if it is not `https` or has no
    /// host; the pool's errors ([`Error::WaitTimeout`],
    /// [`Error::NoAddress`], [`Error::Blocked`] when every address is
    /// blacklisted, dial and TLS errors, [`Error::Validation`]);
    /// [`Error::Http`] if the exchange fails; [`Error::RequestTimeout`]
    /// past the client's `timeout`.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future gives back any pool capacity it held; a
    /// connection with a request in flight is closed, never reused.
    pub async fn request<B: Into<Bytes>>(&self, req: Request<B>) -> Result<Response, Error> {
        let (parts, body) = req.into_parts();
        self.run(Request::from_parts(parts, body.into()), false)
            .await
    }

    async fn run(&self, req: Request<Bytes>, validated: bool) -> Result<Response, Error> {
        let c = &self.inner.counters;
        c.requests.fetch_add(1, Relaxed);
        let start = Instant::now();
        let timeout = self.inner.timeout;
        let url = req.uri().to_string();
        let r = match tokio::time::timeout(timeout, self.execute(req, validated, start)).await {
            Ok(r) => r,
            Err(_) => Err(Error::RequestTimeout {
                url: url.clone(),
                timeout,
            }),
        };
        #[cfg(feature = "metrics")]
        crate::metrics::record_request(start.elapsed());
        match &r {
            Ok(resp) => c.response(resp.status, start.elapsed()),
            Err(e) => {
                tracing::debug!(%url, error = %e, "hotpool: request failed");
                c.failure(e)
            }
        }
        r
    }

    fn dest(&self, uri: &Uri) -> Result<Dest, Error> {
        let bad = |reason: &str| Error::InvalidUrl {
            url: uri.to_string(),
            reason: reason.to_owned(),
        };
        match uri.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("https") => {}
            Some(_) => return Err(bad("only https URLs are supported")),
            None => return Err(bad("not an absolute URL (no scheme)")),
        }
        let host = match uri.host() {
            Some(h) if !h.is_empty() => h,
            _ => return Err(bad("no host")),
        };
        let port = uri.port_u16().unwrap_or(443);
        let host = host.to_ascii_lowercase();
        let key = if port == self.inner.default_port {
            host.clone()
        } else {
            format!("{host}:{port}")
        };
        Ok(Dest { key })
    }

    async fn execute(
        &self,
        req: Request<Bytes>,
        validated: bool,
        start: Instant,
    ) -> Result<Response, Error> {
        let dest = self.dest(req.uri())?;
        let (parts, body) = req.into_parts();
        let url = parts.uri.clone();
        let path = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "/".to_owned());
        let idempotent = is_idempotent(&parts.method);
        let mut fresh = false;
        let mut retried = false;
        loop {
            let conn = self.checkout(&dest, fresh).await?;
            let reused = Pooled::is_reused(&conn);
            let mut flight = InFlight(Some(conn));
            if let Err(e) = flight.conn().ready().await {
                // Nothing was sent: taking another connection is no retry.
                if reused && !fresh {
                    tracing::debug!(url = %url, error = %e, "hotpool: reused connection closed before use");
                    fresh = true;
                    continue;
                }
                return Err(with_url(e, &url));
            }
            if validated && reused {
                if let Some(v) = &self.inner.opts.validator {
                    let opts = &self.inner.opts;
                    if let Err(e) = flight.conn().validate(opts, &**v, Some(&path)).await {
                        tracing::debug!(url = %url, error = %e, "hotpool: reused connection failed validation");
                        if let Error::Blocked { ip, .. } = e {
                            self.inner.pool.block(ip);
                        }
                        fresh = true;
                        continue;
                    }
                }
            }
            let mut r = Request::new(body.clone());
            *r.method_mut() = parts.method.clone();
            *r.uri_mut() = parts.uri.clone();
            *r.headers_mut() = parts.headers.clone();
            self.inner
                .opts
                .apply_defaults(flight.conn(), r.headers_mut());
            let before = flight.conn().bytes_read();
            match flight.conn().send(r).await {
                Ok(resp) => {
                    let deadline = start + self.inner.timeout;
                    return Ok(Response::new(
                        resp,
                        flight.into_inner(),
                        url,
                        self.inner.opts.decompress,
                        deadline,
                        self.inner.timeout,
                        self.inner.keep_alive,
                        self.inner.counters.clone(),
                    ));
                }
                Err(e) => {
                    let silent = flight.conn().bytes_read() == before;
                    drop(flight);
                    if reused && silent && idempotent && !retried {
                        tracing::debug!(url = %url, error = %e, "hotpool: stale connection; retrying on a fresh one");
                        self.inner.counters.retries.fetch_add(1, Relaxed);
                        retried = true;
                        fresh = true;
                        continue;
                    }
                    return Err(with_url(e, &url));
                }
            }
        }
    }

    /// Borrows a connection for `dest`, dialing the next address when one
    /// refuses (a probe got 403, the port is closed, the dial timed out):
    /// at most one try per address.
    async fn checkout(&self, dest: &Dest, fresh: bool) -> Result<Pooled<HttpConnection>, Error> {
        let pool = &self.inner.pool;
        let mut tries = 0;
        loop {
            let r = if fresh {
                pool.get_fresh(&dest.key).await
            } else {
                pool.get(&dest.key).await
            };
            let e = match r {
                Ok(c) => return Ok(c),
                Err(e) => e,
            };
            tries += 1;
            let addrs = pool.ips(&dest.key);
            // A dial refused by one address may succeed at another: a probe
            // that got 403 has had its IP blacklisted by the pool, so the
            // next dial skips it.
            let redial = if e.is_blocked() {
                addrs.iter().any(|a| !pool.is_blocked(a.ip()))
            } else {
                e.is_connect_refused()
                    || e.is_connect_timeout()
                    || e.is_validation()
                    || matches!(e, Error::Reset { .. })
            };
            if redial && tries < addrs.len().clamp(1, 8) {
                tracing::debug!(domain = %dest.key, error = %e, "hotpool: dialing the next address");
                continue;
            }
            return Err(e);
        }
    }

    /// Sets the addresses of a pool key: the URL's host, with `:port` when
    /// the URL names a port other than the default (443). See
    /// [`Pool::set_ips`].
    pub fn set_ips<I>(&self, key: &str, ips: I)
    where
        I: IntoIterator<Item = IpAddr>,
    {
        self.inner.pool.set_ips(key, ips);
    }

    /// The pool underneath: blacklist, addresses, per-domain handles.
    pub fn pool(&self) -> &Pool<HttpConnector> {
        &self.inner.pool
    }

    /// The pool's [`Stats`] with this client's request counters filled in.
    pub fn stats(&self) -> Stats {
        let mut s = self.inner.pool.stats();
        s.requests = self.inner.counters.snapshot();
        s
    }

    /// Closes the pool: idle connections are closed, waiters fail with
    /// [`Error::Closed`], responses in flight finish and their connections
    /// are closed when returned.
    pub fn close(&self) {
        self.inner.pool.close();
    }

    /// Publishes [`stats`](Client::stats) through the `metrics` facade
    /// (feature `metrics`); see [`metrics`](crate::metrics).
    #[cfg(feature = "metrics")]
    pub fn export_metrics(&self) {
        crate::metrics::export(&self.stats());
    }

    /// Graceful shutdown: [`close`](Client::close), then wait until every
    /// connection is closed (TLS close_notify sent) and the background
    /// tasks have stopped. See [`Pool::shutdown`].
    pub async fn shutdown(&self) {
        self.inner.pool.shutdown().await;
    }

    /// Dials until `domain` (a pool key: host, or host:port) has `n`
    /// validated idle connections. See [`Pool::prewarm`].
    ///
    /// # Errors
    ///
    /// As [`Pool::prewarm`].
    pub async fn prewarm(&self, domain: &str, n: usize) -> Result<usize, Error> {
        self.inner.pool.prewarm(domain, n).await
    }

    /// Changes the pool's run-time settings. See [`Pool::update_config`].
    ///
    /// # Errors
    ///
    /// As [`Pool::update_config`].
    pub fn update_config(&self, config: Config) -> Result<(), Error> {
        self.inner.pool.update_config(config)
    }

    /// Whether the client is fit to serve: the pool is healthy
    /// ([`Pool::is_healthy`]) and requests succeed at least
    /// `min_success_rate` of the time (counting requests that got any
    /// response as successes; 1.0 before the first request).
    pub fn is_healthy(&self) -> bool {
        let pool = &self.inner.pool;
        let r = self.inner.counters.snapshot();
        let rate = if r.requests == 0 {
            1.0
        } else {
            r.responses.total() as f64 / r.requests as f64
        };
        pool.is_healthy() && rate >= pool.config().min_success_rate
    }
}

fn with_url(e: Error, url: &Uri) -> Error {
    match e {
        Error::Http {
            target,
            url: None,
            source,
        } => Error::Http {
            target,
            url: Some(url.to_string()),
            source,
        },
        e => e,
    }
}

// --- responses ------------------------------------------------------------------------

/// A response: status and headers at once, the body as it arrives.
///
/// The connection goes back to the pool when the body has been read to the
/// end ([`bytes`](Response::bytes), [`text`](Response::text), or
/// [`chunk`](Response::chunk) until `None`). A compressed body (gzip,
/// deflate, br) is decoded, and `Content-Encoding` and `Content-Length` are
/// removed, unless the client was built with `decompress(false)`.
pub struct Response {
    status: StatusCode,
    version: Version,
    headers: HeaderMap,
    url: Uri,
    target: Target,
    profile: Arc<str>,
    body: Body,
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("url", &self.url)
            .field("status", &self.status)
            .field("version", &self.version)
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl Response {
    #[allow(clippy::too_many_arguments)]
    fn new(
        resp: http::Response<Incoming>,
        conn: Pooled<HttpConnection>,
        url: Uri,
        decompress: bool,
        deadline: Instant,
        timeout: Duration,
        keep_alive: bool,
        counters: Arc<Counters>,
    ) -> Response {
        let (mut parts, incoming) = resp.into_parts();
        let decoder = if decompress && !incoming.is_end_stream() {
            Decoder::for_headers(&parts.headers)
        } else {
            None
        };
        if decoder.is_some() {
            parts.headers.remove(header::CONTENT_ENCODING);
            parts.headers.remove(header::CONTENT_LENGTH);
        }
        let target = conn.target().clone();
        let profile = conn.profile().into();
        let h2 = conn.version() == Version::HTTP_2;
        let mut body = Body {
            incoming: Some(incoming),
            conn: Some(conn),
            h2,
            decoder,
            sleep: Box::pin(tokio::time::sleep_until(deadline.into())),
            timeout,
            url: url.clone(),
            keep_alive,
            counters,
            done: false,
        };
        if body.incoming.as_ref().is_some_and(HttpBody::is_end_stream) {
            body.finish();
        }
        Response {
            status: parts.status,
            version: parts.version,
            headers: parts.headers,
            url,
            target,
            profile,
            body,
        }
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The HTTP version of the connection.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The response headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The URL requested.
    pub fn url(&self) -> &Uri {
        &self.url
    }

    /// The address that answered.
    pub fn remote_addr(&self) -> SocketAddr {
        self.target.addr()
    }

    /// The TLS profile of the connection that carried it.
    pub fn profile(&self) -> &str {
        &self.profile
    }

    /// The next piece of the body, `None` at its end (when the connection
    /// has gone back to the pool).
    ///
    /// # Errors
    ///
    /// [`Error::Http`] if the connection broke or the body could not be
    /// decoded (the connection is closed); [`Error::RequestTimeout`] past
    /// the client's `timeout`.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, Error> {
        loop {
            let frame = std::future::poll_fn(|cx| Pin::new(&mut self.body).poll_frame(cx)).await;
            match frame {
                None => return Ok(None),
                Some(Err(e)) => return Err(e),
                Some(Ok(f)) => {
                    if let Ok(data) = f.into_data() {
                        return Ok(Some(data));
                    }
                    // Trailers: not part of the data.
                }
            }
        }
    }

    /// The whole body.
    ///
    /// # Errors
    ///
    /// As [`chunk`](Response::chunk).
    pub async fn bytes(mut self) -> Result<Bytes, Error> {
        let mut buf = BytesMut::new();
        while let Some(c) = self.chunk().await? {
            if buf.is_empty() && c.len() >= 4096 {
                buf.reserve(c.len());
            }
            buf.extend_from_slice(&c);
        }
        Ok(buf.freeze())
    }

    /// The whole body as text (UTF-8; invalid sequences become U+FFFD).
    ///
    /// # Errors
    ///
    /// As [`chunk`](Response::chunk).
    pub async fn text(self) -> Result<String, Error> {
        let b = self.bytes().await?;
        Ok(String::from_utf8_lossy(&b).into_owned())
    }

    /// The body as an [`http_body::Body`] stream.
    pub fn into_body(self) -> Body {
        self.body
    }
}

/// A response body: an [`http_body::Body`] of [`Bytes`] that holds the
/// pooled connection until its end. See [`Response`].
pub struct Body {
    incoming: Option<Incoming>,
    conn: Option<Pooled<HttpConnection>>,
    h2: bool,
    decoder: Option<Decoder>,
    sleep: Pin<Box<tokio::time::Sleep>>,
    timeout: Duration,
    url: Uri,
    keep_alive: bool,
    counters: Arc<Counters>,
    done: bool,
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Body")
            .field("url", &self.url)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl Body {
    /// The body is complete: the connection goes back to the pool.
    fn finish(&mut self) {
        self.done = true;
        self.incoming = None;
        if let Some(c) = self.conn.take() {
            if self.keep_alive {
                drop(c);
            } else {
                Pooled::discard(c);
            }
        }
    }

    /// The body failed: the connection is closed.
    fn fail(&mut self, e: Error) -> Error {
        self.done = true;
        self.incoming = None;
        if let Some(c) = self.conn.take() {
            Pooled::discard(c);
        }
        self.counters.body_errors.fetch_add(1, Relaxed);
        e
    }

    fn target(&self) -> Option<&Target> {
        self.conn.as_ref().map(|c| c.target())
    }
}

impl Drop for Body {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take() {
            let complete = self.incoming.as_ref().is_some_and(HttpBody::is_end_stream);
            if self.keep_alive && (self.h2 || complete) {
                // Dropping the stream resets it; the connection is fine.
                self.incoming = None;
                drop(c);
            } else {
                tracing::debug!(url = %self.url, "hotpool: body dropped unread; closing the HTTP/1.1 connection");
                Pooled::discard(c);
            }
        }
    }
}

impl HttpBody for Body {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            let Some(incoming) = this.incoming.as_mut() else {
                return Poll::Ready(None);
            };
            let polled = Pin::new(incoming).poll_frame(cx);
            let frame = match polled {
                Poll::Pending => {
                    if this.sleep.as_mut().poll(cx).is_ready() {
                        let e = Error::RequestTimeout {
                            url: this.url.to_string(),
                            timeout: this.timeout,
                        };
                        return Poll::Ready(Some(Err(this.fail(e))));
                    }
                    return Poll::Pending;
                }
                Poll::Ready(None) => {
                    let tail = match this.decoder.take().map(Decoder::finish) {
                        Some(Ok(t)) => t,
                        Some(Err(e)) => {
                            let e = Error::http(this.target(), Some(&this.url.to_string()), e);
                            return Poll::Ready(Some(Err(this.fail(e))));
                        }
                        None => Bytes::new(),
                    };
                    this.finish();
                    if tail.is_empty() {
                        return Poll::Ready(None);
                    }
                    return Poll::Ready(Some(Ok(Frame::data(tail))));
                }
                Poll::Ready(Some(Err(e))) => {
                    let e = Error::http(this.target(), Some(&this.url.to_string()), e);
                    return Poll::Ready(Some(Err(this.fail(e))));
                }
                Poll::Ready(Some(Ok(f))) => f,
            };
            let data = match frame.into_data() {
                Ok(d) => d,
                // Trailers: pass them on.
                Err(f) => return Poll::Ready(Some(Ok(f))),
            };
            let out = match this.decoder.as_mut() {
                None => data,
                Some(d) => match d.feed(&data) {
                    Ok(out) => out,
                    Err(e) => {
                        let e = Error::http(this.target(), Some(&this.url.to_string()), e);
                        return Poll::Ready(Some(Err(this.fail(e))));
                    }
                },
            };
            if this.decoder.is_none() && this.incoming.as_ref().is_some_and(HttpBody::is_end_stream)
            {
                // The last byte is here: give the connection back now, not
                // on the next poll.
                this.finish();
            }
            if !out.is_empty() {
                return Poll::Ready(Some(Ok(Frame::data(out))));
            }
            // The decoder needs more input (or the frame was empty).
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }

    fn size_hint(&self) -> SizeHint {
        match (&self.incoming, &self.decoder) {
            (Some(i), None) => i.size_hint(),
            _ => SizeHint::default(),
        }
    }
}

// --- decoding -------------------------------------------------------------------------

/// A streaming decoder for one `Content-Encoding`: compressed bytes are
/// written in, decoded bytes taken out.
enum Decoder {
    Gzip(flate2::write::GzDecoder<Vec<u8>>),
    Deflate(flate2::write::ZlibDecoder<Vec<u8>>),
    Brotli(Box<brotli::DecompressorWriter<Vec<u8>>>),
}

impl Decoder {
    fn for_headers(headers: &HeaderMap) -> Option<Decoder> {
        let v = headers.get(header::CONTENT_ENCODING)?.to_str().ok()?.trim();
        match v.to_ascii_lowercase().as_str() {
            "gzip" | "x-gzip" => Some(Decoder::Gzip(flate2::write::GzDecoder::new(Vec::new()))),
            "deflate" => Some(Decoder::Deflate(
                flate2::write::ZlibDecoder::new(Vec::new()),
            )),
            "br" => Some(Decoder::Brotli(Box::new(brotli::DecompressorWriter::new(
                Vec::new(),
                4096,
            )))),
            _ => None,
        }
    }

    fn feed(&mut self, data: &[u8]) -> io::Result<Bytes> {
        let out = match self {
            Decoder::Gzip(d) => {
                d.write_all(data)?;
                d.get_mut()
            }
            Decoder::Deflate(d) => {
                d.write_all(data)?;
                d.get_mut()
            }
            Decoder::Brotli(d) => {
                d.write_all(data)?;
                d.get_mut()
            }
        };
        Ok(Bytes::from(std::mem::take(out)))
    }

    fn finish(self) -> io::Result<Bytes> {
        let out = match self {
            Decoder::Gzip(d) => d.finish()?,
            Decoder::Deflate(d) => d.finish()?,
            Decoder::Brotli(mut d) => {
                d.close()?;
                d.into_inner().map_err(|_| {
                    io::Error::new(io::ErrorKind::InvalidData, "truncated brotli stream")
                })?
            }
        };
        Ok(Bytes::from(out))
    }
}

// --- the builder -------------------------------------------------------------------------

/// Builds a [`Client`]: pool limits, TLS options, validation, default
/// headers. Every setting has a default; [`build`](ClientBuilder::build)
/// checks them all and names the first bad one.
pub struct ClientBuilder {
    pool: Builder,
    tls: TlsConnectorBuilder,
    opts: HttpOptions,
    timeout: Duration,
    keep_alive: bool,
    resolver: Option<ResolverRef>,
    error: Option<Error>,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            pool: Pool::builder(),
            tls: TlsConnector::builder(),
            opts: HttpOptions::default(),
            timeout: DEFAULT_TIMEOUT,
            keep_alive: true,
            resolver: Some(ResolverRef::new(SystemResolver)),
            error: None,
        }
    }
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("pool", &self.pool.settings())
            .field("tls", &self.tls)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    fn fail(&mut self, e: Error) {
        if self.error.is_none() {
            self.error = Some(e);
        }
    }

    // pool settings

    /// All pool settings at once (see [`Config`]).
    pub fn config(mut self, config: Config) -> Self {
        self.pool = self.pool.config(config);
        self
    }

    /// Live connections in the whole pool (default 100).
    pub fn max_conns(mut self, n: usize) -> Self {
        self.pool = self.pool.max_conns(n);
        self
    }

    /// Live connections per domain (default 10).
    pub fn max_conns_per_domain(mut self, n: usize) -> Self {
        self.pool = self.pool.max_conns_per_domain(n);
        self
    }

    /// How long a request waits for a connection when its domain is at its
    /// limit (default 5 s).
    pub fn wait_timeout(mut self, d: Duration) -> Self {
        self.pool = self.pool.wait_timeout(d);
        self
    }

    /// Limit on a whole dial: TCP connect, TLS handshake (with profile
    /// retries) and validation (default 10 s).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.pool = self.pool.connect_timeout(d);
        self
    }

    /// Idle connections older than this are closed (default 60 s).
    pub fn idle_timeout(mut self, d: Duration) -> Self {
        self.pool = self.pool.idle_timeout(d);
        self
    }

    /// Connections older than this are closed (default 300 s).
    pub fn max_lifetime(mut self, d: Duration) -> Self {
        self.pool = self.pool.max_lifetime(d);
        self
    }

    /// Errors a connection may collect before it is closed (default 10).
    pub fn max_errors(mut self, n: u8) -> Self {
        self.pool = self.pool.max_errors(n);
        self
    }

    /// How long an IP stays blacklisted (default 15 min).
    pub fn blacklist_ttl(mut self, d: Duration) -> Self {
        self.pool = self.pool.blacklist_ttl(d);
        self
    }

    /// IPs never blacklisted.
    pub fn allow_ips(mut self, ips: impl IntoIterator<Item = IpAddr>) -> Self {
        self.pool = self.pool.allow_ips(ips);
        self
    }

    /// IPs never dialed.
    pub fn deny_ips(mut self, ips: impl IntoIterator<Item = IpAddr>) -> Self {
        self.pool = self.pool.deny_ips(ips);
        self
    }

    /// The port of URLs that name none is 443; a pool key without a port
    /// means this one (default 443).
    pub fn default_port(mut self, port: u16) -> Self {
        self.pool = self.pool.default_port(port);
        self
    }

    /// The pool's clock (a `quanta` mock clock in tests).
    pub fn clock(mut self, clock: quanta::Clock) -> Self {
        self.pool = self.pool.clock(clock);
        self
    }

    /// How often the health sweeper runs (default 30 s).
    pub fn health_check_interval(mut self, d: Duration) -> Self {
        self.pool = self.pool.health_check_interval(d);
        self
    }

    /// Idle connections the sweeper keeps per domain (default 0).
    pub fn min_idle_per_domain(mut self, n: usize) -> Self {
        self.pool = self.pool.min_idle_per_domain(n);
        self
    }

    /// Dials in progress at once (default 20).
    pub fn max_concurrent_dials(mut self, n: usize) -> Self {
        self.pool = self.pool.max_concurrent_dials(n);
        self
    }

    /// Health probes in progress at once during a sweep (default 8).
    pub fn probe_concurrency(mut self, n: usize) -> Self {
        self.pool = self.pool.probe_concurrency(n);
        self
    }

    /// How often resolved addresses are looked up again (default 30 min).
    pub fn dns_refresh_interval(mut self, d: Duration) -> Self {
        self.pool = self.pool.dns_refresh_interval(d);
        self
    }

    /// The success rate below which [`Client::is_healthy`] says no
    /// (default 0.5).
    pub fn min_success_rate(mut self, rate: f64) -> Self {
        self.pool = self.pool.min_success_rate(rate);
        self
    }

    /// Where a domain's addresses come from when [`Client::set_ips`] gave
    /// none (default: [`SystemResolver`]).
    pub fn resolver(mut self, resolver: impl Resolve) -> Self {
        self.resolver = Some(ResolverRef::new(resolver));
        self
    }

    /// No resolver: addresses come from [`Client::set_ips`] only, and a
    /// domain without them fails with [`Error::NoAddress`].
    pub fn no_resolver(mut self) -> Self {
        self.resolver = None;
        self
    }

    // TLS

    /// Replaces the TLS settings with `tls`.
    pub fn tls(mut self, tls: TlsConnectorBuilder) -> Self {
        self.tls = tls;
        self
    }

    /// Trusts `der` as a root certificate, besides the webpki roots.
    pub fn add_root_certificate(mut self, der: CertificateDer<'static>) -> Self {
        let tls = std::mem::take(&mut self.tls);
        match tls.add_root_certificate(der) {
            Ok(t) => self.tls = t,
            Err(e) => self.fail(e),
        }
        self
    }

    /// Skips certificate verification. Dangerous: anyone on the path can
    /// read and change the traffic.
    pub fn dangerous_accept_invalid_certificates(mut self) -> Self {
        self.tls = self.tls.dangerous_accept_invalid_certificates();
        self
    }

    /// The TLS fingerprint profiles to dial with.
    pub fn profiles(mut self, profiles: Vec<Profile>) -> Self {
        self.tls = self.tls.profiles(profiles);
        self
    }

    /// How a profile is picked per connection.
    pub fn profile_choice(mut self, choice: ProfileChoice) -> Self {
        self.tls = self.tls.profile_choice(choice);
        self
    }

    /// Limit on one TLS handshake.
    pub fn handshake_timeout(mut self, d: Duration) -> Self {
        self.tls = self.tls.handshake_timeout(d);
        self
    }

    /// Local addresses to dial from, in turn.
    pub fn local_addresses(mut self, addrs: impl IntoIterator<Item = IpAddr>) -> Self {
        self.tls = self.tls.local_addresses(addrs);
        self
    }

    // HTTP

    /// Limit on a whole request, from its start to the end of its body
    /// (default 30 s).
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }

    /// Whether connections are reused (default true). With false, every
    /// request gets a connection of its own, closed once its response has
    /// been read: what a crawler without a pool does, useful as a
    /// baseline.
    pub fn keep_alive(mut self, on: bool) -> Self {
        self.keep_alive = on;
        self
    }

    /// The `User-Agent` header (default `hotpool/<version>`).
    pub fn user_agent(mut self, ua: &str) -> Self {
        match HeaderValue::from_str(ua) {
            Ok(v) => self.opts.user_agent = v,
            Err(_) => self.fail(Error::invalid_config(
                "user_agent",
                ua,
                "not a valid header value",
            )),
        }
        self
    }

    /// The `Accept` header (default: the HTML-first value browsers send).
    pub fn accept(mut self, accept: &str) -> Self {
        match HeaderValue::from_str(accept) {
            Ok(v) => self.opts.accept = v,
            Err(_) => self.fail(Error::invalid_config(
                "accept",
                accept,
                "not a valid header value",
            )),
        }
        self
    }

    /// A header sent with every request that does not set it.
    pub fn default_header(mut self, name: &str, value: &str) -> Self {
        match (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            (Ok(n), Ok(v)) => {
                self.opts.headers.insert(n, v);
            }
            _ => self.fail(Error::invalid_config(
                "default_header",
                format!("{name}: {value}"),
                "not a valid header",
            )),
        }
        self
    }

    /// The language tags `Accept-Language` is drawn from: each connection
    /// gets 2–5 distinct ones with descending q values (default: 14 common
    /// tags).
    pub fn accept_languages<I, S>(mut self, tags: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut list: Vec<String> = Vec::new();
        for t in tags {
            let t = t.as_ref().trim();
            let ok = !t.is_empty()
                && t.len() <= 35
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'*');
            if !ok {
                self.fail(Error::invalid_config(
                    "accept_languages",
                    t,
                    "not a language tag",
                ));
                return self;
            }
            if !list.iter().any(|l| l.eq_ignore_ascii_case(t)) {
                list.push(t.to_owned());
            }
        }
        if list.is_empty() {
            self.fail(Error::invalid_config(
                "accept_languages",
                "[]",
                "needs at least one tag",
            ));
            return self;
        }
        self.opts.languages = list;
        self
    }

    /// Whether to ask for and decode gzip, deflate and br bodies (default
    /// true). With false, no `Accept-Encoding` is sent and bodies arrive as
    /// the server sent them.
    pub fn decompress(mut self, on: bool) -> Self {
        self.opts.decompress = on;
        self
    }

    /// Limit on a response's header section (default 64 KiB); a larger
    /// one fails the request with an error for which
    /// [`Error::is_headers_too_large`] holds.
    pub fn max_response_header_size(mut self, bytes: usize) -> Self {
        self.opts.max_header_size = bytes;
        self
    }

    // validation

    /// Validates each new connection with `validator` instead of `HEAD /`.
    pub fn validator(mut self, validator: impl Validate) -> Self {
        self.opts.validator = Some(Arc::new(validator));
        self
    }

    /// Validates each new connection with `method path` (default `HEAD /`)
    /// under the status rules.
    pub fn validation_request(mut self, method: Method, path: &str) -> Self {
        match StatusValidator::new().path(path) {
            Ok(v) => self.opts.validator = Some(Arc::new(v.method(method))),
            Err(e) => self.fail(e),
        }
        self
    }

    /// No validation: new connections are used as soon as the handshake is
    /// done.
    pub fn no_validation(mut self) -> Self {
        self.opts.validator = None;
        self
    }

    /// Limit on one validation probe (default 10 s).
    pub fn validation_timeout(mut self, d: Duration) -> Self {
        self.opts.validation_timeout = d;
        self
    }

    /// Checks every setting and builds the client (and its pool).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] naming the first bad setting.
    pub fn build(self) -> Result<Client, Error> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let zero = |key: &str, d: Duration| {
            if d.is_zero() {
                Err(Error::invalid_config(key, "0s", "must be positive"))
            } else {
                Ok(())
            }
        };
        zero("timeout", self.timeout)?;
        zero("validation.timeout", self.opts.validation_timeout)?;
        if self.opts.max_header_size < 1024 {
            return Err(Error::invalid_config(
                "max_response_header_size",
                self.opts.max_header_size,
                "must be at least 1024",
            ));
        }
        let default_port = self.pool.settings().default_port;
        let tls = self.tls.build()?;
        let opts = Arc::new(self.opts);
        let connector = HttpConnector::with_options(tls, opts.clone());
        let pool = self.pool.resolver_ref(self.resolver).build(connector)?;
        Ok(Client {
            inner: Arc::new(Inner {
                pool,
                opts,
                timeout: self.timeout,
                default_port,
                keep_alive: self.keep_alive,
                counters: Arc::new(Counters::default()),
            }),
        })
    }
}
