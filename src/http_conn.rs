//! HTTP over pooled TLS connections: [`HttpConnector`], the connection it
//! makes ([`HttpConnection`]) and the validation of each new connection
//! ([`Validate`]).
//!
//! See [`HttpConnector`] for the life of a connection.

use crate::{
    connect::{Connect, Target},
    error::Error,
    stats::ProfileStats,
    tls::{TlsConnection, TlsConnector},
};
use bytes::Bytes;
use http::{
    header::{self, HeaderMap, HeaderName, HeaderValue},
    uri::{Authority, PathAndQuery, Scheme, Uri},
    Method, Request, Response, StatusCode, Version,
};
use http_body_util::{BodyExt, Full};
use hyper::{
    body::Incoming,
    client::conn::{http1, http2},
};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::{
    fmt, io,
    pin::Pin,
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc,
    },
    task::{Context, Poll},
    time::Duration,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tracing::Instrument;

/// The request body type hyper is driven with.
pub(crate) type ReqBody = Full<Bytes>;

/// Largest probe response body drained to keep a connection reusable.
const PROBE_BODY_LIMIT: usize = 1 << 20;

/// The `Accept-Language` tags drawn from by default.
pub(crate) const DEFAULT_LANGUAGES: &[&str] = &[
    "en-US", "en", "en-GB", "de-DE", "de", "fr-FR", "fr", "es-ES", "es", "it-IT", "nl-NL", "pt-BR",
    "ja-JP", "zh-CN",
];

/// The default `Accept` header: what a browser asks for a page.
pub(crate) const DEFAULT_ACCEPT: &str =
    "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

/// The default `User-Agent`.
pub(crate) const DEFAULT_USER_AGENT: &str = concat!("hotpool/", env!("CARGO_PKG_VERSION"));

/// The encodings [`Client`](crate::Client) decodes, as advertised.
pub(crate) const ACCEPT_ENCODING: &str = "gzip, deflate, br";

/// Header lines an HTTP/1.1 response may have.
const MAX_HEADER_LINES: usize = 256;

/// Default limit on a response's header section.
pub(crate) const DEFAULT_MAX_HEADER_SIZE: usize = 64 * 1024;

// --- validation ---------------------------------------------------------------

/// What a [`Validate`] rule decided about a probe's response.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// The connection may be used.
    Accept,
    /// The address refuses us: blacklist its IP and fail the dial with
    /// [`Error::Blocked`].
    Block,
    /// The connection is closed and the dial fails with
    /// [`Error::Validation`] carrying this reason; the IP is not
    /// blacklisted.
    Reject(String),
}

/// A rule for validating connections: the probe request sent on each new
/// connection before its first use, and the judgement of its response.
///
/// [`StatusValidator`] is the default (`HEAD /`, 2xx/3xx accept, 403
/// blocks, anything else rejects); implement this trait for other rules,
/// for example to look for a block page behind a 200.
///
/// # Examples
///
/// ```
/// use hotpool::{Target, Validate, Verdict};
/// use hotpool::http::{response::Parts, Request};
///
/// /// Accepts only a 200, and treats a 429 as a block.
/// struct Strict;
///
/// impl Validate for Strict {
///     fn probe(&self, _target: &Target, path: Option<&str>) -> Request<bytes::Bytes> {
///         Request::head(path.unwrap_or("/robots.txt")).body(bytes::Bytes::new()).unwrap()
///     }
///     fn judge(&self, _target: &Target, response: &Parts) -> Verdict {
///         match response.status.as_u16() {
///             200 => Verdict::Accept,
///             403 | 429 => Verdict::Block,
///             s => Verdict::Reject(format!("status {s}")),
///         }
///     }
/// }
/// ```
pub trait Validate: Send + Sync + 'static {
    /// The probe for a connection to `target`. Its URI is a path (`/` or
    /// `/robots.txt`, say): the connection adds the scheme and authority or
    /// the `Host` header, and the client's default headers are added to it.
    /// `path` is `None` for a new connection and the URL's own path for
    /// [`Client::get_validated`](crate::Client::get_validated), which probes
    /// the path it is about to fetch.
    fn probe(&self, target: &Target, path: Option<&str>) -> Request<Bytes>;

    /// Judges the probe's response. The default applies the status rules:
    /// 2xx and 3xx accept, 403 blocks, anything else rejects.
    fn judge(&self, target: &Target, response: &http::response::Parts) -> Verdict {
        let _ = target;
        status_verdict(response.status)
    }
}

