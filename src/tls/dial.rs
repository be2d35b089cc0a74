//! TCP dialing and failure classification: socket options of the profile,
//! an optional local bind, connect within the time-out; a failed handshake
//! sorted into "try another profile" or "give up".

use super::*;

impl TlsConnector {
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

    /// A TCP connection to `addr` with the profile's socket options and
    /// the next local address bound (unbound if binding fails), within the
    /// connect time-out (`Err(Elapsed)` past it). Direct dials and dials to
    /// a proxy both come here.
    pub(crate) async fn tcp_to(
        &self,
        addr: SocketAddr,
        profile: &Profile,
    ) -> Result<io::Result<TcpStream>, tokio::time::error::Elapsed> {
        let socket = match self.local_for(addr.ip()) {
            Some(local) => match socket(addr, profile, Some(local)) {
                Ok(s) => Ok(s),
                Err(e) => {
                    tracing::warn!(%local, %addr, error = %e, "hotpool: binding the local address failed; dialing unbound");
                    socket(addr, profile, None)
                }
            },
            None => socket(addr, profile, None),
        };
        let socket = match socket {
            Ok(s) => s,
            Err(e) => return Ok(Err(e)),
        };
        tokio::time::timeout(self.connect_timeout, socket.connect(addr)).await
    }

    /// The time allowed for a TCP connect (and, through a proxy, for the
    /// tunnel to open).
    pub(crate) fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// Opens the TCP connection to the target itself.
    pub(super) async fn dial_tcp(
        &self,
        target: &Target,
        profile: &Profile,
    ) -> Result<TcpStream, Error> {
        let addr = target.addr();
        match self.tcp_to(addr, profile).await {
            Ok(Ok(tcp)) => Ok(tcp),
            Ok(Err(e)) => Err(connect_error(target, e)),
            Err(_) => Err(Error::ConnectTimeout {
                domain: target.domain_arc().clone(),
                addr,
                timeout: self.connect_timeout,
            }),
        }
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

pub(super) fn connect_error(target: &Target, e: io::Error) -> Error {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => Error::ConnectRefused {
            domain: target.domain_arc().clone(),
            addr: target.addr(),
        },
        _ => Error::connect(e).with_target(target),
    }
}

/// Sorts a handshake failure into retry-with-another-profile or fatal.
pub(super) fn classify(target: &Target, profile: &Arc<str>, e: io::Error) -> Failure {
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
