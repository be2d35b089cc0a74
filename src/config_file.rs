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

use crate::{
    config::Config, error::Error, http_layer::ClientBuilder, profile::Profile, tls::ProfileChoice,
    Client,
};
use rustls_pki_types::{pem::PemObject, CertificateDer};
use std::{net::IpAddr, path::PathBuf, str::FromStr, time::Duration};
use toml::{Table, Value};

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

/// Every setting of a [`Client`], as a TOML file holds them.
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
    "headers",
    "resolver",
];
const VALIDATION_KEYS: &[&str] = &["enabled", "method", "path", "timeout", "rule"];
const DOMAIN_KEYS: &[&str] = &["name", "ips"];

/// One section being read: lookups by key with typed, named errors.
struct Section<'a> {
    name: &'a str,
    table: &'a Table,
}

fn bad(key: &str, value: &Value, reason: impl Into<String>) -> Error {
    Error::invalid_config(key, show(value), reason)
}

/// A value as written in TOML (strings quoted).
fn show(v: &Value) -> String {
    v.to_string()
}

impl<'a> Section<'a> {
    fn new(root: &'a Table, name: &'a str, known: &[&str]) -> Result<Option<Section<'a>>, Error> {
        let Some(v) = root.get(name) else {
            return Ok(None);
        };
        let Value::Table(table) = v else {
            return Err(bad(name, v, "must be a table ([section])"));
        };
        let s = Section { name, table };
        s.check_keys(known)?;
        Ok(Some(s))
    }

    fn check_keys(&self, known: &[&str]) -> Result<(), Error> {
        for (k, v) in self.table {
            if !known.contains(&k.as_str()) {
                return Err(bad(
                    &self.key(k),
                    v,
                    format!("unknown key; known keys: {}", known.join(", ")),
                ));
            }
        }
        Ok(())
    }

    fn key(&self, k: &str) -> String {
        format!("{}.{}", self.name, k)
    }

    fn get(&self, k: &str) -> Option<&'a Value> {
        self.table.get(k)
    }

    fn usize(&self, k: &str, out: &mut usize) -> Result<(), Error> {
        if let Some(v) = self.get(k) {
            *out = match v {
                Value::Integer(i) => usize::try_from(*i)
                    .map_err(|_| bad(&self.key(k), v, "must be a non-negative integer"))?,
                _ => return Err(bad(&self.key(k), v, "must be a non-negative integer")),
            };
        }
        Ok(())
    }

    fn int<T: TryFrom<i64>>(&self, k: &str, out: &mut T, what: &str) -> Result<(), Error> {
        if let Some(v) = self.get(k) {
            *out = match v {
                Value::Integer(i) => {
                    T::try_from(*i).map_err(|_| bad(&self.key(k), v, format!("must be {what}")))?
                }
                _ => return Err(bad(&self.key(k), v, format!("must be {what}"))),
            };
        }
        Ok(())
    }

    fn float(&self, k: &str, out: &mut f64) -> Result<(), Error> {
        if let Some(v) = self.get(k) {
            *out = match v {
                Value::Float(f) => *f,
                Value::Integer(i) => *i as f64,
                _ => return Err(bad(&self.key(k), v, "must be a number")),
            };
        }
        Ok(())
    }

    fn bool(&self, k: &str, out: &mut bool) -> Result<(), Error> {
        if let Some(v) = self.get(k) {
            *out = v
                .as_bool()
                .ok_or_else(|| bad(&self.key(k), v, "must be true or false"))?;
        }
        Ok(())
    }

    fn string(&self, k: &str, out: &mut String) -> Result<(), Error> {
        if let Some(v) = self.get(k) {
            *out = v
                .as_str()
                .ok_or_else(|| bad(&self.key(k), v, "must be a string"))?
                .to_owned();
        }
        Ok(())
    }

    fn duration(&self, k: &str, out: &mut Duration) -> Result<(), Error> {
        if let Some(v) = self.get(k) {
            let s = v.as_str().ok_or_else(|| {
                bad(
                    &self.key(k),
                    v,
                    "must be a duration string such as \"30s\" or \"15m\"",
                )
            })?;
            *out = humantime::parse_duration(s)
                .map_err(|e| bad(&self.key(k), v, format!("not a duration: {e}")))?;
        }
        Ok(())
    }

    fn strings(&self, k: &str, out: &mut Vec<String>) -> Result<(), Error> {
        if let Some(v) = self.get(k) {
            let arr = v
                .as_array()
                .ok_or_else(|| bad(&self.key(k), v, "must be an array of strings"))?;
            let mut list = Vec::with_capacity(arr.len());
            for item in arr {
                list.push(
                    item.as_str()
                        .ok_or_else(|| bad(&self.key(k), item, "must be an array of strings"))?
                        .to_owned(),
                );
            }
            *out = list;
        }
        Ok(())
    }

    fn ips(&self, k: &str, out: &mut Vec<IpAddr>) -> Result<(), Error> {
        let mut raw = Vec::new();
        if self.get(k).is_none() {
            return Ok(());
        }
        self.strings(k, &mut raw)?;
        let mut ips = Vec::with_capacity(raw.len());
        for s in raw {
            ips.push(IpAddr::from_str(s.trim()).map_err(|_| {
                Error::invalid_config(self.key(k), format!("{s:?}"), "not an IP address")
            })?);
        }
        *out = ips;
        Ok(())
    }
}