/// The status rules: 2xx and 3xx accept, 403 blocks, anything else rejects.
pub fn status_verdict(status: StatusCode) -> Verdict {
    if status.is_success() || status.is_redirection() {
        Verdict::Accept
    } else if status == StatusCode::FORBIDDEN {
        Verdict::Block
    } else {
        Verdict::Reject(format!("probe answered {status}"))
    }
}

/// The default [`Validate`] rule: a configurable probe (method, path, body,
/// headers; `HEAD /` by default) judged by [`status_verdict`].
#[derive(Clone, Debug)]
pub struct StatusValidator {
    method: Method,
    path: PathAndQuery,
    body: Bytes,
    headers: HeaderMap,
}

impl Default for StatusValidator {
    fn default() -> Self {
        StatusValidator {
            method: Method::HEAD,
            path: PathAndQuery::from_static("/"),
            body: Bytes::new(),
            headers: HeaderMap::new(),
        }
    }
}

impl StatusValidator {
    /// `HEAD /`.
    pub fn new() -> StatusValidator {
        StatusValidator::default()
    }

    /// The probe's method.
    pub fn method(mut self, method: Method) -> Self {
        self.method = method;
        self
    }

    /// The probe's path (with an optional query), starting with `/`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] naming `validation.path` if it is not a path.
    pub fn path(mut self, path: &str) -> Result<Self, Error> {
        if !path.starts_with('/') {
            return Err(Error::invalid_config(
                "validation.path",
                path,
                "must start with '/'",
            ));
        }
        self.path = path
            .parse()
            .map_err(|e| Error::invalid_config("validation.path", path, format!("{e}")))?;
        Ok(self)
    }

    /// The probe's body (for a `POST` probe, say).
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// A header sent with the probe.
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }
}

impl Validate for StatusValidator {
    fn probe(&self, _target: &Target, path: Option<&str>) -> Request<Bytes> {
        let uri = match path.and_then(|p| p.parse::<Uri>().ok()) {
            Some(u) => u,
            None => Uri::from(self.path.clone()),
        };
        let mut req = Request::new(self.body.clone());
        *req.method_mut() = self.method.clone();
        *req.uri_mut() = uri;
        *req.headers_mut() = self.headers.clone();
        req
    }
}

// --- options shared by the connector and the client ---------------------------

/// Header and validation settings, shared by [`HttpConnector`] and
/// [`Client`](crate::Client).
#[derive(Clone)]
pub(crate) struct HttpOptions {
    pub(crate) user_agent: HeaderValue,
    pub(crate) accept: HeaderValue,
    pub(crate) languages: Vec<String>,
    pub(crate) decompress: bool,
    pub(crate) headers: HeaderMap,
    pub(crate) max_header_size: usize,
    pub(crate) validator: Option<Arc<dyn Validate>>,
    pub(crate) validation_timeout: Duration,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            user_agent: HeaderValue::from_static(DEFAULT_USER_AGENT),
            accept: HeaderValue::from_static(DEFAULT_ACCEPT),
            languages: DEFAULT_LANGUAGES.iter().map(|s| s.to_string()).collect(),
            decompress: true,
            headers: HeaderMap::new(),
            max_header_size: DEFAULT_MAX_HEADER_SIZE,
            validator: Some(Arc::new(StatusValidator::new())),
            validation_timeout: Duration::from_secs(10),
        }
    }
}

