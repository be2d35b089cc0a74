//! Client fingerprints: JA4 and JA3 computed from the raw bytes of a TLS
//! ClientHello ([`ClientHello`]), and the Akamai HTTP/2 fingerprint from a
//! client's first HTTP/2 frames ([`Http2Hello`], in `http2.rs`).
//!
//! The record is parsed with [`tls_parser`] (a maintained nom-based TLS
//! parser); this module only reads the fields the fingerprints need and
//! formats them as the specifications say.
//!
//! **JA4** (FoxIO's specification), `a_b_c`:
//!
//! * `a`: `t` (TLS over TCP), the highest version offered (from the
//!   supported_versions extension if present, else the hello's version:
//!   `13`, `12`, `11`, `10`, `s3`), `d` if an SNI is sent else `i`, the number
//!   of cipher suites and of extensions (two digits each, at most 99, GREASE
//!   not counted), and the first and last character of the first ALPN value
//!   (`00` without ALPN; the first and last hex digits of its bytes when
//!   either character is not alphanumeric).
//! * `b`: the first 12 hex digits of the SHA-256 of the cipher suites, sorted,
//!   as 4-digit lowercase hex joined by commas (`000000000000` if none).
//! * `c`: the first 12 hex digits of the SHA-256 of the extension types,
//!   sorted, without SNI (`0000`) and ALPN (`0010`), then `_` and the
//!   signature algorithms in the order sent (the `_` part omitted when there
//!   are none); `000000000000` if there are no extensions.
//!
//! GREASE values (`0x?a?a`) are ignored everywhere.
//!
//! **JA3**: `version,ciphers,extensions,groups,point_formats` in decimal,
//! `-`-joined, hashed with MD5. rustls shuffles its extension order on every
//! handshake, so [`ClientHello::ja3`] sorts the extension types first (the
//! variant sometimes called JA3N); with the order as sent, a rustls client
//! would have a new JA3 per connection.
//!
//! # Examples
//!
//! ```
//! # fn hello_bytes() -> Vec<u8> {
//! #     // record header, handshake header, a minimal TLS 1.2 hello
//! #     let mut body = vec![0x03, 0x03];
//! #     body.extend([0u8; 32]); // random
//! #     body.push(0); // session id
//! #     body.extend([0x00, 0x02, 0xc0, 0x2f]); // one suite
//! #     body.extend([0x01, 0x00]); // null compression
//! #     let mut hs = vec![0x01, 0x00, 0x00, body.len() as u8];
//! #     hs.extend(body);
//! #     let mut rec = vec![0x16, 0x03, 0x01, 0x00, hs.len() as u8];
//! #     rec.extend(hs);
//! #     rec
//! # }
//! use hotpool::fingerprint::ClientHello;
//!
//! let hello = ClientHello::parse(&hello_bytes())?;
//! assert_eq!(hello.ja4(), "t12i010000_f06271c2b022_000000000000");
//! # Ok::<(), hotpool::Error>(())
//! ```

mod http2;

pub use http2::{Http2Hello, Priority, HTTP2_PREFACE};

use crate::error::Error;
use sha2::{Digest, Sha256};
use std::fmt::Write;
use tls_parser::{
    parse_tls_client_hello_extensions, parse_tls_plaintext, TlsExtension, TlsExtensionType,
    TlsMessage, TlsMessageHandshake,
};

const SNI: u16 = 0x0000;
const ALPN: u16 = 0x0010;

/// Whether `v` is a GREASE value (RFC 8701): `0x0a0a`, `0x1a1a`, … `0xfafa`.
pub fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && v >> 8 == v & 0xff
}

