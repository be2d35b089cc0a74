//! [`SharedConn`]: one HTTP/2 connection lent to several requests at once,
//! and [`Stream`], one request's share of it.
//!
//! The stream count is the core's [`StreamWord`] (see [`crate::streams`]
//! for its protocol and its loom model): a CAS takes a stream below
//! `min(server's SETTINGS_MAX_CONCURRENT_STREAMS,
//! max_streams_per_connection)`, a stream's end wakes one waiter of the
//! domain, and the request that ends the last stream of a connection
//! whose word then retires gives it back to the pool (or closes it after
//! a `GOAWAY` or too many errors), exactly once.

use super::{Shares, StreamCounters};
use crate::{
    connect::Target,
    error::Error,
    http_layer::{
        connection::{prepare, ReqBody},
        H2Signals, HttpConnection,
    },
    pooled::Pooled,
    streams::{Ended, StreamWord},
};
use bytes::Bytes;
use http::{header::HeaderValue, Request, Response};
use hyper::{body::Incoming, client::conn::http2};
use std::sync::{
    atomic::{AtomicBool, AtomicU32, Ordering},
    Arc, Mutex,
};

/// An HTTP/2 connection taken from the pool and shared by streams.
pub(crate) struct SharedConn {
    /// Streams in flight, and whether it has retired.
    word: StreamWord,
    /// Most streams in flight at once.
    peak: AtomicU32,
    /// Errors counted against it; past `max_errors` it takes no new stream.
    errors: AtomicU32,
    /// Set once it must take no new stream (errors, a refused stream).
    draining: AtomicBool,
    /// `max_streams_per_connection`.
    limit: u32,
    max_errors: u32,
    signals: Arc<H2Signals>,
    sender: http2::SendRequest<ReqBody>,
    target: Target,
    profile: Arc<str>,
    proxy: Option<Arc<str>>,
    accept_language: HeaderValue,
    /// Whether the connection had carried requests before it was shared.
    reused: bool,
    /// The pool's guard: the connection counts as lent (against
    /// `max_conns_per_domain`) while it is shared. Taken once, at
    /// retirement.
    pooled: Mutex<Option<Pooled<HttpConnection>>>,
    home: Arc<Shares>,
    counters: Arc<StreamCounters>,
}

impl SharedConn {
    /// Shares `conn`, an HTTP/2 connection just lent by the pool, with one
    /// stream taken for the caller.
    pub(super) fn share(
        conn: Pooled<HttpConnection>,
        home: Arc<Shares>,
        limit: u32,
        max_errors: u8,
        counters: Arc<StreamCounters>,
    ) -> Result<Stream, Pooled<HttpConnection>> {
        let (Some(signals), Some(sender)) = (conn.h2_signals().cloned(), conn.h2_sender()) else {
            return Err(conn);
        };
        let reused = Pooled::is_reused(&conn);
        if !reused {
            counters.connections.fetch_add(1, Ordering::Relaxed);
        }
        let shared = Arc::new(SharedConn {
            word: StreamWord::new(1),
            peak: AtomicU32::new(1),
            errors: AtomicU32::new(u32::from(Pooled::error_count(&conn))),
            draining: AtomicBool::new(false),
            limit: limit.max(1),
            max_errors: u32::from(max_errors),
            signals,
            sender: sender.clone(),
            target: conn.target().clone(),
            profile: conn.profile().into(),
            proxy: conn.proxy.clone(),
            accept_language: conn.accept_language().clone(),
            reused,
            pooled: Mutex::new(Some(conn)),
            home,
            counters,
        });
        shared.opened(1);
        shared.home.insert(shared.clone());
        Ok(Stream {
            conn: shared,
            sender,
            first: !reused,
            ended: false,
        })
    }

    /// The most streams this connection may carry now.
    pub(crate) fn limit(&self) -> u32 {
        self.limit.min(self.signals.max_streams())
    }

    /// Whether it may take new streams at all.
    fn open_for_streams(&self) -> bool {
        !self.draining.load(Ordering::Acquire) && !self.signals.goaway() && !self.sender.is_closed()
    }

