//! Addresses chosen by score, on quanta's mock clock: a connector that
//! stands in for a fault server with a per-address delay (it advances the
//! mock clock by the address's handshake time) and failure rate. One new
//! connection a second, as a crawler refreshing a domain's connections:
//!
//! - one address 100 ms slower than the other two gets at most 20% of the
//!   new connections;
//! - one failing half its handshakes gets at most 20%;
//! - a slow one that recovers wins its share back within a bounded number
//!   of dials;
//! - `round-robin` ignores scores.
mod support;

use hotpool::{quanta::Clock, AddressChoice, Connect, Error, Pool, Pooled, Target};
use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex},
    time::Duration,
};
use support::{ip, DOMAIN};

#[derive(Clone, Copy, Default)]
struct Behaviour {
    delay: Duration,
    /// Fail every `fail_every`-th handshake (0: never).
    fail_every: u32,
}

#[derive(Default)]
struct Fault {
    behaviour: HashMap<IpAddr, Behaviour>,
    tries: HashMap<IpAddr, u32>,
    dialed: Vec<IpAddr>,
}

#[derive(Clone)]
struct Faulty {
    mock: Arc<hotpool::quanta::Mock>,
    state: Arc<Mutex<Fault>>,
}

impl Connect for Faulty {
    type Conn = ();

    async fn connect(&self, target: &Target) -> Result<(), Error> {
        let ip = target.addr().ip();
        let (delay, fail) = {
            let mut s = self.state.lock().unwrap();
            s.dialed.push(ip);
            let b = s.behaviour.get(&ip).copied().unwrap_or_default();
            let n = s.tries.entry(ip).or_default();
            *n += 1;
            (b.delay, b.fail_every != 0 && *n % b.fail_every == 0)
        };
        // The handshake takes this long on the pool's clock.
        self.mock.increment(delay);
        if fail {
            return Err(Error::connect(std::io::Error::from(
                std::io::ErrorKind::ConnectionReset,
            )));
        }
        Ok(())
    }
}

const FAST: Duration = Duration::from_millis(2);
const SLOW: Duration = Duration::from_millis(102);

fn setup(choice: AddressChoice) -> (Pool<Faulty>, Faulty) {
    let (clock, mock) = Clock::mock();
    let faulty = Faulty {
        mock,
        state: Arc::default(),
    };
    {
        let mut s = faulty.state.lock().unwrap();
        for last in [2, 3, 4] {
            s.behaviour.insert(
                ip(last),
                Behaviour {
                    delay: FAST,
                    fail_every: 0,
                },
            );
        }
    }
    let pool = Pool::builder()
        .clock(clock)
        .address_choice(choice)
        .idle_timeout(Duration::from_secs(3600))
        .max_lifetime(Duration::from_secs(7200))
        .build(faulty.clone())
        .unwrap();
    pool.set_ips(DOMAIN, [ip(2), ip(3), ip(4)]);
    (pool, faulty)
}

/// `n` new connections, one a second; returns the share of dials that went
/// to `ip` among them.
async fn dial(pool: &Pool<Faulty>, f: &Faulty, n: usize, to: IpAddr) -> f64 {
    let start = f.state.lock().unwrap().dialed.len();
    for _ in 0..n {
        f.mock.increment(Duration::from_secs(1));
        if let Ok(c) = pool.get_fresh(DOMAIN).await {
            Pooled::discard(c);
        }
    }
    let s = f.state.lock().unwrap();
    let dialed = &s.dialed[start..];
    dialed.iter().filter(|d| **d == to).count() as f64 / dialed.len() as f64
}

fn set(f: &Faulty, last: u8, b: Behaviour) {
    f.state.lock().unwrap().behaviour.insert(ip(last), b);
}

#[tokio::test]
async fn a_slow_address_gets_few_new_connections_and_wins_them_back() {
    let (pool, f) = setup(AddressChoice::Score);
    set(
        &f,
        4,
        Behaviour {
            delay: SLOW,
            fail_every: 0,
        },
    );
    let slow = dial(&pool, &f, 400, ip(4)).await;
    assert!(slow <= 0.2, "the slow address got {:.1}%", slow * 100.0);
    let info = pool.addresses(DOMAIN);
    let of = |last: u8| info.iter().find(|a| a.addr.ip() == ip(last)).unwrap();
    assert!(
        of(4).latency.unwrap() > Duration::from_millis(50),
        "{info:?}"
    );
    assert!(
        of(2).latency.unwrap() < Duration::from_millis(10),
        "{info:?}"
    );
    assert!(of(4).dials > 0, "still measured now and then: {info:?}");

    // It recovers: within 300 dials it is back to a fair share.
    set(
        &f,
        4,
        Behaviour {
            delay: FAST,
            fail_every: 0,
        },
    );
    dial(&pool, &f, 300, ip(4)).await;
    let back = dial(&pool, &f, 300, ip(4)).await;
    assert!(
        back >= 0.25,
        "after recovering it got {:.1}%: {:?}",
        back * 100.0,
        pool.addresses(DOMAIN)
    );
}

#[tokio::test]
async fn an_address_failing_half_its_handshakes_gets_few() {
    let (pool, f) = setup(AddressChoice::Score);
    set(
        &f,
        4,
        Behaviour {
            delay: FAST,
            fail_every: 2,
        },
    );
    let share = dial(&pool, &f, 400, ip(4)).await;
    assert!(share <= 0.2, "the flaky address got {:.1}%", share * 100.0);
    let info = pool.addresses(DOMAIN);
    let flaky = info.iter().find(|a| a.addr.ip() == ip(4)).unwrap();
    // Every other handshake failed (its failures fade with time: the
    // address is measured again now and then, as the share above allows).
    assert!(flaky.failures > 0, "{flaky:?}");
    assert!(flaky.failures.abs_diff(flaky.dials / 2) <= 1, "{flaky:?}");
    let conns = pool.connections();
    assert!(
        conns.is_empty(),
        "every connection was discarded: {conns:?}"
    );
}

#[tokio::test]
async fn round_robin_ignores_scores() {
    let (pool, f) = setup(AddressChoice::RoundRobin);
    set(
        &f,
        4,
        Behaviour {
            delay: SLOW,
            fail_every: 0,
        },
    );
    let share = dial(&pool, &f, 300, ip(4)).await;
    assert!(
        (share - 1.0 / 3.0).abs() < 0.02,
        "in turn: {:.1}%",
        share * 100.0
    );
}
