//! [`ClientBuilder`]: every client setting, checked at build.

use crate::{
    config::Config,
    error::Error,
    http_layer::{HttpConnector, HttpOptions, StatusValidator, Validate},
    pool::{Builder, Pool},
    profile::Profile,
    services::{Resolve, ResolverRef, SystemResolver},
    tls::{ProfileChoice, TlsConnector, TlsConnectorBuilder},
};
use http::{
    header::{HeaderName, HeaderValue},
    Method,
};
use rustls_pki_types::CertificateDer;
use std::{fmt, net::IpAddr, sync::Arc, time::Duration};

/// Default limit on a whole request (to the end of its body).
use super::*;

/// Builds a [`Client`]: pool limits, TLS options, validation, default
/// headers. Every setting has a default; [`build`](ClientBuilder::build)
/// checks them all and names the first bad one.
pub struct ClientBuilder {
    pool: Builder,
    tls: TlsConnectorBuilder,
    opts: HttpOptions,
    timeout: Duration,
    max_body_size: Option<u64>,
    strict: bool,
    probe: Option<(Method, String)>,
    keep_alive: bool,
    max_streams: usize,
    redirect: redirect::Policy,
    jar: Option<Arc<cookie::Jar>>,
    proxies: Vec<crate::proxy::Proxy>,
    proxy_choice: Option<crate::proxy::ProxyChoice>,
    resolver: Option<ResolverRef>,
    error: Option<Error>,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            pool: Pool::builder(),
            tls: TlsConnector::builder(),
            opts: HttpOptions::default(),
            timeout: DEFAULT_TIMEOUT,
            max_body_size: Some(DEFAULT_MAX_BODY_SIZE),
            strict: false,
            probe: None,
            keep_alive: true,
            max_streams: DEFAULT_MAX_STREAMS,
            redirect: redirect::Policy::default(),
            jar: None,
            proxies: Vec::new(),
            proxy_choice: None,
            resolver: Some(ResolverRef::new(SystemResolver)),
            error: None,
        }
    }
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("pool", &self.pool.settings())
            .field("tls", &self.tls)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    fn fail(&mut self, e: Error) {
        if self.error.is_none() {
            self.error = Some(e);
        }
    }

    // pool settings

    /// All pool settings at once (see [`Config`]).
    pub fn config(mut self, config: Config) -> Self {
        self.pool = self.pool.config(config);
        self
    }

    /// Live connections in the whole pool (default 100).
    pub fn max_conns(mut self, n: usize) -> Self {
        self.pool = self.pool.max_conns(n);
        self
    }

    /// Live connections per domain (default 10).
    pub fn max_conns_per_domain(mut self, n: usize) -> Self {
        self.pool = self.pool.max_conns_per_domain(n);
        self
    }

    /// How long a request waits for a connection when its domain is at its
    /// limit (default 5 s).
    pub fn wait_timeout(mut self, d: Duration) -> Self {
        self.pool = self.pool.wait_timeout(d);
        self
    }

    /// Limit on a whole dial: TCP connect, TLS handshake (with profile
    /// retries) and validation (default 10 s).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.pool = self.pool.connect_timeout(d);
        self
    }

    /// Idle connections older than this are closed (default 60 s).
    pub fn idle_timeout(mut self, d: Duration) -> Self {
        self.pool = self.pool.idle_timeout(d);
        self
    }

    /// Connections older than this are closed (default 300 s).
    pub fn max_lifetime(mut self, d: Duration) -> Self {
        self.pool = self.pool.max_lifetime(d);
        self
    }

    /// Errors a connection may collect before it is closed (default 10).
    pub fn max_errors(mut self, n: u8) -> Self {
        self.pool = self.pool.max_errors(n);
        self
    }

    /// How long an IP stays blacklisted (default 15 min).
    pub fn blacklist_ttl(mut self, d: Duration) -> Self {
        self.pool = self.pool.blacklist_ttl(d);
        self
    }

    /// IPs never blacklisted.
    pub fn allow_ips(mut self, ips: impl IntoIterator<Item = IpAddr>) -> Self {
        self.pool = self.pool.allow_ips(ips);
        self
    }

    /// IPs never dialed.
    /// Address ranges (CIDR, `ipnet::IpNet`) that are never dialed.
    pub fn deny_ranges(mut self, ranges: impl IntoIterator<Item = ipnet::IpNet>) -> Self {
        self.pool = self.pool.deny_ranges(ranges);
        self
    }

    /// IPs that are never dialed.
    pub fn deny_ips(mut self, ips: impl IntoIterator<Item = IpAddr>) -> Self {
        self.pool = self.pool.deny_ips(ips);
        self
    }

    /// The port of URLs that name none is 443; a pool key without a port
    /// means this one (default 443).
    pub fn default_port(mut self, port: u16) -> Self {
        self.pool = self.pool.default_port(port);
        self
    }

    /// The pool's clock (a `quanta` mock clock in tests).
    pub fn clock(mut self, clock: quanta::Clock) -> Self {
        self.pool = self.pool.clock(clock);
        self
    }

    /// How often the health sweeper runs (default 30 s).
    pub fn health_check_interval(mut self, d: Duration) -> Self {
        self.pool = self.pool.health_check_interval(d);
        self
    }

    /// Idle connections the sweeper keeps per domain (default 0).
    pub fn min_idle_per_domain(mut self, n: usize) -> Self {
        self.pool = self.pool.min_idle_per_domain(n);
        self
    }

    /// Dials in progress at once (default 20).
    pub fn max_concurrent_dials(mut self, n: usize) -> Self {
        self.pool = self.pool.max_concurrent_dials(n);
        self
    }

    /// Health probes in progress at once during a sweep (default 8).
    pub fn probe_concurrency(mut self, n: usize) -> Self {
        self.pool = self.pool.probe_concurrency(n);
        self
    }

    /// How often resolved addresses are looked up again (default 30 min).
    pub fn dns_refresh_interval(mut self, d: Duration) -> Self {
        self.pool = self.pool.dns_refresh_interval(d);
        self
    }

    /// The success rate below which [`Client::is_healthy`] says no
    /// (default 0.5).
    pub fn min_success_rate(mut self, rate: f64) -> Self {
        self.pool = self.pool.min_success_rate(rate);
        self
    }

    /// See [`Config::block_ip_after_domains`] (default 3).
    pub fn block_ip_after_domains(mut self, n: usize) -> Self {
        self.pool = self.pool.block_ip_after_domains(n);
        self
    }

    /// See [`Config::probe_timeout`] (default 2 s).
    pub fn probe_timeout(mut self, d: Duration) -> Self {
        self.pool = self.pool.probe_timeout(d);
        self
    }

    /// See [`Config::negative_dns_ttl`] (default 30 s).
    pub fn negative_dns_ttl(mut self, d: Duration) -> Self {
        self.pool = self.pool.negative_dns_ttl(d);
        self
    }

    /// See [`Config::address_choice`] (default
    /// [`AddressChoice::Score`](crate::AddressChoice::Score)).
    pub fn address_choice(mut self, choice: crate::AddressChoice) -> Self {
        self.pool = self.pool.address_choice(choice);
        self
    }

    /// See [`Config::wake`] (default [`Wake::One`](crate::Wake::One)).
    pub fn wake(mut self, wake: crate::Wake) -> Self {
        self.pool = self.pool.wake(wake);
        self
    }

    /// See [`Config::allow_private_addresses`] (default false).
    pub fn allow_private_addresses(mut self, on: bool) -> Self {
        self.pool = self.pool.allow_private_addresses(on);
        self
    }

    /// Where a domain's addresses come from when [`Client::set_ips`] gave
    /// none (default: [`SystemResolver`]).
    pub fn resolver(mut self, resolver: impl Resolve) -> Self {
        self.resolver = Some(ResolverRef::new(resolver));
        self
    }

    /// No resolver: addresses come from [`Client::set_ips`] only, and a
    /// domain without them fails with [`Error::NoAddress`].
    pub fn no_resolver(mut self) -> Self {
        self.resolver = None;
        self
    }

    // TLS

    /// Replaces the TLS settings with `tls`.
    pub fn tls(mut self, tls: TlsConnectorBuilder) -> Self {
        self.tls = tls;
        self
    }

    /// Trusts `der` as a root certificate, besides the webpki roots.
    pub fn add_root_certificate(mut self, der: CertificateDer<'static>) -> Self {
        let tls = std::mem::take(&mut self.tls);
        match tls.add_root_certificate(der) {
            Ok(t) => self.tls = t,
            Err(e) => self.fail(e),
        }
        self
    }

    /// Skips certificate verification. Dangerous: anyone on the path can
    /// read and change the traffic.
    pub fn dangerous_accept_invalid_certificates(mut self) -> Self {
        self.tls = self.tls.dangerous_accept_invalid_certificates();
        self
    }

    /// The TLS fingerprint profiles to dial with.
    pub fn profiles(mut self, profiles: Vec<Profile>) -> Self {
        self.tls = self.tls.profiles(profiles);
        self
    }

    /// How a profile is picked per connection.
    pub fn profile_choice(mut self, choice: ProfileChoice) -> Self {
        self.tls = self.tls.profile_choice(choice);
        self
    }

    /// Limit on one TLS handshake.
    pub fn handshake_timeout(mut self, d: Duration) -> Self {
        self.tls = self.tls.handshake_timeout(d);
        self
    }

    /// Local addresses to dial from, in turn.
    pub fn local_addresses(mut self, addrs: impl IntoIterator<Item = IpAddr>) -> Self {
        self.tls = self.tls.local_addresses(addrs);
        self
    }

    // HTTP

    /// Limit on a whole request, from its start to the end of its body
    /// (default 30 s). A request can carry its own: see [`Timeout`].
    /// `Duration::MAX` means no limit.
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }

    /// Limit on a response body, counted in decoded bytes (default 32 MiB;
    /// `None` for no limit). Past it the body fails with
    /// [`Error::BodyTooLarge`] and the connection is closed; a
    /// `Content-Length` over it fails the request before the body is read.
    /// A decompression bomb is stopped at the limit without being decoded
    /// further.
    pub fn max_body_size(mut self, bytes: impl Into<Option<u64>>) -> Self {
        self.max_body_size = bytes.into();
        self
    }

    /// Whether connections are reused (default true). With false, every
    /// request gets a connection of its own, closed once its response has
    /// been read: what a crawler without a pool does, useful as a
    /// baseline.
    pub fn keep_alive(mut self, on: bool) -> Self {
        self.keep_alive = on;
        self
    }

    /// Which redirects to follow (default [`redirect::Policy::limited`]
    /// with 10): [`redirect::Policy::none`] returns them as responses,
    /// [`redirect::Policy::custom`] decides per hop. How a hop's request
    /// is made (method, body, headers dropped across hosts): the
    /// [`redirect`](crate::redirect) module.
    pub fn redirect(mut self, policy: redirect::Policy) -> Self {
        self.redirect = policy;
        self
    }

    /// Sends new connections through `proxy` (repeatable: a list, one
    /// proxy chosen per new connection by [`proxy_choice`](Self::proxy_choice);
    /// a failing one is skipped for a while). See [`proxy`](crate::proxy).
    pub fn proxy(mut self, proxy: crate::proxy::Proxy) -> Self {
        self.proxies.push(proxy);
        self
    }

    /// How a proxy of the list is chosen per new connection (default
    /// round-robin).
    pub fn proxy_choice(mut self, choice: crate::proxy::ProxyChoice) -> Self {
        self.proxy_choice = Some(choice);
        self
    }

    /// Keeps a cookie jar for the client's requests (default off): the
    /// `Set-Cookie`s of every response (redirect hops included) are stored
    /// and sent back by RFC 6265's rules. For isolated jars over one pool,
    /// use [`Client::session`] instead; see the [`cookie`](crate::cookie)
    /// module.
    pub fn cookie_store(mut self, on: bool) -> Self {
        self.jar = on.then(|| Arc::new(cookie::Jar::new()));
        self
    }

    /// Uses `jar` as the client's cookie jar (one loaded from a file, or
    /// shared with a [`Session`](crate::Session)).
    pub fn cookie_jar(mut self, jar: Arc<cookie::Jar>) -> Self {
        self.jar = Some(jar);
        self
    }

    /// Streams one HTTP/2 connection carries at once (default 100): up to
    /// this many concurrent requests to a domain share one connection (and
    /// never more than the server's `SETTINGS_MAX_CONCURRENT_STREAMS`); a
    /// new connection is dialed only when every HTTP/2 connection of the
    /// domain is at its limit. 1 lends HTTP/2 connections exclusively, one
    /// request at a time, like HTTP/1.1 ones. Must be at least 1.
    pub fn max_streams_per_connection(mut self, n: usize) -> Self {
        self.max_streams = n;
        self
    }

    /// The `User-Agent` header (default `hotpool/<version>`).
    pub fn user_agent(mut self, ua: &str) -> Self {
        match HeaderValue::from_str(ua) {
            Ok(v) => self.opts.user_agent = v,
            Err(_) => self.fail(Error::invalid_config(
                "user_agent",
                ua,
                "not a valid header value",
            )),
        }
        self
    }

    /// The `Accept` header (default: the HTML-first value browsers send).
    pub fn accept(mut self, accept: &str) -> Self {
        match HeaderValue::from_str(accept) {
            Ok(v) => self.opts.accept = v,
            Err(_) => self.fail(Error::invalid_config(
                "accept",
                accept,
                "not a valid header value",
            )),
        }
        self
    }

    /// A header sent with every request that does not set it.
    pub fn default_header(mut self, name: &str, value: &str) -> Self {
        match (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            (Ok(n), Ok(v)) => {
                self.opts.headers.insert(n, v);
            }
            _ => self.fail(Error::invalid_config(
                "default_header",
                format!("{name}: {value}"),
                "not a valid header",
            )),
        }
        self
    }

    /// The language tags `Accept-Language` is drawn from: each connection
    /// gets 2–5 distinct ones with descending q values (default: 14 common
    /// tags).
    pub fn accept_languages<I, S>(mut self, tags: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut list: Vec<String> = Vec::new();
        for t in tags {
            let t = t.as_ref().trim();
            let ok = !t.is_empty()
                && t.len() <= 35
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'*');
            if !ok {
                self.fail(Error::invalid_config(
                    "accept_languages",
                    t,
                    "not a language tag",
                ));
                return self;
            }
            if !list.iter().any(|l| l.eq_ignore_ascii_case(t)) {
                list.push(t.to_owned());
            }
        }
        if list.is_empty() {
            self.fail(Error::invalid_config(
                "accept_languages",
                "[]",
                "needs at least one tag",
            ));
            return self;
        }
        self.opts.languages = list;
        self
    }

    /// Whether to ask for and decode gzip, deflate and br bodies (default
    /// true). With false, no `Accept-Encoding` is sent and bodies arrive as
    /// the server sent them.
    pub fn decompress(mut self, on: bool) -> Self {
        self.opts.decompress = on;
        self
    }

    /// Limit on a response's header section (default 64 KiB); a larger
    /// one fails the request with an error for which
    /// [`Error::is_headers_too_large`] holds. An HTTP/1.1 response may
    /// have 100 header lines at the default; each 256 bytes above it
    /// allow one line more.
    pub fn max_response_header_size(mut self, bytes: usize) -> Self {
        self.opts.max_header_size = bytes;
        self
    }

    // validation

    /// Validates each new connection with `validator` instead of `HEAD /`.
    pub fn validator(mut self, validator: impl Validate) -> Self {
        self.opts.validator = Some(Arc::new(validator));
        self
    }

    /// Validates each new connection with `method path` (default `HEAD /`)
    /// under the status rules.
    pub fn validation_request(mut self, method: Method, path: &str) -> Self {
        let base = if self.strict {
            StatusValidator::strict()
        } else {
            StatusValidator::new()
        };
        self.probe = Some((method.clone(), path.to_owned()));
        match base.path(path) {
            Ok(v) => self.opts.validator = Some(Arc::new(v.method(method))),
            Err(e) => self.fail(e),
        }
        self
    }

    /// Judges probes by the seed's strict rule
    /// ([`strict_verdict`](crate::strict_verdict): 200 keeps, 403 blocks,
    /// anything else closes) instead of [`default_verdict`](crate::default_verdict).
    /// Keeps the probe request set by
    /// [`validation_request`](ClientBuilder::validation_request).
    pub fn strict_validation(mut self) -> Self {
        self.strict = true;
        let (method, path) = self.probe.clone().unwrap_or((Method::HEAD, "/".to_owned()));
        self.validation_request(method, &path)
    }

    /// No validation: new connections are used as soon as the handshake is
    /// done.
    pub fn no_validation(mut self) -> Self {
        self.opts.validator = None;
        self
    }

    /// Limit on one validation probe (default 10 s).
    pub fn validation_timeout(mut self, d: Duration) -> Self {
        self.opts.validation_timeout = d;
        self
    }

    /// Checks every setting and builds the client (and its pool).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] naming the first bad setting.
    pub fn build(self) -> Result<Client, Error> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let zero = |key: &str, d: Duration| {
            if d.is_zero() {
                Err(Error::invalid_config(key, "0s", "must be positive"))
            } else {
                Ok(())
            }
        };
        zero("timeout", self.timeout)?;
        zero("validation.timeout", self.opts.validation_timeout)?;
        if self.opts.max_header_size < 1024 {
            return Err(Error::invalid_config(
                "max_response_header_size",
                self.opts.max_header_size,
                "must be at least 1024",
            ));
        }
        if self.max_streams == 0 || self.max_streams > u32::MAX as usize {
            return Err(Error::invalid_config(
                "max_streams_per_connection",
                self.max_streams,
                "must be from 1 to 4294967295",
            ));
        }
        let default_port = self.pool.settings().default_port;
        let mut tls = self.tls;
        for p in self.proxies {
            tls = tls.proxy(p);
        }
        if let Some(choice) = self.proxy_choice {
            tls = tls.proxy_choice(choice);
        }
        let tls = tls.build()?;
        let opts = Arc::new(self.opts);
        let connector = HttpConnector::with_options(tls, opts.clone());
        let pool = self.pool.resolver_ref(self.resolver).build(connector)?;
        Ok(Client {
            inner: Arc::new(Inner {
                pool,
                opts,
                timeout: self.timeout,
                max_body_size: self.max_body_size,
                default_port,
                keep_alive: self.keep_alive,
                counters: Arc::new(Counters::default()),
                max_streams: self.max_streams as u32,
                streams: Arc::default(),
                redirect: self.redirect,
                jar: self.jar,
            }),
        })
    }
}
