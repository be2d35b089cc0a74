//! Loom models of hotpool's core protocols.
//!
//! Build and run with the loom cfg, in a target directory of its own so the
//! normal build stays warm:
//!
//! ```text
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 \
//!     cargo test -p loom-tests --release --target-dir target/loom
//! ```
//!
//! Under `cfg(loom)` hotpool's `crate::sync` facade swaps every atomic, `Arc`,
//! mutex, fence, the idle queue and the swap cell for loom's, and
//! event-listener (through the `loom` feature) does the same, so loom sees
//! every synchronization edge of get, put, waiting, closing and sweeping.
//! This crate holds the dummy connector the models share.

use hotpool::{Connect, Error, Target};
use std::sync::{
    atomic::{AtomicBool, AtomicUsize, Ordering},
    Arc,
};

/// Bookkeeping shared between the dummy connector and a model. Plain std
/// atomics: the models read them only after joining, or assert invariants
/// that must hold in every interleaving.
#[derive(Debug, Default)]
pub struct Ledger {
    /// Connections open right now.
    pub open: AtomicUsize,
    /// Connections ever made.
    pub created: AtomicUsize,
    /// The most connections ever open at once.
    pub max_open: AtomicUsize,
}

/// A connection that detects being used by two holders at once.
#[derive(Debug)]
pub struct Conn {
    /// Creation order.
    pub id: usize,
    lent: AtomicBool,
    ledger: Arc<Ledger>,
}

impl Conn {
    /// Marks the connection in use; panics if another holder has it.
    pub fn enter(&self) {
        assert!(
            !self.lent.swap(true, Ordering::SeqCst),
            "connection {} lent twice",
            self.id
        );
    }

    /// Ends the use.
    pub fn leave(&self) {
        self.lent.store(false, Ordering::SeqCst);
    }

    /// Uses the connection across a loom yield: between `enter` and
    /// `leave` another thread can be scheduled, so a second holder of the
    /// same connection would run into the first one's `enter` and panic.
    /// A detector without the yield could never fire, since loom switches
    /// threads only at synchronization points.
    pub fn hold(&self) {
        self.enter();
        loom::thread::yield_now();
        self.leave();
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.ledger.open.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Dials instantly.
#[derive(Debug, Default, Clone)]
pub struct Dummy {
    /// What it did.
    pub ledger: Arc<Ledger>,
}

impl Connect for Dummy {
    type Conn = Conn;

    async fn connect(&self, _: &Target) -> Result<Conn, Error> {
        let l = &self.ledger;
        let id = l.created.fetch_add(1, Ordering::SeqCst);
        let open = l.open.fetch_add(1, Ordering::SeqCst) + 1;
        l.max_open.fetch_max(open, Ordering::SeqCst);
        Ok(Conn {
            id,
            lent: AtomicBool::new(false),
            ledger: l.clone(),
        })
    }
}

/// The domain every model uses.
pub const DOMAIN: &str = "loom.test";
