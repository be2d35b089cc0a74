//! Opening a tunnel: TCP to the proxy, then `CONNECT` or the SOCKS5
//! exchange, all within the connect time-out.

use super::{Entry, Proxies, ProxyKind};
use crate::{connect::Target, error::Error, profile::Profile, tls::TlsConnector};
use base64::Engine as _;
use std::{io, net::SocketAddr};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// The longest `CONNECT` answer head read.
const MAX_CONNECT_HEAD: usize = 16 * 1024;

/// A failure and whose it is.
struct Failed {
    reason: String,
    /// The proxy says the target is unreachable: not the proxy's fault.
    at_target: bool,
}

impl Failed {
    fn proxy(reason: impl Into<String>) -> Failed {
        Failed {
            reason: reason.into(),
            at_target: false,
        }
    }
}

/// A TCP stream to `target` tunnelled through `entry`'s proxy, ready for
/// the TLS handshake. A failure is an [`Error::Proxy`]; one of the proxy's
/// own sets it aside for new connections.
pub(crate) async fn open(
    tls: &TlsConnector,
    proxies: &Proxies,
    entry: &Entry,
    target: &Target,
    profile: &Profile,
) -> Result<TcpStream, Error> {
    let timeout = tls.connect_timeout();
    let run = tunnel(tls, entry, target, profile);
    let result = match tokio::time::timeout(timeout, run).await {
        Ok(r) => r,
        Err(_) => Err(Failed::proxy(format!(
            "no tunnel within the connect time-out ({timeout:?})"
        ))),
    };
    match result {
        Ok(tcp) => {
            proxies.succeeded(entry);
            tracing::debug!(proxy = %entry.proxy.name(), %target, "hotpool: tunnel open");
            Ok(tcp)
        }
        Err(f) => {
            if !f.at_target {
                proxies.failed(entry);
            }
            Err(Error::Proxy {
                proxy: entry.proxy.name().to_owned(),
                target: Some(target.clone()),
                at_target: f.at_target,
                reason: f.reason.into(),
            })
        }
    }
}

async fn tunnel(
    tls: &TlsConnector,
    entry: &Entry,
    target: &Target,
    profile: &Profile,
) -> Result<TcpStream, Failed> {
    let p = &entry.proxy;
    let addr = proxy_addr(&p.host, p.port).await?;
    let tcp = match tls.tcp_to(addr, profile).await {
        Ok(Ok(tcp)) => tcp,
        Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionRefused => {
            return Err(Failed::proxy(format!(
                "connection to the proxy at {addr} refused"
            )))
        }
        Ok(Err(e)) => {
            return Err(Failed::proxy(format!(
                "connecting to the proxy at {addr}: {e}"
            )))
        }
        Err(_) => {
            return Err(Failed::proxy(format!(
                "connecting to the proxy at {addr} timed out"
            )))
        }
    };
    match p.kind {
        ProxyKind::Http => connect(tcp, entry, target).await,
        ProxyKind::Socks5 => socks5(tcp, entry, target).await,
    }
}

/// The proxy's address: its IP, or its name looked up.
async fn proxy_addr(host: &str, port: u16) -> Result<SocketAddr, Failed> {
    if let Ok(ip) = host.parse() {
        return Ok(SocketAddr::new(ip, port));
    }
    match tokio::net::lookup_host((host, port)).await {
        Ok(mut addrs) => addrs
            .next()
            .ok_or_else(|| Failed::proxy(format!("the proxy's name {host} has no address"))),
        Err(e) => Err(Failed::proxy(format!(
            "looking up the proxy's name {host}: {e}"
        ))),
    }
}

/// What the proxy is asked to reach: the pool's IP and port, or the host
/// name and port when the proxy resolves.
fn authority(entry: &Entry, target: &Target) -> String {
    let port = target.addr().port();
    if entry.proxy.remote_dns {
        format!("{}:{port}", target.domain())
    } else {
        target.addr().to_string()
    }
}

