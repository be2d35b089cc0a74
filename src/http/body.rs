//! [`Body`]: a response body that holds its connection until the end.
//!
//! # Bounded in memory and time, whatever the server sends
//!
//! Every poll of the body:
//!
//! 1. checks the request's deadline first, so a body that is always ready
//!    (a decompression bomb, a fast endless stream) cannot outlive the
//!    request's `timeout`;
//! 2. yields to the runtime after [`YIELD_AFTER`] bytes handed out without
//!    a pause, so that a task reading such a body can still be aborted and
//!    time-outs around it still fire;
//! 3. hands out at most one frame, or one [`OUTPUT_CHUNK`] of decoded
//!    bytes (see [`decode`](super::decode)), and counts it against
//!    `max_body_size` (decoded bytes): past the limit the body fails with
//!    [`Error::BodyTooLarge`] and the connection is closed.

use super::*;
use crate::{connect::Target, error::Error, http_layer::Lease};
use bytes::{Bytes, BytesMut};
use http::Uri;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use std::{
    fmt,
    future::Future,
    pin::Pin,
    sync::{atomic::Ordering::Relaxed, Arc},
    task::{Context, Poll},
    time::{Duration, Instant},
};
use tokio::io::ReadBuf;

/// Decoded bytes produced per poll, at most.
pub(crate) const OUTPUT_CHUNK: usize = 32 * 1024;

/// Bytes handed out in a row, without the body ever waiting, before it
/// yields to the runtime once.
pub(crate) const YIELD_AFTER: usize = 512 * 1024;

/// The limits a body is read under.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// When the whole request must be done.
    pub(crate) deadline: Instant,
    /// The request's time-out (for the error message).
    pub(crate) timeout: Duration,
    /// `max_body_size`, in decoded bytes.
    pub(crate) max_size: Option<u64>,
}

/// Where the bytes come from.
enum Source {
    /// Read as hyper hands it over.
    Plain(Incoming),
    /// Decoded as it is read.
    Decoded(Box<Decoder>),
    /// Nothing left.
    Done,
}

/// A response body: an [`http_body::Body`] of [`Bytes`] that holds the
/// pooled connection until its end. See [`Response`] and the module docs
/// for the limits it is read under.
pub struct Body {
    source: Source,
    conn: Option<Lease>,
    h2: bool,
    sleep: Pin<Box<tokio::time::Sleep>>,
    limits: Limits,
    /// Bytes handed out so far (decoded).
    read: u64,
    /// Bytes handed out since the body last waited or yielded.
    run: usize,
    url: Uri,
    keep_alive: bool,
    counters: Arc<Counters>,
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Body")
            .field("url", &self.url)
            .field("read", &self.read)
            .field("done", &matches!(self.source, Source::Done))
            .finish_non_exhaustive()
    }
}

