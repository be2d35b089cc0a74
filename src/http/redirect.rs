//! Redirects: which ones a [`Client`] follows ([`Policy`]) and how a hop's
//! request is made from the last one.
//!
//! A response with status 301, 302, 303, 307 or 308 and a `Location`
//! header is a redirect. Under the client's policy (default: follow up to
//! 10) the client reads and drops the redirect's body (up to 64 KiB, so
//! the connection goes back to the pool; a longer one closes it) and sends
//! the next request, built as RFC 9110 §15.4 and the browsers do:
//!
//! - `Location` is resolved against the URL that answered (a relative
//!   reference, `//host/path`, `?query` all work); its fragment is dropped.
//! - 303 turns any method but HEAD into GET; 301 and 302 turn a POST into a
//!   GET. A request turned into GET loses its body and the headers that
//!   described it (`Content-Type`, `Content-Length`, `Content-Encoding`,
//!   `Transfer-Encoding`). 307 and 308 keep method and body.
//! - A hop to another host (or port) drops the `Authorization`, `Cookie`
//!   and `Proxy-Authorization` headers the caller set: credentials for one
//!   site are not handed to another.
//! - Each hop is a request of its own to the pool of its host: an idle
//!   connection or a validated new one, addresses blocked as for any
//!   request. The whole chain shares the request's time-out.
//!
//! A hop to a URL already in the chain is [`Error::Redirect`] ("loop"), so
//! is one past the limit ("too many") and one to a URL the client cannot
//! fetch (not `https`); the error names the chain. [`Response::url`] is the
//! final URL, [`Response::redirects`] the URLs before it.

use super::{client::redacted, cookie::Jar, Client, Response};
use crate::error::{BoxError, Error};
use bytes::Bytes;
use http::{header, HeaderMap, Method, Request, StatusCode, Uri};
use std::{fmt, sync::Arc, time::Instant};

/// Default number of redirects followed.
pub(crate) const DEFAULT_MAX_REDIRECTS: usize = 10;

/// A redirect body read to its end (so the connection is reused) up to
/// this many bytes; a longer one is dropped and its connection closed.
const DRAIN_LIMIT: usize = 64 * 1024;

/// Which redirects a [`Client`] follows
/// ([`ClientBuilder::redirect`](super::ClientBuilder::redirect)).
#[derive(Clone)]
pub struct Policy(Kind);

#[derive(Clone)]
enum Kind {
    None,
    Limited(usize),
    Custom(Arc<dyn Fn(Attempt<'_>) -> Action + Send + Sync>),
}

impl Policy {
    /// Follows none: a redirect is returned as the response.
    pub fn none() -> Policy {
        Policy(Kind::None)
    }

    /// Follows up to `max` redirects in a chain; one more is
    /// [`Error::Redirect`]. The default is `limited(10)`.
    pub fn limited(max: usize) -> Policy {
        Policy(Kind::Limited(max))
    }

    /// Asks `decide` at every hop: it sees the redirect's status, the next
    /// URL and the chain so far, and answers [`Attempt::follow`],
    /// [`Attempt::stop`] (the redirect is the response) or
    /// [`Attempt::error`]. A loop is still an error, whatever it answers.
    ///
    /// ```
    /// use hotpool::redirect::Policy;
    ///
    /// // Follow up to 5 hops, never off the site we started on.
    /// let policy = Policy::custom(|attempt| {
    ///     let first = attempt.previous()[0].host();
    ///     if attempt.previous().len() > 5 {
    ///         attempt.error("too many hops")
    ///     } else if attempt.url().host() != first {
    ///         attempt.stop()
    ///     } else {
    ///         attempt.follow()
    ///     }
    /// });
    /// let client = hotpool::Client::builder().redirect(policy);
    /// # drop(client);
    /// ```
    pub fn custom(decide: impl Fn(Attempt<'_>) -> Action + Send + Sync + 'static) -> Policy {
        Policy(Kind::Custom(Arc::new(decide)))
    }

    /// Whether the policy never follows.
    pub(crate) fn is_none(&self) -> bool {
        matches!(self.0, Kind::None)
    }

    fn decide(&self, attempt: Attempt<'_>) -> Action {
        match &self.0 {
            Kind::None => attempt.stop(),
            Kind::Limited(max) if attempt.previous.len() > *max => Action(Act::Error(
                format!("too many redirects (limit {max})").into(),
            )),
            Kind::Limited(_) => attempt.follow(),
            Kind::Custom(f) => f(attempt),
        }
    }
}

impl Default for Policy {
    fn default() -> Policy {
        Policy::limited(DEFAULT_MAX_REDIRECTS)
    }
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Kind::None => f.write_str("Policy::none()"),
            Kind::Limited(n) => write!(f, "Policy::limited({n})"),
            Kind::Custom(_) => f.write_str("Policy::custom(..)"),
        }
    }
}

/// A redirect the client could follow, shown to a [`Policy::custom`]
/// closure.
#[derive(Debug)]
pub struct Attempt<'a> {
    status: StatusCode,
    next: &'a Uri,
    previous: &'a [Uri],
}

