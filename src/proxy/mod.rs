//! Proxies: HTTP `CONNECT` and SOCKS5 tunnels under the TLS handshake.
//!
//! # Where a proxy sits
//!
//! A proxy is a hop *below* TLS: the connector dials the proxy, asks it for
//! a tunnel to the target, and runs the profile's TLS handshake through the
//! tunnel byte for byte, so the site sees the same ClientHello (and JA4) as
//! on a direct dial, and certificate verification is end to end.
//!
//! - **HTTP `CONNECT`** (`http://[user:password@]host:port`): a `CONNECT
//!   target HTTP/1.1` request, with `Proxy-Authorization: Basic` when the
//!   URL has credentials; any 2xx opens the tunnel (RFC 9110 §9.3.6).
//! - **SOCKS5** (`socks5://…`, RFC 1928, with RFC 1929 user/password when
//!   the URL has credentials), through the `tokio-socks` crate.
//!
//! The target sent to the proxy is the IP address the pool chose for the
//! domain, so dialing stays IP-direct (blacklists, address choice and
//! set-aside all keep working). With
//! [`resolve_at_proxy`](Proxy::resolve_at_proxy) — what `socks5h://` means
//! — the host name is sent instead and the proxy resolves it; the pool
//! still needs the domain's addresses for its bookkeeping, so set them with
//! `set_ips` if local look-ups must not happen.
//!
//! # Choosing a proxy
//!
//! With a list of proxies ([`ClientBuilder::proxy`](crate::ClientBuilder::proxy),
//! TOML `http.proxies`), each *new connection* goes through the next proxy
//! ([`ProxyChoice::RoundRobin`], the default) or a random one; connections
//! are reused whichever proxy carries them. A [`Session`](crate::Session)
//! pinned to a proxy ([`Session::proxy`](crate::Session::proxy)) puts the
//! proxy in its pool key (`example.com#socks5://p.test:1080`, see
//! [`Target::route`](crate::Target::route)): its connections are a domain
//! of their own, never lent to a request through another proxy.
//!
//! A proxy that fails — refused, unreachable, timed out, wrong credentials,
//! a `CONNECT` answered with anything but 2xx, garbage — is an
//! [`Error::Proxy`] (`is_proxy()`) naming the proxy (its user, never its
//! password) and the target, and is skipped for new connections for a
//! while: 5 s, doubling while it keeps failing, up to 5 min; the client
//! sends the request through another proxy of the list. A proxy that
//! reports the *target* unreachable (SOCKS5 "host unreachable" or
//! "connection refused", `CONNECT` answered 502 or 504) is not its fault:
//! the target address is set aside instead, as for a direct dial.

mod tunnel;

pub(crate) use tunnel::open;

use crate::error::Error;
use std::{
    fmt,
    net::IpAddr,
    str::FromStr,
    sync::{
        atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering::Relaxed},
        Arc, RwLock,
    },
    time::{Duration, Instant},
};

/// The kind of tunnel a proxy offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProxyKind {
    /// An HTTP proxy, asked with `CONNECT`.
    Http,
    /// A SOCKS5 proxy.
    Socks5,
}

/// A proxy: kind, address, optional credentials.
///
/// Parsed from a URL: `http://[user:password@]host[:port]` (port 80 by
/// default) for HTTP `CONNECT`, `socks5://…` (port 1080 by default) for
/// SOCKS5, `socks5h://…` for SOCKS5 with the proxy resolving the host name.
/// User and password are percent-decoded. Its [`name`](Proxy::name) —
/// scheme, user, host and port — names it in keys, errors, logs and stats;
/// the password appears nowhere.
///
/// # Examples
///
/// ```
/// use hotpool::proxy::{Proxy, ProxyKind};
/// let p: Proxy = "socks5h://crawler:s3cret@10.0.0.7:1080".parse().unwrap();
/// assert_eq!(p.kind(), ProxyKind::Socks5);
/// assert!(p.resolves_at_proxy());
/// assert_eq!(p.name(), "socks5h://crawler@10.0.0.7:1080");
/// assert!(!format!("{p:?}").contains("s3cret"));
/// let err = "ftp://10.0.0.7".parse::<Proxy>().unwrap_err();
/// assert!(err.is_invalid_config());
/// ```
#[derive(Clone)]
pub struct Proxy {
    kind: ProxyKind,
    host: String,
    port: u16,
    user: Option<String>,
    password: Option<String>,
    remote_dns: bool,
    name: Arc<str>,
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Proxy({})", self.name)
    }
}

impl fmt::Display for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl FromStr for Proxy {
    type Err = Error;

