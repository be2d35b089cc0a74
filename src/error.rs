//! The crate's one error type.

use crate::connect::Target;
use std::{
    error::Error as StdError,
    fmt,
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::Duration,
};

/// A boxed error source.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Everything that can go wrong in the pool, with predicates to classify it.
///
/// Each variant names where it happened (the domain, the address, the config
/// key) so that a log line alone tells what failed. New variants may be added
/// in minor releases; match with a wildcard arm or use the `is_*` predicates.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No connection became available within the pool's `wait_timeout`.
    #[error("timed out after {waited:?} waiting for a connection to {domain}")]
    WaitTimeout {
        /// The pool key (domain) that was asked for.
        domain: Arc<str>,
        /// How long the caller waited.
        waited: Duration,
    },

    /// Dialing did not finish within the pool's `connect_timeout`.
    #[error("connecting to {domain} at {addr} timed out after {timeout:?}")]
    ConnectTimeout {
        /// The domain being dialed.
        domain: Arc<str>,
        /// The address being dialed.
        addr: SocketAddr,
        /// The time-out that elapsed.
        timeout: Duration,
    },

    /// The TCP connection was refused (nothing listens at the address).
    #[error("connection to {domain} at {addr} refused")]
    ConnectRefused {
        /// The domain being dialed.
        domain: Arc<str>,
        /// The address that refused.
        addr: SocketAddr,
    },

    /// The TLS handshake did not finish within its time-out.
    #[error("TLS handshake with {domain} at {addr} timed out after {timeout:?}")]
    HandshakeTimeout {
        /// The domain being dialed.
        domain: Arc<str>,
        /// The address being dialed.
        addr: SocketAddr,
        /// The time-out that elapsed.
        timeout: Duration,
    },

    /// The server's certificate was rejected for the domain.
    #[error("certificate of {domain} at {addr} rejected: {reason}")]
    Certificate {
        /// The domain the certificate had to be valid for.
        domain: Arc<str>,
        /// The address that presented it.
        addr: SocketAddr,
        /// Why it was rejected.
        reason: String,
    },

    /// The peer reset or closed the connection during the handshake.
    #[error("connection to {domain} at {addr} reset during the handshake")]
    Reset {
        /// The domain being dialed.
        domain: Arc<str>,
        /// The address that reset.
        addr: SocketAddr,
    },

    /// The TLS handshake failed for another reason (including a peer that
    /// supports none of the profiles tried).
    #[error("TLS handshake with {domain} at {addr} failed (profile {profile}): {source}")]
    Tls {
        /// The domain being dialed.
        domain: Arc<str>,
        /// The address being dialed.
        addr: SocketAddr,
        /// The profile of the last attempt.
        profile: Arc<str>,
        /// rustls's or the socket's error.
        #[source]
        source: BoxError,
    },

    /// The address is blacklisted (or, for a dial, every address of the
    /// domain is).
    #[error("{ip} ({domain}) is blacklisted")]
    Blocked {
        /// The domain being dialed.
        domain: Arc<str>,
        /// The blacklisted IP.
        ip: IpAddr,
    },

    /// The pool was closed: no connection is lent any more.
    #[error("the pool is closed")]
    Closed,

    /// The domain has no address to dial (none was set, or all were removed).
    #[error("no address known for {domain}")]
    NoAddress {
        /// The domain without addresses.
        domain: Arc<str>,
    },

    /// The resolver could not give a domain's addresses.
    #[error("resolving {domain} failed: {source}")]
    Resolve {
        /// The domain looked up.
        domain: Arc<str>,
        /// The resolver's error.
        #[source]
        source: BoxError,
    },

    /// The connector failed to establish a connection.
    #[error("{}", ConnectDisplay(.target.as_ref(), .source))]
    Connect {
        /// Where the pool was dialing, filled in by the pool.
        target: Option<Target>,
        /// What the connector reported.
        #[source]
        source: BoxError,
    },

    /// Bytes given to [`fingerprint::ClientHello::parse`](crate::fingerprint::ClientHello::parse)
    /// are not a ClientHello record.
    #[error("invalid ClientHello: {reason}")]
    InvalidClientHello {
        /// What is wrong with it.
        reason: String,
    },

    /// Bytes given to [`fingerprint::Http2Hello::parse`](crate::fingerprint::Http2Hello::parse)
    /// are not the start of an HTTP/2 client connection.
    #[error("invalid HTTP/2 client start: {reason}")]
    InvalidHttp2Start {
        /// What is wrong with it.
        reason: String,
    },

    /// A validation probe of a new (or, for `get_validated`, reused)
    /// connection got a status that is neither accepted (2xx, 3xx) nor a
    /// block (403). The connection was closed; the IP is not blacklisted.
    #[error("validation of {domain} at {addr} failed: {reason}")]
    Validation {
        /// The domain probed.
        domain: Arc<str>,
        /// The address probed.
        addr: SocketAddr,
        /// The status the probe got, if it got one.
        status: Option<u16>,
        /// What was wrong.
        reason: String,
    },

    /// An HTTP exchange failed: the connection broke, the peer sent
    /// something hyper could not parse (headers over the size limit among
    /// them), or the body could not be decoded.
    #[error("{}", HttpDisplay(.target.as_ref(), .url.as_deref(), .source))]
    Http {
        /// The connection's domain and address, when known.
        target: Option<Target>,
        /// The URL requested, when known.
        url: Option<String>,
        /// hyper's (or the decoder's) error.
        #[source]
        source: BoxError,
    },

    /// A redirect chain the client would not follow to its end: a loop, more
    /// hops than the policy allows, a `Location` that does not parse or
    /// points to a URL it cannot fetch, or the policy's own error.
    #[error("redirect: {reason} (chain: {})", chain.join(" -> "))]
    Redirect {
        /// Why the chain stopped.
        #[source]
        reason: BoxError,
        /// The URLs of the chain, first to last (the one it would have gone
        /// to included), credentials redacted.
        chain: Vec<String>,
    },

    /// A proxy failed to open a tunnel: unreachable, refused, timed out,
    /// credentials rejected, `CONNECT` answered with anything but 2xx, or
    /// garbage. Named by the proxy's name (scheme, user, host, port —
    /// never the password). See [`proxy`](crate::proxy).
    #[error("proxy {proxy}{}: {reason}", .target.as_ref().map(|t| format!(" (to {t})")).unwrap_or_default())]
    Proxy {
        /// The proxy's name.
        proxy: String,
        /// Where the tunnel was to go.
        target: Option<Target>,
        /// Whether the proxy reported the *target* unreachable (then the
        /// target's address is set aside, not the proxy).
        at_target: bool,
        /// What went wrong.
        #[source]
        reason: BoxError,
    },

    /// A [`cookie::Jar`](crate::cookie::Jar) could not be saved or loaded.
    #[error("cookie jar: {reason}")]
    CookieJar {
        /// What went wrong (an I/O error, or input that is not a saved jar).
        #[source]
        reason: BoxError,
    },

    /// A URL the client cannot fetch: not `https`, no host, or unparsable.
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A request did not finish within the client's `timeout`.
    #[error("request to {url} timed out after {timeout:?}")]
    RequestTimeout {
        /// The URL requested.
        url: String,
        /// The limit that ran out.
        timeout: Duration,
    },

    /// A response body (counted in decoded bytes) is larger than the
    /// client's `max_body_size`, or its `Content-Length` says it will be.
    /// The connection is closed.
    #[error("body of {url} is over the limit of {limit} bytes{}", .target.as_ref().map(|t| format!(" ({} at {})", t.domain(), t.addr())).unwrap_or_default())]
    BodyTooLarge {
        /// The URL requested.
        url: String,
        /// The limit, in bytes.
        limit: u64,
        /// The connection's domain and address.
        target: Option<Target>,
    },

    /// The site asked us to slow down (a 429 or 503 with `Retry-After`):
    /// no new connection is dialed to the domain until `until` has passed.
    #[error("{domain} is rate limiting us: no new connection for {retry_after:?}")]
    RateLimited {
        /// The pool key (domain).
        domain: Arc<str>,
        /// How long is left until the domain may be dialed again.
        retry_after: Duration,
    },

    /// A configuration value was rejected.
    #[error("invalid config: {key} = {value}: {reason}")]
    InvalidConfig {
        /// The setting, named as in the builder and the config file.
        key: String,
        /// The offending value, as given.
        value: String,
        /// Why it was rejected.
        reason: String,
    },
}

