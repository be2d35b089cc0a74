//! Validation of new connections: the [`Validate`] rule, its [`Verdict`]
//! and the default [`StatusValidator`].

use crate::{connect::Target, error::Error};
use bytes::Bytes;
use http::{
    header::{HeaderMap, HeaderName, HeaderValue},
    uri::{PathAndQuery, Uri},
    Method, Request, StatusCode,
};

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
