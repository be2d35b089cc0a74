//! [`Response`]: status and headers at once, the body as it arrives.

use crate::{connect::Target, error::Error, http_layer::Lease};
use bytes::{Bytes, BytesMut};
use http::{
    header::{self, HeaderMap},
    StatusCode, Uri, Version,
};
use http_body::Body as HttpBody;
use hyper::body::Incoming;
use std::{fmt, net::SocketAddr, pin::Pin, sync::Arc};

use super::*;

/// A response: status and headers at once, the body as it arrives.
///
/// The connection goes back to the pool when the body has been read to the
/// end ([`bytes`](Response::bytes), [`text`](Response::text), or
/// [`chunk`](Response::chunk) until `None`). A compressed body (gzip,
/// deflate, br) is decoded, and `Content-Encoding` and `Content-Length` are
/// removed, unless the client was built with `decompress(false)`.
pub struct Response {
    pub(super) status: StatusCode,
    pub(super) version: Version,
    pub(super) headers: HeaderMap,
    pub(super) url: Uri,
    pub(super) target: Target,
    pub(super) profile: Arc<str>,
    pub(super) proxy: Option<Arc<str>>,
    pub(super) body: Body,
    /// The URLs requested before `url` (redirects followed).
    pub(super) redirects: Vec<Uri>,
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("url", &self.url)
            .field("status", &self.status)
            .field("version", &self.version)
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl Response {
    /// The response to a request on `conn`. Fails before reading the body
    /// if its `Content-Length` is over `limits.max_size`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        resp: http::Response<Incoming>,
        conn: Lease,
        url: Uri,
        decompress: bool,
        limits: Limits,
        keep_alive: bool,
        counters: Arc<Counters>,
    ) -> Result<Response, Error> {
        let (mut parts, incoming) = resp.into_parts();
        if let (Some(limit), false) = (limits.max_size, incoming.is_end_stream()) {
            let declared = parts
                .headers
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            if declared.is_some_and(|n| n > limit) {
                tracing::debug!(%url, ?declared, limit, "hotpool: Content-Length over max_body_size; closing the connection");
                let target = Some(conn.target().clone());
                conn.discard();
                counters
                    .body_errors
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                return Err(Error::BodyTooLarge {
                    url: url.to_string(),
                    limit,
                    target,
                });
            }
        }
        let encoding = if decompress {
            Encoding::of(&parts.headers)
        } else {
            None
        };
        if encoding.is_some() && !incoming.is_end_stream() {
            parts.headers.remove(header::CONTENT_ENCODING);
            parts.headers.remove(header::CONTENT_LENGTH);
        }
        let target = conn.target().clone();
        let profile = conn.profile().into();
        let proxy = conn.proxy().cloned();
        let body = Body::new(
            incoming,
            conn,
            encoding,
            limits,
            url.clone(),
            keep_alive,
            counters,
        );
        Ok(Response {
            status: parts.status,
            version: parts.version,
            headers: parts.headers,
            url,
            target,
            profile,
            proxy,
            body,
            redirects: Vec::new(),
        })
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The HTTP version of the connection.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The response headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The final URL: the one requested, or where its redirects led.
    pub fn url(&self) -> &Uri {
        &self.url
    }

    /// The URLs requested before [`url`](Response::url), first to last:
    /// the redirect chain followed (empty without redirects).
    pub fn redirects(&self) -> &[Uri] {
        &self.redirects
    }

    pub(super) fn with_redirects(mut self, chain: Vec<Uri>) -> Response {
        self.redirects = chain;
        self
    }

    /// The address that answered.
    pub fn remote_addr(&self) -> SocketAddr {
        self.target.addr()
    }

    /// The name of the proxy its connection goes through (`None`: direct).
    pub fn proxy(&self) -> Option<&str> {
        self.proxy.as_deref()
    }

    /// The TLS profile of the connection that carried it.
    pub fn profile(&self) -> &str {
        &self.profile
    }

    /// The next piece of the body, `None` at its end (when the connection
    /// has gone back to the pool).
    ///
    /// # Errors
    ///
    /// [`Error::Http`] if the connection broke or the body could not be
    /// decoded (the connection is closed); [`Error::RequestTimeout`] past
    /// the client's `timeout`.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, Error> {
        loop {
            let frame = std::future::poll_fn(|cx| Pin::new(&mut self.body).poll_frame(cx)).await;
            match frame {
                None => return Ok(None),
                Some(Err(e)) => return Err(e),
                Some(Ok(f)) => {
                    if let Ok(data) = f.into_data() {
                        return Ok(Some(data));
                    }
                    // Trailers: not part of the data.
                }
            }
        }
    }

    /// The whole body.
    ///
    /// # Errors
    ///
    /// As [`chunk`](Response::chunk).
    pub async fn bytes(mut self) -> Result<Bytes, Error> {
        let mut buf = BytesMut::new();
        while let Some(c) = self.chunk().await? {
            if buf.is_empty() && c.len() >= 4096 {
                buf.reserve(c.len());
            }
            buf.extend_from_slice(&c);
        }
        Ok(buf.freeze())
    }

    /// The whole body as text (UTF-8; invalid sequences become U+FFFD).
    ///
    /// # Errors
    ///
    /// As [`chunk`](Response::chunk).
    pub async fn text(self) -> Result<String, Error> {
        let b = self.bytes().await?;
        Ok(String::from_utf8_lossy(&b).into_owned())
    }

    /// The body as an [`http_body::Body`] stream.
    pub fn into_body(self) -> Body {
        self.body
    }
}