struct ConnectDisplay<'a>(Option<&'a Target>, &'a BoxError);

impl fmt::Display for ConnectDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(t) => write!(
                f,
                "connecting to {} at {} failed: {}",
                t.domain(),
                t.addr(),
                self.1
            ),
            None => write!(f, "connecting failed: {}", self.1),
        }
    }
}

struct HttpDisplay<'a>(Option<&'a Target>, Option<&'a str>, &'a BoxError);

impl fmt::Display for HttpDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HTTP error")?;
        if let Some(url) = self.1 {
            write!(f, " on {url}")?;
        }
        if let Some(t) = self.0 {
            write!(f, " ({} at {})", t.domain(), t.addr())?;
        }
        write!(f, ": {}", self.2)?;
        // hyper's own message is terse ("message head is too large"); say
        // which way the data went.
        let mut src: Option<&(dyn StdError + 'static)> = self.2.source();
        while let Some(e) = src {
            write!(f, ": {e}")?;
            src = e.source();
        }
        Ok(())
    }
}

impl Error {
    /// An HTTP failure on a connection to `target`.
    #[cfg(not(loom))]
    pub(crate) fn http(
        target: Option<&Target>,
        url: Option<&str>,
        source: impl Into<BoxError>,
    ) -> Error {
        Error::Http {
            target: target.cloned(),
            url: url.map(str::to_owned),
            source: source.into(),
        }
    }

