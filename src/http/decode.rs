//! Streaming decoders for `Content-Encoding`.

use bytes::Bytes;
use http::header::{self, HeaderMap};
use std::io::{self, Write};

/// A streaming decoder for one `Content-Encoding`: compressed bytes are
/// written in, decoded bytes taken out.
pub(crate) enum Decoder {
    Gzip(flate2::write::GzDecoder<Vec<u8>>),
    Deflate(flate2::write::ZlibDecoder<Vec<u8>>),
    Brotli(Box<brotli::DecompressorWriter<Vec<u8>>>),
}

impl Decoder {
    pub(super) fn for_headers(headers: &HeaderMap) -> Option<Decoder> {
        let v = headers.get(header::CONTENT_ENCODING)?.to_str().ok()?.trim();
        match v.to_ascii_lowercase().as_str() {
            "gzip" | "x-gzip" => Some(Decoder::Gzip(flate2::write::GzDecoder::new(Vec::new()))),
            "deflate" => Some(Decoder::Deflate(
                flate2::write::ZlibDecoder::new(Vec::new()),
            )),
            "br" => Some(Decoder::Brotli(Box::new(brotli::DecompressorWriter::new(
                Vec::new(),
                4096,
            )))),
            _ => None,
        }
    }

    pub(super) fn feed(&mut self, data: &[u8]) -> io::Result<Bytes> {
        let out = match self {
            Decoder::Gzip(d) => {
                d.write_all(data)?;
                d.get_mut()
            }
            Decoder::Deflate(d) => {
                d.write_all(data)?;
                d.get_mut()
            }
            Decoder::Brotli(d) => {
                d.write_all(data)?;
                d.get_mut()
            }
        };
        Ok(Bytes::from(std::mem::take(out)))
    }

    pub(super) fn finish(self) -> io::Result<Bytes> {
        let out = match self {
            Decoder::Gzip(d) => d.finish()?,
            Decoder::Deflate(d) => d.finish()?,
            Decoder::Brotli(mut d) => {
                d.close()?;
                d.into_inner().map_err(|_| {
                    io::Error::new(io::ErrorKind::InvalidData, "truncated brotli stream")
                })?
            }
        };
        Ok(Bytes::from(out))
    }
}
