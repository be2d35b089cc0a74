//! The memory of idle pooled connections, measured in a child process per
//! client (`--memory hotpool|reqwest PORT CA`): resident-set growth from
//! before the client is built to when 1,000 connections sit idle in its
//! pool.

use super::{
    clients::{hotpool_client, reqwest_client},
    server::{from_hex, to_hex, Server},
};
use std::{process::Command, sync::Arc, time::Duration};

/// Connections held idle.
pub const N: usize = 1000;

/// Resident set size of this process, in bytes.
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// In the child process: prints `RSS <bytes>` of growth for `N` idle
/// connections of `which` to the server on `port`.
pub fn child(which: &str, port: u16, ca_hex: &str) {
    let server = Server::existing(port, from_hex(ca_hex));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let before = rt.block_on(async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        rss()
    });
    let url = server.url();
    let grown = rt.block_on(async {
        let hot = (which == "hotpool").then(|| hotpool_client(&server, true, N, 100));
        let req = (which != "hotpool").then(|| reqwest_client(&server, N, false));
        // N requests at once, each holding its connection until all N have
        // one: N connections, then all idle.
        let barrier = Arc::new(tokio::sync::Barrier::new(N));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..N {
            let (hot, req, url, barrier) = (hot.clone(), req.clone(), url.clone(), barrier.clone());
            tasks.spawn(async move {
                if let Some(h) = hot {
                    let r = h.get(&url).await.unwrap();
                    barrier.wait().await;
                    r.bytes().await.unwrap();
                } else if let Some(q) = req {
                    let r = q.get(&url).send().await.unwrap();
                    barrier.wait().await;
                    r.bytes().await.unwrap();
                }
            });
        }
        while let Some(r) = tasks.join_next().await {
            r.unwrap();
        }
        if let Some(h) = &hot {
            assert_eq!(h.stats().total.idle, N as u64);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let grown = rss() - before;
        drop((hot, req));
        grown
    });
    println!("RSS {grown}");
}

/// Runs the child for `which` against `server`; its RSS growth in bytes.
pub fn measure(which: &str, server: &Server) -> u64 {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--memory",
            which,
            &server.port.to_string(),
            &to_hex(&server.ca),
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("RSS ")?.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "no RSS from {which}: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
}
