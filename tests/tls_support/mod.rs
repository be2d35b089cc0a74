//! Loopback rustls servers for the TLS tests: a test CA made with rcgen,
//! servers on several 127.0.0.x addresses sharing one port, and counters of
//! what they saw.
#![allow(dead_code)]

use hotpool::rustls::{
    self,
    pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer},
    ServerConfig,
};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use std::{
    net::{IpAddr, SocketAddr},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
    task::JoinSet,
};

pub const NAME: &str = "test.hotpool.example";

/// A test certificate authority.
pub struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Ca {
    pub fn new() -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        Ca {
            issuer: CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap(),
        }
    }

    /// The CA certificate, for the client's root store.
    pub fn cert(&self) -> CertificateDer<'static> {
        self.issuer.der().clone()
    }

    /// A leaf certificate for `names`, with its key.
    pub fn leaf(&self, names: &[&str]) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        let key = KeyPair::generate().unwrap();
        let params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (
            vec![cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
    }

    /// The CA certificate in PEM.
    pub fn cert_pem(&self) -> String {
        self.issuer.pem()
    }

    /// A leaf certificate for `names` and its key, in PEM (for servers
    /// configured by file, such as nginx).
    pub fn leaf_pem(&self, names: &[&str]) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    /// A server config presenting a certificate for `names`.
    pub fn server_config(&self, names: &[&str]) -> ServerConfig {
        let (chain, key) = self.leaf(names);
        ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap()
    }
}

/// What a test server does with a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// TLS, then echo every byte back.
    Echo,
    /// Accept TCP and never answer.
    Silent,
}

/// Servers on one port across several loopback addresses.
pub struct Server {
    pub port: u16,
    pub accepts: Arc<AtomicUsize>,
    pub handshakes: Arc<AtomicUsize>,
    pub server_names: Arc<Mutex<Vec<String>>>,
    tasks: JoinSet<()>,
}

impl Server {
    pub fn addr(&self, ip: IpAddr) -> SocketAddr {
        SocketAddr::new(ip, self.port)
    }

    pub fn accepts(&self) -> usize {
        self.accepts.load(Ordering::SeqCst)
    }

    pub fn handshakes(&self) -> usize {
        self.handshakes.load(Ordering::SeqCst)
    }
}

/// Binds `ips` on one shared port (retrying until one is free on all).
pub async fn bind_all(ips: &[IpAddr]) -> (u16, Vec<TcpListener>) {
    'retry: for _ in 0..50 {
        let first = TcpListener::bind(SocketAddr::new(ips[0], 0)).await.unwrap();
        let port = first.local_addr().unwrap().port();
        let mut ls = vec![first];
        for ip in &ips[1..] {
            match TcpListener::bind(SocketAddr::new(*ip, port)).await {
                Ok(l) => ls.push(l),
                Err(_) => continue 'retry,
            }
        }
        return (port, ls);
    }
    panic!("no common free port");
}

pub async fn start(ips: &[IpAddr], config: ServerConfig, mode: Mode) -> Server {
    let (port, listeners) = bind_all(ips).await;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let accepts = Arc::new(AtomicUsize::new(0));
    let handshakes = Arc::new(AtomicUsize::new(0));
    let server_names = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = JoinSet::new();
    for l in listeners {
        let (acceptor, accepts, handshakes, names) = (
            acceptor.clone(),
            accepts.clone(),
            handshakes.clone(),
            server_names.clone(),
        );
        tasks.spawn(async move {
            let mut conns = JoinSet::new();
            loop {
                let Ok((tcp, _)) = l.accept().await else {
                    return;
                };
                accepts.fetch_add(1, Ordering::SeqCst);
                if mode == Mode::Silent {
                    conns.spawn(async move {
                        let _hold = tcp;
                        std::future::pending::<()>().await;
                    });
                    continue;
                }
                let (acceptor, handshakes, names) =
                    (acceptor.clone(), handshakes.clone(), names.clone());
                conns.spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    handshakes.fetch_add(1, Ordering::SeqCst);
                    if let Some(n) = tls.get_ref().1.server_name() {
                        names.lock().unwrap().push(n.to_string());
                    }
                    let mut buf = [0u8; 1024];
                    loop {
                        match tls.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => {
                                if tls.write_all(&buf[..n]).await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                });
            }
        });
    }
    Server {
        port,
        accepts,
        handshakes,
        server_names,
        tasks,
    }
}

/// A TLS 1.2-only server config with one cipher suite.
pub fn tls12_only(ca: &Ca) -> ServerConfig {
    let (chain, key) = ca.leaf(&[NAME]);
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    provider.cipher_suites =
        vec![rustls::crypto::aws_lc_rs::cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256];
    ServerConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap()
}
