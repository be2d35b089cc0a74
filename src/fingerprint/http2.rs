//! The Akamai HTTP/2 fingerprint, computed from the first bytes a client
//! sends on an HTTP/2 connection (after TLS, in the clear).
//!
//! An HTTP/2 client opens with the connection preface
//! `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n` and then frames (RFC 9113 §4.1): a
//! 9-byte header — 24-bit length, type, flags, 31-bit stream id — and the
//! payload. The fingerprint (Shuster, *Passive Fingerprinting of HTTP/2
//! Clients*, Black Hat EU 2017) reads four things from those first frames:
//!
//! `SETTINGS|WINDOW_UPDATE|PRIORITY|PSEUDO-HEADERS`
//!
//! * `SETTINGS`: the first SETTINGS frame on stream 0 (type 4, not an ACK),
//!   its `id:value` pairs in the order sent, joined by `;`.
//! * `WINDOW_UPDATE`: the increment of the first WINDOW_UPDATE on stream 0
//!   (type 8) before the first HEADERS, or `00` if none.
//! * `PRIORITY`: the PRIORITY frames (type 2) before the first HEADERS, each
//!   `stream:exclusive:depends_on:weight` (weight 1–256, the byte plus one),
//!   joined by `,`; `0` if none.
//! * `PSEUDO-HEADERS`: the first letters of the pseudo-headers of the first
//!   HEADERS block (`m` `:method`, `a` `:authority`, `s` `:scheme`, `p`
//!   `:path`) in the order sent, joined by `,`. The block is HPACK-coded
//!   (RFC 7541): its CONTINUATION frames are joined, padding and priority
//!   fields removed, and the block decoded with [`loona_hpack`].
//!
//! Frames of other types are skipped. Any input gives a result or an error,
//! never a panic.
//!
//! # Examples
//!
//! ```
//! use hotpool::fingerprint::{Http2Hello, HTTP2_PREFACE};
//!
//! let mut bytes = HTTP2_PREFACE.to_vec();
//! // SETTINGS: ENABLE_PUSH = 0, INITIAL_WINDOW_SIZE = 65535
//! bytes.extend([0, 0, 12, 4, 0, 0, 0, 0, 0]);
//! bytes.extend([0, 2, 0, 0, 0, 0, 0, 4, 0, 0, 0xff, 0xff]);
//! let hello = Http2Hello::parse(&bytes)?;
//! assert_eq!(hello.akamai(), "2:0;4:65535|00|0|");
//! assert!(!hello.headers_seen);
//! # Ok::<(), hotpool::Error>(())
//! ```

use crate::error::Error;
use md5::{Digest, Md5};
use std::fmt::Write;

/// The client connection preface (RFC 9113 §3.4).
pub const HTTP2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

const HEADERS: u8 = 0x1;
const PRIORITY: u8 = 0x2;
const SETTINGS: u8 = 0x4;
const WINDOW_UPDATE: u8 = 0x8;
const CONTINUATION: u8 = 0x9;

const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY_FLAG: u8 = 0x20;

/// A PRIORITY frame: the stream it is about and the dependency it sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Priority {
    /// The stream whose priority is set.
    pub stream: u32,
    /// Whether the dependency is exclusive.
    pub exclusive: bool,
    /// The stream it depends on.
    pub depends_on: u32,
    /// Its weight, 1 to 256 (the frame's byte plus one).
    pub weight: u16,
}

/// What a client's first HTTP/2 frames say about it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Http2Hello {
    /// The first SETTINGS frame's `(id, value)` pairs, in the order sent.
    pub settings: Vec<(u16, u32)>,
    /// The first connection-level WINDOW_UPDATE increment before the first
    /// HEADERS.
    pub window_update: Option<u32>,
    /// PRIORITY frames before the first HEADERS, in order.
    pub priorities: Vec<Priority>,
    /// The pseudo-header names of the first HEADERS block, in order
    /// (`":method"`, …).
    pub pseudo_headers: Vec<String>,
    /// Whether the bytes held the whole first HEADERS block (without it
    /// `pseudo_headers` is empty and the fingerprint's last part too).
    pub headers_seen: bool,
}

