//! The hot path side by side with its floor.
//!
//! * `clock`: the candidate time sources for stamping `last_used`.
//! * `get_put/single_thread`: lend and return an idle connection, next to the
//!   floor — a raw `ArrayQueue` pop + push plus two CAS on the item's own
//!   `AtomicU64` (what any lock-free pool with a per-connection state word
//!   must do at least).
//! * `get_put/two_threads`: the same with two threads on one domain (two
//!   idle connections), per operation per thread.
//!
//! Run: `cargo bench --bench hot_path`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use crossbeam_queue::ArrayQueue;
use hotpool::{Connect, Error, Pool, Target};
use std::{
    future::Future,
    hint::black_box,
    pin::pin,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Barrier,
    },
    task::{Context, Poll, Waker},
    time::{Duration, Instant},
};

struct Dummy;

impl Connect for Dummy {
    type Conn = u64;
    async fn connect(&self, _: &Target) -> Result<u64, Error> {
        Ok(42)
    }
}

const DOMAIN: &str = "bench.example.com";

#[inline(always)]
fn ready<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => unreachable!("idle hit must be ready"),
    }
}

fn pool_with_idle(n: usize) -> Pool<Dummy> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let pool = Pool::builder()
        .max_conns_per_domain(n.max(1))
        .build(Dummy)
        .unwrap();
    pool.set_ips(DOMAIN, ["192.0.2.1".parse::<std::net::IpAddr>().unwrap()]);
    rt.block_on(async {
        let held: Vec<_> = {
            let mut v = Vec::new();
            for _ in 0..n {
                v.push(pool.get(DOMAIN).await.unwrap());
            }
            v
        };
        drop(held);
    });
    pool
}

/// The floor: pop, CAS the item's state word to "in use", CAS it back, push.
#[inline(always)]
fn floor_op(q: &ArrayQueue<Box<AtomicU64>>) {
    let item = q.pop().unwrap();
    let _ = item.compare_exchange(0, 1, Ordering::AcqRel, Ordering::Relaxed);
    let _ = item.compare_exchange(1, 0, Ordering::AcqRel, Ordering::Relaxed);
    q.push(black_box(item)).unwrap();
}

fn clock(c: &mut Criterion) {
    let mut g = c.benchmark_group("clock");
    let clock = quanta::Clock::new();
    // Build a pool once so that hotpool's upkeep thread runs for recent().
    let _pool = pool_with_idle(1);
    g.bench_function("quanta_recent", |b| b.iter(|| black_box(clock.recent())));
    g.bench_function("quanta_raw", |b| b.iter(|| black_box(clock.raw())));
    g.bench_function("quanta_now", |b| b.iter(|| black_box(clock.now())));
    g.bench_function("std_instant_now", |b| b.iter(|| black_box(Instant::now())));
    g.finish();
}

fn single_thread(c: &mut Criterion) {
    let mut g = c.benchmark_group("get_put/single_thread");
    let q = ArrayQueue::new(10);
    q.push(Box::new(AtomicU64::new(0))).unwrap();
    g.bench_function("floor_arrayqueue_2cas", |b| b.iter(|| floor_op(&q)));

    let pool = pool_with_idle(1);
    g.bench_function("hotpool_get", |b| {
        b.iter(|| {
            let c = ready(pool.get(DOMAIN)).unwrap();
            black_box(&*c);
        })
    });
    let handle = pool.domain(DOMAIN);
    g.bench_function("hotpool_domain_handle_get", |b| {
        b.iter(|| {
            let c = ready(handle.get()).unwrap();
            black_box(&*c);
        })
    });
    g.bench_function("hotpool_try_get", |b| {
        b.iter(|| {
            let c = pool.try_get(DOMAIN).unwrap();
            black_box(&*c);
        })
    });
    g.finish();
}

/// Runs `op` `iters` times on each of two threads at once; returns the wall
/// time, i.e. the time per operation per thread × iters.
fn two_threads(iters: u64, op: impl Fn() + Sync) -> Duration {
    let barrier = Barrier::new(2);
    std::thread::scope(|s| {
        let h = s.spawn(|| {
            barrier.wait();
            for _ in 0..iters {
                op();
            }
        });
        barrier.wait();
        let start = Instant::now();
        for _ in 0..iters {
            op();
        }
        let mine = start.elapsed();
        h.join().unwrap();
        mine.max(start.elapsed())
    })
}

fn contended(c: &mut Criterion) {
    let mut g = c.benchmark_group("get_put/two_threads");
    let q = Arc::new(ArrayQueue::new(10));
    for _ in 0..2 {
        q.push(Box::new(AtomicU64::new(0))).unwrap();
    }
    g.bench_function(BenchmarkId::new("floor_arrayqueue_2cas", 2), |b| {
        b.iter_custom(|iters| two_threads(iters, || floor_op(&q)))
    });
    let pool = pool_with_idle(2);
    g.bench_function(BenchmarkId::new("hotpool_get", 2), |b| {
        b.iter_custom(|iters| {
            two_threads(iters, || {
                let c = ready(pool.get(DOMAIN)).unwrap();
                black_box(&*c);
            })
        })
    });
    let handle = pool.domain(DOMAIN);
    g.bench_function(BenchmarkId::new("hotpool_domain_handle_get", 2), |b| {
        b.iter_custom(|iters| {
            two_threads(iters, || {
                let c = ready(handle.get()).unwrap();
                black_box(&*c);
            })
        })
    });
    g.finish();
}

criterion_group!(benches, clock, single_thread, contended);
criterion_main!(benches);
