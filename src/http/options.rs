//! Header and validation settings shared by the connector and the client.

use super::*;
use http::header::{self, HeaderMap, HeaderValue};
use std::{sync::Arc, time::Duration};

/// Largest probe response body drained to keep a connection reusable.
pub(crate) const PROBE_BODY_LIMIT: usize = 1 << 20;

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

/// Header lines an HTTP/1.1 response may have, from the byte limit: one
/// line per 256 bytes of it beyond the default 64 KiB, and at the default
/// hyper's (and reqwest's) 100 — up to 100 lines hyper parses on the
/// stack, above it it allocates and fills two vectors of that many for
/// every response, so a user who raises the byte limit pays for it and
/// nobody else does.
pub(crate) fn max_header_lines(max_header_size: usize) -> usize {
    100 + max_header_size.saturating_sub(DEFAULT_MAX_HEADER_SIZE) / 256
}

/// Default `max_streams_per_connection`.
pub(crate) const DEFAULT_MAX_STREAMS: usize = 100;

/// Default limit on a response's header section.
pub(crate) const DEFAULT_MAX_HEADER_SIZE: usize = 64 * 1024;

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
        self.apply_defaults_with(&conn.accept_language, headers);
    }

    /// [`apply_defaults`](Self::apply_defaults) with the connection's
    /// `Accept-Language` given.
    pub(crate) fn apply_defaults_with(&self, language: &HeaderValue, headers: &mut HeaderMap) {
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
            headers.insert(header::ACCEPT_LANGUAGE, language.clone());
        }
        if self.decompress && !headers.contains_key(header::ACCEPT_ENCODING) {
            headers.insert(
                header::ACCEPT_ENCODING,
                HeaderValue::from_static(ACCEPT_ENCODING),
            );
        }
    }
}