impl<'a> Attempt<'a> {
    /// The redirect's status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The URL it points to (resolved).
    pub fn url(&self) -> &Uri {
        self.next
    }

    /// The URLs requested so far, first to last (the last answered with
    /// this redirect).
    pub fn previous(&self) -> &[Uri] {
        self.previous
    }

    /// Follow it.
    pub fn follow(self) -> Action {
        Action(Act::Follow)
    }

    /// Do not follow it: the redirect is the response.
    pub fn stop(self) -> Action {
        Action(Act::Stop)
    }

    /// Fail the request with [`Error::Redirect`] carrying `reason`.
    pub fn error(self, reason: impl Into<BoxError>) -> Action {
        Action(Act::Error(reason.into()))
    }
}

/// What a [`Policy`] decided for one [`Attempt`].
#[derive(Debug)]
pub struct Action(Act);

#[derive(Debug)]
enum Act {
    Follow,
    Stop,
    Error(BoxError),
}

/// `Location` of a redirect response, resolved against `base`, if the
/// status is a redirect's and the header is there. A `Location` that does
/// not parse is an error naming it.
fn location(base: &Uri, status: StatusCode, headers: &HeaderMap) -> Option<Result<Uri, String>> {
    if !matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308) {
        return None;
    }
    let loc = headers.get(header::LOCATION)?;
    let loc = match loc.to_str() {
        Ok(s) => s.trim(),
        Err(_) => return Some(Err("a Location header that is not text".into())),
    };
    let resolved = url::Url::parse(&base.to_string())
        .and_then(|b| b.join(loc))
        .map_err(|e| format!("Location {loc:?}: {e}"))
        .and_then(|mut u| {
            u.set_fragment(None);
            u.as_str()
                .parse::<Uri>()
                .map_err(|e| format!("Location {loc:?}: {e}"))
        });
    Some(resolved)
}

/// Whether `a` and `b` are the same origin's host and port (what decides
/// whether credentials go along).
fn same_host(a: &Uri, b: &Uri) -> bool {
    let host = |u: &Uri| u.host().map(str::to_ascii_lowercase);
    let port = |u: &Uri| u.port_u16().unwrap_or(443);
    host(a) == host(b) && port(a) == port(b)
}

/// The next hop's request from the one that got `status`.
fn next_request(prev: &Request<Bytes>, status: StatusCode, next: Uri) -> Request<Bytes> {
    let method = prev.method();
    let to_get = match status.as_u16() {
        303 => method != Method::HEAD,
        301 | 302 => method == Method::POST,
        _ => false,
    };
    let mut req = if to_get {
        Request::new(Bytes::new())
    } else {
        Request::new(prev.body().clone())
    };
    *req.method_mut() = if to_get { Method::GET } else { method.clone() };
    let mut headers = prev.headers().clone();
    if to_get {
        for h in [
            header::CONTENT_TYPE,
            header::CONTENT_LENGTH,
            header::CONTENT_ENCODING,
            header::TRANSFER_ENCODING,
        ] {
            headers.remove(h);
        }
    }
    if !same_host(prev.uri(), &next) {
        for h in [
            header::AUTHORIZATION,
            header::COOKIE,
            header::PROXY_AUTHORIZATION,
        ] {
            headers.remove(h);
        }
    }
    // The Host header is the client's to set for the new URL.
    headers.remove(header::HOST);
    *req.headers_mut() = headers;
    *req.uri_mut() = next;
    *req.extensions_mut() = prev.extensions().clone();
    req
}

