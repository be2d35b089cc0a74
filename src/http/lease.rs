//! [`Lease`]: what a request holds while it runs: a connection of its own
//! (HTTP/1.1, or HTTP/2 lent exclusively) or one stream on a shared HTTP/2
//! connection ([`share`](super::share)).

use super::{share::Stream, HttpConnection, HttpOptions};
use crate::{connect::Target, error::Error, pooled::Pooled};
use bytes::Bytes;
use http::{header::HeaderMap, Request, Response, Version};
use hyper::body::Incoming;

/// A request's hold on the pool: its own connection or a shared stream.
pub(crate) enum Lease {
    /// The connection is the request's alone until it is returned.
    Own(Pooled<HttpConnection>),
    /// One stream of a shared HTTP/2 connection.
    Stream(Stream),
}

impl Lease {
    /// Where the connection goes.
    pub(crate) fn target(&self) -> &Target {
        match self {
            Lease::Own(c) => c.target(),
            Lease::Stream(s) => s.target(),
        }
    }

    /// The TLS profile of the connection.
    pub(crate) fn profile(&self) -> &str {
        match self {
            Lease::Own(c) => c.profile(),
            Lease::Stream(s) => s.profile(),
        }
    }

    /// The proxy of the connection, by name.
    pub(crate) fn proxy(&self) -> Option<&std::sync::Arc<str>> {
        match self {
            Lease::Own(c) => c.proxy.as_ref(),
            Lease::Stream(s) => s.proxy(),
        }
    }

    /// HTTP/1.1 or HTTP/2.
    pub(crate) fn version(&self) -> Version {
        match self {
            Lease::Own(c) => c.version(),
            Lease::Stream(_) => Version::HTTP_2,
        }
    }

    /// Whether the connection carried requests before this one.
    pub(crate) fn is_reused(&self) -> bool {
        match self {
            Lease::Own(c) => Pooled::is_reused(c),
            Lease::Stream(s) => s.is_reused(),
        }
    }

    /// Whether hyper's connection task still runs.
    pub(crate) fn is_open(&self) -> bool {
        match self {
            Lease::Own(c) => c.is_open(),
            Lease::Stream(s) => s.is_open(),
        }
    }

    /// Bytes read on the connection so far. On a shared connection other
    /// streams move it too, so it says nothing of one request: `None`.
    pub(crate) fn bytes_read(&self) -> Option<u64> {
        match self {
            Lease::Own(c) => Some(c.bytes_read()),
            Lease::Stream(_) => None,
        }
    }

    /// Counts an error against the connection (`max_errors`).
    pub(crate) fn mark_error(&mut self) {
        match self {
            Lease::Own(c) => c.mark_error(),
            Lease::Stream(s) => s.mark_error(),
        }
    }

    /// The connection must take no new request (the server refused one).
    pub(crate) fn drain(&mut self) {
        if let Lease::Stream(s) = self {
            s.drain();
        }
    }

    /// Waits until the connection can take the request.
    pub(crate) async fn ready(&mut self) -> Result<(), Error> {
        match self {
            Lease::Own(c) => c.ready().await,
            Lease::Stream(s) if s.is_open() => Ok(()),
            Lease::Stream(s) => Err(Error::http(
                Some(s.target()),
                None,
                "HTTP/2 connection closed",
            )),
        }
    }

    /// Adds the client's default headers the request lacks.
    pub(crate) fn apply_defaults(&self, opts: &HttpOptions, headers: &mut HeaderMap) {
        let lang = match self {
            Lease::Own(c) => c.accept_language(),
            Lease::Stream(s) => s.accept_language(),
        };
        opts.apply_defaults_with(lang, headers);
    }

    /// Sends `req` and waits for the response head.
    pub(crate) async fn send(&mut self, req: Request<Bytes>) -> Result<Response<Incoming>, Error> {
        match self {
            Lease::Own(c) => c.send(req).await,
            Lease::Stream(s) => s.send(req).await,
        }
    }

    /// Gives the hold back: the connection returns to the pool, or the
    /// stream ends.
    pub(crate) fn finish(self) {
        drop(self);
    }

    /// The exchange left the connection in an unknown state: an own
    /// connection is closed; a stream just ends (resetting it leaves the
    /// shared connection sound).
    pub(crate) fn discard(self) {
        match self {
            Lease::Own(c) => Pooled::discard(c),
            Lease::Stream(s) => drop(s),
        }
    }

    /// The connection, when the request has it alone.
    pub(crate) fn own_mut(&mut self) -> Option<&mut Pooled<HttpConnection>> {
        match self {
            Lease::Own(c) => Some(c),
            Lease::Stream(_) => None,
        }
    }
}