    fn from_str(s: &str) -> Result<Proxy, Error> {
        Proxy::parse(s)
    }
}

impl Proxy {
    /// A proxy from its URL (see the type's docs).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] (key `proxy`, the URL shown without its
    /// password) for a URL that does not parse, another scheme, or no host.
    pub fn parse(url: &str) -> Result<Proxy, Error> {
        let shown = redact(url);
        let bad = |reason: &str| Error::invalid_config("proxy", &shown, reason);
        let u = url::Url::parse(url.trim()).map_err(|e| bad(&e.to_string()))?;
        let (kind, remote_dns, default_port) = match u.scheme() {
            "http" => (ProxyKind::Http, false, 80),
            "socks5" => (ProxyKind::Socks5, false, 1080),
            "socks5h" => (ProxyKind::Socks5, true, 1080),
            "https" => {
                return Err(bad(
                    "proxies reached over TLS are not supported (use http:// for CONNECT)",
                ))
            }
            _ => return Err(bad("the scheme must be http, socks5 or socks5h")),
        };
        let host = match u.host() {
            Some(url::Host::Domain(d)) if !d.is_empty() => d.to_ascii_lowercase(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            _ => return Err(bad("no host")),
        };
        if u.path() != "/" && !u.path().is_empty() {
            return Err(bad("a proxy URL has no path"));
        }
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        let user = (!u.username().is_empty()).then(|| decode(u.username()));
        let password = u.password().map(decode);
        let mut p = Proxy {
            kind,
            host,
            port: u.port().unwrap_or(default_port),
            user,
            password,
            remote_dns,
            name: Arc::from(""),
        };
        p.name = p.make_name().into();
        Ok(p)
    }

    fn make_name(&self) -> String {
        let scheme = match (self.kind, self.remote_dns) {
            (ProxyKind::Http, _) => "http",
            (ProxyKind::Socks5, false) => "socks5",
            (ProxyKind::Socks5, true) => "socks5h",
        };
        let user = self
            .user
            .as_deref()
            .map(|u| format!("{}@", url_user(u)))
            .unwrap_or_default();
        let host = match self.host.parse::<IpAddr>() {
            Ok(IpAddr::V6(v6)) => format!("[{v6}]"),
            _ => self.host.clone(),
        };
        format!("{scheme}://{user}{host}:{}", self.port)
    }

    /// Sends the target's host name to the proxy, which resolves it,
    /// instead of the IP the pool chose (`socks5h://` sets it).
    pub fn resolve_at_proxy(mut self, on: bool) -> Proxy {
        self.remote_dns = on;
        self.name = self.make_name().into();
        self
    }

    /// Whether the proxy resolves target names.
    pub fn resolves_at_proxy(&self) -> bool {
        self.remote_dns
    }

    /// HTTP `CONNECT` or SOCKS5.
    pub fn kind(&self) -> ProxyKind {
        self.kind
    }

    /// Scheme, user, host and port (never the password): how keys, errors,
    /// logs and stats name this proxy.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn name_arc(&self) -> &Arc<str> {
        &self.name
    }

    /// The proxy's host (name or IP) and port.
    pub fn addr(&self) -> (&str, u16) {
        (&self.host, self.port)
    }
}

/// The user name as written in a name (characters that would break the
/// name percent-encoded).
fn url_user(u: &str) -> String {
    u.bytes()
        .map(|b| match b {
            b'@' | b':' | b'/' | b'#' | b'%' | b' ' => format!("%{b:02X}"),
            _ => (b as char).to_string(),
        })
        .collect()
}

/// `url` with the password of its user info replaced by `***`.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (auth, tail) = rest.split_at(end);
    match auth.rsplit_once('@') {
        Some((info, host)) => match info.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// How a proxy is chosen for each new connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProxyChoice {
    /// The proxies in turn (skipping those set aside after failing).
    #[default]
    RoundRobin,
    /// A uniformly random proxy (among those not set aside).
    Random,
}

/// What a proxy has done, from [`Client::proxies`](crate::Client::proxies).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProxyStats {
    /// The proxy's [`name`](Proxy::name).
    pub name: String,
    /// Tunnels opened.
    pub tunnels: u64,
    /// Tunnels that failed through the proxy's fault.
    pub failures: u64,
    /// How much longer new connections skip it (`None`: not skipped).
    pub skipped_for: Option<Duration>,
    /// Whether it is in the client's list (`false`: only a session pinned
    /// to it uses it).
    pub listed: bool,
}

/// The proxy a session is pinned to, by name, in a request's extensions.
#[derive(Clone, Debug)]
pub(crate) struct Route(pub(crate) Arc<str>);

