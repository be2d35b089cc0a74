//! Streaming decoders for `Content-Encoding`: gzip, deflate (zlib-wrapped
//! or raw) and brotli.
//!
//! # Bounded work per poll
//!
//! A decoder is a reader: the body asks it for at most one output buffer
//! ([`OUTPUT_CHUNK`](super::body) bytes) per poll, and it pulls compressed
//! bytes from hyper's frames only as it needs them. A 100 KB bomb that
//! expands to 10 GB therefore costs one output buffer of memory at a time,
//! and the body can check its size limit and deadline between buffers; no
//! chunk is ever decoded whole. The codecs are `async-compression`'s (the
//! ones reqwest uses), over [`Frames`], an [`AsyncBufRead`] view of hyper's
//! [`Incoming`] body.
//!
//! # Deflate, both ways
//!
//! `Content-Encoding: deflate` means a zlib stream (RFC 9110 §8.4.1.2), but
//! many servers send a raw deflate stream under that name. The first bytes
//! tell them apart: a zlib header is a compression method of 8 with a
//! window of at most 32 KiB in the first byte, and the first two bytes read
//! as a big-endian number are a multiple of 31.

use async_compression::tokio::bufread::{BrotliDecoder, DeflateDecoder, GzipDecoder, ZlibDecoder};
use bytes::{Buf, Bytes};
use http::header::{self, HeaderMap};
use http_body::Body as HttpBody;
use hyper::body::Incoming;
use std::{
    io,
    pin::Pin,
    task::{ready, Context, Poll},
};
use tokio::io::{AsyncBufRead, AsyncRead, ReadBuf};

/// A `Content-Encoding` the client decodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Encoding {
    Gzip,
    Deflate,
    Brotli,
}

impl Encoding {
    /// The body's encoding, if it is one the client decodes. A stack of
    /// encodings (`gzip, br`) is left alone, as is `identity`.
    pub(crate) fn of(headers: &HeaderMap) -> Option<Encoding> {
        let v = headers.get(header::CONTENT_ENCODING)?.to_str().ok()?.trim();
        match v.to_ascii_lowercase().as_str() {
            "gzip" | "x-gzip" => Some(Encoding::Gzip),
            "deflate" => Some(Encoding::Deflate),
            "br" => Some(Encoding::Brotli),
            _ => None,
        }
    }
}

/// hyper's body as an [`AsyncBufRead`]: the data of each frame in turn
/// (trailers are skipped). A transport error comes out as an
/// [`io::Error`] wrapping hyper's.
pub(crate) struct Frames {
    incoming: Incoming,
    chunk: Bytes,
    done: bool,
}

impl Frames {
    fn new(incoming: Incoming) -> Frames {
        Frames {
            incoming,
            chunk: Bytes::new(),
            done: false,
        }
    }
}

impl AsyncRead for Frames {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let data = ready!(self.as_mut().poll_fill_buf(cx))?;
        let n = data.len().min(buf.remaining());
        buf.put_slice(&data[..n]);
        self.consume(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncBufRead for Frames {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let this = self.get_mut();
        while this.chunk.is_empty() && !this.done {
            match ready!(Pin::new(&mut this.incoming).poll_frame(cx)) {
                None => this.done = true,
                Some(Err(e)) => {
                    this.done = true;
                    return Poll::Ready(Err(io::Error::other(e)));
                }
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        this.chunk = data;
                    }
                }
            }
        }
        Poll::Ready(Ok(&this.chunk[..]))
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        self.get_mut().chunk.advance(amt);
    }
}

enum Codec {
    /// Deflate before its first bytes arrived: zlib or raw is not known yet.
    Sniff(Option<Frames>),
    Gzip(GzipDecoder<Frames>),
    Zlib(ZlibDecoder<Frames>),
    Raw(DeflateDecoder<Frames>),
    Brotli(BrotliDecoder<Frames>),
}

/// A streaming decoder over a response body. See the module docs.
pub(crate) struct Decoder {
    codec: Codec,
}

/// Whether `b` starts with a zlib header (RFC 1950 §2.2).
fn is_zlib_header(b: &[u8]) -> bool {
    match b {
        [] => false,
        [cmf] => cmf & 0x0f == 8 && cmf >> 4 <= 7,
        [cmf, flg, ..] => {
            cmf & 0x0f == 8 && cmf >> 4 <= 7 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0
        }
    }
}

impl Decoder {
    /// A decoder of `encoding` reading `incoming`.
    pub(crate) fn new(encoding: Encoding, incoming: Incoming) -> Decoder {
        let frames = Frames::new(incoming);
        let codec = match encoding {
            Encoding::Gzip => {
                let mut d = GzipDecoder::new(frames);
                // Concatenated gzip members are one body, as browsers read it.
                d.multiple_members(true);
                Codec::Gzip(d)
            }
            Encoding::Deflate => Codec::Sniff(Some(frames)),
            Encoding::Brotli => Codec::Brotli(BrotliDecoder::new(frames)),
        };
        Decoder { codec }
    }

    /// Decodes into `buf`, at most its remaining capacity. Nothing written
    /// and `Ok` means the end of the body.
    pub(crate) fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            return match &mut self.codec {
                Codec::Sniff(frames) => {
                    let f = frames.as_mut().expect("sniffing owns the frames");
                    let head = ready!(Pin::new(&mut *f).poll_fill_buf(cx))?;
                    let zlib = is_zlib_header(head);
                    let f = frames.take().expect("sniffing owns the frames");
                    self.codec = if zlib {
                        Codec::Zlib(ZlibDecoder::new(f))
                    } else {
                        Codec::Raw(DeflateDecoder::new(f))
                    };
                    continue;
                }
                Codec::Gzip(d) => Pin::new(d).poll_read(cx, buf),
                Codec::Zlib(d) => Pin::new(d).poll_read(cx, buf),
                Codec::Raw(d) => Pin::new(d).poll_read(cx, buf),
                Codec::Brotli(d) => Pin::new(d).poll_read(cx, buf),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zlib_headers_are_told_from_raw_deflate() {
        // zlib's usual headers: default, best and fastest compression.
        for h in [[0x78, 0x9c], [0x78, 0xda], [0x78, 0x01], [0x68, 0x81]] {
            assert!(is_zlib_header(&h), "{h:x?}");
        }
        // Raw deflate blocks as flate2 writes them.
        let mut raw =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut raw, b"hello hello hello").unwrap();
        let raw = raw.finish().unwrap();
        assert!(!is_zlib_header(&raw), "{:x?}", &raw[..2]);
        assert!(!is_zlib_header(&[]));
    }
}
