//! Two threads hammer one domain with get/put: no connection is ever lent
//! twice, the limits hold, and every connection is accounted for. Some
//! gets really wait (the domain limit is 2 and each thread holds up to
//! two): they are run to the end on the thread's runtime, and must all be
//! served, none timing out.
//!
//! The default run does 1,000,000 operations in total; set
//! `HOTPOOL_STRESS_OPS` for the long form (see the README).
mod support;
use hotpool::{Pool, Pooled};
use std::{
    future::Future,
    pin::pin,
    sync::{atomic::Ordering, Arc, Barrier},
    task::{Context, Poll, Waker},
    time::{Duration, Instant},
};
use support::*;

fn ops() -> u64 {
    std::env::var("HOTPOOL_STRESS_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

/// A tiny xorshift so each thread makes its own random choices.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Runs a future that is expected to be ready at once (idle hit or an
/// instant dial), without a runtime; `None` if it would have to wait.
fn now_or_never<F: Future>(f: F) -> Option<F::Output> {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}

#[test]
fn two_threads_one_domain() {
    let total = ops();
    let dummy = Dummy::new();
    let pool = Pool::builder()
        .max_conns_per_domain(2)
        .max_errors(3)
        .wait_timeout(Duration::from_secs(30))
        .build(dummy.clone())
        .unwrap();
    pool.set_ips(DOMAIN, [ip(2), ip(3)]);
    let threads = 2;
    let barrier = Arc::new(Barrier::new(threads));
    let deadline = Instant::now() + Duration::from_secs(600);
    let handles: Vec<_> = (0..threads as u64)
        .map(|t| {
            let pool = pool.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                // A dial (after a discard) arms tokio's connect time-out,
                // which needs a runtime context; the dummy dials at once.
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_time()
                    .build()
                    .unwrap();
                let _rt = rt.enter();
                let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (t + 1));
                let mut held: Vec<Pooled<Conn>> = Vec::new();
                barrier.wait();
                let mut done = 0u64;
                // Lends this thread got, and gets that had to wait.
                let (mut lends, mut waited) = (0u64, 0u64);
                while done < total / threads as u64 {
                    assert!(Instant::now() < deadline, "stress test ran out of time");
                    match rng.next() % 16 {
                        // mostly: borrow and return at once
                        0..=9 => {
                            if let Some(Ok(c)) = now_or_never(pool.get(DOMAIN)) {
                                lends += 1;
                                c.enter();
                                c.leave();
                            }
                        }
                        10 | 11 => {
                            if let Some(c) = pool.try_get(DOMAIN) {
                                lends += 1;
                                c.enter();
                                held.push(c);
                            }
                        }
                        12 => {
                            if let Some(c) = held.pop() {
                                c.leave();
                                drop(c);
                            }
                        }
                        13 => {
                            if let Some(mut c) = held.pop() {
                                c.mark_error();
                                c.leave();
                            }
                        }
                        14 => {
                            if let Some(c) = held.pop() {
                                c.leave();
                                if rng.next() % 4 == 0 {
                                    Pooled::discard(c);
                                } else {
                                    drop(c);
                                }
                            }
                        }
                        _ => {
                            // A get run to its end, waiting if the other
                            // thread holds the domain's two connections.
                            // This thread gives back its own first, so the
                            // two never wait on each other.
                            for c in held.drain(..) {
                                c.leave();
                            }
                            let mut get = pin!(pool.get(DOMAIN));
                            let c = match now_or_never(get.as_mut()) {
                                Some(r) => r,
                                None => {
                                    waited += 1;
                                    rt.block_on(get)
                                }
                            }
                            .expect("a waiting get is served");
                            lends += 1;
                            c.enter();
                            held.push(c);
                        }
                    }
                    while held.len() > 2 {
                        let c = held.remove(0);
                        c.leave();
                    }
                    done += 1;
                }
                for c in held {
                    c.leave();
                }
                (done, lends, waited)
            })
        })
        .collect();
    let (mut done, mut lends, mut waited) = (0, 0, 0);
    for h in handles {
        let (d, l, w) = h.join().unwrap();
        done += d;
        lends += l;
        waited += w;
    }

    let s = pool.stats();
    let l = &dummy.ledger;
    assert!(
        l.max_open.load(Ordering::SeqCst) <= 2,
        "per-domain limit exceeded"
    );
    // Every lend the threads saw is counted, and some gets really waited
    // and were served: none timed out.
    assert_eq!(s.total.hits + s.total.fresh, lends, "{:?}", s.total);
    assert!(waited > 0, "no get had to wait");
    assert!(s.total.waits >= waited, "{:?}", s.total);
    assert_eq!(s.total.wait_timeouts, 0);
    assert_eq!(s.total.in_use, 0);
    assert_eq!(
        s.total.created,
        s.total.idle + s.total.in_use + s.total.closed,
        "conservation: created = idle + in use + closed"
    );
    assert_eq!(s.total.created, l.created.load(Ordering::SeqCst));
    assert_eq!(s.total.closed, l.closed.load(Ordering::SeqCst));
    assert_eq!(s.total.idle as usize, l.open.load(Ordering::SeqCst));
    assert!(s.total.hits > 0 && s.total.puts_recycled > 0);
    assert_quiet(&pool, DOMAIN, s.total.connections as usize);
    eprintln!(
        "{done} operations; {lends} lends, {waited} gets waited and were served; stats: {:?}",
        s.total
    );
}