/// A proxy and its record.
pub(crate) struct Entry {
    pub(crate) proxy: Proxy,
    tunnels: AtomicU64,
    failures: AtomicU64,
    streak: AtomicU32,
    /// Milliseconds since the registry's epoch until which it is skipped.
    skip_until: AtomicU64,
}

const SKIP_FIRST: Duration = Duration::from_secs(5);
const SKIP_MAX: Duration = Duration::from_secs(300);

impl Entry {
    fn new(proxy: Proxy) -> Entry {
        Entry {
            proxy,
            tunnels: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            streak: AtomicU32::new(0),
            skip_until: AtomicU64::new(0),
        }
    }
}

/// The proxies of a connector: the list new connections are spread over,
/// and those that sessions pinned.
pub(crate) struct Proxies {
    list: Vec<Arc<Entry>>,
    choice: ProxyChoice,
    turn: AtomicUsize,
    /// Proxies of pinned sessions that are not in the list (registered
    /// once per name; read at each dial through one).
    pinned: RwLock<Vec<Arc<Entry>>>,
    epoch: Instant,
}

impl Default for Proxies {
    fn default() -> Proxies {
        Proxies::new(Vec::new(), ProxyChoice::default())
    }
}

impl fmt::Debug for Proxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.list.iter().map(|e| e.proxy.name()))
            .finish()
    }
}

impl Proxies {
    pub(crate) fn new(list: Vec<Proxy>, choice: ProxyChoice) -> Proxies {
        Proxies {
            list: list.into_iter().map(|p| Arc::new(Entry::new(p))).collect(),
            choice,
            turn: AtomicUsize::new(0),
            pinned: RwLock::new(Vec::new()),
            epoch: Instant::now(),
        }
    }

    /// How many proxies the list has.
    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// The proxy for a new connection of a key without a route: the next
    /// (or a random) one not set aside, else the one set aside the
    /// shortest; `None` if the list is empty.
    pub(crate) fn choose(&self) -> Option<Arc<Entry>> {
        let n = self.list.len();
        if n == 0 {
            return None;
        }
        let start = match self.choice {
            ProxyChoice::RoundRobin => self.turn.fetch_add(1, Relaxed),
            ProxyChoice::Random => fastrand::usize(..n),
        };
        let now = self.now_ms();
        let mut best: Option<&Arc<Entry>> = None;
        for i in 0..n {
            let e = &self.list[(start + i) % n];
            let until = e.skip_until.load(Relaxed);
            if until <= now {
                return Some(e.clone());
            }
            if best.is_none_or(|b| until < b.skip_until.load(Relaxed)) {
                best = Some(e);
            }
        }
        best.cloned()
    }

    /// The proxy a route names (a listed or a pinned one).
    pub(crate) fn by_name(&self, name: &str) -> Option<Arc<Entry>> {
        if let Some(e) = self.list.iter().find(|e| e.proxy.name() == name) {
            return Some(e.clone());
        }
        let pinned = self.pinned.read().unwrap_or_else(|e| e.into_inner());
        pinned.iter().find(|e| e.proxy.name() == name).cloned()
    }

    /// Makes `proxy` reachable by its name, for a pinned session; returns
    /// the name. A proxy already known by that name keeps its record (and
    /// its credentials are replaced by these if it is a pinned one).
    pub(crate) fn pin(&self, proxy: Proxy) -> Arc<str> {
        let name = proxy.name.clone();
        if self.list.iter().any(|e| e.proxy.name() == &*name) {
            return name;
        }
        let mut pinned = self.pinned.write().unwrap_or_else(|e| e.into_inner());
        match pinned.iter().position(|e| e.proxy.name() == &*name) {
            Some(i) if pinned[i].proxy.password == proxy.password => {}
            Some(i) => pinned[i] = Arc::new(Entry::new(proxy)),
            None => pinned.push(Arc::new(Entry::new(proxy))),
        }
        name
    }

    /// A tunnel through `e` opened.
    pub(crate) fn succeeded(&self, e: &Entry) {
        e.tunnels.fetch_add(1, Relaxed);
        if e.streak.load(Relaxed) != 0 {
            e.streak.store(0, Relaxed);
            e.skip_until.store(0, Relaxed);
        }
    }

    /// A tunnel through `e` failed by the proxy's fault: skip it for new
    /// connections, 5 s doubling per failure in a row up to 5 min.
    pub(crate) fn failed(&self, e: &Entry) {
        e.failures.fetch_add(1, Relaxed);
        let streak = e.streak.fetch_add(1, Relaxed).min(16);
        let skip = SKIP_FIRST.saturating_mul(1 << streak).min(SKIP_MAX);
        e.skip_until
            .store(self.now_ms() + skip.as_millis() as u64, Relaxed);
        tracing::info!(proxy = %e.proxy.name(), skip = ?skip, "hotpool: proxy failed; skipped for new connections");
    }