impl HttpOptions {
    /// An `Accept-Language` value: 2–5 distinct tags from the list (fewer
    /// if the list is shorter), with descending q values.
    pub(crate) fn pick_language(&self) -> HeaderValue {
        let n = self.languages.len();
        if n == 0 {
            return HeaderValue::from_static("en");
        }
        let k = if n <= 2 {
            n
        } else {
            fastrand::usize(2..=n.min(5))
        };
        let mut idx: Vec<usize> = (0..n).collect();
        fastrand::shuffle(&mut idx);
        let mut s = String::new();
        for (i, &j) in idx[..k].iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str(&self.languages[j]);
            if i > 0 {
                s.push_str(&format!(";q=0.{}", 10 - i));
            }
        }
        // Tags were checked when the options were built.
        HeaderValue::from_str(&s).unwrap_or_else(|_| HeaderValue::from_static("en"))
    }

    /// Adds the default headers the request lacks: those the caller set win.
    pub(crate) fn apply_defaults(&self, conn: &HttpConnection, headers: &mut HeaderMap) {
        for (name, value) in &self.headers {
            if !headers.contains_key(name) {
                headers.insert(name.clone(), value.clone());
            }
        }
        if !headers.contains_key(header::USER_AGENT) {
            headers.insert(header::USER_AGENT, self.user_agent.clone());
        }
        if !headers.contains_key(header::ACCEPT) {
            headers.insert(header::ACCEPT, self.accept.clone());
        }
        if !headers.contains_key(header::ACCEPT_LANGUAGE) {
            headers.insert(header::ACCEPT_LANGUAGE, conn.accept_language.clone());
        }
        if self.decompress && !headers.contains_key(header::ACCEPT_ENCODING) {
            headers.insert(
                header::ACCEPT_ENCODING,
                HeaderValue::from_static(ACCEPT_ENCODING),
            );
        }
    }
}

// --- the connection -------------------------------------------------------------

enum Sender {
    H1(http1::SendRequest<ReqBody>),
    H2(http2::SendRequest<ReqBody>),
}

/// An HTTP connection made by [`HttpConnector`]: hyper's request sender
/// over a validated TLS connection, plus what the pool and the client need
/// to know about it.
pub struct HttpConnection {
    sender: Sender,
    read: Arc<AtomicU64>,
    target: Target,
    profile: Arc<str>,
    accept_language: HeaderValue,
    requests: u64,
}

impl fmt::Debug for HttpConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpConnection")
            .field("target", &self.target)
            .field("version", &self.version())
            .field("profile", &self.profile)
            .field("requests", &self.requests)
            .finish()
    }
}

impl HttpConnection {
    /// HTTP/2 or HTTP/1.1, as agreed by ALPN.
    pub fn version(&self) -> Version {
        match self.sender {
            Sender::H1(_) => Version::HTTP_11,
            Sender::H2(_) => Version::HTTP_2,
        }
    }

    /// The domain and address the connection was dialed to.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The TLS profile whose ClientHello opened it.
    pub fn profile(&self) -> &str {
        &self.profile
    }

    /// The `Accept-Language` value drawn for this connection.
    pub fn accept_language(&self) -> &HeaderValue {
        &self.accept_language
    }

    /// Requests sent on it (the validation probe included).
    pub fn requests(&self) -> u64 {
        self.requests
    }

    /// Bytes read from the peer so far (after TLS decryption). A request
    /// that failed while this did not move got no response byte at all.
    pub fn bytes_read(&self) -> u64 {
        self.read.load(Ordering::Relaxed)
    }

    /// Whether hyper's connection task is still running: false once the
    /// peer closed the connection or it failed.
    pub fn is_open(&self) -> bool {
        match &self.sender {
            Sender::H1(s) => !s.is_closed(),
            Sender::H2(s) => !s.is_closed(),
        }
    }

    /// Waits until the connection can take a request (an HTTP/1.1
    /// connection finishes reading the previous response first).
    ///
    /// # Errors
    ///
    /// [`Error::Http`] if the connection closed meanwhile.
    pub async fn ready(&mut self) -> Result<(), Error> {
        let r = match &mut self.sender {
            Sender::H1(s) => s.ready().await,
            Sender::H2(s) => s.ready().await,
        };
        r.map_err(|e| Error::http(Some(&self.target), None, e))
    }

    /// Sends `req` as it is (no default headers) and waits for the
    /// response head. A path-only URI gets the connection's scheme and
    /// authority; HTTP/1.1 requests are sent in origin form with a `Host`
    /// header.
    ///
    /// # Errors
    ///
    /// [`Error::Http`] with hyper's error if the exchange fails.
    pub async fn send(&mut self, req: Request<Bytes>) -> Result<Response<Incoming>, Error> {
        let req = self.prepare(req)?;
        self.requests += 1;
        let r = match &mut self.sender {
            Sender::H1(s) => s.send_request(req).await,
            Sender::H2(s) => s.send_request(req).await,
        };
        r.map_err(|e| Error::http(Some(&self.target), None, e))
    }

