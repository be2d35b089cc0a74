//! HTTP/2 streams shared across requests: one connection, many requests
//! at once.
//!
//! The pool underneath lends every connection exclusively and knows
//! nothing of HTTP; sharing sits in the client, on top of it:
//!
//! - A request to a domain first looks through the domain's **shared
//!   connections** (its [`Shares`], kept beside the pool's domain) for one
//!   with a free stream, and takes it with one CAS on that connection's
//!   stream word ([`conn`]). No lock, no wait.
//! - If none has room, the request borrows a connection from the pool as
//!   any request does (an idle one, or a dial within the pool's limits).
//!   An HTTP/2 connection is then *shared*: it joins the domain's list
//!   and other requests take streams on it, up to the server's
//!   `SETTINGS_MAX_CONCURRENT_STREAMS` and `max_streams_per_connection`.
//!   It stays lent as far as the pool is concerned, so
//!   `max_conns_per_domain` keeps counting connections. When its last
//!   stream ends it goes back to the pool's idle queue, where idle
//!   time-outs, lifetime and the health sweep apply as to any connection.
//! - **One dial for many requests.** A burst of requests to a domain with
//!   no connection must not dial once per request (RFC 9113 §9.1 asks
//!   for one connection; hyper's pool does not coalesce, hyper issue
//!   2197). The domain counts the requests waiting for a stream and the
//!   borrows in progress; a request starts a borrow only while
//!   `borrows × expected streams per connection < waiting requests`, and
//!   otherwise waits on the domain's event until a borrow ends or a
//!   stream frees up. The expected streams per connection is what the
//!   domain's last connection allowed (`max_streams_per_connection` at
//!   first). So 64 requests to a fresh domain whose server allows 100
//!   streams dial once; with 8 streams allowed they dial 8 times. A
//!   borrower also races its borrow against the domain's event: if a
//!   stream frees up first it takes that and drops its borrow.
//! - A domain whose last borrow got HTTP/1.1 (or failed) is marked so,
//!   and its requests borrow at once, in parallel, as before; an HTTP/2
//!   connection from the pool switches it back.
//!
//! `GOAWAY` and refused streams are handled by the client's retry: the
//! connection stops taking streams (the frame walker in
//! [`sniff`](super::sniff) sees the `GOAWAY` as it is read), streams below
//! its last-stream-id finish, and a request the server did not process is
//! sent again on another connection whatever its method.

mod conn;

pub(crate) use conn::{SharedConn, Stream};

use super::{client::Dest, Client, Lease};
use crate::{error::Error, streams::Room};
use arc_swap::ArcSwap;
use std::{
    sync::{
        atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering},
        Arc,
    },
    time::Instant,
};

/// What the domain's last borrow got.
const UNKNOWN: u8 = 0;
/// HTTP/2: requests wait for a borrow in progress.
const H2: u8 = 1;
/// HTTP/1.1, or the borrow failed: requests borrow in parallel.
const PARALLEL: u8 = 2;

/// Counts behind [`StreamStats`](crate::StreamStats).
#[derive(Default, Debug)]
pub(crate) struct StreamCounters {
    pub(crate) in_flight: AtomicU64,
    pub(crate) peak: AtomicU64,
    pub(crate) streams: AtomicU64,
    pub(crate) rides: AtomicU64,
    pub(crate) connections: AtomicU64,
    pub(crate) drained: AtomicU64,
    pub(crate) resent: AtomicU64,
}

impl StreamCounters {
    pub(crate) fn snapshot(&self) -> crate::StreamStats {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        crate::StreamStats {
            in_flight: l(&self.in_flight),
            peak_per_connection: l(&self.peak),
            streams: l(&self.streams),
            rides: l(&self.rides),
            connections: l(&self.connections),
            drained: l(&self.drained),
            resent: l(&self.resent),
        }
    }
}

/// One domain's shared HTTP/2 connections and the requests waiting for a
/// stream.
pub(crate) struct Shares {
    conns: ArcSwap<Vec<Arc<SharedConn>>>,
    /// A stream ended, a connection joined, or a borrow ended.
    pub(super) room: Room,
    /// Requests without a stream yet (borrowers included).
    waiting: AtomicU32,
    /// Borrows from the pool in progress.
    borrowing: AtomicU32,
    proto: AtomicU8,
    /// Streams the next connection is expected to carry.
    hint: AtomicU32,
}

impl Shares {
    fn new(max_streams: u32) -> Shares {
        Shares {
            conns: ArcSwap::from_pointee(Vec::new()),
            room: Room::new(),
            waiting: AtomicU32::new(0),
            borrowing: AtomicU32::new(0),
            proto: AtomicU8::new(UNKNOWN),
            hint: AtomicU32::new(max_streams.max(1)),
        }
    }

    /// A free stream on one of the domain's shared connections.
    fn try_stream(&self) -> Option<Stream> {
        self.conns.load().iter().find_map(|c| c.try_stream())
    }

    fn insert(&self, c: Arc<SharedConn>) {
        self.conns.rcu(|v| {
            let mut v = Vec::clone(v);
            v.push(c.clone());
            v
        });
    }

    fn remove(&self, c: &SharedConn) {
        self.conns.rcu(|v| {
            v.iter()
                .filter(|x| !std::ptr::eq(&***x, c))
                .cloned()
                .collect::<Vec<_>>()
        });
    }

    /// Starts a borrow if the borrows in progress cannot serve every
    /// waiting request.
    fn may_borrow(&self) -> bool {
        let parallel = self.proto.load(Ordering::Acquire) == PARALLEL;
        let hint = self.hint.load(Ordering::Relaxed).max(1);
        let mut b = self.borrowing.load(Ordering::Acquire);
        loop {
            let waiting = self.waiting.load(Ordering::Acquire);
            if !parallel && u64::from(b) * u64::from(hint) >= u64::from(waiting) {
                return false;
            }
            match self.borrowing.compare_exchange_weak(
                b,
                b + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(now) => b = now,
            }
        }
    }
}

