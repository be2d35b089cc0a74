//! Arbitrary sequences of pool operations on a dummy connector, with the
//! pool's invariants checked after every step: no connection lent twice,
//! live connections within the limits, `created = live + closed +
//! detached`, every lent connection counted as in use, every get answered
//! (a connection or a classified error) — waits run on tokio's paused
//! clock, so a wait that nobody serves times out at once.
//!
//! Each operation is two bytes: an opcode and an argument.
#![no_main]

use hotpool::{quanta, Connect, Error, Pool, Pooled, Target};
use libfuzzer_sys::fuzz_target;
use std::{
    net::IpAddr,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

#[derive(Default)]
struct Ledger {
    created: AtomicU64,
    dropped: AtomicU64,
    dead_below: AtomicU64,
    fail: AtomicBool,
    /// Health probes fail (0: pass, 1: fail, 2: the address refuses).
    probe: AtomicU64,
}

struct Conn {
    id: u64,
    domain: String,
    lent: AtomicBool,
    ledger: Arc<Ledger>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.ledger.dropped.fetch_add(1, Ordering::Relaxed);
    }
}

struct Dummy(Arc<Ledger>);

impl Connect for Dummy {
    type Conn = Conn;
    async fn connect(&self, target: &Target) -> Result<Conn, Error> {
        if self.0.fail.load(Ordering::Relaxed) {
            return Err(Error::connect(std::io::Error::from(
                std::io::ErrorKind::ConnectionRefused,
            )));
        }
        Ok(Conn {
            id: self.0.created.fetch_add(1, Ordering::Relaxed),
            domain: target.domain().to_owned(),
            lent: AtomicBool::new(false),
            ledger: self.0.clone(),
        })
    }
    fn is_open(&self, c: &Conn) -> bool {
        c.id >= self.0.dead_below.load(Ordering::Relaxed)
    }
    async fn probe(&self, c: &mut Conn) -> Result<(), Error> {
        match self.0.probe.load(Ordering::Relaxed) {
            0 => Ok(()),
            1 => Err(Error::connect("probe failed")),
            _ => Err(Error::Blocked {
                domain: c.domain.as_str().into(),
                ip: ip(0),
            }),
        }
    }
}

const DOMAINS: [&str; 3] = ["a.test", "b.test", "c.test"];
const MAX_CONNS: usize = 5;
const MAX_PER_DOMAIN: usize = 3;
/// `update_config` moves the per-domain limit between 3 and this.
const MAX_PER_DOMAIN_HIGH: usize = 4;

fn ip(n: u8) -> IpAddr {
    IpAddr::from([192, 0, 2, 1 + n % 4])
}

