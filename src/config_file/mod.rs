//! Settings from a TOML file: [`ClientConfig`].
//!
//! The file has the sections `[pool]`, `[blacklist]`, `[tls]`, `[http]`,
//! `[validation]` and any number of `[[domain]]` entries; every key is
//! optional and defaults as in the builders. `hotpool.example.toml` at the
//! root of the repository lists every key with its default.
//!
//! The file is walked key by key rather than handed to a derived
//! deserializer, so that every rejection — an unknown key, a wrong type, an
//! invalid value — is an [`Error::InvalidConfig`] naming the key as
//! `section.key` and the value as written.
//!
//! One concept per file: [`section`] (walking a table key by key),
//! [`read`] (TOML to settings), [`check`] (validation), [`write`]
//! (settings to TOML), [`build`] (settings to a client).

use crate::config::Config;
use std::{net::IpAddr, path::PathBuf, time::Duration};

mod build;
mod check;
mod read;
mod section;
mod write;

use section::{bad, dur, file_key, strs, Section};

/// TLS settings of a [`ClientConfig`] (`[tls]`).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct TlsSettings {
    /// Names of the built-in profiles to use; empty: all of them.
    pub profiles: Vec<String>,
    /// `"random"`, `"round-robin"` or the name of one profile.
    pub profile_choice: String,
    /// Limit on the TCP connect.
    pub connect_timeout: Duration,
    /// Limit on one TLS handshake.
    pub handshake_timeout: Duration,
    /// New handshakes with the next profile after an unsupported one.
    pub max_retries: u32,
    /// Local addresses to dial from, in turn.
    pub local_addresses: Vec<IpAddr>,
    /// PEM files of extra root certificates.
    pub root_certificates: Vec<PathBuf>,
    /// Skip certificate verification (dangerous).
    pub dangerous_accept_invalid_certificates: bool,
}

impl Default for TlsSettings {
    fn default() -> Self {
        TlsSettings {
            profiles: Vec::new(),
            profile_choice: "round-robin".into(),
            connect_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
            max_retries: 3,
            local_addresses: Vec::new(),
            root_certificates: Vec::new(),
            dangerous_accept_invalid_certificates: false,
        }
    }
}

/// HTTP settings of a [`ClientConfig`] (`[http]`).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct HttpSettings {
    /// The `User-Agent` header.
    pub user_agent: String,
    /// The `Accept` header.
    pub accept: String,
    /// Tags `Accept-Language` is drawn from.
    pub accept_languages: Vec<String>,
    /// Ask for and decode compressed bodies.
    pub decompress: bool,
    /// Limit on a whole request.
    pub timeout: Duration,
    /// Limit on a response body in decoded bytes (`None`: no limit;
    /// `max_body_size = "none"` in the file).
    pub max_body_size: Option<u64>,
    /// Limit on a response's header section, in bytes.
    pub max_response_header_size: usize,
    /// Streams one HTTP/2 connection carries at once (1: HTTP/2 lent
    /// exclusively).
    pub max_streams_per_connection: usize,
    /// Redirects followed in a chain (0: none, returned as responses).
    pub max_redirects: usize,
    /// Whether the client keeps a cookie jar for its requests.
    pub cookies: bool,
    /// Proxy URLs new connections go through (`http://`, `socks5://`,
    /// `socks5h://`, with optional `user:password@`).
    pub proxies: Vec<String>,
    /// `"round-robin"` or `"random"`: how a proxy is chosen per new
    /// connection.
    pub proxy_choice: String,
    /// Extra headers sent with every request (name → value).
    pub headers: Vec<(String, String)>,
    /// `"system"` (look up domains without addresses) or `"none"`.
    pub resolver: String,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            user_agent: crate::http_layer::DEFAULT_USER_AGENT.into(),
            accept: crate::http_layer::DEFAULT_ACCEPT.into(),
            accept_languages: crate::http_layer::DEFAULT_LANGUAGES
                .iter()
                .map(|s| s.to_string())
                .collect(),
            decompress: true,
            timeout: Duration::from_secs(30),
            max_body_size: Some(crate::http_layer::DEFAULT_MAX_BODY_SIZE),
            max_response_header_size: crate::http_layer::DEFAULT_MAX_HEADER_SIZE,
            max_streams_per_connection: crate::http_layer::DEFAULT_MAX_STREAMS,
            max_redirects: crate::http_layer::DEFAULT_MAX_REDIRECTS,
            cookies: false,
            proxies: Vec::new(),
            proxy_choice: "round-robin".into(),
            headers: Vec::new(),
            resolver: "system".into(),
        }
    }
}

