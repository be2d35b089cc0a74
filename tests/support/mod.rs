//! A dummy connector for the core's tests: no sockets, full bookkeeping.
#![allow(dead_code)]

use hotpool::{Connect, Error, Target};
use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

/// What the dummy connector has done, shared with the test.
#[derive(Default, Debug)]
pub struct Ledger {
    pub dials: AtomicU64,
    pub created: AtomicU64,
    pub closed: AtomicU64,
    pub open: AtomicUsize,
    pub max_open: AtomicUsize,
    /// Make the next dials fail.
    pub fail: AtomicBool,
    /// Make every dial take this long (ms).
    pub delay_ms: AtomicU64,
    /// Connections with an id below this report closed by the peer.
    pub dead_below: AtomicU64,
    pub targets: Mutex<Vec<SocketAddr>>,
    /// Dials in progress now, and at most.
    pub in_flight: AtomicUsize,
    pub max_in_flight: AtomicUsize,
    /// Health probes started.
    pub probes: AtomicU64,
    /// Make health probes hang (until cancelled).
    pub probe_hang: AtomicBool,
    /// Make health probes take this long (ms).
    pub probe_delay_ms: AtomicU64,
}

/// A connection that detects being lent twice.
#[derive(Debug)]
pub struct Conn {
    pub id: u64,
    pub target: Target,
    lent: AtomicBool,
    ledger: Arc<Ledger>,
}

impl Conn {
    /// Marks the connection as being used; panics if it already was.
    pub fn enter(&self) {
        assert!(
            !self.lent.swap(true, Ordering::AcqRel),
            "connection {} lent twice",
            self.id
        );
    }

    /// Marks the use as over.
    pub fn leave(&self) {
        assert!(self.lent.swap(false, Ordering::AcqRel));
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.ledger.closed.fetch_add(1, Ordering::SeqCst);
        self.ledger.open.fetch_sub(1, Ordering::SeqCst);
    }
}

#[derive(Clone, Default)]
pub struct Dummy {
    pub ledger: Arc<Ledger>,
}

impl Dummy {
    pub fn new() -> Dummy {
        Dummy::default()
    }
}

impl Connect for Dummy {
    type Conn = Conn;

    async fn connect(&self, target: &Target) -> Result<Conn, Error> {
        let l = &self.ledger;
        l.dials.fetch_add(1, Ordering::SeqCst);
        l.targets.lock().unwrap().push(target.addr());
        let now = l.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        l.max_in_flight.fetch_max(now, Ordering::SeqCst);
        struct Leave<'a>(&'a AtomicUsize);
        impl Drop for Leave<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        let _leave = Leave(&l.in_flight);
        let delay = l.delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        if l.fail.load(Ordering::SeqCst) {
            return Err(Error::connect(std::io::Error::from(
                std::io::ErrorKind::ConnectionRefused,
            )));
        }
        let id = l.created.fetch_add(1, Ordering::SeqCst);
        let open = l.open.fetch_add(1, Ordering::SeqCst) + 1;
        l.max_open.fetch_max(open, Ordering::SeqCst);
        Ok(Conn {
            id,
            target: target.clone(),
            lent: AtomicBool::new(false),
            ledger: l.clone(),
        })
    }

    fn is_open(&self, conn: &Conn) -> bool {
        conn.id >= self.ledger.dead_below.load(Ordering::SeqCst)
    }

    async fn probe(&self, _conn: &mut Conn) -> Result<(), Error> {
        self.ledger.probes.fetch_add(1, Ordering::SeqCst);
        let delay = self.ledger.probe_delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        if self.ledger.probe_hang.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        Ok(())
    }
}

pub const DOMAIN: &str = "example.test";

pub fn ip(last: u8) -> std::net::IpAddr {
    std::net::IpAddr::from([127, 0, 0, last])
}

/// The pool's counts as (pool reserved, pool waiters, domain reserved,
/// domain waiters) must all be back at zero / the expected live count.
pub fn assert_quiet<C: Connect>(pool: &hotpool::Pool<C>, domain: &str, live: usize) {
    let (pl, pw, dl, dw) = pool.debug_counts(domain);
    assert_eq!(
        (pl, pw, dl, dw),
        (live, 0, live, 0),
        "pool/domain reserved and waiters"
    );
}

/// Yields until `cond` holds; panics after 10,000 yields (bounded loop).
pub async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..10_000 {
        if cond() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("gave up waiting for: {what}");
}