/// Renames a [`Config::validate`] key to its place in the file.
fn file_key(key: &str) -> String {
    match key {
        "blacklist_ttl" => "blacklist.ttl".into(),
        "allow_ips" => "blacklist.allow".into(),
        "deny_ips" | "deny_ranges" => "blacklist.deny".into(),
        "block_ip_after_domains" => "blacklist.block_ip_after_domains".into(),
        k => format!("pool.{k}"),
    }
}

fn dur(d: Duration) -> Value {
    Value::String(humantime::format_duration(d).to_string())
}

fn strs<I: IntoIterator<Item = S>, S: ToString>(items: I) -> Value {
    Value::Array(
        items
            .into_iter()
            .map(|s| Value::String(s.to_string()))
            .collect(),
    )
}

impl ClientConfig {
    /// Reads settings from TOML text.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] naming the key (`section.key`) and the value
    /// for an unknown key or section, a wrong type, or an invalid value
    /// (zero capacity, zero interval, a malformed IP, an unknown profile…);
    /// for text that is not TOML, the key is `toml` and the reason is the
    /// parser's message with the line.
    pub fn from_toml(text: &str) -> Result<ClientConfig, Error> {
        let root: Table = text.parse().map_err(|e: toml::de::Error| {
            Error::invalid_config("toml", "(file)", e.to_string().trim_end().to_owned())
        })?;
        const SECTIONS: &[&str] = &["pool", "blacklist", "tls", "http", "validation", "domain"];
        for (k, v) in &root {
            if !SECTIONS.contains(&k.as_str()) {
                return Err(bad(
                    k,
                    v,
                    format!("unknown section; known sections: {}", SECTIONS.join(", ")),
                ));
            }
        }
        let mut c = ClientConfig::default();
        if let Some(s) = Section::new(&root, "pool", POOL_KEYS)? {
            let p = &mut c.pool;
            s.usize("max_conns", &mut p.max_conns)?;
            s.usize("max_conns_per_domain", &mut p.max_conns_per_domain)?;
            s.duration("wait_timeout", &mut p.wait_timeout)?;
            s.duration("connect_timeout", &mut p.connect_timeout)?;
            s.duration("idle_timeout", &mut p.idle_timeout)?;
            s.duration("max_lifetime", &mut p.max_lifetime)?;
            s.int("max_errors", &mut p.max_errors, "an integer from 0 to 255")?;
            s.int("default_port", &mut p.default_port, "a port number")?;
            s.duration("health_check_interval", &mut p.health_check_interval)?;
            s.usize("min_idle_per_domain", &mut p.min_idle_per_domain)?;
            s.usize("max_concurrent_dials", &mut p.max_concurrent_dials)?;
            s.usize("probe_concurrency", &mut p.probe_concurrency)?;
            s.duration("dns_refresh_interval", &mut p.dns_refresh_interval)?;
            s.float("min_success_rate", &mut p.min_success_rate)?;
            s.duration("probe_timeout", &mut p.probe_timeout)?;
            s.duration("negative_dns_ttl", &mut p.negative_dns_ttl)?;
            s.bool("allow_private_addresses", &mut p.allow_private_addresses)?;
        }
        if let Some(s) = Section::new(&root, "blacklist", BLACKLIST_KEYS)? {
            s.duration("ttl", &mut c.pool.blacklist_ttl)?;
            s.ips("allow", &mut c.pool.allow_ips)?;
            if let Some(v) = s.get("deny") {
                let mut raw = Vec::new();
                s.strings("deny", &mut raw)?;
                let (mut ips, mut ranges) = (Vec::new(), Vec::new());
                for item in raw {
                    let t = item.trim();
                    if let Ok(ip) = IpAddr::from_str(t) {
                        ips.push(ip);
                    } else if let Ok(net) = t.parse::<ipnet::IpNet>() {
                        ranges.push(net);
                    } else {
                        return Err(bad(
                            "blacklist.deny",
                            v,
                            format!("{item:?} is not an IP address or a CIDR range"),
                        ));
                    }
                }
                c.pool.deny_ips = ips;
                c.pool.deny_ranges = ranges;
            }
            s.usize("block_ip_after_domains", &mut c.pool.block_ip_after_domains)?;
        }
        if let Some(s) = Section::new(&root, "tls", TLS_KEYS)? {
            let t = &mut c.tls;
            s.strings("profiles", &mut t.profiles)?;
            s.string("profile_choice", &mut t.profile_choice)?;
            s.duration("connect_timeout", &mut t.connect_timeout)?;
            s.duration("handshake_timeout", &mut t.handshake_timeout)?;
            s.int("max_retries", &mut t.max_retries, "a non-negative integer")?;
            s.ips("local_addresses", &mut t.local_addresses)?;
            let mut roots = Vec::new();
            s.strings("root_certificates", &mut roots)?;
            t.root_certificates = roots.into_iter().map(PathBuf::from).collect();
            s.bool(
                "dangerous_accept_invalid_certificates",
                &mut t.dangerous_accept_invalid_certificates,
            )?;
        }
        if let Some(s) = Section::new(&root, "http", HTTP_KEYS)? {
            let h = &mut c.http;
            s.string("user_agent", &mut h.user_agent)?;
            s.string("accept", &mut h.accept)?;
            s.strings("accept_languages", &mut h.accept_languages)?;
            s.bool("decompress", &mut h.decompress)?;
            s.duration("timeout", &mut h.timeout)?;
            if let Some(v) = s.get("max_body_size") {
                h.max_body_size = match v {
                    Value::Integer(i) if *i > 0 => Some(*i as u64),
                    Value::String(n) if n == "none" => None,
                    _ => {
                        return Err(bad(
                            "http.max_body_size",
                            v,
                            "must be a positive number of bytes or \"none\"",
                        ))
                    }
                };
            }
            s.usize("max_response_header_size", &mut h.max_response_header_size)?;
            s.string("resolver", &mut h.resolver)?;
            if let Some(v) = s.get("headers") {
                let t = v
                    .as_table()
                    .ok_or_else(|| bad("http.headers", v, "must be a table of name = \"value\""))?;
                h.headers.clear();
                for (name, value) in t {
                    let value = value.as_str().ok_or_else(|| {
                        bad(&format!("http.headers.{name}"), value, "must be a string")
                    })?;
                    h.headers.push((name.clone(), value.to_owned()));
                }
            }
        }
        if let Some(s) = Section::new(&root, "validation", VALIDATION_KEYS)? {
            let v = &mut c.validation;
            s.bool("enabled", &mut v.enabled)?;
            s.string("method", &mut v.method)?;
            s.string("path", &mut v.path)?;
            s.duration("timeout", &mut v.timeout)?;
            s.string("rule", &mut v.rule)?;
            if !matches!(v.rule.as_str(), "default" | "strict") {
                return Err(bad(
                    "validation.rule",
                    &Value::String(v.rule.clone()),
                    "must be \"default\" or \"strict\"",
                ));
            }
        }
        if let Some(v) = root.get("domain") {
            let arr = v
                .as_array()
                .ok_or_else(|| bad("domain", v, "must be an array of tables ([[domain]])"))?;
            for (i, entry) in arr.iter().enumerate() {
                let name = format!("domain[{i}]");
                let table = entry
                    .as_table()
                    .ok_or_else(|| bad(&name, entry, "must be a table"))?;
                let s = Section { name: &name, table };
                s.check_keys(DOMAIN_KEYS)?;
                let mut d = DomainEntry::new(String::new(), Vec::new());
                s.string("name", &mut d.name)?;
                if d.name.is_empty() {
                    return Err(Error::invalid_config(
                        format!("{name}.name"),
                        format!("{:?}", d.name),
                        "every [[domain]] needs a name",
                    ));
                }
                s.ips("ips", &mut d.ips)?;
                c.domains.push(d);
            }
        }
        c.validate()?;
        Ok(c)
    }