/// Validation settings of a [`ClientConfig`] (`[validation]`).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ValidationSettings {
    /// Validate each new connection before its first use.
    pub enabled: bool,
    /// The probe's method.
    pub method: String,
    /// The probe's path.
    pub path: String,
    /// Limit on one probe.
    pub timeout: Duration,
    /// How the probe's answer is judged: `"default"`
    /// ([`default_verdict`](crate::default_verdict)) or `"strict"` (the
    /// seed's rule, [`strict_verdict`](crate::strict_verdict)).
    pub rule: String,
}

impl Default for ValidationSettings {
    fn default() -> Self {
        ValidationSettings {
            enabled: true,
            method: "HEAD".into(),
            path: "/".into(),
            timeout: Duration::from_secs(10),
            rule: "default".into(),
        }
    }
}

/// A `[[domain]]` entry: fixed addresses for a pool key.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DomainEntry {
    /// The pool key: a host, or `host:port`.
    pub name: String,
    /// Its addresses.
    pub ips: Vec<IpAddr>,
}

impl DomainEntry {
    /// An entry for `name` at `ips`.
    pub fn new(name: impl Into<String>, ips: Vec<IpAddr>) -> DomainEntry {
        DomainEntry {
            name: name.into(),
            ips,
        }
    }
}

/// Every setting of a [`Client`](crate::Client), as a TOML file holds them.
///
/// # Examples
///
/// ```
/// let cfg = hotpool::ClientConfig::from_toml(r#"
///     [pool]
///     max_conns_per_domain = 4
///     idle_timeout = "90s"
///
///     [[domain]]
///     name = "example.com"
///     ips = ["192.0.2.1", "192.0.2.2"]
/// "#)?;
/// assert_eq!(cfg.pool.max_conns_per_domain, 4);
/// assert_eq!(cfg.domains[0].ips.len(), 2);
///
/// let e = hotpool::ClientConfig::from_toml("[pool]\nmax_conns = 0").unwrap_err();
/// assert!(e.to_string().contains("pool.max_conns"));
/// # Ok::<(), hotpool::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct ClientConfig {
    /// `[pool]` and `[blacklist]`.
    pub pool: Config,
    /// `[tls]`.
    pub tls: TlsSettings,
    /// `[http]`.
    pub http: HttpSettings,
    /// `[validation]`.
    pub validation: ValidationSettings,
    /// `[[domain]]`.
    pub domains: Vec<DomainEntry>,
}

const POOL_KEYS: &[&str] = &[
    "max_conns",
    "max_conns_per_domain",
    "wait_timeout",
    "connect_timeout",
    "idle_timeout",
    "max_lifetime",
    "max_errors",
    "default_port",
    "health_check_interval",
    "min_idle_per_domain",
    "max_concurrent_dials",
    "probe_concurrency",
    "dns_refresh_interval",
    "min_success_rate",
    "probe_timeout",
    "negative_dns_ttl",
    "allow_private_addresses",
    "wake",
    "address_choice",
];
const BLACKLIST_KEYS: &[&str] = &["ttl", "allow", "deny", "block_ip_after_domains"];
const TLS_KEYS: &[&str] = &[
    "profiles",
    "profile_choice",
    "connect_timeout",
    "handshake_timeout",
    "max_retries",
    "local_addresses",
    "root_certificates",
    "dangerous_accept_invalid_certificates",
];
const HTTP_KEYS: &[&str] = &[
    "user_agent",
    "accept",
    "accept_languages",
    "decompress",
    "timeout",
    "max_body_size",
    "max_response_header_size",
    "max_streams_per_connection",
    "max_redirects",
    "cookies",
    "proxies",
    "proxy_choice",
    "headers",
    "resolver",
];
const VALIDATION_KEYS: &[&str] = &["enabled", "method", "path", "timeout", "rule"];
const DOMAIN_KEYS: &[&str] = &["name", "ips"];