fn invalid(reason: impl Into<String>) -> Error {
    Error::InvalidHttp2Start {
        reason: reason.into(),
    }
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

impl Http2Hello {
    /// Reads the client's first frames from `bytes`: what it sent from the
    /// connection's start, the preface included or not, up to and including
    /// the first HEADERS block (bytes after it are ignored; bytes that end
    /// before it give `headers_seen: false`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHttp2Start`] if the bytes hold no complete SETTINGS
    /// frame, a preface other than HTTP/2's, a malformed frame payload, or
    /// a header block HPACK cannot decode.
    pub fn parse(bytes: &[u8]) -> Result<Http2Hello, Error> {
        let mut rest = bytes;
        let n = HTTP2_PREFACE.len().min(rest.len());
        if rest[..n] == HTTP2_PREFACE[..n] && n > 0 {
            if n < HTTP2_PREFACE.len() {
                return Err(invalid("incomplete connection preface"));
            }
            rest = &rest[n..];
        } else if rest.starts_with(b"PRI ") {
            return Err(invalid("not HTTP/2's connection preface"));
        }
        let mut hello = Http2Hello::default();
        let mut settings_seen = false;
        // The header block being joined from HEADERS and CONTINUATION.
        let mut block: Option<(u32, Vec<u8>)> = None;
        while rest.len() >= 9 {
            let len = u32::from_be_bytes([0, rest[0], rest[1], rest[2]]) as usize;
            let (kind, flags) = (rest[3], rest[4]);
            let stream = be32(&rest[5..9]) & 0x7fff_ffff;
            let Some(payload) = rest.get(9..9 + len) else {
                break; // the capture ends inside this frame
            };
            rest = &rest[9 + len..];
            if let Some((id, buf)) = &mut block {
                if kind != CONTINUATION || stream != *id {
                    return Err(invalid("a header block not continued by CONTINUATION"));
                }
                buf.extend_from_slice(payload);
                if flags & END_HEADERS != 0 {
                    let buf = std::mem::take(buf);
                    hello.finish_headers(&buf)?;
                    break;
                }
                continue;
            }
            match kind {
                SETTINGS if stream == 0 && flags & ACK == 0 && !settings_seen => {
                    if len % 6 != 0 {
                        return Err(invalid("a SETTINGS payload not a multiple of 6 bytes"));
                    }
                    settings_seen = true;
                    hello.settings = payload
                        .chunks_exact(6)
                        .map(|c| (u16::from_be_bytes([c[0], c[1]]), be32(&c[2..6])))
                        .collect();
                }
                WINDOW_UPDATE if stream == 0 && hello.window_update.is_none() => {
                    if len != 4 {
                        return Err(invalid("a WINDOW_UPDATE payload not 4 bytes"));
                    }
                    hello.window_update = Some(be32(payload) & 0x7fff_ffff);
                }
                PRIORITY => {
                    if len != 5 {
                        return Err(invalid("a PRIORITY payload not 5 bytes"));
                    }
                    let dep = be32(payload);
                    hello.priorities.push(Priority {
                        stream,
                        exclusive: dep >> 31 == 1,
                        depends_on: dep & 0x7fff_ffff,
                        weight: u16::from(payload[4]) + 1,
                    });
                }
                HEADERS => {
                    let fragment = header_fragment(payload, flags)?;
                    if flags & END_HEADERS != 0 {
                        hello.finish_headers(fragment)?;
                        break;
                    }
                    block = Some((stream, fragment.to_vec()));
                }
                _ => {}
            }
        }
        if !settings_seen {
            return Err(invalid("no complete SETTINGS frame"));
        }
        Ok(hello)
    }

    /// Decodes the first header block and keeps its pseudo-header names.
    fn finish_headers(&mut self, block: &[u8]) -> Result<(), Error> {
        let mut decoder = loona_hpack::Decoder::new();
        let mut names = Vec::new();
        decoder
            .decode_with_cb(block, |name, _| {
                if name.first() == Some(&b':') {
                    names.push(String::from_utf8_lossy(&name).into_owned());
                }
            })
            .map_err(|e| invalid(format!("the first header block: HPACK {e:?}")))?;
        self.pseudo_headers = names;
        self.headers_seen = true;
        Ok(())
    }

    /// The Akamai fingerprint string,
    /// `SETTINGS|WINDOW_UPDATE|PRIORITY|PSEUDO-HEADERS`.
    pub fn akamai(&self) -> String {
        let mut s = String::new();
        for (i, (id, v)) in self.settings.iter().enumerate() {
            let sep = if i == 0 { "" } else { ";" };
            let _ = write!(s, "{sep}{id}:{v}");
        }
        match self.window_update {
            Some(n) => {
                let _ = write!(s, "|{n}|");
            }
            None => s.push_str("|00|"),
        }
        if self.priorities.is_empty() {
            s.push('0');
        }
        for (i, p) in self.priorities.iter().enumerate() {
            let sep = if i == 0 { "" } else { "," };
            let _ = write!(
                s,
                "{sep}{}:{}:{}:{}",
                p.stream,
                u8::from(p.exclusive),
                p.depends_on,
                p.weight
            );
        }
        s.push('|');
        let letters: Vec<&str> = self
            .pseudo_headers
            .iter()
            .filter_map(|h| match h.as_str() {
                ":method" => Some("m"),
                ":authority" => Some("a"),
                ":scheme" => Some("s"),
                ":path" => Some("p"),
                _ => None,
            })
            .collect();
        s.push_str(&letters.join(","));
        s
    }

    /// The MD5 of [`akamai`](Http2Hello::akamai), 32 lowercase hex digits
    /// (the form fingerprint databases index).
    pub fn akamai_hash(&self) -> String {
        Md5::digest(self.akamai().as_bytes())
            .iter()
            .fold(String::with_capacity(32), |mut s, b| {
                let _ = write!(s, "{b:02x}");
                s
            })
    }
}

/// A HEADERS payload without its padding and priority fields.
fn header_fragment(payload: &[u8], flags: u8) -> Result<&[u8], Error> {
    let mut p = payload;
    let mut pad = 0;
    if flags & PADDED != 0 {
        let (&n, tail) = p
            .split_first()
            .ok_or_else(|| invalid("a padded HEADERS frame without its pad length"))?;
        pad = usize::from(n);
        p = tail;
    }
    if flags & PRIORITY_FLAG != 0 {
        p = p
            .get(5..)
            .ok_or_else(|| invalid("a HEADERS frame too short for its priority"))?;
    }
    if pad > p.len() {
        return Err(invalid("a HEADERS frame's padding longer than the frame"));
    }
    Ok(&p[..p.len() - pad])
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let len = payload.len() as u32;
        let mut f = len.to_be_bytes()[1..].to_vec();
        f.extend([kind, flags]);
        f.extend(stream.to_be_bytes());
        f.extend(payload);
        f
    }

    fn block(headers: &[(&[u8], &[u8])]) -> Vec<u8> {
        loona_hpack::Encoder::new().encode(headers.iter().copied())
    }

    /// Frames in the shape of the whitepaper's Firefox example: SETTINGS,
    /// WINDOW_UPDATE, PRIORITY frames, then HEADERS (padded, with priority)
    /// split over a CONTINUATION.
    fn firefox_like() -> Vec<u8> {
        let mut b = HTTP2_PREFACE.to_vec();
        let mut settings = Vec::new();
        for (id, v) in [(1u16, 65_536u32), (4, 131_072), (5, 16_384)] {
            settings.extend(id.to_be_bytes());
            settings.extend(v.to_be_bytes());
        }
        b.extend(frame(SETTINGS, 0, 0, &settings));
        b.extend(frame(WINDOW_UPDATE, 0, 0, &12_517_377u32.to_be_bytes()));
        for (stream, dep, weight) in [(3u32, 0u32, 200u8), (5, 0, 100), (9, 0x8000_0007, 0)] {
            let mut p = dep.to_be_bytes().to_vec();
            p.push(weight);
            b.extend(frame(PRIORITY, 0, stream, &p));
        }
        let hb = block(&[
            (b":method", b"GET"),
            (b":path", b"/"),
            (b":authority", b"example.test"),
            (b":scheme", b"https"),
            (b"user-agent", b"x"),
        ]);
        let (first, second) = hb.split_at(hb.len() / 2);
        let mut p = vec![3]; // pad length
        p.extend([0, 0, 0, 13, 41]); // priority fields
        p.extend(first);
        p.extend([0, 0, 0]);
        b.extend(frame(HEADERS, PADDED | PRIORITY_FLAG, 15, &p));
        b.extend(frame(CONTINUATION, END_HEADERS, 15, second));
        b
    }

    #[test]
    fn the_fingerprint_has_its_four_parts() {
        let h = Http2Hello::parse(&firefox_like()).unwrap();
        assert!(h.headers_seen);
        assert_eq!(
            h.akamai(),
            "1:65536;4:131072;5:16384|12517377|3:0:0:201,5:0:0:101,9:1:7:1|m,p,a,s"
        );
        assert_eq!(h.akamai_hash().len(), 32);
        assert_ne!(h.akamai_hash(), Http2Hello::default().akamai_hash());
    }

    #[test]
    fn without_the_preface_and_cut_before_headers() {
        let bytes = firefox_like();
        let h = Http2Hello::parse(&bytes[HTTP2_PREFACE.len()..]).unwrap();
        assert_eq!(
            h.pseudo_headers,
            [":method", ":path", ":authority", ":scheme"]
        );
        // Cut inside the CONTINUATION: everything but the pseudo-headers.
        let h = Http2Hello::parse(&bytes[..bytes.len() - 3]).unwrap();
        assert!(!h.headers_seen);
        assert!(h.akamai().ends_with("9:1:7:1|"), "{}", h.akamai());
    }

    #[test]
    fn malformed_starts_are_errors() {
        for bad in [
            &b""[..],
            &HTTP2_PREFACE[..10],
            b"PRI * HTTP/1.1\r\n",
            &frame(SETTINGS, 0, 0, &[0; 5]),
            &frame(SETTINGS, ACK, 0, &[]),
        ] {
            let e = Http2Hello::parse(bad).unwrap_err();
            assert!(e.is_invalid_http2_start(), "{e:?}");
        }
        let mut b = frame(SETTINGS, 0, 0, &[]);
        b.extend(frame(HEADERS, END_HEADERS | PADDED, 1, &[9, 1]));
        assert!(Http2Hello::parse(&b)
            .unwrap_err()
            .to_string()
            .contains("padding"));
        let mut b = frame(SETTINGS, 0, 0, &[]);
        b.extend(frame(HEADERS, 0, 1, &[0x82]));
        b.extend(frame(PRIORITY, 0, 3, &[0; 5]));
        assert!(Http2Hello::parse(&b)
            .unwrap_err()
            .to_string()
            .contains("CONTINUATION"));
    }

    proptest! {
        #[test]
        fn any_bytes_give_a_result_or_an_error(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = Http2Hello::parse(&bytes);
            let mut b = firefox_like();
            b.truncate(bytes.len().min(b.len()));
            b.extend(&bytes);
            let _ = Http2Hello::parse(&b);
        }
    }
}
