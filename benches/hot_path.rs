//! The hot path side by side with its floor and with the pools a crawler
//! would otherwise use, all in one run.
//!
//! * `clock`: the candidate time sources for stamping `last_used`.
//! * `get_put/single_thread`: lend and return an idle connection of one
//!   domain. Contenders: hotpool (`get`, a `DomainHandle`, `try_get`); the
//!   floor — a raw `ArrayQueue` pop + push plus two CAS on the item's own
//!   `AtomicU64` (what any lock-free pool with a per-connection state word
//!   does at least); pingora-pool 0.9 (`get` + `put`, the connection keeping
//!   its id); deadpool 0.13 unmanaged (`get` + drop); bb8 0.9 (no check on
//!   checkout); hyper-util 0.1.21's legacy pool (`checkout` + drop, pinned
//!   with `=`); a naive `Semaphore` + `Mutex<VecDeque>` pool.
//! * `get_put/two_threads`: the same with two threads on one domain (two
//!   idle connections), time per operation per thread.
//!   Keyed lines put each peer behind a map from the domain, as a crawler
//!   keeping a pool per domain uses it.
//! * `many_domains`: hotpool's get + put with keys in a fixed shuffled order
//!   that touches all of 1, 100 and 10,000 domains (one idle connection
//!   each), beside the keyed floor: a map of `ArrayQueue`s over the same
//!   keys in the same order.
//! * `wakeup`: a connection handed from one task to the next through put →
//!   waiting get, with 1 and with 64 tasks waiting (the broadcast's herd).
//!
//! Run: `cargo bench --bench hot_path` (a group: `-- get_put/single_thread`).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use crossbeam_queue::ArrayQueue;
use crossbeam_utils::CachePadded;
use hotpool::{Connect, Error, Pool, Target};
use std::{
    collections::HashMap,
    future::Future,
    hint::black_box,
    pin::pin,
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
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

/// A floor item: a state word alone on its cache line, so that two threads
/// working on two items never share a line (false sharing would inflate the
/// contended floor).
type FloorItem = Box<CachePadded<AtomicU64>>;

fn floor_item() -> FloorItem {
    Box::new(CachePadded::new(AtomicU64::new(0)))
}

/// The floor: pop, CAS the item's state word to "in use", CAS it back, push.
#[inline(always)]
fn floor_op(q: &ArrayQueue<FloorItem>) {
    let item = q.pop().unwrap();
    let _ = item.compare_exchange(0, 1, Ordering::AcqRel, Ordering::Relaxed);
    let _ = item.compare_exchange(1, 0, Ordering::AcqRel, Ordering::Relaxed);
    q.push(black_box(item)).unwrap();
}

/// The peer pools, each set up with idle connections of one domain.
mod peers {
    use super::ready;
    use std::{
        collections::VecDeque,
        sync::{Arc, Mutex},
    };

    // --- pingora-pool -----------------------------------------------------
    pub struct Pingora {
        pool: pingora_pool::ConnectionPool<u64>,
        metas: Vec<pingora_pool::ConnectionMeta>,
    }

    const GROUP: u64 = 0x5eed;

    impl Pingora {
        pub fn new(n: usize) -> Pingora {
            let pool = pingora_pool::ConnectionPool::new(64);
            let metas: Vec<_> = (0..n)
                .map(|id| pingora_pool::ConnectionMeta::new(GROUP, id as i32))
                .collect();
            for (i, m) in metas.iter().enumerate() {
                let _ = pool.put(m, i as u64);
            }
            Pingora { pool, metas }
        }

        /// Get any idle connection of the group and put it back under its
        /// own id.
        #[inline]
        pub fn get_put(&self) {
            let conn = self.pool.get(&GROUP).expect("idle connection");
            std::hint::black_box(&conn);
            let meta = &self.metas[conn as usize];
            let _ = self.pool.put(meta, conn);
        }
    }

    // --- deadpool (unmanaged) ------------------------------------------------
    pub fn deadpool(n: usize) -> deadpool::unmanaged::Pool<u64> {
        let pool = deadpool::unmanaged::Pool::new(n);
        for i in 0..n {
            pool.try_add(i as u64).expect("room");
        }
        pool
    }

    #[inline]
    pub fn deadpool_get_put(pool: &deadpool::unmanaged::Pool<u64>) {
        let c = ready(pool.get()).expect("idle object");
        std::hint::black_box(&*c);
    }

    // --- bb8 -------------------------------------------------------------------
    pub struct Manager;

    impl bb8::ManageConnection for Manager {
        type Connection = u64;
        type Error = std::convert::Infallible;
        async fn connect(&self) -> Result<u64, Self::Error> {
            Ok(42)
        }
        async fn is_valid(&self, _: &mut u64) -> Result<(), Self::Error> {
            Ok(())
        }
        fn has_broken(&self, _: &mut u64) -> bool {
            false
        }
    }

    /// Must be called inside a runtime (bb8 uses tokio's timer).
    pub async fn bb8(n: usize) -> bb8::Pool<Manager> {
        bb8::Pool::builder()
            .max_size(n as u32)
            .min_idle(Some(n as u32))
            .test_on_check_out(false)
            .build(Manager)
            .await
            .expect("bb8 pool")
    }

    #[inline]
    pub fn bb8_get_put(pool: &bb8::Pool<Manager>) {
        let c = ready(pool.get()).expect("idle connection");
        std::hint::black_box(&*c);
    }

    // --- hyper-util's legacy pool -------------------------------------------
    use hyper_util::client::legacy::pool as legacy;

    #[derive(Debug)]
    pub struct Uniq(pub u64);

    impl legacy::Poolable for Uniq {
        fn is_open(&self) -> bool {
            true
        }
        fn reserve(self) -> legacy::Reservation<Self> {
            legacy::Reservation::Unique(self)
        }
        fn can_share(&self) -> bool {
            false
        }
    }

    pub type Key = (http::uri::Scheme, http::uri::Authority);

    pub struct Legacy {
        pub pool: legacy::Pool<Uniq, Key>,
        pub key: Key,
    }

    /// Must be called inside a runtime.
    pub fn legacy(n: usize) -> Legacy {
        let pool = legacy::Pool::new(
            legacy::Config {
                idle_timeout: None,
                max_idle_per_host: n.max(1),
            },
            hyper_util::rt::TokioExecutor::new(),
            None::<hyper_util::rt::TokioTimer>,
        );
        let key: Key = (
            http::uri::Scheme::HTTPS,
            http::uri::Authority::from_static("bench.example.com"),
        );
        let held: Vec<_> = (0..n)
            .map(|i| {
                let connecting = pool
                    .connecting(&key, legacy::Ver::Auto)
                    .expect("connecting");
                pool.pooled(connecting, Uniq(i as u64))
            })
            .collect();
        drop(held);
        Legacy { pool, key }
    }

    #[inline]
    pub fn legacy_get_put(l: &Legacy) {
        let c = ready(l.pool.checkout(l.key.clone())).expect("idle connection");
        std::hint::black_box(&c.0);
    }

    // --- naive: a semaphore and a locked deque -------------------------------
    pub struct Naive {
        permits: tokio::sync::Semaphore,
        idle: Mutex<VecDeque<u64>>,
    }

    impl Naive {
        pub fn new(n: usize) -> Arc<Naive> {
            Arc::new(Naive {
                permits: tokio::sync::Semaphore::new(n),
                idle: Mutex::new((0..n as u64).collect()),
            })
        }

        #[inline]
        pub fn get_put(&self) {
            let permit = ready(self.permits.acquire()).expect("permit");
            let conn = self.idle.lock().unwrap().pop_front().expect("idle");
            std::hint::black_box(&conn);
            self.idle.lock().unwrap().push_back(conn);
            drop(permit);
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
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
    q.push(floor_item()).unwrap();
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

    let rt = runtime();
    let _enter = rt.enter();
    let pingora = peers::Pingora::new(1);
    g.bench_function("pingora_pool", |b| b.iter(|| pingora.get_put()));
    let dp = peers::deadpool(1);
    g.bench_function("deadpool_unmanaged", |b| {
        b.iter(|| peers::deadpool_get_put(&dp))
    });
    let bb8 = rt.block_on(peers::bb8(1));
    g.bench_function("bb8", |b| b.iter(|| peers::bb8_get_put(&bb8)));
    let legacy = peers::legacy(1);
    g.bench_function("hyper_util_legacy", |b| {
        b.iter(|| peers::legacy_get_put(&legacy))
    });
    let naive = peers::Naive::new(1);
    g.bench_function("naive_semaphore_mutex_vecdeque", |b| {
        b.iter(|| naive.get_put())
    });

    // Keyed: each peer behind a map from the domain, as a crawler keeping
    // one pool per domain would use it (hotpool's `get` looks the key up
    // too; its `DomainHandle` is the unkeyed comparison).
    let key = black_box(DOMAIN);
    let pingora = keyed(peers::Pingora::new(1));
    g.bench_function("pingora_pool_keyed", |b| b.iter(|| pingora[key].get_put()));
    let dp = keyed(peers::deadpool(1));
    g.bench_function("deadpool_unmanaged_keyed", |b| {
        b.iter(|| peers::deadpool_get_put(&dp[key]))
    });
    let bb8 = keyed(rt.block_on(peers::bb8(1)));
    g.bench_function("bb8_keyed", |b| b.iter(|| peers::bb8_get_put(&bb8[key])));
    let legacy = keyed(peers::legacy(1));
    g.bench_function("hyper_util_legacy_keyed", |b| {
        b.iter(|| peers::legacy_get_put(&legacy[key]))
    });
    let naive = keyed(peers::Naive::new(1));
    g.bench_function("naive_semaphore_mutex_vecdeque_keyed", |b| {
        b.iter(|| naive[key].get_put())
    });
    g.finish();
}

/// A map holding `pool` under the bench's domain (with the same hasher as
/// hotpool's domain map).
fn keyed<P>(pool: P) -> HashMap<String, P, foldhash::fast::RandomState> {
    let mut m = HashMap::with_hasher(foldhash::fast::RandomState::default());
    m.insert(DOMAIN.to_owned(), pool);
    m
}

/// Runs `op` `iters` times on each of two threads at once; returns the wall
/// time, i.e. the time per operation per thread × iters. Both threads are
/// inside the runtime of `rt` (bb8 and deadpool use tokio primitives).
fn two_threads(iters: u64, op: impl Fn() + Sync) -> Duration {
    let barrier = Barrier::new(2);
    let handle = tokio::runtime::Handle::try_current().ok();
    std::thread::scope(|s| {
        let h = s.spawn(|| {
            let _enter = handle.as_ref().map(|h| h.enter());
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
        q.push(floor_item()).unwrap();
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

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let _enter = rt.enter();
    let pingora = peers::Pingora::new(2);
    g.bench_function(BenchmarkId::new("pingora_pool", 2), |b| {
        b.iter_custom(|iters| two_threads(iters, || pingora.get_put()))
    });
    let dp = peers::deadpool(2);
    g.bench_function(BenchmarkId::new("deadpool_unmanaged", 2), |b| {
        b.iter_custom(|iters| two_threads(iters, || peers::deadpool_get_put(&dp)))
    });
    let bb8 = rt.block_on(peers::bb8(2));
    g.bench_function(BenchmarkId::new("bb8", 2), |b| {
        b.iter_custom(|iters| two_threads(iters, || peers::bb8_get_put(&bb8)))
    });
    let legacy = peers::legacy(2);
    g.bench_function(BenchmarkId::new("hyper_util_legacy", 2), |b| {
        b.iter_custom(|iters| two_threads(iters, || peers::legacy_get_put(&legacy)))
    });
    let naive = peers::Naive::new(2);
    g.bench_function(BenchmarkId::new("naive_semaphore_mutex_vecdeque", 2), |b| {
        b.iter_custom(|iters| two_threads(iters, || naive.get_put()))
    });
    g.finish();
}

/// hotpool's get + put with the key drawn at random (a fixed sequence) from
/// `n` domains, each with one idle connection.
fn many_domains(c: &mut Criterion) {
    let mut g = c.benchmark_group("many_domains");
    for n in [1usize, 100, 10_000] {
        let pool = Pool::builder()
            .max_conns(n)
            .max_conns_per_domain(1)
            .build(Dummy)
            .unwrap();
        let keys: Vec<String> = (0..n).map(|i| format!("d{i}.bench.example.com")).collect();
        let rt = runtime();
        rt.block_on(async {
            for k in &keys {
                pool.set_ips(k, ["192.0.2.1".parse::<std::net::IpAddr>().unwrap()]);
                drop(pool.get(k).await.unwrap());
            }
        });
        // A fixed order that touches every domain: shuffled permutations of
        // all of them, one after another, to a power of two of at least
        // 4,096 entries (16,384 for 10,000 domains).
        let mut rng = fastrand::Rng::with_seed(7);
        let len = n.max(4096).next_power_of_two();
        let mut order: Vec<usize> = Vec::with_capacity(len);
        while order.len() < len {
            let mut perm: Vec<usize> = (0..n).collect();
            rng.shuffle(&mut perm);
            order.extend(perm);
        }
        order.truncate(len);
        let mask = len - 1;
        let mut i = 0;
        g.bench_function(BenchmarkId::new("hotpool_get", n), |b| {
            b.iter(|| {
                i = (i + 1) & mask;
                let c = ready(pool.get(&keys[order[i]])).unwrap();
                black_box(&*c);
            })
        });
        // The keyed floor: the same keys in the same order, a map lookup
        // (hotpool's hasher) and the floor's queue operation.
        let mut floor: HashMap<String, ArrayQueue<FloorItem>, foldhash::fast::RandomState> =
            HashMap::with_hasher(foldhash::fast::RandomState::default());
        for k in &keys {
            let q = ArrayQueue::new(1);
            q.push(floor_item()).unwrap();
            floor.insert(k.clone(), q);
        }
        let mut j = 0;
        g.bench_function(BenchmarkId::new("floor_keyed", n), |b| {
            b.iter(|| {
                j = (j + 1) & mask;
                floor_op(&floor[keys[order[j]].as_str()]);
            })
        });
    }
    g.finish();
}

/// One connection handed from task to task: each task takes it (waiting
/// while another holds it), yields once holding it so that the others are
/// registered as waiters, and puts it back. Time per hand-over.
fn wakeup(c: &mut Criterion) {
    let mut g = c.benchmark_group("wakeup");
    for (name, wake) in [
        ("hotpool_wake_one", hotpool::Wake::One),
        ("hotpool_wake_broadcast", hotpool::Wake::Broadcast),
    ] {
        for waiters in [1usize, 64] {
            wakeup_line(&mut g, name, wake, waiters);
        }
    }
    g.finish();
}

fn wakeup_line(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    wake: hotpool::Wake,
    waiters: usize,
) {
    {
        g.bench_function(BenchmarkId::new(name, waiters), |b| {
            b.iter_custom(|iters| {
                let rt = runtime();
                let pool = Pool::builder()
                    .max_conns_per_domain(1)
                    .wake(wake)
                    .wait_timeout(Duration::from_secs(60))
                    .build(Dummy)
                    .unwrap();
                pool.set_ips(DOMAIN, ["192.0.2.1".parse::<std::net::IpAddr>().unwrap()]);
                let done = Arc::new(AtomicUsize::new(0));
                let total = iters as usize;
                rt.block_on(async {
                    drop(pool.get(DOMAIN).await.unwrap());
                    let start = Instant::now();
                    let mut tasks = tokio::task::JoinSet::new();
                    for _ in 0..waiters + 1 {
                        let (pool, done) = (pool.clone(), done.clone());
                        tasks.spawn(async move {
                            while done.load(Ordering::Relaxed) < total {
                                let c = pool.get(DOMAIN).await.unwrap();
                                done.fetch_add(1, Ordering::Relaxed);
                                tokio::task::yield_now().await;
                                drop(c);
                                tokio::task::yield_now().await;
                            }
                        });
                    }
                    while tasks.join_next().await.is_some() {}
                    start.elapsed()
                })
            })
        });
    }
}

criterion_group!(
    benches,
    clock,
    single_thread,
    contended,
    many_domains,
    wakeup
);
criterion_main!(benches);