    /// A connector's failure, wrapping any error as its source. The pool adds
    /// the target (domain and address) when the error passes through it.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = hotpool::Error::connect(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
    /// assert!(e.is_connect());
    /// ```
    pub fn connect<E: Into<BoxError>>(source: E) -> Error {
        Error::Connect {
            target: None,
            source: source.into(),
        }
    }

    /// An invalid configuration value.
    pub fn invalid_config(
        key: impl Into<String>,
        value: impl fmt::Display,
        reason: impl Into<String>,
    ) -> Error {
        Error::InvalidConfig {
            key: key.into(),
            value: value.to_string(),
            reason: reason.into(),
        }
    }

    /// Fills in the target of a connect error that has none.
    pub(crate) fn with_target(mut self, t: &Target) -> Error {
        if let Error::Connect { target, .. } = &mut self {
            if target.is_none() {
                *target = Some(t.clone());
            }
        }
        self
    }

    /// Waiting, connecting or handshaking took too long.
    pub fn is_timeout(&self) -> bool {
        self.is_wait_timeout() || self.is_connect_timeout() || self.is_handshake_timeout()
    }

    /// The address is blacklisted.
    pub fn is_blocked(&self) -> bool {
        matches!(self, Error::Blocked { .. })
    }

    /// The TCP connection was refused.
    pub fn is_connect_refused(&self) -> bool {
        matches!(self, Error::ConnectRefused { .. })
    }

    /// The TLS handshake timed out.
    pub fn is_handshake_timeout(&self) -> bool {
        matches!(self, Error::HandshakeTimeout { .. })
    }

    /// The server certificate was rejected.
    pub fn is_certificate(&self) -> bool {
        matches!(self, Error::Certificate { .. })
    }

    /// The peer reset the connection.
    pub fn is_reset(&self) -> bool {
        matches!(self, Error::Reset { .. })
    }

    /// The TLS handshake failed (other than certificate, time-out, reset).
    pub fn is_tls(&self) -> bool {
        matches!(self, Error::Tls { .. })
    }

    /// Waiting for a free connection took longer than `wait_timeout`.
    pub fn is_wait_timeout(&self) -> bool {
        matches!(self, Error::WaitTimeout { .. })
    }

    /// Dialing took longer than `connect_timeout`.
    pub fn is_connect_timeout(&self) -> bool {
        matches!(self, Error::ConnectTimeout { .. })
    }

    /// The pool is closed.
    pub fn is_closed(&self) -> bool {
        matches!(self, Error::Closed)
    }

    /// The domain has no address.
    pub fn is_no_address(&self) -> bool {
        matches!(self, Error::NoAddress { .. })
    }

    /// The connector failed.
    pub fn is_connect(&self) -> bool {
        matches!(self, Error::Connect { .. })
    }

    /// Bytes were not a parsable ClientHello.
    pub fn is_invalid_client_hello(&self) -> bool {
        matches!(self, Error::InvalidClientHello { .. })
    }

    /// Bytes were not a parsable start of an HTTP/2 client connection.
    pub fn is_invalid_http2_start(&self) -> bool {
        matches!(self, Error::InvalidHttp2Start { .. })
    }

    /// A validation probe rejected the connection (not a 403: that is
    /// [`is_blocked`](Error::is_blocked)).
    pub fn is_validation(&self) -> bool {
        matches!(self, Error::Validation { .. })
    }

    /// An HTTP exchange failed.
    pub fn is_http(&self) -> bool {
        matches!(self, Error::Http { .. })
    }

