//! Counters and gauges: a [`Stats`] snapshot of the pool.
//!
//! Hot-path events (a lend from the idle queue, a return to it) are counted
//! per connection by whoever owns the connection at that moment — a plain
//! load and store on the connection's own metadata, which the hot path
//! touches anyway — and summed when a snapshot is taken. Shared counters with
//! atomic read-modify-writes would cost more than the whole get + put and
//! bounce a cache line between threads. Slow-path events (dials, waits,
//! closes) use shared counters.

use std::sync::Arc;

/// A point-in-time snapshot of one domain's counters and gauges.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct DomainStats {
    /// The pool key (domain, with a port if it has one).
    pub domain: Arc<str>,
    /// Lends and failed attempts: `hits + fresh + misses`.
    pub gets: u64,
    /// Lends of an idle (reused) connection.
    pub hits: u64,
    /// Lends of a connection dialed for the caller.
    pub fresh: u64,
    /// `get` calls that failed (time-out, closed, no address, dial error)
    /// and `try_get` calls that found nothing.
    pub misses: u64,
    /// Dials started.
    pub dials: u64,
    /// Dials that failed.
    pub dial_failures: u64,
    /// Dials dropped by their caller before they ended (neither created
    /// nor failed): `dials = created + dial_failures + dials_cancelled`
    /// once none is in progress.
    pub dials_cancelled: u64,
    /// `get` calls that had to wait.
    pub waits: u64,
    /// Waits that ended in `Error::WaitTimeout`.
    pub wait_timeouts: u64,
    /// Returns that went back to the idle queue.
    pub puts_recycled: u64,
    /// Returns that closed the connection (discarded, unhealthy, expired,
    /// pool closed, queue full).
    pub puts_discarded: u64,
    /// Connections created (successful dials).
    pub created: u64,
    /// Connections closed by the pool.
    pub closed: u64,
    /// Connections taken out of the pool with `Pooled::take`.
    pub detached: u64,
    /// Live connections: `idle + in_use`.
    pub connections: u64,
    /// Connections waiting in the idle queue.
    pub idle: u64,
    /// Connections lent out.
    pub in_use: u64,
    /// Dials in progress (capacity reserved, connection not yet made).
    pub dialing: u64,
    /// Idle connections the health sweeper closed (expired, closed by the
    /// peer, over the error limit, failed their probe).
    pub swept: u64,
    /// Health probes of long-idle connections.
    pub probes: u64,
    /// Probes that failed (the connection was closed; a 403 also
    /// blacklisted its IP).
    pub probe_failures: u64,
    /// Live connections that are healthy: no error counted against them,
    /// within `max_lifetime`, and (idle ones) within `idle_timeout`.
    pub healthy: u64,
    /// The time reused connections sat idle between a put and their next
    /// lend, summed over every hit (see
    /// [`avg_recycle_latency`](DomainStats::avg_recycle_latency)).
    pub recycle_wait: std::time::Duration,
}

impl DomainStats {
    /// Hits ÷ gets (0 when nothing was asked).
    pub fn reuse_rate(&self) -> f64 {
        ratio(self.hits, self.gets)
    }

    /// Returns to the queue ÷ all returns (0 when nothing was returned).
    pub fn recycle_rate(&self) -> f64 {
        ratio(self.puts_recycled, self.puts_recycled + self.puts_discarded)
    }

    /// Healthy ÷ live connections (1 when there is none: nothing is
    /// unhealthy).
    pub fn healthy_ratio(&self) -> f64 {
        if self.connections == 0 {
            1.0
        } else {
            ratio(self.healthy, self.connections)
        }
    }

    /// The seed's average recycle latency: how long a returned connection
    /// waited, on average, from its put to its next lend (zero before the
    /// first reuse).
    pub fn avg_recycle_latency(&self) -> std::time::Duration {
        match u32::try_from(self.hits) {
            Ok(0) => std::time::Duration::ZERO,
            Ok(n) => self.recycle_wait / n,
            Err(_) => std::time::Duration::from_secs_f64(
                self.recycle_wait.as_secs_f64() / self.hits as f64,
            ),
        }
    }