    /// Puts the URI into the form the protocol wants.
    fn prepare(&self, req: Request<Bytes>) -> Result<Request<ReqBody>, Error> {
        let (mut parts, body) = req.into_parts();
        let path = parts
            .uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));
        let authority = match parts.uri.authority() {
            Some(a) => a.clone(),
            None => self.authority()?,
        };
        match self.sender {
            Sender::H1(_) => {
                parts.uri = Uri::from(path);
                parts.version = Version::HTTP_11;
                if !parts.headers.contains_key(header::HOST) {
                    let host = HeaderValue::from_str(authority.as_str()).map_err(|e| {
                        Error::http(Some(&self.target), None, format!("bad Host header: {e}"))
                    })?;
                    parts.headers.insert(header::HOST, host);
                }
            }
            Sender::H2(_) => {
                parts.uri = Uri::builder()
                    .scheme(Scheme::HTTPS)
                    .authority(authority)
                    .path_and_query(path)
                    .build()
                    .map_err(|e| Error::http(Some(&self.target), None, e))?;
                parts.version = Version::HTTP_2;
                // HTTP/2 carries the authority in `:authority`.
                parts.headers.remove(header::HOST);
            }
        }
        Ok(Request::from_parts(parts, Full::new(body)))
    }

    /// The domain, with the port if it is not 443.
    fn authority(&self) -> Result<Authority, Error> {
        let domain = self.target.domain();
        let port = self.target.addr().port();
        let host = if domain.contains(':') {
            format!("[{domain}]")
        } else {
            domain.to_owned()
        };
        let s = if port == 443 {
            host
        } else {
            format!("{host}:{port}")
        };
        s.parse()
            .map_err(|e| Error::http(Some(&self.target), None, format!("bad authority {s}: {e}")))
    }

    /// Sends a validation probe and judges it. On `Ok` the connection is
    /// ready for a request.
    pub(crate) async fn validate(
        &mut self,
        opts: &HttpOptions,
        validator: &dyn Validate,
        path: Option<&str>,
    ) -> Result<(), Error> {
        let span = tracing::debug_span!("hotpool.validate", domain = %self.target.domain(), addr = %self.target.addr());
        let mut req = validator.probe(&self.target, path);
        opts.apply_defaults(self, req.headers_mut());
        let timeout = opts.validation_timeout;
        let probe = async {
            self.ready().await?;
            let resp = self.send(req).await?;
            let (parts, body) = resp.into_parts();
            let verdict = validator.judge(&self.target, &parts);
            if verdict == Verdict::Accept {
                // Drain the body so that the connection can take the next
                // request.
                drain(body, PROBE_BODY_LIMIT)
                    .await
                    .map_err(|e| Error::http(Some(&self.target), None, e))?;
            }
            Ok::<_, Error>((parts.status, verdict))
        }
        .instrument(span);
        let (status, verdict) = match tokio::time::timeout(timeout, probe).await {
            Ok(r) => r?,
            Err(_) => {
                return Err(Error::Validation {
                    domain: self.target.domain_arc().clone(),
                    addr: self.target.addr(),
                    status: None,
                    reason: format!("probe got no answer within {timeout:?}"),
                })
            }
        };
        match verdict {
            Verdict::Accept => {
                tracing::debug!(domain = %self.target.domain(), addr = %self.target.addr(), %status, "hotpool: validated");
                Ok(())
            }
            Verdict::Block => {
                tracing::info!(domain = %self.target.domain(), addr = %self.target.addr(), %status, "hotpool: probe says the address refuses us");
                Err(Error::Blocked {
                    domain: self.target.domain_arc().clone(),
                    ip: self.target.addr().ip(),
                })
            }
            Verdict::Reject(reason) => Err(Error::Validation {
                domain: self.target.domain_arc().clone(),
                addr: self.target.addr(),
                status: Some(status.as_u16()),
                reason,
            }),
        }
    }
}

/// Reads a body to its end, failing past `limit` bytes.
async fn drain(
    mut body: Incoming,
    limit: usize,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut n = 0;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            n += data.len();
            if n > limit {
                return Err(format!("probe response body over {limit} bytes").into());
            }
        }
    }
    Ok(())
}

// --- byte counting --------------------------------------------------------------

