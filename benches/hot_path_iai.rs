//! Instruction counts of the hot path, with gungraun (callgrind): stable on
//! a noisy machine, where wall-clock benches drift.
//!
//! * `get_put_idle`: lend and return an idle connection (`Pool::get`).
//! * `get_put_idle_handle`: the same through a `DomainHandle`.
//! * `miss_dial`: a `get` on a domain with nothing idle, which dials through
//!   a dummy connector (in a current-thread runtime), then returns it.
//! * `put_with_waiter`: returning a connection while a task waits for it
//!   (the put's notify and the waiter's wake-up and lend).
//! * `floor`: the wall-clock bench's floor — an `ArrayQueue` pop, two CAS
//!   on the item's state word, a push.
//! * `deadpool_get_put`: deadpool's unmanaged pool, get + drop of an idle
//!   object, the fastest peer of the wall-clock table.
//!
//! Run: `cargo install gungraun-runner --version 0.18.2` once (the runner
//! must match the `gungraun` version in Cargo.toml; valgrind is needed),
//! then `cargo bench --bench hot_path_iai`.

// gungraun's macros generate undocumented modules.
#![allow(missing_docs)]

use crossbeam_queue::ArrayQueue;
use crossbeam_utils::CachePadded;
use gungraun::{library_benchmark, library_benchmark_group, main};
use hotpool::{Connect, Error, Pool, Target};
use std::{
    future::Future,
    hint::black_box,
    pin::pin,
    sync::atomic::{AtomicU64, Ordering},
    task::{Context, Poll, Waker},
};

struct Dummy;

impl Connect for Dummy {
    type Conn = u64;
    async fn connect(&self, _: &Target) -> Result<u64, Error> {
        Ok(42)
    }
}

const DOMAIN: &str = "bench.example.com";

type Rt = tokio::runtime::Runtime;
type Warm = (Rt, Pool<Dummy>);
type Handled = (Rt, Pool<Dummy>, hotpool::DomainHandle<Dummy>);
type Waiting = (
    Rt,
    Pool<Dummy>,
    hotpool::Pooled<u64>,
    tokio::task::JoinHandle<()>,
);

fn ready<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => unreachable!("must be ready"),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A pool with one idle connection, warmed by a first get + put.
fn warm() -> Warm {
    let rt = runtime();
    let pool = rt.block_on(async {
        let pool = Pool::builder().build(Dummy).unwrap();
        pool.set_ips(DOMAIN, ["192.0.2.1".parse::<std::net::IpAddr>().unwrap()]);
        drop(pool.get(DOMAIN).await.unwrap());
        drop(ready(pool.get(DOMAIN)).unwrap());
        pool
    });
    (rt, pool)
}

#[library_benchmark]
#[bench::one(setup = warm)]
fn get_put_idle(state: Warm) -> Warm {
    let c = ready(state.1.get(DOMAIN)).unwrap();
    black_box(&*c);
    drop(c);
    state
}

fn warm_handle() -> Handled {
    let (rt, pool) = warm();
    let h = pool.domain(DOMAIN);
    drop(ready(h.get()).unwrap());
    (rt, pool, h)
}

#[library_benchmark]
#[bench::one(setup = warm_handle)]
fn get_put_idle_handle(state: Handled) -> Handled {
    let c = ready(state.2.get()).unwrap();
    black_box(&*c);
    drop(c);
    state
}

/// A pool whose domain is known (one dial done and closed) but has nothing
/// idle.
fn empty() -> Warm {
    let (rt, pool) = warm();
    let c = ready(pool.get(DOMAIN)).unwrap();
    hotpool::Pooled::discard(c);
    (rt, pool)
}

#[library_benchmark]
#[bench::one(setup = empty)]
fn miss_dial(state: Warm) -> Warm {
    let (rt, pool) = state;
    let c = rt.block_on(pool.get(DOMAIN)).unwrap();
    black_box(&*c);
    drop(c);
    (rt, pool)
}

/// One connection lent, and a task waiting for it.
fn waiting() -> Waiting {
    let rt = runtime();
    let (pool, held, waiter) = rt.block_on(async {
        let pool = Pool::builder()
            .max_conns_per_domain(1)
            .build(Dummy)
            .unwrap();
        pool.set_ips(DOMAIN, ["192.0.2.1".parse::<std::net::IpAddr>().unwrap()]);
        let held = pool.get(DOMAIN).await.unwrap();
        let p = pool.clone();
        let waiter = tokio::spawn(async move {
            let c = p.get(DOMAIN).await.unwrap();
            black_box(&*c);
        });
        // Let the waiter register.
        tokio::task::yield_now().await;
        tokio::task::yield_now().await;
        (pool, held, waiter)
    });
    (rt, pool, held, waiter)
}

#[library_benchmark]
#[bench::one(setup = waiting)]
fn put_with_waiter(state: Waiting) -> Warm {
    let (rt, pool, held, waiter) = state;
    drop(held);
    rt.block_on(waiter).unwrap();
    (rt, pool)
}

type FloorQueue = ArrayQueue<Box<CachePadded<AtomicU64>>>;

fn floor_queue() -> FloorQueue {
    let q = ArrayQueue::new(10);
    q.push(Box::new(CachePadded::new(AtomicU64::new(0))))
        .unwrap();
    q
}

#[library_benchmark]
#[bench::one(setup = floor_queue)]
fn floor(q: FloorQueue) -> FloorQueue {
    let item = q.pop().unwrap();
    let _ = item.compare_exchange(0, 1, Ordering::AcqRel, Ordering::Relaxed);
    let _ = item.compare_exchange(1, 0, Ordering::AcqRel, Ordering::Relaxed);
    q.push(black_box(item)).unwrap();
    q
}

fn deadpool_warm() -> deadpool::unmanaged::Pool<u64> {
    let pool = deadpool::unmanaged::Pool::new(10);
    pool.try_add(1).unwrap();
    drop(ready(pool.get()).unwrap());
    pool
}

#[library_benchmark]
#[bench::one(setup = deadpool_warm)]
fn deadpool_get_put(pool: deadpool::unmanaged::Pool<u64>) -> deadpool::unmanaged::Pool<u64> {
    let c = ready(pool.get()).unwrap();
    black_box(&*c);
    drop(c);
    pool
}

library_benchmark_group!(
    name = hot_path;
    benchmarks = floor, get_put_idle, get_put_idle_handle, deadpool_get_put, miss_dial, put_with_waiter
);

main!(library_benchmark_groups = hot_path);