/// The fields of a ClientHello that fingerprints are made of, in the order
/// the client sent them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientHello {
    /// The legacy `client_version` field (0x0303 for TLS 1.2 and 1.3).
    pub version: u16,
    /// Cipher suites, GREASE included.
    pub ciphers: Vec<u16>,
    /// Extension types, GREASE included.
    pub extensions: Vec<u16>,
    /// The server name, if an SNI extension carries one.
    pub server_name: Option<String>,
    /// ALPN protocol names.
    pub alpn: Vec<Vec<u8>>,
    /// The supported_versions extension's list.
    pub supported_versions: Vec<u16>,
    /// The signature_algorithms extension's list.
    pub signature_algorithms: Vec<u16>,
    /// The supported_groups extension's list.
    pub groups: Vec<u16>,
    /// The ec_point_formats extension's list.
    pub point_formats: Vec<u8>,
}

fn invalid(reason: impl Into<String>) -> Error {
    Error::InvalidClientHello {
        reason: reason.into(),
    }
}

impl ClientHello {
    /// Parses the first TLS record of `bytes`, which must hold a whole
    /// ClientHello (bytes after the record are ignored).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidClientHello`] if the bytes are not a complete TLS
    /// handshake record with a ClientHello, or its extensions are malformed.
    /// Any input gives a result or an error, never a panic.
    pub fn parse(bytes: &[u8]) -> Result<ClientHello, Error> {
        let (_, record) = parse_tls_plaintext(bytes).map_err(|e| match e {
            tls_parser::nom::Err::Incomplete(_) => invalid("incomplete TLS record"),
            _ => invalid("not a TLS handshake record"),
        })?;
        let ch = record
            .msg
            .iter()
            .find_map(|m| match m {
                TlsMessage::Handshake(TlsMessageHandshake::ClientHello(ch)) => Some(ch),
                _ => None,
            })
            .ok_or_else(|| invalid("the record holds no ClientHello"))?;
        let mut hello = ClientHello {
            version: ch.version.0,
            ciphers: ch.ciphers.iter().map(|c| c.0).collect(),
            ..ClientHello::default()
        };
        let Some(ext) = ch.ext else {
            return Ok(hello);
        };
        let (rest, exts) =
            parse_tls_client_hello_extensions(ext).map_err(|_| invalid("malformed extensions"))?;
        if !rest.is_empty() {
            return Err(invalid("trailing bytes after the extensions"));
        }
        for e in &exts {
            let ty = match e {
                TlsExtension::Grease(t, _) => *t,
                other => TlsExtensionType::from(other).0,
            };
            hello.extensions.push(ty);
            match e {
                TlsExtension::SNI(names) => {
                    hello.server_name = names
                        .iter()
                        .find(|(t, _)| t.0 == 0)
                        .map(|(_, n)| String::from_utf8_lossy(n).into_owned());
                }
                TlsExtension::ALPN(protos) => {
                    hello.alpn = protos.iter().map(|p| p.to_vec()).collect();
                }
                TlsExtension::SupportedVersions(v) => {
                    hello.supported_versions = v.iter().map(|v| v.0).collect();
                }
                TlsExtension::SignatureAlgorithms(v) => hello.signature_algorithms = v.clone(),
                TlsExtension::EllipticCurves(v) => hello.groups = v.iter().map(|g| g.0).collect(),
                TlsExtension::EcPointFormats(v) => hello.point_formats = v.to_vec(),
                _ => {}
            }
        }
        Ok(hello)
    }

    /// The highest TLS version offered, GREASE ignored.
    pub fn max_version(&self) -> u16 {
        self.supported_versions
            .iter()
            .copied()
            .filter(|v| !is_grease(*v))
            .max()
            .unwrap_or(self.version)
    }