/// The errors a get may end in here.
fn expected(e: &Error) {
    assert!(
        e.is_wait_timeout()
            || e.is_connect()
            || e.is_blocked()
            || e.is_no_address()
            || e.is_rate_limited()
            || matches!(e, Error::Closed),
        "unexpected error {e:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    let ledger = Arc::new(Ledger::default());
    let (clock, mock) = quanta::Clock::mock();
    let pool = rt.block_on(async {
        Pool::builder()
            .max_conns(MAX_CONNS)
            .max_conns_per_domain(MAX_PER_DOMAIN)
            .wait_timeout(Duration::from_millis(5))
            .idle_timeout(Duration::from_secs(60))
            .max_lifetime(Duration::from_secs(300))
            .max_errors(2)
            .clock(clock)
            .build(Dummy(ledger.clone()))
            .unwrap()
    });
    for d in DOMAINS {
        pool.set_ips(d, [ip(0), ip(1)]);
    }
    let mut held: Vec<Pooled<Conn>> = Vec::new();
    let mut detached = 0u64;
    for op in data.chunks_exact(2) {
        let (code, arg) = (op[0] % 20, op[1]);
        let domain = DOMAINS[arg as usize % DOMAINS.len()];
        match code {
            0 | 1 => {
                let r = rt.block_on(pool.get(domain));
                match r {
                    Ok(c) => {
                        assert_eq!(c.domain, domain, "lent to another domain");
                        assert!(!c.lent.swap(true, Ordering::Relaxed), "lent twice");
                        held.push(c);
                    }
                    Err(e) => expected(&e),
                }
            }
            14 | 15 => {
                let r = if code == 14 {
                    rt.block_on(pool.get_fresh(domain))
                } else {
                    rt.block_on(pool.get_to(domain, ip(arg)))
                };
                match r {
                    Ok(c) => {
                        assert_eq!(c.domain, domain, "lent to another domain");
                        assert!(!c.lent.swap(true, Ordering::Relaxed), "lent twice");
                        held.push(c);
                    }
                    Err(e) => expected(&e),
                }
            }
            16 => {
                if arg % 2 == 0 {
                    pool.block_pair(domain, ip(arg >> 1));
                } else {
                    pool.unblock_pair(domain, ip(arg >> 1));
                }
            }
            17 => {
                let mut c = pool.config();
                c.max_conns_per_domain = if arg % 2 == 0 {
                    MAX_PER_DOMAIN
                } else {
                    MAX_PER_DOMAIN_HIGH
                };
                c.max_concurrent_dials = 1 + (arg as usize >> 1) % 4;
                pool.update_config(c).unwrap();
            }
            18 => ledger.probe.store(u64::from(arg % 3), Ordering::Relaxed),
            19 => pool.throttle(domain, Duration::from_secs(u64::from(arg % 4))),
            2 => {
                if let Some(c) = pool.try_get(domain) {
                    assert_eq!(c.domain, domain);
                    assert!(!c.lent.swap(true, Ordering::Relaxed), "lent twice");
                    held.push(c);
                }
            }
            3 | 4 => {
                if !held.is_empty() {
                    let c = held.swap_remove(arg as usize % held.len());
                    c.lent.store(false, Ordering::Relaxed);
                    drop(c);
                }
            }
            5 => {
                if !held.is_empty() {
                    let i = arg as usize % held.len();
                    held[i].mark_error();
                }
            }
            6 => {
                if !held.is_empty() {
                    Pooled::discard(held.swap_remove(arg as usize % held.len()));
                }
            }
            7 => {
                if !held.is_empty() {
                    drop(Pooled::take(held.swap_remove(arg as usize % held.len())));
                    detached += 1;
                }
            }
            8 => {
                if arg % 16 == 0 {
                    pool.close();
                }
            }
            9 => {
                let ips: Vec<IpAddr> = (0..4).filter(|b| arg & (1 << b) != 0).map(ip).collect();
                pool.set_ips(domain, ips);
            }
            10 => mock.increment(Duration::from_secs(u64::from(arg))),
            11 => {
                if arg % 2 == 0 {
                    pool.block(ip(arg >> 1));
                } else {
                    pool.unblock(ip(arg >> 1));
                }
            }
            12 => {
                rt.block_on(pool.sweep_now());
            }
            _ => match arg % 3 {
                0 => ledger
                    .fail
                    .store(!ledger.fail.load(Ordering::Relaxed), Ordering::Relaxed),
                1 => ledger
                    .dead_below
                    .store(ledger.created.load(Ordering::Relaxed), Ordering::Relaxed),
                _ => {}
            },
        }
        // Invariants, with nothing in flight between steps.
        let s = pool.stats();
        let t = &s.total;
        assert!(t.connections <= MAX_CONNS as u64, "{t:?}");
        for d in &s.domains {
            assert!(d.connections <= MAX_PER_DOMAIN_HIGH as u64, "{d:?}");
        }
        assert_eq!(t.in_use, held.len() as u64, "{t:?}");
        assert_eq!(t.created, t.connections + t.closed + t.detached, "{t:?}");
        assert_eq!(t.detached, detached);
        assert_eq!(t.dialing, 0);
        assert_eq!(s.waiting, 0);
        assert_eq!(
            s.reserved, t.connections,
            "capacity held without a connection"
        );
        let created = ledger.created.load(Ordering::Relaxed);
        let dropped = ledger.dropped.load(Ordering::Relaxed);
        assert_eq!(
            created - dropped,
            t.connections,
            "connections leaked or lost"
        );
    }
    drop(held);
    pool.close();
    let t = pool.stats().total;
    assert_eq!(t.connections, 0, "{t:?}");
    assert_eq!(
        ledger.created.load(Ordering::Relaxed),
        ledger.dropped.load(Ordering::Relaxed)
    );
});
