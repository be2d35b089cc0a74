//! TLS fingerprint profiles: named rustls client configurations that send
//! distinct, valid ClientHellos.
//!
//! rustls cannot reproduce a browser's ClientHello byte for byte — it sends
//! no GREASE values and shuffles its extension order on every handshake — so
//! these profiles are *distinct valid hellos*, each varying what rustls lets
//! a client control, and none is named after a browser. Each profile's JA4
//! is computed from the ClientHello it really sends and pinned in
//! `tests/tls_profiles.rs`. A profile that offers h2 also says how its
//! HTTP/2 connection opens ([`Http2Settings`]); each one's Akamai HTTP/2
//! fingerprint is pinned in `tests/h2_fingerprints.rs`.

mod http2;

pub use http2::{Http2Settings, DEFAULT_WINDOW, MAX_WINDOW};

use crate::error::Error;
use rustls::{
    client::{EchGreaseConfig, EchMode},
    crypto::{
        aws_lc_rs::{self as provider, cipher_suite as cs, kx_group},
        SupportedKxGroup, WebPkiSupportedAlgorithms,
    },
    version::{TLS12, TLS13},
    ClientConfig, SignatureScheme, SupportedCipherSuite, SupportedProtocolVersion,
};
use std::sync::{Arc, OnceLock};

/// TCP options paired with a TLS profile, as the Go design paired each TLS
/// fingerprint with a TCP one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TcpOptions {
    /// IP time-to-live (hop limit for IPv6) of outgoing packets.
    pub ttl: Option<u32>,
    /// The socket's receive-buffer size in bytes.
    pub recv_buffer: Option<usize>,
}

/// The order in which signature schemes are offered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignatureOrder {
    /// rustls's own order (ECDSA, then RSA-PSS, then PKCS#1, Ed25519).
    Default,
    /// RSA-PSS and PKCS#1 schemes first, ECDSA and Ed25519 after.
    RsaFirst,
}

/// A named ClientHello shape.
#[derive(Clone, Debug)]
pub struct Profile {
    name: Arc<str>,
    versions: Vec<&'static SupportedProtocolVersion>,
    suites: Vec<SupportedCipherSuite>,
    groups: Vec<&'static dyn SupportedKxGroup>,
    alpn: Vec<Vec<u8>>,
    signatures: SignatureOrder,
    cert_compression: bool,
    ech_grease: bool,
    tcp: TcpOptions,
    http2: Http2Settings,
}

const H2: &[u8] = b"h2";
const H1: &[u8] = b"http/1.1";

impl Profile {
    /// A profile named `name` with rustls's defaults: TLS 1.2 and 1.3, all
    /// suites, X25519MLKEM768 + X25519 + P-256 + P-384, ALPN h2 and
    /// http/1.1, certificate compression, no ECH GREASE, hyper's HTTP/2
    /// settings ([`Http2Settings::default`]).
    pub fn new(name: &str) -> Profile {
        Profile {
            name: name.into(),
            versions: vec![&TLS13, &TLS12],
            suites: provider::ALL_CIPHER_SUITES.to_vec(),
            groups: vec![
                kx_group::X25519MLKEM768,
                kx_group::X25519,
                kx_group::SECP256R1,
                kx_group::SECP384R1,
            ],
            alpn: vec![H2.to_vec(), H1.to_vec()],
            signatures: SignatureOrder::Default,
            cert_compression: true,
            ech_grease: false,
            tcp: TcpOptions::default(),
            http2: Http2Settings::default(),
        }
    }