/// HTTP `CONNECT` (RFC 9110 §9.3.6): any 2xx opens the tunnel; the answer's
/// head is read to its blank line and nothing past it (the target speaks
/// only after the ClientHello, so a byte past it is a broken proxy).
async fn connect(mut tcp: TcpStream, entry: &Entry, target: &Target) -> Result<TcpStream, Failed> {
    let to = authority(entry, target);
    let mut req = format!("CONNECT {to} HTTP/1.1\r\nHost: {to}\r\n");
    if let Some(user) = &entry.proxy.user {
        let pass = entry.proxy.password.as_deref().unwrap_or("");
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        req.push_str(&format!("Proxy-Authorization: Basic {token}\r\n"));
    }
    req.push_str("\r\n");
    let io = |what: &str, e: io::Error| Failed::proxy(format!("{what} the CONNECT: {e}"));
    tcp.write_all(req.as_bytes())
        .await
        .map_err(|e| io("sending", e))?;
    let mut head = Vec::with_capacity(256);
    let mut buf = [0u8; 1024];
    loop {
        let n = tcp
            .read(&mut buf)
            .await
            .map_err(|e| io("reading the answer to", e))?;
        if n == 0 {
            return Err(Failed::proxy(
                "the proxy closed the connection during CONNECT",
            ));
        }
        head.extend_from_slice(&buf[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut resp = httparse::Response::new(&mut headers);
        match resp.parse(&head) {
            Ok(httparse::Status::Complete(len)) => {
                let code = resp.code.unwrap_or(0);
                let reason = resp.reason.unwrap_or("").to_owned();
                if (200..300).contains(&code) {
                    if len != head.len() {
                        return Err(Failed::proxy(
                            "the proxy sent bytes after its CONNECT answer",
                        ));
                    }
                    return Ok(tcp);
                }
                let what = match code {
                    407 => " (proxy authentication rejected)",
                    _ => "",
                };
                return Err(Failed {
                    reason: format!("CONNECT {to} answered {code} {reason}{what}"),
                    // Bad gateway / gateway time-out: the proxy could not
                    // reach the target.
                    at_target: matches!(code, 502 | 504),
                });
            }
            Ok(httparse::Status::Partial) if head.len() < MAX_CONNECT_HEAD => continue,
            Ok(httparse::Status::Partial) => {
                return Err(Failed::proxy(format!(
                    "the CONNECT answer's head is over {MAX_CONNECT_HEAD} bytes"
                )))
            }
            Err(e) => return Err(Failed::proxy(format!("not an HTTP answer to CONNECT: {e}"))),
        }
    }
}

/// SOCKS5 through `tokio-socks`: no authentication, or user/password when
/// the proxy has credentials.
async fn socks5(tcp: TcpStream, entry: &Entry, target: &Target) -> Result<TcpStream, Failed> {
    use tokio_socks::{tcp::Socks5Stream, Error as S};
    let p = &entry.proxy;
    let host = target.domain().to_owned();
    let port = target.addr().port();
    let stream = match (&p.user, p.remote_dns) {
        (Some(user), true) => {
            let pass = p.password.as_deref().unwrap_or("");
            Socks5Stream::connect_with_password_and_socket(tcp, (host.as_str(), port), user, pass)
                .await
        }
        (Some(user), false) => {
            let pass = p.password.as_deref().unwrap_or("");
            Socks5Stream::connect_with_password_and_socket(tcp, target.addr(), user, pass).await
        }
        (None, true) => Socks5Stream::connect_with_socket(tcp, (host.as_str(), port)).await,
        (None, false) => Socks5Stream::connect_with_socket(tcp, target.addr()).await,
    };
    match stream {
        Ok(s) => Ok(s.into_inner()),
        Err(e) => {
            let at_target = matches!(
                e,
                S::HostUnreachable | S::ConnectionRefused | S::NetworkUnreachable | S::TtlExpired
            );
            let reason = match &e {
                S::PasswordAuthFailure(code) => {
                    format!("SOCKS5 user/password rejected (status {code})")
                }
                S::NoAcceptableAuthMethods => {
                    "SOCKS5: no acceptable authentication method (credentials needed?)".to_owned()
                }
                other if at_target => {
                    format!(
                        "SOCKS5: the proxy cannot reach {}: {other}",
                        authority(entry, target)
                    )
                }
                other => format!("SOCKS5: {other}"),
            };
            Err(Failed { reason, at_target })
        }
    }
}
