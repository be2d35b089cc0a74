//! The TLS connector: IP-direct TCP dialing, rustls handshakes with a chosen
//! fingerprint [`Profile`], failure classification and profile rotation.

use crate::{
    connect::{Connect, Target},
    error::Error,
    profile::{Http2Settings, Profile, Verification},
    stats::ProfileStats,
};
use rustls::pki_types::{CertificateDer, ServerName};
use socket2::{SockRef, Socket, TcpKeepalive};
use std::{
    fmt, io,
    mem::MaybeUninit,
    net::{IpAddr, SocketAddr},
    pin::Pin,
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc,
    },
    task::{Context, Poll},
    time::Duration,
};
use tokio::{
    io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf},
    net::{TcpSocket, TcpStream},
};
use tokio_rustls::client::TlsStream;
use tracing::Instrument;

/// How the connector picks a profile for each new connection.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProfileChoice {
    /// A uniformly random profile per connection.
    Random,
    /// The profiles in turn.
    RoundRobin,
    /// Always the profile of this name.
    Fixed(String),
}

use crate::proxy::{self, Proxies};

mod builder;
mod connection;
mod dial;
mod verify;

pub use builder::TlsConnectorBuilder;
pub use connection::TlsConnection;
use dial::classify;
use verify::AcceptAnything;

struct Built {
    profile: Profile,
    config: Arc<rustls::ClientConfig>,
    dials: AtomicU64,
    failures: AtomicU64,
}

/// Dials a target's IP address directly (no DNS), then handshakes TLS with
/// SNI = the domain, the certificate verified for the domain name, and the
/// ALPN and ClientHello of the chosen [`Profile`].
///
/// A handshake refused as *unsupported* (protocol version, no shared cipher
/// suite or group, no ALPN protocol) is retried on a new TCP connection with
/// the next profile, up to `max_retries` times. Every other failure is
/// returned as a classified [`Error`] naming the domain and address.
pub struct TlsConnector {
    profiles: Vec<Built>,
    choice: ProfileChoice,
    fixed: usize,
    turn: AtomicUsize,
    connect_timeout: Duration,
    handshake_timeout: Duration,
    max_retries: u32,
    local_addrs: Vec<IpAddr>,
    local_turn: AtomicUsize,
    /// close_notify tasks in flight.
    closing: Arc<AtomicUsize>,
    /// Proxies new connections go through (none: direct).
    proxies: Arc<Proxies>,
}

impl fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConnector")
            .field(
                "profiles",
                &self
                    .profiles
                    .iter()
                    .map(|b| b.profile.name())
                    .collect::<Vec<_>>(),
            )
            .field("choice", &self.choice)
            .field("max_retries", &self.max_retries)
            .finish_non_exhaustive()
    }
}

/// What a failed handshake means for the dial.
enum Failure {
    /// The peer does not support what this profile offered: try another.
    Unsupported(Error),
    /// Anything else: give up.
    Fatal(Error),
}

impl TlsConnector {
    /// A builder with the webpki roots, the built-in profiles, round-robin
    /// choice, 10 s time-outs and 3 retries.
    pub fn builder() -> TlsConnectorBuilder {
        TlsConnectorBuilder::default()
    }

