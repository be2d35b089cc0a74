//! [`HttpConnection`]: one pooled HTTP/1.1 or HTTP/2 connection and its
//! validation probe.

use super::*;

use crate::{connect::Target, error::Error, tls::TlsConnection};
use bytes::Bytes;
use http::{
    header::{self, HeaderValue},
    uri::{Authority, PathAndQuery, Scheme, Uri},
    Request, Response, Version,
};
use http_body_util::{BodyExt, Full};
use hyper::{
    body::Incoming,
    client::conn::{http1, http2},
};
use std::time::Duration;
use std::{
    fmt, io,
    pin::Pin,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    task::{Context, Poll},
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tracing::Instrument;

/// The request body type hyper is driven with.
pub(crate) type ReqBody = Full<Bytes>;

pub(super) enum Sender {
    H1(http1::SendRequest<ReqBody>),
    H2(http2::SendRequest<ReqBody>),
}

/// An HTTP connection made by [`HttpConnector`]: hyper's request sender
/// over a validated TLS connection, plus what the pool and the client need
/// to know about it.
pub struct HttpConnection {
    pub(super) sender: Sender,
    pub(super) read: Arc<AtomicU64>,
    pub(super) target: Target,
    pub(super) profile: Arc<str>,
    /// The proxy it goes through, by name.
    pub(super) proxy: Option<Arc<str>>,
    pub(super) accept_language: HeaderValue,
    pub(super) requests: u64,
    /// A throttle the validation probe asked for, not yet passed on to the
    /// pool.
    pub(super) retry_after: Option<Duration>,
    /// What the server's HTTP/2 frames said (stream limit, `GOAWAY`); `None`
    /// on HTTP/1.1.
    pub(super) h2: Option<Arc<H2Signals>>,
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

    /// The name of the proxy it goes through (`None`: direct).
    pub fn proxy(&self) -> Option<&str> {
        self.proxy.as_deref()
    }

    /// The TLS profile whose ClientHello opened it.
    pub fn profile(&self) -> &str {
        &self.profile
    }

    /// The `Accept-Language` value drawn for this connection.
    pub fn accept_language(&self) -> &HeaderValue {
        &self.accept_language
    }

    /// The throttle the validation probe asked for (a 429, or a 503 with
    /// `Retry-After`), taken once: the client passes it to
    /// [`Pool::throttle`](crate::Pool::throttle).
    pub fn take_retry_after(&mut self) -> Option<Duration> {
        self.retry_after.take()
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
        prepare(req, &self.target, matches!(self.sender, Sender::H2(_)))
    }

    /// The domain, with the port if it is not 443.
    fn authority(&self) -> Result<Authority, Error> {
        authority(&self.target)
    }

    /// The server's HTTP/2 signals (`None` on HTTP/1.1).
    pub(super) fn h2_signals(&self) -> Option<&Arc<H2Signals>> {
        self.h2.as_ref()
    }

    /// A sender for another stream on this HTTP/2 connection.
    pub(super) fn h2_sender(&self) -> Option<http2::SendRequest<ReqBody>> {
        match &self.sender {
            Sender::H2(s) => Some(s.clone()),
            Sender::H1(_) => None,
        }
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
        let probe_name = format!(
            "{} https://{}{}",
            req.method(),
            self.authority().map(|a| a.to_string()).unwrap_or_default(),
            req.uri()
        );
        let head = req.method() == http::Method::HEAD;
        let probe = async {
            self.ready().await?;
            let resp = self.send(req).await?;
            let (parts, body) = resp.into_parts();
            let verdict = validator.judge(&self.target, &parts);
            // A `HEAD` answer has no body, whatever its headers say, and
            // its status is the verdict: nothing to drain. (Some servers
            // send a body anyway; over HTTP/2 the h2 crate rightly fails
            // such a stream, and dropping it resets that stream only.)
            if head {
                drop(body);
            } else if matches!(verdict, Verdict::Accept | Verdict::Throttle(_)) {
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
            Ok(r) => r.map_err(|e| match e {
                // A broken exchange (reset, protocol error): a failure of
                // this address, named with the probe's URL.
                Error::Http { source, .. } => Error::Validation {
                    domain: self.target.domain_arc().clone(),
                    addr: self.target.addr(),
                    status: None,
                    reason: format!("probe {probe_name} failed: {source}"),
                },
                e => e,
            })?,
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
            Verdict::Throttle(d) => {
                tracing::info!(domain = %self.target.domain(), addr = %self.target.addr(), %status, retry_after = ?d, "hotpool: probe says slow down");
                self.retry_after = Some(d);
                Ok(())
            }
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

/// Puts the URI of `req` into the form the protocol wants: origin form with
/// a `Host` header on HTTP/1.1, `:scheme` and `:authority` on HTTP/2.
pub(super) fn prepare(
    req: Request<Bytes>,
    target: &Target,
    h2: bool,
) -> Result<Request<ReqBody>, Error> {
    let (mut parts, body) = req.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    // The connection's own authority (its canonical host, and the port
    // when not 443), whatever the spelling of the URL: the same Host for
    // every request on it, and never user info.
    let authority = authority(target)?;
    if h2 {
        parts.uri = Uri::builder()
            .scheme(Scheme::HTTPS)
            .authority(authority)
            .path_and_query(path)
            .build()
            .map_err(|e| Error::http(Some(target), None, e))?;
        parts.version = Version::HTTP_2;
        // HTTP/2 carries the authority in `:authority`.
        parts.headers.remove(header::HOST);
    } else {
        parts.uri = Uri::from(path);
        parts.version = Version::HTTP_11;
        if !parts.headers.contains_key(header::HOST) {
            let host = HeaderValue::from_str(authority.as_str())
                .map_err(|e| Error::http(Some(target), None, format!("bad Host header: {e}")))?;
            parts.headers.insert(header::HOST, host);
        }
    }
    Ok(Request::from_parts(parts, Full::new(body)))
}

/// The target's domain, with the port if it is not 443.
fn authority(target: &Target) -> Result<Authority, Error> {
    let domain = target.domain();
    let port = target.addr().port();
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
        .map_err(|e| Error::http(Some(target), None, format!("bad authority {s}: {e}")))
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
/// On HTTP/2 it also walks the server's frames for the stream limit and
/// `GOAWAY` ([`sniff`](super::sniff)).
pub(super) struct Counted {
    pub(super) inner: TlsConnection,
    pub(super) read: Arc<AtomicU64>,
    pub(super) walker: Option<FrameWalker>,
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
            let this = &mut *self;
            if let Some(w) = this.walker.as_mut() {
                w.feed(&buf.filled()[before..]);
            }
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
