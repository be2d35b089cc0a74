//! Loopback proxies for the proxy tests: an HTTP `CONNECT` proxy and a
//! SOCKS5 proxy (RFC 1928, user/password by RFC 1929), each optionally
//! requiring credentials, counting the tunnels it opened, recording the
//! targets it was asked for (as sent: an IP or a name) and the first TLS
//! record (the ClientHello) that crossed each tunnel.
#![allow(dead_code)]

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    sync::{
        atomic::{AtomicUsize, Ordering::Relaxed},
        Arc, Mutex,
    },
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

/// What a proxy saw.
#[derive(Default)]
pub struct Seen {
    pub tunnels: AtomicUsize,
    pub auth_failures: AtomicUsize,
    /// Targets as asked for: `ip:port`, `[v6]:port` or `name:port`.
    pub targets: Mutex<Vec<String>>,
    /// The first TLS record of each tunnel, client to server.
    pub hellos: Mutex<Vec<Vec<u8>>>,
}

pub struct ProxyServer {
    pub addr: SocketAddr,
    pub seen: Arc<Seen>,
    _task: tokio::task::JoinHandle<()>,
}

impl ProxyServer {
    pub fn tunnels(&self) -> usize {
        self.seen.tunnels.load(Relaxed)
    }

    pub fn targets(&self) -> Vec<String> {
        self.seen.targets.lock().unwrap().clone()
    }

    pub fn url(&self, scheme: &str, auth: Option<(&str, &str)>) -> String {
        match auth {
            Some((u, p)) => format!("{scheme}://{u}:{p}@{}", self.addr),
            None => format!("{scheme}://{}", self.addr),
        }
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Connect,
    Socks5,
}

/// An HTTP CONNECT proxy on 127.0.0.1; `auth` is the user and password it
/// requires.
pub async fn connect_proxy(auth: Option<(&str, &str)>) -> ProxyServer {
    serve(Kind::Connect, auth, HashMap::new()).await
}

/// A SOCKS5 proxy on 127.0.0.1; names it is asked for are resolved by
/// `names`.
pub async fn socks5_proxy(
    auth: Option<(&str, &str)>,
    names: HashMap<String, IpAddr>,
) -> ProxyServer {
    serve(Kind::Socks5, auth, names).await
}

async fn serve(
    kind: Kind,
    auth: Option<(&str, &str)>,
    names: HashMap<String, IpAddr>,
) -> ProxyServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Seen::default());
    let auth = auth.map(|(u, p)| (u.to_owned(), p.to_owned()));
    let names = Arc::new(names);
    let s = seen.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((client, _)) = listener.accept().await else {
                return;
            };
            let (seen, auth, names) = (s.clone(), auth.clone(), names.clone());
            tokio::spawn(async move {
                let upstream = match kind {
                    Kind::Connect => connect_handshake(client, &seen, auth).await,
                    Kind::Socks5 => socks5_handshake(client, &seen, auth, &names).await,
                };
                if let Some((client, upstream)) = upstream {
                    seen.tunnels.fetch_add(1, Relaxed);
                    relay(client, upstream, &seen).await;
                }
            });
        }
    });
    ProxyServer {
        addr,
        seen,
        _task: task,
    }
}

fn resolve(target: &str, names: &HashMap<String, IpAddr>) -> Option<SocketAddr> {
    if let Ok(a) = target.parse() {
        return Some(a);
    }
    let (name, port) = target.rsplit_once(':')?;
    Some(SocketAddr::new(*names.get(name)?, port.parse().ok()?))
}

async fn connect_handshake(
    mut client: TcpStream,
    seen: &Seen,
    auth: Option<(String, String)>,
) -> Option<(TcpStream, TcpStream)> {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if client.read(&mut b).await.ok()? == 0 || head.len() > 8192 {
            return None;
        }
        head.push(b[0]);
    }
    let text = String::from_utf8(head).ok()?;
    let mut lines = text.split("\r\n");
    let request = lines.next()?;
    let target = request
        .strip_prefix("CONNECT ")?
        .strip_suffix(" HTTP/1.1")?
        .to_owned();
    if let Some((u, p)) = auth {
        use base64::Engine as _;
        let want = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
        // The scheme is case-insensitive, the token is not.
        let ok = lines.any(|l| {
            let Some((name, value)) = l.split_once(':') else {
                return false;
            };
            let mut v = value.split_whitespace();
            name.eq_ignore_ascii_case("proxy-authorization")
                && v.next().is_some_and(|s| s.eq_ignore_ascii_case("basic"))
                && v.next() == Some(want.as_str())
        });
        if !ok {
            seen.auth_failures.fetch_add(1, Relaxed);
            let _ = client
                .write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\n\r\n")
                .await;
            return None;
        }
    }
    seen.targets.lock().unwrap().push(target.clone());
    let Some(addr) = resolve(&target, &HashMap::new()) else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
        return None;
    };
    match TcpStream::connect(addr).await {
        Ok(up) => {
            client
                .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                .await
                .ok()?;
            Some((client, up))
        }
        Err(_) => {
            let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
            None
        }
    }
}

