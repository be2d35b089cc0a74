//! A pool over a custom connector: the smallest complete use of the core.
//!
//! `cargo run --example custom_connector`

use hotpool::{Connect, Error, Pool, Pooled, Target};
use std::sync::atomic::{AtomicU32, Ordering};

/// A stand-in for a real protocol: each "connection" is a numbered session.
#[derive(Default)]
struct Sessions {
    next: AtomicU32,
}

impl Connect for Sessions {
    type Conn = (u32, Target);

    async fn connect(&self, target: &Target) -> Result<Self::Conn, Error> {
        Ok((self.next.fetch_add(1, Ordering::Relaxed), target.clone()))
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let pool = Pool::builder()
        .max_conns_per_domain(2)
        .build(Sessions::default())?;
    pool.set_ips(
        "example.com",
        [
            "192.0.2.1".parse::<std::net::IpAddr>().unwrap(),
            "192.0.2.2".parse().unwrap(),
        ],
    );

    for round in 0..3 {
        let a = pool.get("example.com").await?;
        let b = pool.get("example.com").await?;
        println!(
            "round {round}: session {} via {} (reused: {}), session {} via {} (reused: {})",
            a.0,
            Pooled::target(&a).addr(),
            Pooled::is_reused(&a),
            b.0,
            Pooled::target(&b).addr(),
            Pooled::is_reused(&b),
        );
    }
    let s = pool.stats();
    println!(
        "gets {} hits {} dials {} reuse rate {:.2}",
        s.total.gets,
        s.total.hits,
        s.total.dials,
        s.reuse_rate()
    );
    Ok(())
}
