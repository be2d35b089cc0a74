//! The crawl example's binary, built once for the tests that run it as a
//! user would.
#![allow(dead_code)]

use std::{path::PathBuf, process::Command, sync::OnceLock};

/// The crawl example, built (debug profile, incremental: a no-op when
/// `cargo test` has built it already) by running cargo once.
pub fn binary() -> &'static PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "--example", "crawl"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .unwrap();
        assert!(status.success(), "building the crawl example failed");
        let mut path: PathBuf = std::env::current_exe().unwrap();
        path.pop(); // the test binary
        if path.ends_with("deps") {
            path.pop();
        }
        path.push("examples");
        path.push(format!("crawl{}", std::env::consts::EXE_SUFFIX));
        assert!(path.exists(), "{} is missing", path.display());
        path
    })
}