    /// The JA4 fingerprint, e.g. `t13d1516h2_8daaf6152771_e5627efa2ab1`.
    pub fn ja4(&self) -> String {
        let version = match self.max_version() {
            0x0304 => "13",
            0x0303 => "12",
            0x0302 => "11",
            0x0301 => "10",
            0x0300 => "s3",
            0x0002 => "s2",
            _ => "00",
        };
        let sni = if self.extensions.contains(&SNI) {
            'd'
        } else {
            'i'
        };
        let ciphers: Vec<u16> = without_grease(&self.ciphers);
        let exts: Vec<u16> = without_grease(&self.extensions);
        let alpn = alpn_chars(self.alpn.first().map(Vec::as_slice));
        let a = format!(
            "t{version}{sni}{:02}{:02}{alpn}",
            ciphers.len().min(99),
            exts.len().min(99)
        );

        let mut sorted_ciphers = ciphers;
        sorted_ciphers.sort_unstable();
        let b = if sorted_ciphers.is_empty() {
            "000000000000".to_string()
        } else {
            hash12(&hex_list(&sorted_ciphers))
        };

        let mut sorted_exts: Vec<u16> = exts
            .into_iter()
            .filter(|e| *e != SNI && *e != ALPN)
            .collect();
        sorted_exts.sort_unstable();
        let sigs = without_grease(&self.signature_algorithms);
        let c = if sorted_exts.is_empty() {
            "000000000000".to_string()
        } else if sigs.is_empty() {
            hash12(&hex_list(&sorted_exts))
        } else {
            hash12(&format!("{}_{}", hex_list(&sorted_exts), hex_list(&sigs)))
        };
        format!("{a}_{b}_{c}")
    }

    /// The JA3 string with extension types sorted (see the module docs).
    pub fn ja3_string(&self) -> String {
        let mut exts = without_grease(&self.extensions);
        exts.sort_unstable();
        format!(
            "{},{},{},{},{}",
            self.version,
            dec_list(&without_grease(&self.ciphers)),
            dec_list(&exts),
            dec_list(&without_grease(&self.groups)),
            self.point_formats
                .iter()
                .map(u8::to_string)
                .collect::<Vec<_>>()
                .join("-"),
        )
    }

    /// The MD5 of [`ja3_string`](ClientHello::ja3_string), in hex.
    pub fn ja3(&self) -> String {
        let digest = md5::Md5::digest(self.ja3_string().as_bytes());
        hex(&digest)
    }
}

fn without_grease(v: &[u16]) -> Vec<u16> {
    v.iter().copied().filter(|x| !is_grease(*x)).collect()
}

fn hex_list(v: &[u16]) -> String {
    let mut s = String::with_capacity(v.len() * 5);
    for (i, x) in v.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "{x:04x}");
    }
    s
}

fn dec_list(v: &[u16]) -> String {
    v.iter().map(u16::to_string).collect::<Vec<_>>().join("-")
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn hash12(s: &str) -> String {
    let mut h = hex(&Sha256::digest(s.as_bytes()));
    h.truncate(12);
    h
}

fn alpn_chars(first: Option<&[u8]>) -> String {
    match first {
        None | Some([]) => "00".to_string(),
        Some(p) => {
            let (f, l) = (p[0], p[p.len() - 1]);
            if f.is_ascii_alphanumeric() && l.is_ascii_alphanumeric() {
                format!("{}{}", f as char, l as char)
            } else {
                let h = hex(p);
                let c: Vec<char> = h.chars().collect();
                format!("{}{}", c[0], c[c.len() - 1])
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn grease_values() {
        for v in [0x0a0a, 0x1a1a, 0x2a2a, 0xfafa] {
            assert!(is_grease(v), "{v:04x}");
        }
        for v in [0x0000, 0x1301, 0x0a1a, 0xfa0a, 0xc02f] {
            assert!(!is_grease(v), "{v:04x}");
        }
    }

    #[test]
    fn alpn_characters() {
        assert_eq!(alpn_chars(None), "00");
        assert_eq!(alpn_chars(Some(b"h2")), "h2");
        assert_eq!(alpn_chars(Some(b"http/1.1")), "h1");
        assert_eq!(alpn_chars(Some(&[0xab, 0xcd])), "ad");
        assert_eq!(alpn_chars(Some(b"x")), "xx");
    }
}