    /// Reads settings from a TOML file.
    ///
    /// # Errors
    ///
    /// As [`from_toml`](ClientConfig::from_toml), and
    /// [`Error::InvalidConfig`] with key `file` if it cannot be read.
    pub fn load(path: impl AsRef<std::path::Path>) -> Result<ClientConfig, Error> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::invalid_config("file", path.display(), e.to_string()))?;
        ClientConfig::from_toml(&text)
    }

    /// Checks every value, naming keys as the file does.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] naming the first bad key.
    pub fn validate(&self) -> Result<(), Error> {
        self.pool.validate().map_err(|e| match e {
            Error::InvalidConfig { key, value, reason } => Error::InvalidConfig {
                key: file_key(&key),
                value,
                reason,
            },
            e => e,
        })?;
        let t = &self.tls;
        let zero = |key: &str, d: Duration| {
            if d.is_zero() {
                Err(Error::invalid_config(
                    key,
                    "\"0s\"",
                    "must be longer than zero",
                ))
            } else {
                Ok(())
            }
        };
        zero("tls.connect_timeout", t.connect_timeout)?;
        zero("tls.handshake_timeout", t.handshake_timeout)?;
        zero("http.timeout", self.http.timeout)?;
        zero("validation.timeout", self.validation.timeout)?;
        let builtin = Profile::builtin();
        let names: Vec<&str> = builtin.iter().map(|p| p.name()).collect();
        for p in &t.profiles {
            if !names.contains(&p.as_str()) {
                return Err(Error::invalid_config(
                    "tls.profiles",
                    format!("{p:?}"),
                    format!("unknown profile; built-in profiles: {}", names.join(", ")),
                ));
            }
        }
        let choice = t.profile_choice.as_str();
        if choice != "random" && choice != "round-robin" {
            let usable = if t.profiles.is_empty() {
                names.contains(&choice)
            } else {
                t.profiles.iter().any(|p| p == choice)
            };
            if !usable {
                return Err(Error::invalid_config(
                    "tls.profile_choice",
                    format!("{choice:?}"),
                    "must be \"random\", \"round-robin\" or the name of a listed profile",
                ));
            }
        }
        if self.http.resolver != "system" && self.http.resolver != "none" {
            return Err(Error::invalid_config(
                "http.resolver",
                format!("{:?}", self.http.resolver),
                "must be \"system\" or \"none\"",
            ));
        }
        if http::Method::from_bytes(self.validation.method.as_bytes()).is_err() {
            return Err(Error::invalid_config(
                "validation.method",
                format!("{:?}", self.validation.method),
                "not an HTTP method",
            ));
        }
        if !self.validation.path.starts_with('/') {
            return Err(Error::invalid_config(
                "validation.path",
                format!("{:?}", self.validation.path),
                "must start with '/'",
            ));
        }
        for d in &self.domains {
            if d.ips.is_empty() {
                return Err(Error::invalid_config(
                    format!("domain.{}.ips", d.name),
                    "[]",
                    "needs at least one address",
                ));
            }
        }
        Ok(())
    }

    /// Writes the settings as TOML that [`from_toml`](ClientConfig::from_toml)
    /// reads back to an equal config.
    pub fn to_toml(&self) -> String {
        let p = &self.pool;
        let mut pool = Table::new();
        pool.insert("max_conns".into(), Value::Integer(p.max_conns as i64));
        pool.insert(
            "max_conns_per_domain".into(),
            Value::Integer(p.max_conns_per_domain as i64),
        );
        pool.insert("wait_timeout".into(), dur(p.wait_timeout));
        pool.insert("connect_timeout".into(), dur(p.connect_timeout));
        pool.insert("idle_timeout".into(), dur(p.idle_timeout));
        pool.insert("max_lifetime".into(), dur(p.max_lifetime));
        pool.insert("max_errors".into(), Value::Integer(i64::from(p.max_errors)));
        pool.insert(
            "default_port".into(),
            Value::Integer(i64::from(p.default_port)),
        );
        pool.insert("health_check_interval".into(), dur(p.health_check_interval));
        pool.insert(
            "min_idle_per_domain".into(),
            Value::Integer(p.min_idle_per_domain as i64),
        );
        pool.insert(
            "max_concurrent_dials".into(),
            Value::Integer(p.max_concurrent_dials as i64),
        );
        pool.insert(
            "probe_concurrency".into(),
            Value::Integer(p.probe_concurrency as i64),
        );
        pool.insert("dns_refresh_interval".into(), dur(p.dns_refresh_interval));
        pool.insert("min_success_rate".into(), Value::Float(p.min_success_rate));
        pool.insert("probe_timeout".into(), dur(p.probe_timeout));
        pool.insert("negative_dns_ttl".into(), dur(p.negative_dns_ttl));
        pool.insert(
            "allow_private_addresses".into(),
            Value::Boolean(p.allow_private_addresses),
        );
        let mut blacklist = Table::new();
        blacklist.insert("ttl".into(), dur(p.blacklist_ttl));
        blacklist.insert("allow".into(), strs(&p.allow_ips));
        blacklist.insert(
            "deny".into(),
            strs(
                p.deny_ips
                    .iter()
                    .map(ToString::to_string)
                    .chain(p.deny_ranges.iter().map(ToString::to_string)),
            ),
        );
        blacklist.insert(
            "block_ip_after_domains".into(),
            Value::Integer(p.block_ip_after_domains as i64),
        );
        let t = &self.tls;
        let mut tls = Table::new();
        tls.insert("profiles".into(), strs(&t.profiles));
        tls.insert(
            "profile_choice".into(),
            Value::String(t.profile_choice.clone()),
        );
        tls.insert("connect_timeout".into(), dur(t.connect_timeout));
        tls.insert("handshake_timeout".into(), dur(t.handshake_timeout));
        tls.insert(
            "max_retries".into(),
            Value::Integer(i64::from(t.max_retries)),
        );
        tls.insert("local_addresses".into(), strs(&t.local_addresses));
        tls.insert(
            "root_certificates".into(),
            strs(t.root_certificates.iter().map(|p| p.display())),
        );
        tls.insert(
            "dangerous_accept_invalid_certificates".into(),
            Value::Boolean(t.dangerous_accept_invalid_certificates),
        );
        let h = &self.http;
        let mut http = Table::new();
        http.insert("user_agent".into(), Value::String(h.user_agent.clone()));
        http.insert("accept".into(), Value::String(h.accept.clone()));
        http.insert("accept_languages".into(), strs(&h.accept_languages));
        http.insert("decompress".into(), Value::Boolean(h.decompress));
        http.insert("timeout".into(), dur(h.timeout));
        http.insert(
            "max_body_size".into(),
            match h.max_body_size {
                Some(n) => Value::Integer(i64::try_from(n).unwrap_or(i64::MAX)),
                None => Value::String("none".into()),
            },
        );
        http.insert(
            "max_response_header_size".into(),
            Value::Integer(h.max_response_header_size as i64),
        );
        http.insert("resolver".into(), Value::String(h.resolver.clone()));
        let mut headers = Table::new();
        for (k, v) in &h.headers {
            headers.insert(k.clone(), Value::String(v.clone()));
        }
        http.insert("headers".into(), Value::Table(headers));
        let v = &self.validation;
        let mut validation = Table::new();
        validation.insert("enabled".into(), Value::Boolean(v.enabled));
        validation.insert("method".into(), Value::String(v.method.clone()));
        validation.insert("path".into(), Value::String(v.path.clone()));
        validation.insert("timeout".into(), dur(v.timeout));
        validation.insert("rule".into(), Value::String(v.rule.clone()));
        let mut root = Table::new();
        root.insert("pool".into(), Value::Table(pool));
        root.insert("blacklist".into(), Value::Table(blacklist));
        root.insert("tls".into(), Value::Table(tls));
        root.insert("http".into(), Value::Table(http));
        root.insert("validation".into(), Value::Table(validation));
        if !self.domains.is_empty() {
            let list = self
                .domains
                .iter()
                .map(|d| {
                    let mut t = Table::new();
                    t.insert("name".into(), Value::String(d.name.clone()));
                    t.insert("ips".into(), strs(&d.ips));
                    Value::Table(t)
                })
                .collect();
            root.insert("domain".into(), Value::Array(list));
        }
        root.to_string()
    }

    /// A [`ClientBuilder`] with every setting of this config (reading the
    /// root certificate files). Add what a file cannot hold (a custom
    /// validator or resolver, a clock) and build; the `[[domain]]`
    /// addresses are set by [`build`](ClientConfig::build).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] naming `tls.root_certificates` if a file
    /// cannot be read or holds no certificate.
    pub fn builder(&self) -> Result<ClientBuilder, Error> {
        self.validate()?;
        let t = &self.tls;
        let mut tls = crate::TlsConnector::builder()
            .connect_timeout(t.connect_timeout)
            .handshake_timeout(t.handshake_timeout)
            .max_retries(t.max_retries)
            .local_addresses(t.local_addresses.iter().copied());
        if !t.profiles.is_empty() {
            tls = tls.profiles(
                Profile::builtin()
                    .into_iter()
                    .filter(|p| t.profiles.iter().any(|n| n == p.name()))
                    .collect(),
            );
        }
        tls = tls.profile_choice(match t.profile_choice.as_str() {
            "random" => ProfileChoice::Random,
            "round-robin" => ProfileChoice::RoundRobin,
            name => ProfileChoice::Fixed(name.to_owned()),
        });
        for path in &t.root_certificates {
            let key = "tls.root_certificates";
            let pem = std::fs::read(path)
                .map_err(|e| Error::invalid_config(key, path.display(), e.to_string()))?;
            let mut found = false;
            for der in CertificateDer::pem_slice_iter(&pem) {
                let der = der.map_err(|e| {
                    Error::invalid_config(key, path.display(), format!("bad PEM: {e}"))
                })?;
                tls = tls.add_root_certificate(der)?;
                found = true;
            }
            if !found {
                return Err(Error::invalid_config(
                    key,
                    path.display(),
                    "holds no certificate",
                ));
            }
        }
        if t.dangerous_accept_invalid_certificates {
            tls = tls.dangerous_accept_invalid_certificates();
        }
        let h = &self.http;
        let mut b = Client::builder()
            .config(self.pool.clone())
            .tls(tls)
            .user_agent(&h.user_agent)
            .accept(&h.accept)
            .accept_languages(&h.accept_languages)
            .decompress(h.decompress)
            .timeout(h.timeout)
            .max_body_size(h.max_body_size)
            .max_response_header_size(h.max_response_header_size)
            .validation_timeout(self.validation.timeout);
        for (k, v) in &h.headers {
            b = b.default_header(k, v);
        }
        if h.resolver == "none" {
            b = b.no_resolver();
        }
        let v = &self.validation;
        b = if v.enabled {
            let method = http::Method::from_bytes(v.method.as_bytes()).map_err(|_| {
                Error::invalid_config("validation.method", &v.method, "not a method")
            })?;
            let b = b.validation_request(method, &v.path);
            if v.rule == "strict" {
                b.strict_validation()
            } else {
                b
            }
        } else {
            b.no_validation()
        };
        Ok(b)
    }

    /// Builds the client and sets the `[[domain]]` addresses.
    ///
    /// # Errors
    ///
    /// As [`builder`](ClientConfig::builder) and
    /// [`ClientBuilder::build`].
    pub fn build(&self) -> Result<Client, Error> {
        let client = self.builder()?.build()?;
        for d in &self.domains {
            client.set_ips(&d.name, d.ips.iter().copied());
        }
        Ok(client)
    }
}
