//! Validation of new connections: the [`Validate`] rule, its [`Verdict`]
//! and the default [`StatusValidator`].

use crate::{connect::Target, error::Error};
use bytes::Bytes;
use http::{
    header::{HeaderMap, HeaderName, HeaderValue},
    uri::{PathAndQuery, Uri},
    Method, Request, StatusCode,
};
use std::time::Duration;

/// What a [`Validate`] rule decided about a probe's response.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// The connection may be used.
    Accept,
    /// The site refuses us at this address: block the pair (domain, IP)
    /// and fail the dial with [`Error::Blocked`] (the client dials the
    /// domain's next address).
    Block,
    /// The connection works, but the site asks us to slow down (a 429, or
    /// a 503 with `Retry-After`): keep the connection, and dial no new
    /// connection to the domain for this long ([`Pool::throttle`]). The
    /// site limits us, not the address: no other address is tried.
    ///
    /// [`Pool::throttle`]: crate::Pool::throttle
    Throttle(Duration),
    /// The connection is closed and the dial fails with
    /// [`Error::Validation`] carrying this reason; the IP is not
    /// blacklisted.
    Reject(String),
}

/// A rule for validating connections: the probe request sent on each new
/// connection before its first use, and the judgement of its response.
///
/// [`StatusValidator`] is the default (`HEAD /` judged by
/// [`default_verdict`]); [`StatusValidator::strict`] is the seed's rule
/// ([`strict_verdict`]). Implement this trait for other rules, for example
/// to look for a block page behind a 200.
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

    /// Judges the probe's response; by default with [`default_verdict`].
    fn judge(&self, target: &Target, response: &http::response::Parts) -> Verdict {
        let _ = target;
        default_verdict(response)
    }
}

/// Throttle when a 429 names no `Retry-After`.
pub(crate) const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(5);

/// Longest throttle a `Retry-After` can ask for.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// The `Retry-After` of a response (delta-seconds or an HTTP date), at
/// most an hour; `None` if absent or unreadable.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    let d = match v.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => {
            let at = httpdate::parse_http_date(v).ok()?;
            at.duration_since(std::time::SystemTime::now())
                .unwrap_or(Duration::ZERO)
        }
    };
    Some(d.min(MAX_RETRY_AFTER))
}

/// The default rule: it separates "does this connection work" from "does
/// this site refuse us here".
///
/// - Any complete response proves the connection works: accept — a site
///   whose `/` answers 404 or 405 is still crawlable.
/// - 403: the site refuses us at this address: [`Verdict::Block`] (the
///   pair (domain, IP)).
/// - 429, and 503 with `Retry-After`: the site limits us: accept, and
///   [`Verdict::Throttle`] the domain for `Retry-After` (5 s for a 429
///   without one; at most an hour).
pub fn default_verdict(response: &http::response::Parts) -> Verdict {
    match response.status {
        StatusCode::FORBIDDEN => Verdict::Block,
        StatusCode::TOO_MANY_REQUESTS => {
            Verdict::Throttle(retry_after(&response.headers).unwrap_or(DEFAULT_RETRY_AFTER))
        }
        StatusCode::SERVICE_UNAVAILABLE => match retry_after(&response.headers) {
            Some(d) => Verdict::Throttle(d),
            None => Verdict::Accept,
        },
        _ => Verdict::Accept,
    }
}

/// The seed's strict rule: 200 keeps the connection, 403 blocks, anything
/// else closes it ([`Verdict::Reject`]).
pub fn strict_verdict(status: StatusCode) -> Verdict {
    match status {
        StatusCode::OK => Verdict::Accept,
        StatusCode::FORBIDDEN => Verdict::Block,
        s => Verdict::Reject(format!("probe answered {s}")),
    }
}

/// A status-class rule: 2xx and 3xx accept, 403 blocks, anything else
/// rejects.
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
/// headers; `HEAD /` by default) judged by [`default_verdict`], or by
/// [`strict_verdict`] when made with [`strict`](StatusValidator::strict).
#[derive(Clone, Debug)]
pub struct StatusValidator {
    method: Method,
    path: PathAndQuery,
    body: Bytes,
    headers: HeaderMap,
    strict: bool,
}

impl Default for StatusValidator {
    fn default() -> Self {
        StatusValidator {
            method: Method::HEAD,
            path: PathAndQuery::from_static("/"),
            body: Bytes::new(),
            headers: HeaderMap::new(),
            strict: false,
        }
    }
}

impl StatusValidator {
    /// `HEAD /`, judged by [`default_verdict`].
    pub fn new() -> StatusValidator {
        StatusValidator::default()
    }

    /// `HEAD /`, judged by the seed's strict rule ([`strict_verdict`]:
    /// 200 keeps, 403 blocks, anything else closes).
    pub fn strict() -> StatusValidator {
        StatusValidator {
            strict: true,
            ..StatusValidator::default()
        }
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

    fn judge(&self, _target: &Target, response: &http::response::Parts) -> Verdict {
        if self.strict {
            strict_verdict(response.status)
        } else {
            default_verdict(response)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(status: u16, retry_after: Option<&str>) -> http::response::Parts {
        let mut b = http::Response::builder().status(status);
        if let Some(v) = retry_after {
            b = b.header(http::header::RETRY_AFTER, v);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn the_default_rule_keeps_sites_usable() {
        for s in [200, 204, 301, 404, 405, 410, 500] {
            assert_eq!(default_verdict(&parts(s, None)), Verdict::Accept, "{s}");
        }
        assert_eq!(default_verdict(&parts(403, None)), Verdict::Block);
        assert_eq!(
            default_verdict(&parts(429, Some("7"))),
            Verdict::Throttle(Duration::from_secs(7))
        );
        assert_eq!(
            default_verdict(&parts(429, None)),
            Verdict::Throttle(DEFAULT_RETRY_AFTER)
        );
        assert_eq!(
            default_verdict(&parts(503, Some("2"))),
            Verdict::Throttle(Duration::from_secs(2))
        );
        assert_eq!(default_verdict(&parts(503, None)), Verdict::Accept);
        // A hostile Retry-After is capped.
        assert_eq!(
            default_verdict(&parts(429, Some("99999999"))),
            Verdict::Throttle(MAX_RETRY_AFTER)
        );
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let h = |v: &str| parts(503, Some(v)).headers;
        assert_eq!(retry_after(&h("120")), Some(Duration::from_secs(120)));
        let later = std::time::SystemTime::now() + Duration::from_secs(60);
        let d = retry_after(&h(&httpdate::fmt_http_date(later))).unwrap();
        assert!(
            d > Duration::from_secs(55) && d <= Duration::from_secs(60),
            "{d:?}"
        );
        assert_eq!(
            retry_after(&h("Wed, 21 Oct 2015 07:28:00 GMT")),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(&h("soon")), None);
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }

    #[test]
    fn the_strict_rule_is_the_seeds() {
        assert_eq!(strict_verdict(StatusCode::OK), Verdict::Accept);
        assert_eq!(strict_verdict(StatusCode::FORBIDDEN), Verdict::Block);
        for s in [
            StatusCode::NO_CONTENT,
            StatusCode::FOUND,
            StatusCode::NOT_FOUND,
        ] {
            assert!(matches!(strict_verdict(s), Verdict::Reject(_)), "{s}");
        }
    }
}