fn redirect_error(reason: impl Into<BoxError>, chain: &[Uri], next: Option<&Uri>) -> Error {
    Error::Redirect {
        reason: reason.into(),
        chain: chain.iter().chain(next).map(redacted).collect(),
    }
}

impl Client {
    /// Sends `req` and follows the redirects the policy allows, until
    /// `deadline` (the caller bounds the whole chain by it).
    pub(super) async fn follow(
        &self,
        mut req: Request<Bytes>,
        validated: bool,
        limits: super::Limits,
        jar: Option<&Jar>,
    ) -> Result<Response, Error> {
        let policy = &self.inner.redirect;
        if policy.is_none() {
            return self.hop(req, validated, limits, jar).await;
        }
        let mut chain: Vec<Uri> = Vec::new();
        loop {
            // Only a 307/308 hop needs the request again (its body); the
            // others are rebuilt from this copy without it.
            let again = Request::from_parts(clone_parts(&req), req.body().clone());
            let mut resp = self.hop(req, validated, limits, jar).await?;
            let next = match location(resp.url(), resp.status(), resp.headers()) {
                None => return Ok(resp.with_redirects(chain)),
                Some(Err(reason)) => {
                    chain.push(resp.url().clone());
                    return Err(redirect_error(reason, &chain, None));
                }
                Some(Ok(next)) => next,
            };
            chain.push(resp.url().clone());
            if next.scheme_str() != Some("https") {
                return Err(redirect_error(
                    "a redirect to a URL that is not https",
                    &chain,
                    Some(&next),
                ));
            }
            if chain.contains(&next) {
                return Err(redirect_error("a redirect loop", &chain, Some(&next)));
            }
            let attempt = Attempt {
                status: resp.status(),
                next: &next,
                previous: &chain,
            };
            match policy.decide(attempt).0 {
                Act::Stop => {
                    chain.pop();
                    return Ok(resp.with_redirects(chain));
                }
                Act::Error(reason) => return Err(redirect_error(reason, &chain, Some(&next))),
                Act::Follow => {}
            }
            tracing::debug!(from = %redacted(resp.url()), to = %redacted(&next), status = resp.status().as_u16(), "hotpool: following a redirect");
            drain(&mut resp, limits.deadline).await;
            req = next_request(&again, resp.status(), next);
        }
    }
}

impl Client {
    /// One exchange: the jar's cookies for the URL go out (unless the
    /// caller set a `Cookie` header), the response's `Set-Cookie`s come
    /// back into it. `again` in [`follow`](Client::follow) is cloned
    /// before this, so the jar's header never reaches another hop.
    async fn hop(
        &self,
        mut req: Request<Bytes>,
        validated: bool,
        limits: super::Limits,
        jar: Option<&Jar>,
    ) -> Result<Response, Error> {
        let Some(jar) = jar else {
            return self.execute(req, validated, limits).await;
        };
        let uri = req.uri().clone();
        jar.apply(&uri, req.headers_mut());
        let resp = self.execute(req, validated, limits).await?;
        jar.store_response(&uri, resp.headers());
        Ok(resp)
    }
}

/// Reads a redirect's body to its end so its connection goes back to the
/// pool; gives up (dropping it closes an HTTP/1.1 connection) past
/// [`DRAIN_LIMIT`], on an error, or at the deadline.
async fn drain(resp: &mut Response, deadline: Instant) {
    let read = async {
        let mut n = 0;
        while let Ok(Some(chunk)) = resp.chunk().await {
            n += chunk.len();
            if n > DRAIN_LIMIT {
                return;
            }
        }
    };
    let _ = tokio::time::timeout_at(deadline.into(), read).await;
}