    /// The built-in profiles, each a different ClientHello and, for those
    /// offering h2, a different HTTP/2 opening:
    ///
    /// | name | versions | suites | groups | ALPN | other | HTTP/2 SETTINGS (id:value) · WINDOW_UPDATE |
    /// |---|---|---|---|---|---|---|
    /// | `pq-h2` | 1.2 + 1.3 | all, AES-128 first | X25519MLKEM768 first (large hello) | h2, http/1.1 | cert compression | 1:65536 2:0 4:6291456 6:· · 15663105 |
    /// | `classic-h2` | 1.2 + 1.3 | ChaCha20 first | X25519, P-256, P-384 (small hello) | h2, http/1.1 | — | 2:0 4:131072 5:16384 6:· · 12517377 |
    /// | `tls13-h1` | 1.3 only | 1.3 suites, AES-256 first | X25519, P-256 | http/1.1 | — | — |
    /// | `compat-h1` | 1.2 + 1.3 | AES-GCM only | P-256, X25519, P-384 | http/1.1 | RSA signatures first | — |
    /// | `ech-grease` | 1.3 only | 1.3 suites | X25519MLKEM768, X25519 | h2, http/1.1 | GREASE ECH, cert compression | 1:65536 2:0 3:1000 4:1048576 6:· · 10420225 |
    /// | `p384-h2` | 1.2 + 1.3 | all | P-384, P-256, X25519 | h2, http/1.1 | RSA signatures first; TTL 64, 256 KiB receive buffer | 1:4096 2:0 3:100 4:4194304 5:32768 6:· · 8323073 |
    ///
    /// `6:·` is `max_response_header_size` (65536 by default). The pseudo-header
    /// order is hyper's `m,s,a,p` for all of them (see [`Http2Settings`]).
    pub fn builtin() -> Vec<Profile> {
        vec![
            Profile::new("pq-h2").http2(Http2Settings {
                header_table_size: Some(65_536),
                max_concurrent_streams: None,
                initial_stream_window: 6_291_456,
                initial_connection_window: 15_728_640,
                max_frame_size: None,
            }),
            Profile::new("classic-h2")
                .suites(&[
                    cs::TLS13_CHACHA20_POLY1305_SHA256,
                    cs::TLS13_AES_128_GCM_SHA256,
                    cs::TLS13_AES_256_GCM_SHA384,
                    cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
                    cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
                    cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
                    cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
                    cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
                    cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
                ])
                .groups(&[kx_group::X25519, kx_group::SECP256R1, kx_group::SECP384R1])
                .cert_compression(false)
                .http2(Http2Settings {
                    header_table_size: None,
                    max_concurrent_streams: None,
                    initial_stream_window: 131_072,
                    initial_connection_window: 12_582_912,
                    max_frame_size: Some(16_384),
                }),
            Profile::new("tls13-h1")
                .versions(&[&TLS13])
                .suites(&[
                    cs::TLS13_AES_256_GCM_SHA384,
                    cs::TLS13_AES_128_GCM_SHA256,
                    cs::TLS13_CHACHA20_POLY1305_SHA256,
                ])
                .groups(&[kx_group::X25519, kx_group::SECP256R1])
                .alpn(&[H1])
                .cert_compression(false),
            Profile::new("compat-h1")
                .suites(&[
                    cs::TLS13_AES_128_GCM_SHA256,
                    cs::TLS13_AES_256_GCM_SHA384,
                    cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
                    cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
                    cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
                    cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
                ])
                .groups(&[kx_group::SECP256R1, kx_group::X25519, kx_group::SECP384R1])
                .alpn(&[H1])
                .signatures(SignatureOrder::RsaFirst)
                .cert_compression(false),
            Profile::new("ech-grease")
                .versions(&[&TLS13])
                .suites(&[
                    cs::TLS13_AES_128_GCM_SHA256,
                    cs::TLS13_AES_256_GCM_SHA384,
                    cs::TLS13_CHACHA20_POLY1305_SHA256,
                ])
                .groups(&[kx_group::X25519MLKEM768, kx_group::X25519])
                .ech_grease(true)
                .http2(Http2Settings {
                    header_table_size: Some(65_536),
                    max_concurrent_streams: Some(1000),
                    initial_stream_window: 1_048_576,
                    initial_connection_window: 10_485_760,
                    max_frame_size: None,
                }),
            Profile::new("p384-h2")
                .groups(&[kx_group::SECP384R1, kx_group::SECP256R1, kx_group::X25519])
                .signatures(SignatureOrder::RsaFirst)
                .cert_compression(false)
                .tcp(TcpOptions {
                    ttl: Some(64),
                    recv_buffer: Some(256 * 1024),
                })
                .http2(Http2Settings {
                    header_table_size: Some(4096),
                    max_concurrent_streams: Some(100),
                    initial_stream_window: 4_194_304,
                    initial_connection_window: 8_388_608,
                    max_frame_size: Some(32_768),
                }),
        ]
    }

    /// The profile's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The name as a shared string.
    pub fn name_arc(&self) -> &Arc<str> {
        &self.name
    }

    /// Its TCP options.
    pub fn tcp_options(&self) -> TcpOptions {
        self.tcp
    }

