//! [`Client`]: HTTP/1.1 and HTTP/2 requests over the pool's hot
//! connections — the crawler's front door.
//!
//! See [`Client`] for a request's path.

use crate::{
    error::Error,
    http_layer::{HttpConnection, HttpConnector, HttpOptions, Lease},
    pool::Pool,
    pooled::Pooled,
};
use bytes::Bytes;
use http::{Method, Request, Uri};
use std::{
    fmt,
    sync::{atomic::Ordering::Relaxed, Arc},
    time::{Duration, Instant},
};

use super::*;

/// Default limit on a response body, in decoded bytes.
pub(crate) const DEFAULT_MAX_BODY_SIZE: u64 = 32 << 20;

/// Default limit on a whole request (to the end of its body).
pub(super) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

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
///    more on a freshly dialed connection ([`RequestStats::retries`](crate::RequestStats::retries)
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
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) pool: Pool<HttpConnector>,
    pub(super) opts: Arc<HttpOptions>,
    pub(super) timeout: Duration,
    pub(super) max_body_size: Option<u64>,
    pub(super) default_port: u16,
    pub(super) keep_alive: bool,
    pub(super) counters: Arc<Counters>,
    /// `max_streams_per_connection` (1: HTTP/2 lent exclusively).
    pub(super) max_streams: u32,
    pub(super) streams: Arc<super::share::StreamCounters>,
    /// Which redirects are followed.
    pub(super) redirect: super::redirect::Policy,
    /// The client's own cookie jar (`cookie_store(true)`); sessions bring
    /// theirs.
    pub(super) jar: Option<Arc<super::cookie::Jar>>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("pool", &self.inner.pool)
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

/// A time-out for one request, overriding the client's `timeout`: put it in
/// the request's extensions.
///
/// It bounds the whole request, from waiting for a connection to the last
/// byte of the body, like the client's.
///
/// # Examples
///
/// ```no_run
/// # async fn f(client: hotpool::Client) -> Result<(), hotpool::Error> {
/// use std::time::Duration;
/// let mut req = hotpool::http::Request::get("https://example.com/slow").body(bytes::Bytes::new()).unwrap();
/// req.extensions_mut().insert(hotpool::Timeout(Duration::from_secs(120)));
/// let resp = client.request(req).await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeout(pub Duration);

/// `start + timeout`, saturating far in the future (a `Duration::MAX`
/// time-out means none).
pub(crate) fn deadline_after(start: Instant, timeout: Duration) -> Instant {
    // About thirty years: beyond any crawl, and within what every platform's
    // `Instant` and tokio's timer can represent.
    const FAR: Duration = Duration::from_secs(30 * 365 * 24 * 3600);
    start + timeout.min(FAR)
}

/// `uri` as text with any user info (`user:password@`) replaced by `***@`,
/// for error messages and logs.
pub(super) fn redacted(uri: &Uri) -> String {
    let s = uri.to_string();
    match uri.authority() {
        Some(a) if a.as_str().contains('@') => {
            let (_, host) = a.as_str().rsplit_once('@').unwrap_or(("", a.as_str()));
            s.replacen(a.as_str(), &format!("***@{host}"), 1)
        }
        _ => s,
    }
}

/// Where a URL goes.
pub(super) struct Dest {
    pub(super) key: String,
}

fn is_idempotent(m: &Method) -> bool {
    matches!(
        *m,
        Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS | Method::TRACE
    )
}

/// Closes a connection whose request was interrupted (the caller dropped
/// the future, or the exchange failed) unless it is handed on; a stream of
/// a shared connection just ends (hyper resets it).
struct InFlight(Option<Lease>);

impl InFlight {
    fn conn(&mut self) -> &mut Lease {
        self.0.as_mut().expect("connection present until handed on")
    }

    fn into_inner(mut self) -> Lease {
        self.0.take().expect("connection present until handed on")
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(c) = self.0.take() {
            c.discard();
        }
    }
}

