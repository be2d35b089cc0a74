//! A broad crawl's first touch of a domain at the pool limit: the pool
//! (`max_conns` 100, the default) has already seen 1,000, 10,000 or 60,000
//! domains, each got once through a dummy connector and returned, so it
//! holds 100 idle connections; each measured step is a domain never seen
//! before — `set_ips`, `get` (which must close another domain's idle
//! connection to dial) and the return. Every step adds a domain, so the
//! pool grows by the number of iterations during a measurement.
//!
//! Run: `cargo bench --bench broad_crawl -- --warm-up-time 1 --measurement-time 3`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use hotpool::{Connect, Error, Pool, Target};
use std::{
    net::IpAddr,
    time::{Duration, Instant},
};

struct Dummy;

impl Connect for Dummy {
    type Conn = u64;
    async fn connect(&self, _: &Target) -> Result<u64, Error> {
        Ok(42)
    }
}

fn new_domain_at_the_limit(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let ip = IpAddr::from([192, 0, 2, 1]);
    let mut g = c.benchmark_group("broad_crawl/new_domain_at_the_limit");
    g.sample_size(10);
    for seen in [1_000usize, 10_000, 60_000] {
        let pool = rt.block_on(async {
            let pool = Pool::builder()
                .max_conns(100)
                .max_conns_per_domain(1)
                .wait_timeout(Duration::from_secs(5))
                .build(Dummy)
                .unwrap();
            for i in 0..seen {
                let d = format!("seen{i}.test");
                pool.set_ips(&d, [ip]);
                drop(pool.get(&d).await.unwrap());
            }
            pool
        });
        let mut next = 0u64;
        g.bench_function(BenchmarkId::from_parameter(seen), |b| {
            b.iter_custom(|iters| {
                let names: Vec<String> = (next..next + iters)
                    .map(|k| format!("new{k}.test"))
                    .collect();
                next += iters;
                let start = Instant::now();
                rt.block_on(async {
                    for d in &names {
                        pool.set_ips(d, [ip]);
                        drop(pool.get(d).await.unwrap());
                    }
                });
                start.elapsed()
            })
        });
        rt.block_on(pool.shutdown());
    }
    g.finish();
}

criterion_group!(benches, new_domain_at_the_limit);
criterion_main!(benches);
