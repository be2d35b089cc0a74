//! [`TlsConnectorBuilder`]: roots, profiles, time-outs, local addresses,
//! proxies.

use super::*;
use crate::proxy::{Proxy, ProxyChoice};

/// Builds a [`TlsConnector`].
#[must_use]
pub struct TlsConnectorBuilder {
    roots: rustls::RootCertStore,
    custom_verifier: Option<Arc<dyn rustls::client::danger::ServerCertVerifier>>,
    profiles: Vec<Profile>,
    choice: ProfileChoice,
    connect_timeout: Duration,
    handshake_timeout: Duration,
    max_retries: u32,
    local_addrs: Vec<IpAddr>,
    proxies: Vec<Proxy>,
    proxy_choice: ProxyChoice,
}

impl fmt::Debug for TlsConnectorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConnectorBuilder")
            .field("roots", &self.roots.len())
            .field("custom_verifier", &self.custom_verifier.is_some())
            .field("choice", &self.choice)
            .finish_non_exhaustive()
    }
}

impl Default for TlsConnectorBuilder {
    fn default() -> Self {
        TlsConnectorBuilder {
            roots: rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            },
            custom_verifier: None,
            profiles: Profile::builtin(),
            choice: ProfileChoice::RoundRobin,
            connect_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
            max_retries: 3,
            local_addrs: Vec::new(),
            proxies: Vec::new(),
            proxy_choice: ProxyChoice::default(),
        }
    }
}

impl TlsConnectorBuilder {
    /// Trusts one more root certificate (a private CA, a test CA), on top of
    /// the webpki roots.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] if the certificate cannot be parsed.
    pub fn add_root_certificate(mut self, der: CertificateDer<'static>) -> Result<Self, Error> {
        self.roots
            .add(der)
            .map_err(|e| Error::invalid_config("tls.root_certificate", "DER", e.to_string()))?;
        Ok(self)
    }

    /// Replaces the trusted roots entirely.
    pub fn root_store(mut self, roots: rustls::RootCertStore) -> Self {
        self.roots = roots;
        self
    }

    /// **Dangerous**: accepts any server certificate, for any name, signed by
    /// anyone. Connections are then open to interception. Never the default;
    /// meant for measuring against servers whose certificates you cannot
    /// check and accept to trust blindly.
    pub fn dangerous_accept_invalid_certificates(mut self) -> Self {
        self.custom_verifier = Some(Arc::new(AcceptAnything(
            rustls::crypto::aws_lc_rs::default_provider().signature_verification_algorithms,
        )));
        self
    }

    /// The profiles to choose from (default: [`Profile::builtin`]).
    pub fn profiles(mut self, profiles: Vec<Profile>) -> Self {
        self.profiles = profiles;
        self
    }

    /// How a profile is chosen per connection (default round-robin).
    pub fn profile_choice(mut self, choice: ProfileChoice) -> Self {
        self.choice = choice;
        self
    }

    /// Sends new connections through `proxy` (repeatable: a list, one
    /// chosen per new connection). See [`proxy`](crate::proxy).
    pub fn proxy(mut self, proxy: Proxy) -> Self {
        self.proxies.push(proxy);
        self
    }

    /// How a proxy of the list is chosen per new connection (default
    /// round-robin).
    pub fn proxy_choice(mut self, choice: ProxyChoice) -> Self {
        self.proxy_choice = choice;
        self
    }

    /// Time allowed for the TCP connect (default 10 s; through a proxy, for
    /// the connect to the proxy and the tunnel together).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }

    /// Time allowed for the TLS handshake (default 10 s).
    pub fn handshake_timeout(mut self, d: Duration) -> Self {
        self.handshake_timeout = d;
        self
    }

    /// How many times an *unsupported* handshake is retried with the next
    /// profile (default 3).
    pub fn max_retries(mut self, n: u32) -> Self {
        self.max_retries = n;
        self
    }

    /// Local addresses to bind dials to, round-robin per address family. A
    /// bind failure falls back to an unbound dial (with a warning); a target
    /// of a family with no local address dials unbound.
    pub fn local_addresses(mut self, addrs: impl IntoIterator<Item = IpAddr>) -> Self {
        self.local_addrs = addrs.into_iter().collect();
        self
    }

    /// Builds the connector.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] for no profiles, an unknown fixed profile,
    /// zero time-outs, or a profile rustls rejects.
    pub fn build(self) -> Result<TlsConnector, Error> {
        if self.profiles.is_empty() {
            return Err(Error::invalid_config(
                "tls.profiles",
                "[]",
                "at least one profile is needed",
            ));
        }
        if self.connect_timeout.is_zero() {
            return Err(Error::invalid_config(
                "tls.connect_timeout",
                "0s",
                "must be longer than zero",
            ));
        }
        if self.handshake_timeout.is_zero() {
            return Err(Error::invalid_config(
                "tls.handshake_timeout",
                "0s",
                "must be longer than zero",
            ));
        }
        let verification = match self.custom_verifier {
            Some(v) => Verification::Custom(v),
            None => Verification::Roots(Arc::new(self.roots)),
        };
        let fixed = match &self.choice {
            ProfileChoice::Fixed(name) => self
                .profiles
                .iter()
                .position(|p| p.name() == name)
                .ok_or_else(|| {
                    Error::invalid_config("tls.profile", name, "no profile of that name")
                })?,
            _ => 0,
        };
        let profiles = self
            .profiles
            .into_iter()
            .map(|profile| {
                let config = Arc::new(profile.client_config(&verification)?);
                Ok(Built {
                    profile,
                    config,
                    dials: AtomicU64::new(0),
                    failures: AtomicU64::new(0),
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        Ok(TlsConnector {
            profiles,
            choice: self.choice,
            fixed,
            turn: AtomicUsize::new(0),
            connect_timeout: self.connect_timeout,
            handshake_timeout: self.handshake_timeout,
            max_retries: self.max_retries,
            local_addrs: self.local_addrs,
            local_turn: AtomicUsize::new(0),
            closing: Arc::new(AtomicUsize::new(0)),
            proxies: Arc::new(Proxies::new(self.proxies, self.proxy_choice)),
        })
    }
}