    /// Connections whose close_notify is still on its way (closed by the
    /// pool in the background).
    pub fn closing(&self) -> usize {
        self.closing.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Dials and handshake counts per profile.
    pub fn profile_stats(&self) -> Vec<ProfileStats> {
        self.profiles
            .iter()
            .map(|b| ProfileStats {
                name: b.profile.name_arc().clone(),
                dials: b.dials.load(Ordering::Relaxed),
                handshake_failures: b.failures.load(Ordering::Relaxed),
            })
            .collect()
    }

    /// The profiles, in rotation order.
    pub fn profiles(&self) -> impl Iterator<Item = &Profile> {
        self.profiles.iter().map(|b| &b.profile)
    }

    fn first_profile(&self) -> usize {
        let n = self.profiles.len();
        match self.choice {
            ProfileChoice::Fixed(_) => self.fixed,
            ProfileChoice::RoundRobin => self.turn.fetch_add(1, Ordering::Relaxed) % n,
            ProfileChoice::Random => fastrand::usize(..n),
        }
    }

    /// The proxy a new connection to `target` goes through: the one its
    /// route names, else one of the list, else none (a direct dial).
    fn proxy_for(&self, target: &Target) -> Result<Option<Arc<proxy::Entry>>, Error> {
        match target.route() {
            Some(name) => match self.proxies.by_name(name) {
                Some(e) => Ok(Some(e)),
                None => Err(Error::Proxy {
                    proxy: name.to_owned(),
                    target: Some(target.clone()),
                    at_target: false,
                    reason: "no proxy of that name is known to the connector".into(),
                }),
            },
            None => Ok(self.proxies.choose()),
        }
    }

    /// The proxies: the list and the pinned ones.
    pub(crate) fn proxies(&self) -> &Arc<Proxies> {
        &self.proxies
    }

    async fn attempt(&self, target: &Target, built: &Built) -> Result<TlsConnection, Failure> {
        let via = self.proxy_for(target).map_err(Failure::Fatal)?;
        let tcp = match &via {
            None => self.dial_tcp(target, &built.profile).await,
            Some(e) => proxy::open(self, &self.proxies, e, target, &built.profile).await,
        }
        .map_err(Failure::Fatal)?;
        built.dials.fetch_add(1, Ordering::Relaxed);
        let name = ServerName::try_from(target.domain().to_string()).map_err(|e| {
            Failure::Fatal(Error::invalid_config(
                "domain",
                target.domain(),
                e.to_string(),
            ))
        })?;
        let handshake = tokio_rustls::TlsConnector::from(built.config.clone()).connect(name, tcp);
        let result = match tokio::time::timeout(self.handshake_timeout, handshake).await {
            Ok(Ok(stream)) => {
                return Ok(TlsConnection {
                    stream,
                    profile: built.profile.name_arc().clone(),
                    http2: built.profile.http2_settings(),
                    proxy: via.map(|e| e.proxy.name_arc().clone()),
                })
            }
            Ok(Err(e)) => classify(target, built.profile.name_arc(), e),
            Err(_) => Failure::Fatal(Error::HandshakeTimeout {
                domain: target.domain_arc().clone(),
                addr: target.addr(),
                timeout: self.handshake_timeout,
            }),
        };
        built.failures.fetch_add(1, Ordering::Relaxed);
        Err(result)
    }
}

impl Connect for TlsConnector {
    type Conn = TlsConnection;

    async fn connect(&self, target: &Target) -> Result<TlsConnection, Error> {
        let n = self.profiles.len();
        let first = self.first_profile();
        let mut last = None;
        for attempt in 0..=self.max_retries as usize {
            let built = &self.profiles[(first + attempt) % n];
            let span = tracing::debug_span!("hotpool.handshake", domain = %target.domain(), addr = %target.addr(), profile = %built.profile.name());
            match self.attempt(target, built).instrument(span).await {
                Ok(conn) => return Ok(conn),
                Err(Failure::Fatal(e)) => return Err(e),
                Err(Failure::Unsupported(e)) => {
                    tracing::debug!(error = %e, attempt, "hotpool: handshake unsupported; trying the next profile");
                    last = Some(e);
                    if n == 1 {
                        break;
                    }
                }
            }
        }
        Err(last.unwrap_or(Error::Closed))
    }

    fn is_open(&self, conn: &TlsConnection) -> bool {
        conn.is_open()
    }

    /// Sends a TLS close_notify in the background (bounded to one second)
    /// when a runtime is available; otherwise just drops the connection.
    fn close(&self, mut conn: TlsConnection) {
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let closing = self.closing.clone();
            closing.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            rt.spawn(async move {
                let _ = tokio::time::timeout(Duration::from_secs(1), conn.stream.shutdown()).await;
                drop(conn);
                closing.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            });
        }
    }

    fn label(&self, conn: &TlsConnection) -> Option<Arc<str>> {
        Some(conn.profile.clone())
    }

    fn closing(&self) -> usize {
        TlsConnector::closing(self)
    }

    fn profile_stats(&self) -> Vec<ProfileStats> {
        TlsConnector::profile_stats(self)
    }
}