    pub(crate) fn add(&mut self, o: &DomainStats) {
        self.gets += o.gets;
        self.hits += o.hits;
        self.fresh += o.fresh;
        self.misses += o.misses;
        self.dials += o.dials;
        self.dial_failures += o.dial_failures;
        self.dials_cancelled += o.dials_cancelled;
        self.waits += o.waits;
        self.wait_timeouts += o.wait_timeouts;
        self.puts_recycled += o.puts_recycled;
        self.puts_discarded += o.puts_discarded;
        self.created += o.created;
        self.closed += o.closed;
        self.detached += o.detached;
        self.connections += o.connections;
        self.idle += o.idle;
        self.in_use += o.in_use;
        self.dialing += o.dialing;
        self.swept += o.swept;
        self.probes += o.probes;
        self.probe_failures += o.probe_failures;
        self.healthy += o.healthy;
        self.recycle_wait += o.recycle_wait;
    }
}

/// Dials and handshake failures of one TLS fingerprint profile.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProfileStats {
    /// The profile's name.
    pub name: Arc<str>,
    /// Handshakes attempted with it.
    pub dials: u64,
    /// Handshakes with it that failed.
    pub handshake_failures: u64,
}

/// One live connection, as [`Pool::connections`](crate::Pool::connections)
/// sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionInfo {
    /// The pool's id for it (unique within the pool).
    pub id: u64,
    /// The pool key (domain) it serves.
    pub domain: String,
    /// The address it was dialed to.
    pub addr: std::net::SocketAddr,
    /// The connector's label, e.g. the TLS profile that opened it.
    pub profile: Option<String>,
    /// Time since it was made.
    pub age: std::time::Duration,
    /// Time since it was last returned (zero while lent).
    pub idle: std::time::Duration,
    /// Whether it is lent out now.
    pub in_use: bool,
    /// Times it was lent (each lend carries one or more requests).
    pub lends: u64,
    /// Errors marked on it.
    pub errors: u8,
    /// Its address's record: score, dials, failures, blocked.
    pub address: AddressInfo,
}

/// One address of a domain and how it has served, from
/// [`Pool::addresses`](crate::Pool::addresses) and in each
/// [`ConnectionInfo`]. See [`AddressChoice`](crate::AddressChoice).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AddressInfo {
    /// The IP and port.
    pub addr: std::net::SocketAddr,
    /// Its score as a cost now (lower is better): the faded average dial
    /// latency plus 250 ms per unit of recent failures.
    pub cost: std::time::Duration,
    /// Its average dial latency (connect, handshake, validation), if a
    /// dial to it ever succeeded.
    pub latency: Option<std::time::Duration>,
    /// Dials to it (this pool's, while it is in the domain's list).
    pub dials: u64,
    /// Those that failed.
    pub failures: u64,
    /// Blacklisted for this domain (or for all) now.
    pub blocked: bool,
    /// Set aside after failing (skipped while other addresses serve).
    pub set_aside: bool,
}

/// A point-in-time snapshot of the pool: totals and one entry per domain.
///
/// Counters are read one after another while the pool runs, so a snapshot
/// taken under load is consistent per connection, not across the pool; once
/// the pool is quiet, `created == connections + closed + detached` holds.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct Stats {
    /// The sum over all domains (its `domain` field is empty).
    pub total: DomainStats,
    /// Live connections and dials in progress, as the pool-wide capacity
    /// counter sees them.
    pub reserved: u64,
    /// Tasks waiting for a connection right now.
    pub waiting: u64,
    /// Whether the pool was closed.
    pub closed: bool,
    /// Per-domain snapshots, in no particular order.
    pub domains: Vec<DomainStats>,
    /// Per-profile dial counts, from the connector (empty for connectors
    /// without profiles).
    pub profiles: Vec<ProfileStats>,
    /// IPs blacklisted now (deny list included).
    pub blacklisted: u64,
    /// Request counters of a [`Client`](crate::Client) (all zero for a bare
    /// pool).
    pub requests: RequestStats,
    /// HTTP/2 streams of a [`Client`](crate::Client)'s shared connections
    /// (all zero for a bare pool).
    pub streams: StreamStats,
}

/// HTTP/2 streams on the connections a [`Client`](crate::Client) shares
/// between concurrent requests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamStats {
    /// Streams in flight now.
    pub in_flight: u64,
    /// The most streams one connection carried at once.
    pub peak_per_connection: u64,
    /// Streams opened (requests sent on shared connections).
    pub streams: u64,
    /// Streams taken on a connection already shared (every stream but the
    /// first of each time a connection is taken from the pool): requests
    /// that needed no lend from the pool at all.
    pub rides: u64,
    /// Newly dialed HTTP/2 connections that carried streams.
    pub connections: u64,
    /// Connections that stopped taking streams before their end (`GOAWAY`,
    /// a refused stream, too many errors).
    pub drained: u64,
    /// Requests sent again because the server did not process them
    /// (above a `GOAWAY`'s last-stream-id, or refused).
    pub resent: u64,
}