    /// The response's header section was over the client's size limit
    /// (HTTP/1.1).
    pub fn is_headers_too_large(&self) -> bool {
        #[cfg(not(loom))]
        if let Error::Http { source, .. } = self {
            let mut e: Option<&(dyn StdError + 'static)> = Some(&**source);
            while let Some(err) = e {
                // `hyper::Error::is_parse_too_large` exists only with
                // hyper's server feature; its message is the stable part.
                if err.downcast_ref::<hyper::Error>().is_some_and(|h| {
                    h.is_parse() && h.to_string().contains("message head is too large")
                }) {
                    return true;
                }
                e = err.source();
            }
        }
        false
    }

    /// The resolver failed.
    pub fn is_resolve(&self) -> bool {
        matches!(self, Error::Resolve { .. })
    }

    /// A redirect chain stopped: a loop, too many hops, a bad `Location`.
    pub fn is_redirect(&self) -> bool {
        matches!(self, Error::Redirect { .. })
    }

    /// A proxy failed ([`Error::Proxy`]).
    pub fn is_proxy(&self) -> bool {
        matches!(self, Error::Proxy { .. })
    }

    /// A cookie jar could not be saved or loaded ([`Error::CookieJar`]).
    pub fn is_cookie_jar(&self) -> bool {
        matches!(self, Error::CookieJar { .. })
    }

    /// The URL cannot be fetched ([`Error::InvalidUrl`]).
    pub fn is_invalid_url(&self) -> bool {
        matches!(self, Error::InvalidUrl { .. })
    }

    /// The request ran out of time.
    pub fn is_request_timeout(&self) -> bool {
        matches!(self, Error::RequestTimeout { .. })
    }

    /// A response body was larger than `max_body_size`.
    pub fn is_body_too_large(&self) -> bool {
        matches!(self, Error::BodyTooLarge { .. })
    }

    /// The domain asked us to slow down (429/503 with `Retry-After`).
    pub fn is_rate_limited(&self) -> bool {
        matches!(self, Error::RateLimited { .. })
    }

    /// A configuration value was rejected.
    pub fn is_invalid_config(&self) -> bool {
        matches!(self, Error::InvalidConfig { .. })
    }

    /// The address the failure concerns, when there is one.
    pub fn addr(&self) -> Option<SocketAddr> {
        match self {
            Error::ConnectTimeout { addr, .. }
            | Error::ConnectRefused { addr, .. }
            | Error::HandshakeTimeout { addr, .. }
            | Error::Certificate { addr, .. }
            | Error::Reset { addr, .. }
            | Error::Tls { addr, .. }
            | Error::Validation { addr, .. } => Some(*addr),
            Error::Connect {
                target: Some(t), ..
            }
            | Error::Http {
                target: Some(t), ..
            }
            | Error::BodyTooLarge {
                target: Some(t), ..
            } => Some(t.addr()),
            _ => None,
        }
    }

    /// The domain the failure concerns, when there is one.
    pub fn domain(&self) -> Option<&str> {
        match self {
            Error::WaitTimeout { domain, .. }
            | Error::ConnectTimeout { domain, .. }
            | Error::ConnectRefused { domain, .. }
            | Error::HandshakeTimeout { domain, .. }
            | Error::Certificate { domain, .. }
            | Error::Reset { domain, .. }
            | Error::Tls { domain, .. }
            | Error::Blocked { domain, .. }
            | Error::Validation { domain, .. }
            | Error::Resolve { domain, .. }
            | Error::RateLimited { domain, .. }
            | Error::NoAddress { domain } => Some(domain),
            Error::Connect {
                target: Some(t), ..
            }
            | Error::Http {
                target: Some(t), ..
            }
            | Error::BodyTooLarge {
                target: Some(t), ..
            } => Some(t.domain()),
            _ => None,
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn connect_error_names_target() {
        let t = Target::new("example.com".into(), "192.0.2.1:443".parse().unwrap());
        let e = Error::connect(std::io::Error::from(std::io::ErrorKind::ConnectionRefused))
            .with_target(&t);
        let msg = e.to_string();
        assert!(
            msg.contains("example.com") && msg.contains("192.0.2.1:443"),
            "{msg}"
        );
        assert!(e.source().is_some());
        assert_eq!(e.addr(), Some(t.addr()));
        assert_eq!(e.domain(), Some("example.com"));
    }

    #[test]
    fn invalid_config_names_key_and_value() {
        let e = Error::invalid_config("max_conns", 0, "must be at least 1");
        assert!(e.is_invalid_config());
        assert_eq!(
            e.to_string(),
            "invalid config: max_conns = 0: must be at least 1"
        );
    }

    #[test]
    fn error_is_send_sync() {
        fn assert<T: Send + Sync + 'static>() {}
        assert::<Error>();
    }
}