/// Counts a request among the domain's waiting ones until dropped.
struct Waiting<'a>(&'a Shares);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A borrow in progress; its end wakes every waiting request of the
/// domain, which look again (a connection may have joined) or start a
/// borrow of their own.
struct Borrowing<'a>(&'a Shares);

impl Drop for Borrowing<'_> {
    fn drop(&mut self) {
        self.0.borrowing.fetch_sub(1, Ordering::AcqRel);
        self.0.room.changed();
    }
}

impl Client {
    /// A connection or a stream for a request to `dest`: see the module
    /// docs. `fresh` (a retry after a stale connection) asks the pool for
    /// a newly dialed connection, lent exclusively.
    pub(super) async fn lease(&self, dest: &Dest, fresh: bool) -> Result<Lease, Error> {
        let max_streams = self.inner.max_streams;
        // Without keep-alive every request has a connection of its own.
        if fresh || max_streams <= 1 || !self.inner.keep_alive {
            return self.checkout(dest, fresh).await.map(Lease::Own);
        }
        let handle = self.inner.pool.domain(&dest.key);
        let Some(shares) = handle.extension(|| Arc::new(Shares::new(max_streams))) else {
            return self.checkout(dest, false).await.map(Lease::Own);
        };
        {
            let conns = shares.conns.load();
            if let Some(s) = conns.iter().find_map(|c| c.try_stream()) {
                return Ok(Lease::Stream(s));
            }
            // The domain speaks HTTP/1.1 (or its last borrow failed) and
            // has no shared connection: every request borrows its own, so
            // the waiting machinery below (counters, a timer, a wake-up at
            // the end) would only cost. A borrow that meets HTTP/2 still
            // shares it.
            if conns.is_empty() && shares.proto.load(Ordering::Acquire) == PARALLEL {
                drop(conns);
                return self.borrow(dest, shares, false).await;
            }
        }
        shares.waiting.fetch_add(1, Ordering::AcqRel);
        let _waiting = Waiting(shares);
        let (wait_timeout, _) = self.inner.pool.wait_settings();
        let start = Instant::now();
        let deadline = crate::http_layer::client::deadline_after(start, wait_timeout);
        // A free stream, or a borrow of our own when the borrows in
        // progress cannot serve every waiting request; otherwise wait for
        // a stream to end or a borrow to finish.
        let found = shares.room.wait_for(|| match shares.try_stream() {
            Some(s) => Some(Some(s)),
            None => shares.may_borrow().then_some(None),
        });
        match tokio::time::timeout_at(deadline.into(), found).await {
            Ok(Some(s)) => Ok(Lease::Stream(s)),
            Ok(None) => {
                let _borrowing = Borrowing(shares);
                self.borrow(dest, shares, handle.at_capacity()).await
            }
            Err(_) => Err(Error::WaitTimeout {
                domain: dest.key.as_str().into(),
                waited: start.elapsed(),
            }),
        }
    }

    /// Borrows a connection from the pool for `shares`' domain, sharing it
    /// if it speaks HTTP/2. When the domain is at capacity (`waits`: the
    /// pool will make the borrow wait, not dial), a stream that frees up
    /// meanwhile wins and the wait is dropped; a dial is never dropped for
    /// that (its handshake would be wasted on the server).
    async fn borrow(&self, dest: &Dest, shares: &Arc<Shares>, waits: bool) -> Result<Lease, Error> {
        let get = self.checkout(dest, false);
        let conn = if waits {
            let won = shares
                .room
                .race(async { Err(get.await) }, || shares.try_stream().map(Ok))
                .await;
            match won {
                Ok(s) => return Ok(Lease::Stream(s)),
                Err(conn) => conn,
            }
        } else {
            get.await
        };
        let conn = match conn {
            Ok(c) => c,
            Err(e) => {
                shares.proto.store(PARALLEL, Ordering::Release);
                return Err(e);
            }
        };
        if conn.version() != http::Version::HTTP_2 {
            shares.proto.store(PARALLEL, Ordering::Release);
            return Ok(Lease::Own(conn));
        }
        let (_, max_errors) = self.inner.pool.wait_settings();
        match SharedConn::share(
            conn,
            shares.clone(),
            self.inner.max_streams,
            max_errors,
            self.inner.streams.clone(),
        ) {
            Ok(stream) => {
                shares
                    .hint
                    .store(stream.shared().limit().max(1), Ordering::Relaxed);
                shares.proto.store(H2, Ordering::Release);
                Ok(Lease::Stream(stream))
            }
            Err(c) => Ok(Lease::Own(c)),
        }
    }
}

/// Whether `e` says the server did not process the request, so that it may
/// be sent again whatever its method: a stream above a `GOAWAY`'s
/// last-stream-id (RFC 9113 §6.8), a stream refused with `REFUSED_STREAM`
/// (§8.7), or a request hyper never sent.
pub(crate) fn unprocessed(e: &Error) -> bool {
    let Error::Http { source, .. } = e else {
        return false;
    };
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(&**source);
    while let Some(err) = cur {
        if let Some(h) = err.downcast_ref::<hyper::Error>() {
            if h.is_canceled() {
                return true;
            }
        }
        if let Some(h) = err.downcast_ref::<h2::Error>() {
            return (h.is_go_away() && h.is_remote())
                || h.reason() == Some(h2::Reason::REFUSED_STREAM);
        }
        cur = err.source();
    }
    false
}