async fn socks5_handshake(
    mut client: TcpStream,
    seen: &Seen,
    auth: Option<(String, String)>,
    names: &HashMap<String, IpAddr>,
) -> Option<(TcpStream, TcpStream)> {
    let mut hdr = [0u8; 2];
    client.read_exact(&mut hdr).await.ok()?;
    if hdr[0] != 5 {
        return None;
    }
    let mut methods = vec![0u8; hdr[1] as usize];
    client.read_exact(&mut methods).await.ok()?;
    match &auth {
        Some((u, p)) => {
            if !methods.contains(&2) {
                let _ = client.write_all(&[5, 0xff]).await;
                return None;
            }
            client.write_all(&[5, 2]).await.ok()?;
            let mut v = [0u8; 2];
            client.read_exact(&mut v).await.ok()?;
            let mut user = vec![0u8; v[1] as usize];
            client.read_exact(&mut user).await.ok()?;
            let mut plen = [0u8; 1];
            client.read_exact(&mut plen).await.ok()?;
            let mut pass = vec![0u8; plen[0] as usize];
            client.read_exact(&mut pass).await.ok()?;
            if user != u.as_bytes() || pass != p.as_bytes() {
                seen.auth_failures.fetch_add(1, Relaxed);
                let _ = client.write_all(&[1, 1]).await;
                return None;
            }
            client.write_all(&[1, 0]).await.ok()?;
        }
        None => {
            if !methods.contains(&0) {
                let _ = client.write_all(&[5, 0xff]).await;
                return None;
            }
            client.write_all(&[5, 0]).await.ok()?;
        }
    }
    let mut req = [0u8; 4];
    client.read_exact(&mut req).await.ok()?;
    if req[0] != 5 || req[1] != 1 {
        return None;
    }
    let host = match req[3] {
        1 => {
            let mut a = [0u8; 4];
            client.read_exact(&mut a).await.ok()?;
            IpAddr::from(a).to_string()
        }
        4 => {
            let mut a = [0u8; 16];
            client.read_exact(&mut a).await.ok()?;
            format!("[{}]", IpAddr::from(a))
        }
        3 => {
            let mut n = [0u8; 1];
            client.read_exact(&mut n).await.ok()?;
            let mut name = vec![0u8; n[0] as usize];
            client.read_exact(&mut name).await.ok()?;
            String::from_utf8(name).ok()?
        }
        _ => return None,
    };
    let mut port = [0u8; 2];
    client.read_exact(&mut port).await.ok()?;
    let target = format!("{host}:{}", u16::from_be_bytes(port));
    seen.targets.lock().unwrap().push(target.clone());
    let reply = |code: u8| [5, code, 0, 1, 0, 0, 0, 0, 0, 0];
    let Some(addr) = resolve(&target, names) else {
        let _ = client.write_all(&reply(4)).await; // host unreachable
        return None;
    };
    match TcpStream::connect(addr).await {
        Ok(up) => {
            client.write_all(&reply(0)).await.ok()?;
            Some((client, up))
        }
        Err(_) => {
            let _ = client.write_all(&reply(5)).await; // connection refused
            None
        }
    }
}

/// Records the first TLS record from the client, then copies both ways.
async fn relay(mut client: TcpStream, mut upstream: TcpStream, seen: &Seen) {
    let mut first = vec![0u8; 5];
    if client.read_exact(&mut first).await.is_err() {
        return;
    }
    let len = u16::from_be_bytes([first[3], first[4]]) as usize;
    first.resize(5 + len, 0);
    if client.read_exact(&mut first[5..]).await.is_err() {
        return;
    }
    seen.hellos.lock().unwrap().push(first.clone());
    if upstream.write_all(&first).await.is_err() {
        return;
    }
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
}
