//! The `Connect` trait: how the pool makes, checks and closes connections.

use crate::{error::Error, stats::ProfileStats};
use std::{fmt, future::Future, net::SocketAddr, sync::Arc};

/// Where a connection goes: the domain it serves (the TLS server name) and
/// the IP address it is dialed to. The pool picks the address from the
/// domain's list; a connector never resolves names itself.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Target {
    domain: Arc<str>,
    addr: SocketAddr,
    route: Option<Arc<str>>,
}

impl Target {
    /// A target for `domain` at `addr`.
    pub fn new(domain: Arc<str>, addr: SocketAddr) -> Target {
        Target {
            domain,
            addr,
            route: None,
        }
    }

    /// The same target reached by `route` (see [`route`](Target::route)).
    pub fn with_route(mut self, route: Option<Arc<str>>) -> Target {
        self.route = route;
        self
    }

    /// The route of the pool key, if it has one: what follows `#` in a key
    /// such as `example.com#socks5://proxy.test:1080`. The pool treats it as
    /// opaque — a key with a route is a domain of its own, with its own
    /// connections, and shares its host's addresses — and a connector
    /// decides what it means (the HTTP client's: the proxy to dial
    /// through).
    pub fn route(&self) -> Option<&str> {
        self.route.as_deref()
    }

    /// The domain (host name, without port): what SNI and certificate
    /// verification use.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The domain as a shared string.
    pub fn domain_arc(&self) -> &Arc<str> {
        &self.domain
    }

    /// The IP address and port to dial.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.domain, self.addr)?;
        match &self.route {
            Some(r) => write!(f, "#{r}"),
            None => Ok(()),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {}", self.domain, self.addr)?;
        match &self.route {
            Some(r) => write!(f, " via {r}"),
            None => Ok(()),
        }
    }
}

/// Makes connections for the pool.
///
/// The pool calls [`connect`](Connect::connect) when a domain has no idle
/// connection and capacity is free, [`is_open`](Connect::is_open) before
/// lending an idle connection, and [`close`](Connect::close) when it retires
/// one. The pool itself knows nothing of sockets: TLS and HTTP connectors
/// implement this trait, and so do the dummy connectors of the tests, benches
/// and loom models.
///
/// # Examples
///
/// ```
/// use hotpool::{Connect, Error, Target};
///
/// struct Echo;
///
/// impl Connect for Echo {
///     type Conn = String;
///     async fn connect(&self, target: &Target) -> Result<String, Error> {
///         Ok(format!("connection to {target}"))
///     }
/// }
/// ```
pub trait Connect: Send + Sync + 'static {
    /// The connection type the pool lends out.
    type Conn: Send + 'static;

    /// Establishes a connection to `target`. Report failures with
    /// [`Error::connect`]; the pool adds the target to the error and enforces
    /// its own `connect_timeout` around this future.
    ///
    /// # Cancel safety
    ///
    /// The pool drops this future if the caller's `get` is dropped; whatever
    /// the future owns at that point must clean up on drop.
    fn connect(&self, target: &Target) -> impl Future<Output = Result<Self::Conn, Error>> + Send;

    /// Whether an idle connection is still usable (for example, the peer has
    /// not closed it). Called before every lend of an idle connection, so it
    /// must be cheap and must not block. Defaults to `true`.
    fn is_open(&self, conn: &Self::Conn) -> bool {
        let _ = conn;
        true
    }

    /// Retires a connection. Defaults to dropping it; a TLS connector may
    /// send a close_notify first. Must not block.
    fn close(&self, conn: Self::Conn) {
        drop(conn);
    }

    /// Checks that an idle connection still works, for the health sweeper:
    /// called on connections idle longer than the sweep interval, one at a
    /// time per connection, never on a lent one. `Ok` returns it to the
    /// pool; an error closes it, and an [`Error::Blocked`] also blacklists
    /// its IP. Defaults to `Ok` (no probe).
    fn probe(&self, conn: &mut Self::Conn) -> impl Future<Output = Result<(), Error>> + Send {
        let _ = conn;
        async { Ok(()) }
    }

    /// A short label for a connection in [`Pool::connections`](crate::Pool::connections)
    /// snapshots, such as the TLS profile that opened it. Defaults to none.
    fn label(&self, conn: &Self::Conn) -> Option<Arc<str>> {
        let _ = conn;
        None
    }

    /// Connections this connector is still closing in the background (a
    /// TLS close_notify on its way): [`Pool::closed`](crate::Pool::closed)
    /// waits for them. Defaults to 0.
    fn closing(&self) -> usize {
        0
    }

    /// Per-profile dial counts, for connectors that have fingerprint
    /// profiles ([`Stats::profiles`](crate::Stats::profiles)). Defaults to none.
    fn profile_stats(&self) -> Vec<ProfileStats> {
        Vec::new()
    }
}

/// The object-safe part of [`Connect`] that the pool's type-erased core
/// (shared with [`Pooled`](crate::Pooled), which names only the connection
/// type) needs.
pub(crate) trait Driver<T>: Send + Sync + 'static {
    fn is_open(&self, conn: &T) -> bool;
    fn close(&self, conn: T);
    fn profile(&self, conn: &T) -> Option<crate::sync::StdArc<str>>;
}

impl<C: Connect> Driver<C::Conn> for C {
    #[inline]
    fn is_open(&self, conn: &C::Conn) -> bool {
        Connect::is_open(self, conn)
    }

    fn close(&self, conn: C::Conn) {
        Connect::close(self, conn)
    }

    fn profile(&self, conn: &C::Conn) -> Option<Arc<str>> {
        Connect::label(self, conn)
    }
}