impl StreamStats {
    /// Streams per HTTP/2 connection (0 before the first).
    pub fn requests_per_connection(&self) -> f64 {
        ratio(self.streams, self.connections)
    }
}

/// Request counters of a [`Client`](crate::Client).
///
/// Every request ends in exactly one of `responses` or `failures`:
/// `requests == responses.total() + failures.total()` once no request is
/// in flight.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct RequestStats {
    /// Requests started.
    pub requests: u64,
    /// Responses received, by status class.
    pub responses: StatusClasses,
    /// Requests that ended in an error, by kind.
    pub failures: Failures,
    /// Requests sent a second time on a fresh connection after a reused one
    /// failed before any response byte (idempotent methods only).
    pub retries: u64,
    /// Responses whose body failed after the head arrived (connection
    /// broken, undecodable, timed out); counted in `responses` too.
    pub body_errors: u64,
    /// Mean time from the start of a request to its response head
    /// (connection wait, dial and validation included).
    pub avg_latency: std::time::Duration,
    /// The longest such time.
    pub max_latency: std::time::Duration,
}

/// Responses by status class.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StatusClasses {
    /// 1xx (informational responses that ended a request).
    pub informational: u64,
    /// 2xx.
    pub success: u64,
    /// 3xx.
    pub redirection: u64,
    /// 4xx.
    pub client_error: u64,
    /// 5xx.
    pub server_error: u64,
}

impl StatusClasses {
    /// All responses.
    pub fn total(&self) -> u64 {
        self.informational + self.success + self.redirection + self.client_error + self.server_error
    }
}

/// Failed requests by kind of [`Error`](crate::Error).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Failures {
    /// Waiting for a connection, connecting, handshaking or the request
    /// itself took too long.
    pub timeout: u64,
    /// The connection could not be made (refused, reset, connector error,
    /// no address).
    pub connect: u64,
    /// The TLS handshake or the certificate failed.
    pub tls: u64,
    /// Every address of the domain is blacklisted, or a probe got 403.
    pub blocked: u64,
    /// A validation probe rejected the connection.
    pub validation: u64,
    /// The HTTP exchange failed (connection broken, bad response,
    /// undecodable body).
    pub http: u64,
    /// Anything else (an invalid URL, the pool closed).
    pub other: u64,
}

impl Failures {
    /// All failed requests.
    pub fn total(&self) -> u64 {
        self.timeout
            + self.connect
            + self.tls
            + self.blocked
            + self.validation
            + self.http
            + self.other
    }
}

impl Stats {
    /// Hits ÷ gets over the whole pool, a request that took a stream on an
    /// HTTP/2 connection already in use ([`StreamStats::rides`]) counting
    /// as a get and a hit.
    pub fn reuse_rate(&self) -> f64 {
        let rides = self.streams.rides;
        ratio(self.total.hits + rides, self.total.gets + rides)
    }

    /// Returns to the queue ÷ all returns over the whole pool.
    pub fn recycle_rate(&self) -> f64 {
        self.total.recycle_rate()
    }

    /// Healthy ÷ live connections over the whole pool (see
    /// [`DomainStats::healthy`]).
    pub fn healthy_ratio(&self) -> f64 {
        self.total.healthy_ratio()
    }

    /// Requests answered (any status) ÷ requests that ended, answered or
    /// failed (a [`Client`](crate::Client)'s; 0 before the first). A raw
    /// pool makes no requests: see [`dial_success_rate`](Stats::dial_success_rate).
    pub fn success_rate(&self) -> f64 {
        let answered = self.requests.responses.total();
        ratio(answered, answered + self.requests.failures.total())
    }

    /// Dials that made a connection ÷ dials that ended.
    pub fn dial_success_rate(&self) -> f64 {
        let t = &self.total;
        ratio(t.created, t.created + t.dial_failures)
    }

    /// The average time from a put to the connection's next lend over the
    /// whole pool (see [`DomainStats::avg_recycle_latency`]).
    pub fn avg_recycle_latency(&self) -> std::time::Duration {
        self.total.avg_recycle_latency()
    }

    /// The snapshot of one domain, if the pool knows it.
    pub fn domain(&self, key: &str) -> Option<&DomainStats> {
        self.domains.iter().find(|d| &*d.domain == key)
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}