/// The TLS stream with a count of the bytes read from it, which tells
/// whether a failed request got any of its response.
struct Counted {
    inner: TlsConnection,
    read: Arc<AtomicU64>,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = buf.filled().len() - before;
        if n > 0 {
            self.read.fetch_add(n as u64, Ordering::Relaxed);
        }
        r
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

// --- the connector ----------------------------------------------------------------

/// Makes [`HttpConnection`]s: a [`TlsConnector`] dial, hyper's HTTP/1.1 or
/// HTTP/2 handshake by ALPN, then validation.
///
/// # The life of a connection
///
/// 1. [`TlsConnector`] dials the target IP and handshakes with a profile.
/// 2. The protocol agreed by ALPN picks hyper's HTTP/2 client (`h2`) or its
///    HTTP/1.1 client (anything else); hyper's connection task is spawned on
///    the current tokio runtime and lives as long as the connection.
/// 3. Before the pool lends it for the first time, the connection is
///    validated: the [`Validate`] probe (by default `HEAD /`) is sent on it
///    and the response judged. 2xx and 3xx accept; 403 means the address
///    refuses us: the dial fails with [`Error::Blocked`] and the pool puts the
///    IP on its blacklist; any other status fails the dial with
///    [`Error::Validation`] and closes the connection without blacklisting.
/// 4. While pooled, [`Connect::is_open`] asks hyper whether its connection
///    task has ended (the peer closed, or a protocol error); a closed
///    connection is never lent.
/// 5. Dropping the connection drops hyper's request sender: the HTTP/1.1
///    task shuts the stream down (a TLS close_notify), the HTTP/2 task sends
///    GOAWAY, and the task ends.
///
/// HTTP/2 connections are lent exclusively, like HTTP/1.1 ones: one request
/// at a time per connection.
///
/// [`Client`](crate::Client) builds one for its pool; use it directly for a
/// `Pool<HttpConnector>` of your own.
pub struct HttpConnector {
    tls: TlsConnector,
    opts: Arc<HttpOptions>,
    tasks: Arc<AtomicUsize>,
}

impl fmt::Debug for HttpConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpConnector")
            .field("tls", &self.tls)
            .field("validates", &self.opts.validator.is_some())
            .finish_non_exhaustive()
    }
}

impl HttpConnector {
    /// HTTP over `tls`, validating each new connection with `HEAD /`.
    pub fn new(tls: TlsConnector) -> HttpConnector {
        HttpConnector::with_options(tls, Arc::new(HttpOptions::default()))
    }