/// Times a request the server did not process is sent again.
const MAX_RESENDS: u32 = 3;

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
        let req = self.new_request(method, url, body)?;
        self.run(req, validated, self.inner.jar.as_deref()).await
    }

    /// A request for `url`, or the error for a URL that does not parse
    /// (counted as a failed request).
    pub(super) fn new_request(
        &self,
        method: Method,
        url: &str,
        body: Bytes,
    ) -> Result<Request<Bytes>, Error> {
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
        Ok(req)
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
        let jar = self.inner.jar.as_deref();
        self.run(Request::from_parts(parts, body.into()), false, jar)
            .await
    }

    /// Sends `req` with `jar`'s cookies (if any), following redirects,
    /// within the request's time-out, and counts the outcome.
    pub(super) async fn run(
        &self,
        req: Request<Bytes>,
        validated: bool,
        jar: Option<&super::cookie::Jar>,
    ) -> Result<Response, Error> {
        let c = &self.inner.counters;
        c.requests.fetch_add(1, Relaxed);
        let start = Instant::now();
        let timeout = req
            .extensions()
            .get::<Timeout>()
            .map_or(self.inner.timeout, |t| t.0);
        // Formatted only when needed (an error, a debug line): a request
        // that succeeds pays for no string.
        let uri = req.uri().clone();
        let limits = Limits {
            deadline: deadline_after(start, timeout),
            timeout,
            max_size: self.inner.max_body_size,
        };
        // The request's span: the pool's events (lend, dial, validation,
        // retry, block) happen inside it; the connection's fields are
        // recorded once it is lent (`execute`), the outcome at the end.
        let span = tracing::debug_span!(
            "hotpool.request",
            method = %req.method(),
            url = %redacted(&uri),
            domain = tracing::field::Empty,
            addr = tracing::field::Empty,
            profile = tracing::field::Empty,
            version = tracing::field::Empty,
            proxy = tracing::field::Empty,
            reused = tracing::field::Empty,
            status = tracing::field::Empty,
            latency_ms = tracing::field::Empty,
        );
        let exec =
            tracing::Instrument::instrument(self.follow(req, validated, limits, jar), span.clone());
        let r = match tokio::time::timeout_at(limits.deadline.into(), exec).await {
            Ok(r) => r,
            Err(_) => Err(Error::RequestTimeout {
                url: redacted(&uri),
                timeout,
            }),
        };
        #[cfg(feature = "metrics")]
        crate::metrics::record_request(start.elapsed());
        if !span.is_disabled() {
            let ms = start.elapsed().as_secs_f64() * 1e3;
            span.record("latency_ms", ms);
            if let Ok(resp) = &r {
                span.record("status", resp.status().as_u16());
                tracing::debug!(parent: &span, status = resp.status().as_u16(), latency_ms = ms, "hotpool: response");
            }
        }
        match &r {
            Ok(resp) => c.response(resp.status, start.elapsed()),
            Err(e) => {
                tracing::debug!(url = %redacted(&uri), error = %e, "hotpool: request failed");
                c.failure(e)
            }
        }
        r
    }

    fn dest(&self, uri: &Uri, route: Option<&crate::proxy::Route>) -> Result<Dest, Error> {
        let bad = |reason: &str| Error::InvalidUrl {
            url: redacted(uri),
            reason: reason.to_owned(),
        };
        match uri.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("https") => {}
            Some(_) => return Err(bad("only https URLs are supported")),
            None => return Err(bad("not an absolute URL (no scheme)")),
        }
        let authority = match uri.authority() {
            Some(a) if !a.host().is_empty() => a,
            _ => return Err(bad("no host")),
        };
        if authority.as_str().contains('@') {
            // Credentials in a URL would be sent nowhere useful (the client
            // does not do HTTP authentication) and must never leak into a
            // Host header or a log line of the key.
            return Err(bad("user info (user:password@) in URLs is not supported"));
        }
        let port = authority.port_u16().unwrap_or(443);
        let mut key = crate::key::normalize(
            &format!("{}:{port}", authority.host()),
            self.inner.default_port,
        )
        .into_owned();
        if let Some(route) = route {
            // A session pinned to a proxy: its connections are a domain of
            // their own (see `crate::proxy`).
            key.push('#');
            key.push_str(&route.0);
        }
        Ok(Dest { key })
    }

    pub(super) async fn execute(
        &self,
        req: Request<Bytes>,
        validated: bool,
        limits: Limits,
    ) -> Result<Response, Error> {
        let dest = self.dest(req.uri(), req.extensions().get())?;
        let (parts, body) = req.into_parts();
        let url = parts.uri.clone();
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let idempotent = is_idempotent(&parts.method);
        let mut fresh = false;
        let mut retried = false;
        let mut resent = 0;
        loop {
            let conn = self.lease(&dest, fresh).await?;
            let reused = conn.is_reused();
            let span = tracing::Span::current();
            if !span.is_disabled() {
                let t = conn.target();
                span.record("domain", dest.key.as_str())
                    .record("addr", tracing::field::display(t.addr()))
                    .record("profile", conn.profile())
                    .record("version", tracing::field::debug(conn.version()))
                    .record("reused", reused);
                if let Some(p) = conn.proxy() {
                    span.record("proxy", &**p);
                }
                tracing::debug!(reused, "hotpool: lent");
            }
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
                if let (Some(v), Some(c)) = (&self.inner.opts.validator, flight.conn().own_mut()) {
                    let opts = &self.inner.opts;
                    if let Err(e) = c.validate(opts, &**v, Some(path)).await {
                        tracing::debug!(url = %url, error = %e, "hotpool: reused connection failed validation");
                        if let Error::Blocked { ip, .. } = e {
                            self.inner.pool.block_pair(&dest.key, ip);
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
            let lease = flight.conn();
            lease.apply_defaults(&self.inner.opts, r.headers_mut());
            let before = lease.bytes_read();
            match lease.send(r).await {
                Ok(resp) => {
                    if matches!(resp.status().as_u16(), 429 | 503) {
                        if let Some(d) = retry_after(resp.headers()) {
                            tracing::debug!(url = %url, retry_after = ?d, "hotpool: the site asks us to slow down");
                            self.inner.pool.throttle(&dest.key, d);
                        }
                    }
                    return Response::new(
                        resp,
                        flight.into_inner(),
                        url,
                        self.inner.opts.decompress,
                        limits,
                        self.inner.keep_alive,
                        self.inner.counters.clone(),
                    );
                }
                Err(e) => {
                    let lease = flight.conn();
                    // No byte of a response came: the connection had gone
                    // stale. On a shared connection the byte count is
                    // everyone's; there a dead connection (not a stream
                    // reset, which fails its request alone) is the sign.
                    let silent = match before {
                        Some(b) => lease.bytes_read() == Some(b),
                        None => !lease.is_open(),
                    };
                    if lease.version() == http::Version::HTTP_2 && super::share::unprocessed(&e) {
                        // The server did not take the request (a GOAWAY
                        // below it, a refused stream): the connection takes
                        // no more, and the request goes out again on
                        // another one, whatever its method.
                        lease.drain();
                        drop(flight.into_inner());
                        if resent < MAX_RESENDS {
                            tracing::debug!(url = %url, error = %e, "hotpool: the server did not process the request; sending it again");
                            self.inner.streams.resent.fetch_add(1, Relaxed);
                            resent += 1;
                            continue;
                        }
                        return Err(with_url(e, &url));
                    }
                    // Counted against the connection (max_errors). An
                    // HTTP/2 connection still open after its stream failed
                    // goes back to the pool (or stays shared); anything
                    // else is closed.
                    lease.mark_error();
                    if lease.version() == http::Version::HTTP_2
                        && lease.is_open()
                        && self.inner.keep_alive
                    {
                        flight.into_inner().finish();
                    } else {
                        drop(flight);
                    }
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
    /// fails (a probe got 403, the port is closed, the dial or handshake
    /// timed out, a TLS or certificate error, garbage, a broken probe): at
    /// most one try per address, within the request's time.
    pub(super) async fn checkout(
        &self,
        dest: &Dest,
        fresh: bool,
    ) -> Result<Pooled<HttpConnection>, Error> {
        let pool = &self.inner.pool;
        let mut tries = 0;
        loop {
            let r = if fresh {
                pool.get_fresh(&dest.key).await
            } else {
                pool.get(&dest.key).await
            };
            let e = match r {
                Ok(mut c) => {
                    if let Some(d) = c.take_retry_after() {
                        // The probe of this new connection was told to
                        // slow down: no new dials to the domain for a while.
                        pool.throttle(&dest.key, d);
                    }
                    return Ok(c);
                }
                Err(e) => e,
            };
            tries += 1;
            let addrs = pool.ips(&dest.key);
            let mut limit = addrs.len().clamp(1, 8);
            // A dial refused by one address may succeed at another: a probe
            // that got 403 has had its IP blacklisted by the pool, so the
            // next dial skips it.
            let redial = if matches!(
                e,
                Error::Proxy {
                    at_target: false,
                    ..
                }
            ) {
                // The proxy failed and is set aside: a connection that may
                // take any proxy of the list goes through the next one; a
                // pinned one has no other.
                let proxies = pool.connector().tls().proxies().len();
                limit = proxies.min(8);
                !dest.key.contains('#') && proxies > 1
            } else if e.is_blocked() {
                addrs
                    .iter()
                    .any(|a| !pool.is_blocked_for(&dest.key, a.ip()))
            } else {
                // Any failure of the address (refused, connect or handshake
                // time-out, TLS or certificate error, garbage, reset, a
                // failed or broken probe): the pool has set it aside, and
                // the next dial goes to another address.
                crate::pool::is_address_failure(&e)
            };
            if redial && tries < limit {
                tracing::debug!(domain = %dest.key, error = %e, "hotpool: dialing the next address");
                continue;
            }
            return Err(e);
        }
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
