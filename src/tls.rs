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

/// A TLS connection made by [`TlsConnector`]: the rustls stream plus the
/// name of the profile that made it. Reads and writes go to the stream.
pub struct TlsConnection {
    stream: TlsStream<TcpStream>,
    profile: Arc<str>,
    http2: Http2Settings,
}

impl TlsConnection {
    /// The profile whose ClientHello opened this connection.
    pub fn profile(&self) -> &str {
        &self.profile
    }

    /// How the profile opens HTTP/2 on this connection (used if ALPN
    /// agreed h2).
    pub fn http2_settings(&self) -> Http2Settings {
        self.http2
    }

    /// The protocol agreed by ALPN, if any.
    pub fn alpn(&self) -> Option<&[u8]> {
        self.stream.get_ref().1.alpn_protocol()
    }

    /// The rustls stream.
    pub fn get_ref(&self) -> &TlsStream<TcpStream> {
        &self.stream
    }

    /// The rustls stream, mutably.
    pub fn get_mut(&mut self) -> &mut TlsStream<TcpStream> {
        &mut self.stream
    }

    /// The rustls stream, by value.
    pub fn into_inner(self) -> TlsStream<TcpStream> {
        self.stream
    }

    /// Whether the peer has not closed the connection: a non-blocking peek
    /// at the socket sees neither end-of-stream nor an error.
    pub fn is_open(&self) -> bool {
        let tcp = self.stream.get_ref().0;
        let mut buf = [MaybeUninit::<u8>::uninit(); 1];
        match SockRef::from(tcp).peek(&mut buf) {
            Ok(0) => false,
            Ok(_) => true,
            Err(e) => e.kind() == io::ErrorKind::WouldBlock,
        }
    }
}

impl fmt::Debug for TlsConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConnection")
            .field("profile", &self.profile)
            .field("peer", &self.stream.get_ref().0.peer_addr().ok())
            .finish()
    }
}

impl AsyncRead for TlsConnection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConnection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

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

    /// Time allowed for the TCP connect (default 10 s).
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
        })
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

    fn local_for(&self, target: IpAddr) -> Option<IpAddr> {
        let same: Vec<IpAddr> = self
            .local_addrs
            .iter()
            .copied()
            .filter(|a| a.is_ipv4() == target.is_ipv4())
            .collect();
        if same.is_empty() {
            return None;
        }
        Some(same[self.local_turn.fetch_add(1, Ordering::Relaxed) % same.len()])
    }

    /// Opens the TCP connection: socket options, optional bind, connect
    /// within the time-out.
    async fn dial_tcp(&self, target: &Target, profile: &Profile) -> Result<TcpStream, Error> {
        let addr = target.addr();
        let socket = match self.local_for(addr.ip()) {
            Some(local) => match socket(addr, profile, Some(local)) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(%local, %addr, error = %e, "hotpool: binding the local address failed; dialing unbound");
                    socket(addr, profile, None).map_err(|e| connect_error(target, e))?
                }
            },
            None => socket(addr, profile, None).map_err(|e| connect_error(target, e))?,
        };
        match tokio::time::timeout(self.connect_timeout, socket.connect(addr)).await {
            Ok(Ok(tcp)) => Ok(tcp),
            Ok(Err(e)) => Err(connect_error(target, e)),
            Err(_) => Err(Error::ConnectTimeout {
                domain: target.domain_arc().clone(),
                addr,
                timeout: self.connect_timeout,
            }),
        }
    }

    async fn attempt(&self, target: &Target, built: &Built) -> Result<TlsConnection, Failure> {
        let tcp = self
            .dial_tcp(target, &built.profile)
            .await
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

fn socket(addr: SocketAddr, profile: &Profile, local: Option<IpAddr>) -> io::Result<TcpSocket> {
    let domain = if addr.is_ipv4() {
        socket2::Domain::IPV4
    } else {
        socket2::Domain::IPV6
    };
    let s = Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    s.set_nonblocking(true)?;
    s.set_tcp_nodelay(true)?;
    s.set_tcp_keepalive(&TcpKeepalive::new().with_time(Duration::from_secs(60)))?;
    let tcp = profile.tcp_options();
    if let Some(ttl) = tcp.ttl {
        if addr.is_ipv4() {
            s.set_ttl_v4(ttl)?;
        } else {
            s.set_unicast_hops_v6(ttl)?;
        }
    }
    if let Some(size) = tcp.recv_buffer {
        s.set_recv_buffer_size(size)?;
    }
    if let Some(local) = local {
        s.bind(&SocketAddr::new(local, 0).into())?;
    }
    Ok(TcpSocket::from_std_stream(s.into()))
}

fn connect_error(target: &Target, e: io::Error) -> Error {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => Error::ConnectRefused {
            domain: target.domain_arc().clone(),
            addr: target.addr(),
        },
        _ => Error::connect(e).with_target(target),
    }
}

/// Sorts a handshake failure into retry-with-another-profile or fatal.
fn classify(target: &Target, profile: &Arc<str>, e: io::Error) -> Failure {
    use rustls::AlertDescription as A;
    let domain = target.domain_arc().clone();
    let addr = target.addr();
    if let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        return match tls {
            rustls::Error::InvalidCertificate(reason) => Failure::Fatal(Error::Certificate {
                domain,
                addr,
                reason: format!("{reason:?}"),
            }),
            rustls::Error::AlertReceived(
                A::ProtocolVersion
                | A::HandshakeFailure
                | A::InsufficientSecurity
                | A::NoApplicationProtocol,
            )
            | rustls::Error::PeerIncompatible(_)
            | rustls::Error::NoApplicationProtocol => Failure::Unsupported(Error::Tls {
                domain,
                addr,
                profile: profile.clone(),
                source: Box::new(tls.clone()),
            }),
            other => Failure::Fatal(Error::Tls {
                domain,
                addr,
                profile: profile.clone(),
                source: Box::new(other.clone()),
            }),
        };
    }
    match e.kind() {
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::UnexpectedEof => Failure::Fatal(Error::Reset { domain, addr }),
        _ => Failure::Fatal(Error::Tls {
            domain,
            addr,
            profile: profile.clone(),
            source: Box::new(e),
        }),
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

/// The verifier behind [`TlsConnectorBuilder::dangerous_accept_invalid_certificates`].
#[derive(Debug)]
struct AcceptAnything(rustls::crypto::WebPkiSupportedAlgorithms);

impl rustls::client::danger::ServerCertVerifier for AcceptAnything {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_schemes()
    }
}
