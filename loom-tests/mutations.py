#!/usr/bin/env python3
"""Shows that each loom model guards something: applies one weakening of the
core at a time (a removed re-check, fence or notify, a relaxed ordering, a
weaker queue), runs every model against it, restores the source, and prints
which models fail. Run from the repository root:

    python3 loom-tests/mutations.py

Takes a few minutes (6 models x 8 runs, release builds under --cfg loom).
The unmutated run must pass everything; each mutation must fail at least one.
"""
import os, pathlib, subprocess, sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
MODELS = ["two_borrowers", "put_races", "reservation_races", "close_races", "sweep_races",
          "block_races"]

MUTATIONS = {
    "none (the real code)": [],
    "waiter does not re-check after registering": [
        ("src/engine.rs",
         "                if !waiter.register(blocked) {\n                    break None;\n                }",
         "                waiter.register(blocked);\n                if true {\n                    break None;\n                }"),
    ],
    "waiter registers with Relaxed and no fence": [
        ("src/engine.rs", "        if new {\n            fence(Ordering::SeqCst);\n        }", "        let _ = new;"),
        ("src/engine.rs", "            self.domain.waiters.fetch_add(1, Ordering::SeqCst);",
         "            self.domain.waiters.fetch_add(1, Ordering::Relaxed);"),
        ("src/engine.rs", "            pool.waiters.fetch_add(1, Ordering::SeqCst);",
         "            pool.waiters.fetch_add(1, Ordering::Relaxed);"),
    ],
    "put reads the waiter count without the post-push fence": [
        ("src/engine.rs",
         "        // Dekker with the waiter's fetch_add + fence (see module docs).\n        fence(Ordering::SeqCst);\n",
         ""),
    ],
    "put skips its post-push closed re-check": [
        ("src/engine.rs",
         "        if pool.closed.load(Ordering::Acquire) {\n            domain.drain(Reason::PoolClosed);\n        }\n        stash::put(domain);",
         "        stash::put(domain);"),
    ],
    "sweep re-queues without fence and notify": [
        ("src/engine.rs",
         "        fence(Ordering::SeqCst);\n        self.notify_waiters();\n        if self.pool.closed.load(Ordering::Acquire) {\n            self.drain(Reason::PoolClosed);\n        }\n        (kept, closed, probe)",
         "        if self.pool.closed.load(Ordering::Acquire) {\n            self.drain(Reason::PoolClosed);\n        }\n        (kept, closed, probe)"),
    ],
    "block copies its deadline without the list lock": [
        ("src/engine.rs",
         "    fn sync_blocked(&self, ip: IpAddr) {\n        let _serial = lock(&self.ips_update);\n",
         "    fn sync_blocked(&self, ip: IpAddr) {\n"),
    ],
    "queue claims a slot by load + store instead of CAS": [
        ("src/sync.rs",
         "                if slot.state.load(Ordering::Acquire) == FULL\n                    && slot\n                        .state\n                        .compare_exchange(FULL, READING, Ordering::SeqCst, Ordering::Relaxed)\n                        .is_ok()\n                {",
         "                if slot.state.load(Ordering::Acquire) == FULL {\n                    slot.state.store(READING, Ordering::SeqCst);"),
    ],
}


def run_model(name):
    env = dict(os.environ, RUSTFLAGS="--cfg loom", LOOM_MAX_PREEMPTIONS="3")
    p = subprocess.run(
        ["cargo", "test", "-q", "-p", "loom-tests", "--release", "--target-dir", "target/loom",
         "--test", "models", "--", name],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    return "test result: ok. 1 passed" in p.stdout


def main():
    originals = {}
    ok = True
    try:
        for label, edits in MUTATIONS.items():
            for path, old, new in edits:
                f = ROOT / path
                originals.setdefault(f, f.read_text())
                text = f.read_text()
                if old not in text:
                    sys.exit(f"mutation '{label}': pattern not found in {path}; update this script")
                f.write_text(text.replace(old, new, 1))
            results = {m: run_model(m) for m in MODELS}
            for f, text in originals.items():
                f.write_text(text)
            failed = [m for m, passed in results.items() if not passed]
            print(f"{label:55} fails: {', '.join(failed) or '-'}", flush=True)
            if (not edits and failed) or (edits and not failed):
                ok = False
    finally:
        for f, text in originals.items():
            f.write_text(text)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