    /// Takes a stream if there is room.
    pub(super) fn try_stream(self: &Arc<Self>) -> Option<Stream> {
        if !self.open_for_streams() {
            if self.signals.goaway() {
                self.drain();
            }
            return None;
        }
        let now = self.word.try_take(self.limit())?;
        self.opened(now);
        self.counters.rides.fetch_add(1, Ordering::Relaxed);
        Some(Stream {
            conn: self.clone(),
            sender: self.sender.clone(),
            first: false,
            ended: false,
        })
    }

    fn opened(&self, now: u32) {
        self.peak.fetch_max(now, Ordering::Relaxed);
        let c = &self.counters;
        c.streams.fetch_add(1, Ordering::Relaxed);
        c.in_flight.fetch_add(1, Ordering::Relaxed);
        c.peak.fetch_max(u64::from(now), Ordering::Relaxed);
    }

    /// Ends one stream; the last one out retires the connection.
    fn end_stream(&self) {
        self.counters.in_flight.fetch_sub(1, Ordering::Relaxed);
        if self.word.end() == Ended::Retired {
            self.retire();
        }
        // Room for one more stream (or, once retired, a connection back
        // in the pool): one waiter of the domain may go on.
        self.home.room.made_room();
    }

    /// Out of sharing: out of the domain's list, back to the pool, or
    /// closed if it must take no new requests.
    fn retire(&self) {
        if self.signals.goaway() {
            self.drain();
        }
        self.home.remove(self);
        let conn = self
            .pooled
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(mut c) = conn {
            for _ in Pooled::error_count(&c)..u8::try_from(self.errors()).unwrap_or(u8::MAX) {
                c.mark_error();
            }
            if self.open_for_streams() {
                drop(c);
            } else {
                tracing::debug!(target = %self.target, "hotpool: HTTP/2 connection drained; closing it");
                Pooled::discard(c);
            }
        }
    }

    fn errors(&self) -> u32 {
        self.errors.load(Ordering::Relaxed)
    }

    /// Counts an error of one of its streams (`max_errors`).
    fn mark_error(&self) {
        let n = self.errors.fetch_add(1, Ordering::Relaxed) + 1;
        if n > self.max_errors {
            self.drain();
        }
    }

    /// No new stream from now on; it closes after its last one.
    pub(super) fn drain(&self) {
        if !self.draining.swap(true, Ordering::AcqRel) {
            self.counters.drained.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// One request's stream on a [`SharedConn`]; ending it (drop) makes room.
pub(crate) struct Stream {
    conn: Arc<SharedConn>,
    sender: http2::SendRequest<ReqBody>,
    /// The first stream of a newly dialed connection.
    first: bool,
    ended: bool,
}

impl Stream {
    /// The connection's target.
    pub(crate) fn target(&self) -> &Target {
        &self.conn.target
    }

    /// The connection's TLS profile.
    pub(crate) fn profile(&self) -> &str {
        &self.conn.profile
    }

    /// The proxy of the connection, by name.
    pub(crate) fn proxy(&self) -> Option<&Arc<str>> {
        self.conn.proxy.as_ref()
    }

    /// The `Accept-Language` of the connection.
    pub(crate) fn accept_language(&self) -> &HeaderValue {
        &self.conn.accept_language
    }

    /// Whether the stream rides a connection used before.
    pub(crate) fn is_reused(&self) -> bool {
        !self.first || self.conn.reused
    }

    /// Whether hyper's connection task still runs.
    pub(crate) fn is_open(&self) -> bool {
        !self.sender.is_closed()
    }

    /// Counts an error against the connection.
    pub(crate) fn mark_error(&self) {
        self.conn.mark_error();
    }

    /// The connection takes no new stream (the server refused this one).
    pub(crate) fn drain(&self) {
        self.conn.drain();
    }

    /// The shared connection.
    pub(crate) fn shared(&self) -> &Arc<SharedConn> {
        &self.conn
    }

    /// Sends `req` on this stream.
    pub(crate) async fn send(&mut self, req: Request<Bytes>) -> Result<Response<Incoming>, Error> {
        let req = prepare(req, &self.conn.target, true)?;
        self.sender
            .send_request(req)
            .await
            .map_err(|e| Error::http(Some(&self.conn.target), None, e))
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        if !std::mem::replace(&mut self.ended, true) {
            self.conn.end_stream();
        }
    }
}
