//! The bench's server: hyper + rustls on loopback, a 100-byte body, in a
//! child process (this binary started again with `--serve h1|h2`) so the
//! clients' figures are their own. It reports each finished TLS handshake
//! on its stdout, which the parent counts: the handshakes column is the
//! server's, the same for every client.

use std::{
    io::{BufRead, BufReader, Write},
    net::{IpAddr, SocketAddr},
    process::{Command, Stdio},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
};

/// The server's name (the clients resolve it to [`ip`]).
pub const NAME: &str = "e2e.hotpool.test";
/// The response body.
pub const BODY: &[u8; 100] = &[b'x'; 100];
/// Streams an HTTP/2 connection allows (`SETTINGS_MAX_CONCURRENT_STREAMS`).
pub const H2_MAX_STREAMS: u32 = 100;

/// The server's address.
pub fn ip() -> IpAddr {
    IpAddr::from([127, 0, 0, 2])
}

/// Runs the server (in the child process) until its stdin closes.
pub fn serve(h2: bool) {
    use hyper::{service::service_fn, Response};
    use hyper_util::{rt::TokioIo, server::conn::auto};
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec![NAME.to_string()])
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        let mut config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf.der().clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .unwrap();
        config.alpn_protocols = if h2 {
            vec![b"h2".to_vec()]
        } else {
            vec![b"http/1.1".to_vec()]
        };
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind(SocketAddr::new(ip(), 0))
            .await
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let ca_hex: String = ca.der().iter().map(|b| format!("{b:02x}")).collect();
        println!("PORT {port}");
        println!("CA {ca_hex}");
        std::io::stdout().flush().unwrap();
        // Exit when the parent closes our stdin.
        tokio::spawn(async {
            let mut buf = String::new();
            let _ = tokio::task::spawn_blocking(move || std::io::stdin().read_line(&mut buf)).await;
            std::process::exit(0);
        });
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                {
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(out, "H");
                    let _ = out.flush();
                }
                let svc = service_fn(|_req| async {
                    Ok::<_, std::convert::Infallible>(Response::new(http_body_util::Full::new(
                        bytes::Bytes::from_static(BODY),
                    )))
                });
                let mut b = auto::Builder::new(hyper_util::rt::TokioExecutor::new());
                if h2 {
                    b.http2().max_concurrent_streams(H2_MAX_STREAMS);
                    let _ = b
                        .http2_only()
                        .serve_connection(TokioIo::new(tls), svc)
                        .await;
                } else {
                    let _ = b
                        .http1_only()
                        .serve_connection(TokioIo::new(tls), svc)
                        .await;
                }
            });
        }
    });
}

/// The server's child process, seen from the parent.
pub struct Server {
    child: std::process::Child,
    /// Its port on [`ip`].
    pub port: u16,
    /// Its CA certificate (DER).
    pub ca: Vec<u8>,
    handshakes: Arc<AtomicUsize>,
}

impl Server {
    /// Starts the server process (`h2`: it speaks HTTP/2 only).
    pub fn start(h2: bool) -> Server {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--serve", if h2 { "h2" } else { "h1" }])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the server process");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let port = line.trim().strip_prefix("PORT ").unwrap().parse().unwrap();
        line.clear();
        out.read_line(&mut line).unwrap();
        let ca = from_hex(line.trim().strip_prefix("CA ").unwrap());
        let handshakes = Arc::new(AtomicUsize::new(0));
        let count = handshakes.clone();
        std::thread::spawn(move || {
            for l in out.lines() {
                match l {
                    Ok(l) if l == "H" => {
                        count.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
        });
        Server {
            child,
            port,
            ca,
            handshakes,
        }
    }

    /// A stand-in for a server started by another process (the memory
    /// child measures against its parent's server).
    pub fn existing(port: u16, ca: Vec<u8>) -> Server {
        Server {
            child: Command::new("true").spawn().unwrap(),
            port,
            ca,
            handshakes: Arc::default(),
        }
    }

    /// The URL the clients get.
    pub fn url(&self) -> String {
        format!("https://{NAME}:{}/", self.port)
    }

    /// TLS handshakes the server has finished so far.
    pub fn handshakes(&self) -> usize {
        self.handshakes.load(Ordering::SeqCst)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Bytes from a hex string.
pub fn from_hex(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

/// A hex string of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