    pub(crate) fn with_options(tls: TlsConnector, opts: Arc<HttpOptions>) -> HttpConnector {
        HttpConnector {
            tls,
            opts,
            tasks: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Validates new connections with `validator` instead (`None`: no
    /// validation).
    pub fn validator(mut self, validator: Option<Arc<dyn Validate>>) -> Self {
        Arc::make_mut(&mut self.opts).validator = validator;
        self
    }

    /// The TLS connector underneath.
    pub fn tls(&self) -> &TlsConnector {
        &self.tls
    }

    /// Runs hyper's connection task, counted in `closing` until it ends.
    fn spawn_task<F>(&self, conn: F, target: &Target, version: &'static str)
    where
        F: std::future::Future<Output = Result<(), hyper::Error>> + Send + 'static,
    {
        let t = target.clone();
        let guard = TaskGuard::new(&self.tasks);
        tokio::spawn(async move {
            let _guard = guard;
            if let Err(e) = conn.await {
                tracing::debug!(target = %t, error = %e, "hotpool: {version} connection ended");
            }
        });
    }

    async fn handshake(&self, target: &Target) -> Result<HttpConnection, Error> {
        let tls = self.tls.connect(target).await?;
        let profile: Arc<str> = tls.profile().into();
        let h2 = tls.alpn() == Some(b"h2");
        let read = Arc::new(AtomicU64::new(0));
        let io = TokioIo::new(Counted {
            inner: tls,
            read: read.clone(),
        });
        let http_err = |e: hyper::Error| Error::http(Some(target), None, e);
        let max_header = self.opts.max_header_size;
        let sender = if h2 {
            let (sender, conn) = http2::Builder::new(TokioExecutor::new())
                .max_header_list_size(u32::try_from(max_header).unwrap_or(u32::MAX))
                .handshake(io)
                .await
                .map_err(http_err)?;
            self.spawn_task(conn, target, "HTTP/2");
            Sender::H2(sender)
        } else {
            let (sender, conn) = http1::Builder::new()
                .max_header_size(max_header)
                // hyper's default of 100 header lines is below what some
                // sites send; the byte limit above is the real bound.
                .max_headers(MAX_HEADER_LINES)
                .max_buf_size(max_header.max(64 * 1024))
                .handshake(io)
                .await
                .map_err(http_err)?;
            self.spawn_task(conn, target, "HTTP/1.1");
            Sender::H1(sender)
        };
        Ok(HttpConnection {
            sender,
            read,
            target: target.clone(),
            profile,
            accept_language: self.opts.pick_language(),
            requests: 0,
        })
    }
}

impl Connect for HttpConnector {
    type Conn = HttpConnection;

    async fn connect(&self, target: &Target) -> Result<HttpConnection, Error> {
        let mut conn = self.handshake(target).await?;
        if let Some(v) = &self.opts.validator {
            conn.validate(&self.opts, &**v, None).await?;
        }
        Ok(conn)
    }

    fn is_open(&self, conn: &HttpConnection) -> bool {
        conn.is_open()
    }

    /// The health probe: the validation request (a 403 is an
    /// [`Error::Blocked`], which blacklists the IP), or, without a
    /// validator, a check that the connection can take a request.
    async fn probe(&self, conn: &mut HttpConnection) -> Result<(), Error> {
        match &self.opts.validator {
            Some(v) => conn.validate(&self.opts, &**v, None).await,
            None => conn.ready().await,
        }
    }

    fn label(&self, conn: &HttpConnection) -> Option<Arc<str>> {
        Some(conn.profile.clone())
    }

    /// hyper connection tasks still running: each ends once its connection
    /// is closed (an HTTP/1.1 task after sending close_notify).
    fn closing(&self) -> usize {
        self.tasks.load(Ordering::Relaxed) + self.tls.closing()
    }

    fn profile_stats(&self) -> Vec<ProfileStats> {
        self.tls.profile_stats()
    }
}

/// Counts a running hyper connection task; the count drops when the task
/// ends.
struct TaskGuard(Arc<AtomicUsize>);

impl TaskGuard {
    fn new(count: &Arc<AtomicUsize>) -> TaskGuard {
        count.fetch_add(1, Ordering::Relaxed);
        TaskGuard(count.clone())
    }
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_has_distinct_tags_with_descending_q() {
        let opts = HttpOptions::default();
        for _ in 0..200 {
            let v = opts.pick_language();
            let s = v.to_str().unwrap();
            let tags: Vec<&str> = s.split(',').collect();
            assert!((2..=5).contains(&tags.len()), "{s}");
            let mut names: Vec<&str> = tags.iter().map(|t| t.split(';').next().unwrap()).collect();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), tags.len(), "duplicate tag in {s}");
            assert!(!tags[0].contains(";q="), "{s}");
            let qs: Vec<f64> = tags[1..]
                .iter()
                .map(|t| t.split_once(";q=").unwrap().1.parse().unwrap())
                .collect();
            assert!(qs.windows(2).all(|w| w[0] > w[1]), "{s}");
            assert!(qs.iter().all(|q| *q < 1.0 && *q > 0.0), "{s}");
        }
    }

    #[test]
    fn status_rules() {
        assert_eq!(status_verdict(StatusCode::OK), Verdict::Accept);
        assert_eq!(
            status_verdict(StatusCode::MOVED_PERMANENTLY),
            Verdict::Accept
        );
        assert_eq!(status_verdict(StatusCode::FORBIDDEN), Verdict::Block);
        assert!(matches!(
            status_verdict(StatusCode::NOT_FOUND),
            Verdict::Reject(_)
        ));
        assert!(matches!(
            status_verdict(StatusCode::SERVICE_UNAVAILABLE),
            Verdict::Reject(_)
        ));
    }

    #[test]
    fn validator_path_must_be_a_path() {
        let e = StatusValidator::new().path("robots.txt").unwrap_err();
        assert!(e.to_string().contains("validation.path"), "{e}");
        let v = StatusValidator::new().path("/robots.txt").unwrap();
        let t = Target::new("a.example".into(), "192.0.2.1:443".parse().unwrap());
        assert_eq!(v.probe(&t, None).uri(), "/robots.txt");
        assert_eq!(v.probe(&t, Some("/x?y=1")).uri(), "/x?y=1");
        assert_eq!(v.probe(&t, None).method(), Method::HEAD);
    }
}