/// A request's head without its body (`http::request::Parts` is not
/// `Clone`).
fn clone_parts(req: &Request<Bytes>) -> http::request::Parts {
    let mut r = Request::new(());
    *r.method_mut() = req.method().clone();
    *r.uri_mut() = req.uri().clone();
    *r.version_mut() = req.version();
    *r.headers_mut() = req.headers().clone();
    *r.extensions_mut() = req.extensions().clone();
    r.into_parts().0
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn uri(s: &str) -> Uri {
        s.parse().unwrap()
    }

    fn loc(base: &str, status: u16, value: &str) -> Option<Result<Uri, String>> {
        let mut h = HeaderMap::new();
        h.insert(header::LOCATION, value.parse().unwrap());
        location(&uri(base), StatusCode::from_u16(status).unwrap(), &h)
    }

    #[test]
    fn locations_resolve_against_the_url_that_answered() {
        let base = "https://a.test/x/y?q=1";
        assert_eq!(
            loc(base, 302, "z").unwrap().unwrap(),
            uri("https://a.test/x/z")
        );
        assert_eq!(
            loc(base, 301, "/r").unwrap().unwrap(),
            uri("https://a.test/r")
        );
        assert_eq!(
            loc(base, 307, "//b.test:8443/p#frag").unwrap().unwrap(),
            uri("https://b.test:8443/p")
        );
        assert_eq!(
            loc(base, 308, "?k=v").unwrap().unwrap(),
            uri("https://a.test/x/y?k=v")
        );
        assert!(loc(base, 200, "/r").is_none(), "not a redirect status");
        assert!(loc(base, 304, "/r").is_none());
        assert!(loc(base, 302, "https://[::1").unwrap().is_err());
    }

    fn post(to: &str) -> Request<Bytes> {
        let mut r = Request::new(Bytes::from_static(b"form"));
        *r.method_mut() = Method::POST;
        *r.uri_mut() = uri(to);
        let h = r.headers_mut();
        h.insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
        h.insert(header::AUTHORIZATION, "Bearer x".parse().unwrap());
        h.insert(header::COOKIE, "s=1".parse().unwrap());
        h.insert("x-keep", "1".parse().unwrap());
        r
    }

    #[test]
    fn methods_and_bodies_follow_the_status() {
        let p = post("https://a.test/form");
        for (status, method, body) in [
            (301, Method::GET, ""),
            (302, Method::GET, ""),
            (303, Method::GET, ""),
            (307, Method::POST, "form"),
            (308, Method::POST, "form"),
        ] {
            let n = next_request(
                &p,
                StatusCode::from_u16(status).unwrap(),
                uri("https://a.test/next"),
            );
            assert_eq!(n.method(), method, "{status}");
            assert_eq!(n.body().as_ref(), body.as_bytes(), "{status}");
            assert_eq!(
                n.headers().contains_key(header::CONTENT_TYPE),
                !body.is_empty(),
                "{status}"
            );
            assert!(
                n.headers().contains_key(header::AUTHORIZATION),
                "same host keeps it"
            );
            assert!(n.headers().contains_key("x-keep"));
        }
        let mut head = Request::new(Bytes::new());
        *head.method_mut() = Method::HEAD;
        *head.uri_mut() = uri("https://a.test/");
        let n = next_request(&head, StatusCode::SEE_OTHER, uri("https://a.test/next"));
        assert_eq!(n.method(), Method::HEAD, "303 keeps HEAD");
    }

    #[test]
    fn another_host_gets_no_credentials() {
        let p = post("https://a.test/form");
        for other in ["https://b.test/next", "https://a.test:8443/next"] {
            let n = next_request(&p, StatusCode::TEMPORARY_REDIRECT, uri(other));
            for h in [header::AUTHORIZATION, header::COOKIE] {
                assert!(!n.headers().contains_key(&h), "{other}: {h}");
            }
            assert!(n.headers().contains_key("x-keep"));
        }
        let n = next_request(&p, StatusCode::FOUND, uri("https://A.TEST/other"));
        assert!(
            n.headers().contains_key(header::COOKIE),
            "host compared without case"
        );
    }

    #[test]
    fn the_limit_counts_hops() {
        let chain: Vec<Uri> = (0..3)
            .map(|i| uri(&format!("https://a.test/{i}")))
            .collect();
        let next = uri("https://a.test/n");
        let at = |n: usize| Attempt {
            status: StatusCode::FOUND,
            next: &next,
            previous: &chain[..n],
        };
        let p = Policy::limited(2);
        assert!(matches!(p.decide(at(1)).0, Act::Follow));
        assert!(matches!(p.decide(at(2)).0, Act::Follow));
        assert!(matches!(p.decide(at(3)).0, Act::Error(_)));
        assert!(matches!(Policy::none().decide(at(1)).0, Act::Stop));
    }
}