    /// Every proxy's record, the list's first.
    pub(crate) fn stats(&self) -> Vec<ProxyStats> {
        let now = self.now_ms();
        let one = |e: &Entry, listed| {
            let until = e.skip_until.load(Relaxed);
            ProxyStats {
                name: e.proxy.name().to_owned(),
                tunnels: e.tunnels.load(Relaxed),
                failures: e.failures.load(Relaxed),
                skipped_for: (until > now).then(|| Duration::from_millis(until - now)),
                listed,
            }
        };
        let pinned = self.pinned.read().unwrap_or_else(|e| e.into_inner());
        self.list
            .iter()
            .map(|e| one(e, true))
            .chain(pinned.iter().map(|e| one(e, false)))
            .collect()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_and_names_hide_passwords() {
        let p = Proxy::parse("http://Al%40ce:p%3Ass@Proxy.Test:3128").unwrap();
        assert_eq!(p.kind(), ProxyKind::Http);
        assert_eq!(p.user.as_deref(), Some("Al@ce"));
        assert_eq!(p.password.as_deref(), Some("p:ss"));
        assert_eq!(p.name(), "http://Al%40ce@proxy.test:3128");
        assert_eq!(
            Proxy::parse("http://10.0.0.1").unwrap().addr(),
            ("10.0.0.1", 80)
        );
        let s = Proxy::parse("socks5://[::1]").unwrap();
        assert_eq!(s.name(), "socks5://[::1]:1080");
        assert!(!s.resolves_at_proxy());
        assert_eq!(
            s.resolve_at_proxy(true).name(),
            "socks5h://[::1]:1080",
            "the name says who resolves"
        );
        for bad in [
            "https://p.test",
            "ftp://p.test",
            "socks5://",
            "not a url",
            "http://p.test/x",
        ] {
            let e = Proxy::parse(bad).unwrap_err();
            assert!(e.is_invalid_config(), "{bad}: {e}");
        }
        let e = Proxy::parse("ftp://u:topsecret@p.test").unwrap_err();
        assert!(!e.to_string().contains("topsecret"), "{e}");
        assert!(e.to_string().contains("u:***@p.test"), "{e}");
    }

    #[test]
    fn failing_proxies_are_skipped_then_tried_again() {
        let list = ["http://a.test:1", "http://b.test:2", "http://c.test:3"]
            .map(|u| Proxy::parse(u).unwrap())
            .to_vec();
        let ps = Proxies::new(list, ProxyChoice::RoundRobin);
        let names: Vec<String> = (0..3)
            .map(|_| ps.choose().unwrap().proxy.name().to_owned())
            .collect();
        assert_eq!(
            names,
            ["http://a.test:1", "http://b.test:2", "http://c.test:3"]
        );
        let b = ps.by_name("http://b.test:2").unwrap();
        ps.failed(&b);
        for _ in 0..6 {
            assert_ne!(ps.choose().unwrap().proxy.name(), "http://b.test:2");
        }
        let st = ps.stats();
        assert_eq!(st[1].failures, 1);
        assert!(st[1].skipped_for.unwrap() <= SKIP_FIRST);
        // All set aside: the one whose time ends first is still used.
        for e in ["http://a.test:1", "http://c.test:3"] {
            let e = ps.by_name(e).unwrap();
            ps.failed(&e);
            ps.failed(&e);
        }
        assert_eq!(ps.choose().unwrap().proxy.name(), "http://b.test:2");
        ps.succeeded(&b);
        assert_eq!(ps.stats()[1].skipped_for, None);
        assert_eq!(ps.stats()[1].tunnels, 1);
    }

    #[test]
    fn pinned_proxies_are_found_by_name() {
        let ps = Proxies::default();
        assert!(ps.choose().is_none());
        let name = ps.pin(Proxy::parse("socks5://u:1@p.test:1080").unwrap());
        assert_eq!(&*name, "socks5://u@p.test:1080");
        assert!(ps.by_name(&name).is_some());
        assert!(ps.choose().is_none(), "pinned proxies are not in the list");
        ps.pin(Proxy::parse("socks5://u:2@p.test:1080").unwrap());
        let e = ps.by_name(&name).unwrap();
        assert_eq!(e.proxy.password.as_deref(), Some("2"), "new credentials");
        assert!(!ps.stats()[0].listed);
    }
}