    /// The protocol versions offered.
    pub fn versions(mut self, v: &[&'static SupportedProtocolVersion]) -> Self {
        self.versions = v.to_vec();
        self
    }

    /// The cipher suites offered, in order.
    pub fn suites(mut self, s: &[SupportedCipherSuite]) -> Self {
        self.suites = s.to_vec();
        self
    }

    /// The key-exchange groups offered, in order (the first gets a key share).
    pub fn groups(mut self, g: &[&'static dyn SupportedKxGroup]) -> Self {
        self.groups = g.to_vec();
        self
    }

    /// The ALPN protocols offered, in order.
    pub fn alpn(mut self, protocols: &[&[u8]]) -> Self {
        self.alpn = protocols.iter().map(|p| p.to_vec()).collect();
        self
    }

    /// The signature-scheme order.
    pub fn signatures(mut self, order: SignatureOrder) -> Self {
        self.signatures = order;
        self
    }

    /// Whether to offer certificate compression (brotli, zlib).
    pub fn cert_compression(mut self, on: bool) -> Self {
        self.cert_compression = on;
        self
    }

    /// Whether to send a GREASE Encrypted Client Hello (TLS 1.3 only).
    pub fn ech_grease(mut self, on: bool) -> Self {
        self.ech_grease = on;
        self
    }

    /// TCP options for connections of this profile.
    pub fn tcp(mut self, tcp: TcpOptions) -> Self {
        self.tcp = tcp;
        self
    }

    /// How its HTTP/2 connections open (used when the server agrees to h2).
    pub fn http2(mut self, settings: Http2Settings) -> Self {
        self.http2 = settings;
        self
    }

    /// Its HTTP/2 settings.
    pub fn http2_settings(&self) -> Http2Settings {
        self.http2
    }

    /// Whether the profile offers ALPN h2.
    pub fn offers_h2(&self) -> bool {
        self.alpn.iter().any(|p| p == H2)
    }

    /// The rustls configuration for this profile on the aws-lc-rs provider,
    /// with the given way of verifying server certificates.
    /// [`Error::InvalidConfig`] (key `tls.profile.NAME.http2.FIELD`) for
    /// HTTP/2 settings outside the protocol's bounds.
    pub(crate) fn client_config(&self, verify: &Verification) -> Result<ClientConfig, Error> {
        self.http2.check(&self.name)?;
        let mut p = provider::default_provider();
        p.cipher_suites = self.suites.clone();
        p.kx_groups = self.groups.clone();
        if self.signatures == SignatureOrder::RsaFirst {
            p.signature_verification_algorithms = rsa_first(p.signature_verification_algorithms);
        }
        let p = Arc::new(p);
        let bad = |e: rustls::Error| {
            Error::invalid_config(
                format!("tls.profile.{}", self.name),
                "profile",
                e.to_string(),
            )
        };
        let builder = ClientConfig::builder_with_provider(p.clone());
        let builder = if self.ech_grease {
            let suite = provider::hpke::DH_KEM_X25519_HKDF_SHA256_AES_128;
            let (public, _) = rustls::crypto::hpke::Hpke::generate_key_pair(suite).map_err(bad)?;
            builder
                .with_ech(EchMode::Grease(EchGreaseConfig::new(suite, public)))
                .map_err(bad)?
        } else {
            builder
                .with_protocol_versions(&self.versions)
                .map_err(bad)?
        };
        let mut config = match verify {
            Verification::Roots(roots) => builder
                .with_root_certificates(roots.clone())
                .with_no_client_auth(),
            Verification::Custom(v) => builder
                .dangerous()
                .with_custom_certificate_verifier(v.clone())
                .with_no_client_auth(),
        };
        config.alpn_protocols = self.alpn.clone();
        if !self.cert_compression {
            config.cert_decompressors = Vec::new();
        }
        Ok(config)
    }
}

/// How server certificates are checked.
#[derive(Clone, Debug)]
pub(crate) enum Verification {
    /// Against these roots, for the domain name (the default).
    Roots(Arc<rustls::RootCertStore>),
    /// By a caller's verifier (including the dangerous no-verify one).
    Custom(Arc<dyn rustls::client::danger::ServerCertVerifier>),
}

/// The default mapping reordered with RSA schemes first; built once and
/// kept for the life of the process (rustls takes `'static` slices).
fn rsa_first(default: WebPkiSupportedAlgorithms) -> WebPkiSupportedAlgorithms {
    type Mapping = [(
        SignatureScheme,
        &'static [&'static dyn rustls::pki_types::SignatureVerificationAlgorithm],
    )];
    static REORDERED: OnceLock<&'static Mapping> = OnceLock::new();
    let mapping = REORDERED.get_or_init(|| {
        let mut v = default.mapping.to_vec();
        v.sort_by_key(|(scheme, _)| {
            let s = format!("{scheme:?}");
            !(s.starts_with("RSA_PSS") || s.starts_with("RSA_PKCS1"))
        });
        Box::leak(v.into_boxed_slice())
    });
    WebPkiSupportedAlgorithms {
        all: default.all,
        mapping,
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn builtin_profiles_build_and_have_unique_names() {
        let roots = Verification::Roots(Arc::new(rustls::RootCertStore::empty()));
        let profiles = Profile::builtin();
        assert!(profiles.len() >= 5);
        let mut names: Vec<&str> = profiles.iter().map(Profile::name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), profiles.len());
        for p in &profiles {
            p.client_config(&roots)
                .unwrap_or_else(|e| panic!("{}: {e}", p.name()));
        }
    }
}
