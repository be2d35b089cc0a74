//! [`Body`]: a response body that holds its connection until the end.

use crate::{connect::Target, error::Error, http_layer::HttpConnection, pooled::Pooled};
use bytes::Bytes;
use http::Uri;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use std::{
    fmt,
    future::Future,
    pin::Pin,
    sync::{atomic::Ordering::Relaxed, Arc},
    task::{Context, Poll},
    time::Duration,
};

/// Default limit on a whole request (to the end of its body).
use super::*;

/// A response body: an [`http_body::Body`] of [`Bytes`] that holds the
/// pooled connection until its end. See [`Response`].
pub struct Body {
    pub(super) incoming: Option<Incoming>,
    pub(super) conn: Option<Pooled<HttpConnection>>,
    pub(super) h2: bool,
    pub(super) decoder: Option<Decoder>,
    pub(super) sleep: Pin<Box<tokio::time::Sleep>>,
    pub(super) timeout: Duration,
    pub(super) url: Uri,
    pub(super) keep_alive: bool,
    pub(super) counters: Arc<Counters>,
    pub(super) done: bool,
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Body")
            .field("url", &self.url)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl Body {
    /// The body is complete: the connection goes back to the pool.
    pub(super) fn finish(&mut self) {
        self.done = true;
        self.incoming = None;
        if let Some(c) = self.conn.take() {
            if self.keep_alive {
                drop(c);
            } else {
                Pooled::discard(c);
            }
        }
    }

    /// The body failed: the connection is closed.
    pub(super) fn fail(&mut self, e: Error) -> Error {
        self.done = true;
        self.incoming = None;
        if let Some(c) = self.conn.take() {
            Pooled::discard(c);
        }
        self.counters.body_errors.fetch_add(1, Relaxed);
        e
    }

    pub(super) fn target(&self) -> Option<&Target> {
        self.conn.as_ref().map(|c| c.target())
    }
}

impl Drop for Body {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take() {
            let complete = self.incoming.as_ref().is_some_and(HttpBody::is_end_stream);
            if self.keep_alive && (self.h2 || complete) {
                // Dropping the stream resets it; the connection is fine.
                self.incoming = None;
                drop(c);
            } else {
                tracing::debug!(url = %self.url, "hotpool: body dropped unread; closing the HTTP/1.1 connection");
                Pooled::discard(c);
            }
        }
    }
}

impl HttpBody for Body {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            let Some(incoming) = this.incoming.as_mut() else {
                return Poll::Ready(None);
            };
            let polled = Pin::new(incoming).poll_frame(cx);
            let frame = match polled {
                Poll::Pending => {
                    if this.sleep.as_mut().poll(cx).is_ready() {
                        let e = Error::RequestTimeout {
                            url: this.url.to_string(),
                            timeout: this.timeout,
                        };
                        return Poll::Ready(Some(Err(this.fail(e))));
                    }
                    return Poll::Pending;
                }
                Poll::Ready(None) => {
                    let tail = match this.decoder.take().map(Decoder::finish) {
                        Some(Ok(t)) => t,
                        Some(Err(e)) => {
                            let e = Error::http(this.target(), Some(&this.url.to_string()), e);
                            return Poll::Ready(Some(Err(this.fail(e))));
                        }
                        None => Bytes::new(),
                    };
                    this.finish();
                    if tail.is_empty() {
                        return Poll::Ready(None);
                    }
                    return Poll::Ready(Some(Ok(Frame::data(tail))));
                }
                Poll::Ready(Some(Err(e))) => {
                    let e = Error::http(this.target(), Some(&this.url.to_string()), e);
                    return Poll::Ready(Some(Err(this.fail(e))));
                }
                Poll::Ready(Some(Ok(f))) => f,
            };
            let data = match frame.into_data() {
                Ok(d) => d,
                // Trailers: pass them on.
                Err(f) => return Poll::Ready(Some(Ok(f))),
            };
            let out = match this.decoder.as_mut() {
                None => data,
                Some(d) => match d.feed(&data) {
                    Ok(out) => out,
                    Err(e) => {
                        let e = Error::http(this.target(), Some(&this.url.to_string()), e);
                        return Poll::Ready(Some(Err(this.fail(e))));
                    }
                },
            };
            if this.decoder.is_none() && this.incoming.as_ref().is_some_and(HttpBody::is_end_stream)
            {
                // The last byte is here: give the connection back now, not
                // on the next poll.
                this.finish();
            }
            if !out.is_empty() {
                return Poll::Ready(Some(Ok(Frame::data(out))));
            }
            // The decoder needs more input (or the frame was empty).
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }

    fn size_hint(&self) -> SizeHint {
        match (&self.incoming, &self.decoder) {
            (Some(i), None) => i.size_hint(),
            _ => SizeHint::default(),
        }
    }
}