impl Body {
    /// The body of a response on `conn`, decoded from `encoding` if given.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        incoming: Incoming,
        conn: Lease,
        encoding: Option<Encoding>,
        limits: Limits,
        url: Uri,
        keep_alive: bool,
        counters: Arc<Counters>,
    ) -> Body {
        let end = incoming.is_end_stream();
        let source = match encoding {
            Some(e) if !end => Source::Decoded(Box::new(Decoder::new(e, incoming))),
            _ => Source::Plain(incoming),
        };
        let h2 = conn.version() == http::Version::HTTP_2;
        let mut body = Body {
            source,
            conn: Some(conn),
            h2,
            sleep: Box::pin(tokio::time::sleep_until(limits.deadline.into())),
            limits,
            read: 0,
            run: 0,
            url,
            keep_alive,
            counters,
        };
        if end {
            body.finish();
        }
        body
    }

    /// The body is complete: the connection goes back to the pool.
    fn finish(&mut self) {
        self.source = Source::Done;
        if let Some(c) = self.conn.take() {
            if self.keep_alive {
                drop(c);
            } else {
                c.discard();
            }
        }
    }

    /// The body failed: the connection is closed.
    fn fail(&mut self, e: Error) -> Error {
        self.source = Source::Done;
        if let Some(c) = self.conn.take() {
            c.discard();
        }
        self.counters.body_errors.fetch_add(1, Relaxed);
        e
    }

    fn target(&self) -> Option<&Target> {
        self.conn.as_ref().map(|c| c.target())
    }

    /// The exchange broke (reset, protocol error): counted against the
    /// connection (`max_errors`). An HTTP/1.1 connection is closed (its
    /// state is unknown); an HTTP/2 connection whose stream alone failed
    /// (the connection is still open) goes back to the pool with the error
    /// counted, and is closed once it has more than `max_errors`.
    fn http_error(&mut self, e: impl Into<crate::error::BoxError>) -> Error {
        let e = Error::http(self.target(), Some(&self.url.to_string()), e);
        if let Some(c) = self.conn.as_mut() {
            c.mark_error();
            if self.h2 && c.is_open() && self.keep_alive {
                self.source = Source::Done;
                drop(self.conn.take());
                self.counters.body_errors.fetch_add(1, Relaxed);
                return e;
            }
        }
        self.fail(e)
    }

    fn timed_out(&mut self) -> Error {
        let e = Error::RequestTimeout {
            url: self.url.to_string(),
            timeout: self.limits.timeout,
        };
        self.fail(e)
    }

    /// Counts `n` more bytes against `max_body_size`.
    fn over_limit(&mut self, n: usize) -> Option<Error> {
        self.read += n as u64;
        self.run += n;
        let limit = self.limits.max_size?;
        if self.read <= limit {
            return None;
        }
        let e = Error::BodyTooLarge {
            url: self.url.to_string(),
            limit,
            target: self.target().cloned(),
        };
        tracing::debug!(url = %self.url, limit, "hotpool: body over max_body_size; closing the connection");
        Some(self.fail(e))
    }

    fn poll_plain(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let Source::Plain(incoming) = &mut self.source else {
            return Poll::Ready(None);
        };
        let frame = match Pin::new(&mut *incoming).poll_frame(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(None) => {
                self.finish();
                return Poll::Ready(None);
            }
            Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(self.http_error(e)))),
            Poll::Ready(Some(Ok(f))) => f,
        };
        let end = incoming.is_end_stream();
        if let Some(data) = frame.data_ref() {
            if let Some(e) = self.over_limit(data.len()) {
                return Poll::Ready(Some(Err(e)));
            }
        }
        if end {
            // The last byte is here: give the connection back now, not on
            // the next poll.
            self.finish();
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn poll_decoded(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let Source::Decoded(decoder) = &mut self.source else {
            return Poll::Ready(None);
        };
        let mut out = BytesMut::zeroed(OUTPUT_CHUNK);
        let mut buf = ReadBuf::new(&mut out);
        match decoder.poll_read(cx, &mut buf) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(self.http_error(e)))),
            Poll::Ready(Ok(())) => {
                let n = buf.filled().len();
                if n == 0 {
                    self.finish();
                    return Poll::Ready(None);
                }
                if let Some(e) = self.over_limit(n) {
                    return Poll::Ready(Some(Err(e)));
                }
                out.truncate(n);
                Poll::Ready(Some(Ok(Frame::data(out.freeze()))))
            }
        }
    }
}

impl Drop for Body {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take() {
            let complete = matches!(&self.source, Source::Plain(i) if i.is_end_stream());
            if self.keep_alive && (self.h2 || complete) {
                // Dropping the stream resets it; the connection is fine.
                self.source = Source::Done;
                drop(c);
            } else {
                tracing::debug!(url = %self.url, "hotpool: body dropped unread; closing the HTTP/1.1 connection");
                c.discard();
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
        if matches!(this.source, Source::Done) {
            return Poll::Ready(None);
        }
        if Instant::now() >= this.limits.deadline {
            return Poll::Ready(Some(Err(this.timed_out())));
        }
        if this.run >= YIELD_AFTER {
            // Always ready for a long time: let the runtime run its timers
            // and other tasks (and an abort take effect) before going on.
            this.run = 0;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let polled = match this.source {
            Source::Plain(_) => this.poll_plain(cx),
            Source::Decoded(_) => this.poll_decoded(cx),
            Source::Done => Poll::Ready(None),
        };
        if polled.is_pending() {
            this.run = 0;
            if this.sleep.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Some(Err(this.timed_out())));
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.source, Source::Done)
    }

    fn size_hint(&self) -> SizeHint {
        match &self.source {
            Source::Plain(i) => i.size_hint(),
            Source::Decoded(_) => SizeHint::default(),
            Source::Done => SizeHint::with_exact(0),
        }
    }
}
