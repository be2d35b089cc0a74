#!/usr/bin/env python3
"""Shows that each loom model guards something: applies one weakening of the
core at a time (a removed re-check, fence, notify or lock, a relaxed
ordering, a weaker queue) to a copy of the tree — the working tree is never
touched — runs every model against it, and prints which models fail. Each
pattern is looked up in the file named, or else in the one file under src/
that holds it. Run from the repository root:

    python3 loom-tests/mutations.py

Takes a few minutes (6 models x 8 runs, release builds under --cfg loom).
The unmutated run must pass everything; each mutation must fail at least one.
"""
import os, pathlib, shutil, subprocess, sys, tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
MODELS = ["two_borrowers", "put_races", "reservation_races", "close_races", "sweep_races",
          "block_races"]

MUTATIONS = {
    "none (the real code)": [],
    "waiter does not re-check after registering": [
        ("src/engine",
         "                if !waiter.register(blocked) {\n                    break None;\n                }",
         "                waiter.register(blocked);\n                if true {\n                    break None;\n                }"),
    ],
    "waiter registers with Relaxed and no fence": [
        ("src/engine", "        if new {\n            fence(Ordering::SeqCst);\n        }", "        let _ = new;"),
        ("src/engine", "            self.domain.waiters.fetch_add(1, Ordering::SeqCst);",
         "            self.domain.waiters.fetch_add(1, Ordering::Relaxed);"),
        ("src/engine", "            pool.waiters.fetch_add(1, Ordering::SeqCst);",
         "            pool.waiters.fetch_add(1, Ordering::Relaxed);"),
    ],
    "put reads the waiter count without the post-push fence": [
        ("src/engine",
         "        // Dekker with the waiter's fetch_add + fence (see module docs).\n        fence(Ordering::SeqCst);\n",
         ""),
    ],
    "put skips its post-push closed re-check": [
        ("src/engine",
         "        if pool.closed.load(Ordering::Acquire) {\n            domain.drain(Reason::PoolClosed);\n        }\n        stash::put(domain);",
         "        stash::put(domain);"),
    ],
    "sweep re-queues without fence and notify": [
        ("src/engine",
         "        fence(Ordering::SeqCst);\n        self.notify_waiters();\n        if self.pool.closed.load(Ordering::Acquire) {\n            self.drain(Reason::PoolClosed);\n        }\n        (kept, closed, probe)",
         "        if self.pool.closed.load(Ordering::Acquire) {\n            self.drain(Reason::PoolClosed);\n        }\n        (kept, closed, probe)"),
    ],
    "block copies its deadline without the list lock": [
        ("src/engine",
         "fn sync_blocked(&self, ip: IpAddr) {\n        let _serial = lock(&self.ips_update);\n",
         "fn sync_blocked(&self, ip: IpAddr) {\n"),
    ],
    "queue claims a slot by load + store instead of CAS": [
        ("src/sync.rs",
         "                if slot.state.load(Ordering::Acquire) == FULL\n                    && slot\n                        .state\n                        .compare_exchange(FULL, READING, Ordering::SeqCst, Ordering::Relaxed)\n                        .is_ok()\n                {",
         "                if slot.state.load(Ordering::Acquire) == FULL {\n                    slot.state.store(READING, Ordering::SeqCst);"),
    ],
}


def locate(root, path, old):
    """The file holding `old`: `path` if it does, else the one source file
    under src/ that does (the core moves between files as it is split)."""
    p = root / path
    if p.is_file() and old in p.read_text():
        return p
    hits = [f for f in sorted((root / "src").rglob("*.rs")) if old in f.read_text()]
    if len(hits) != 1:
        sys.exit(f"pattern found in {len(hits)} files, not one; update this script:\n{old}")
    return hits[0]


def copy_tree(dest):
    """The tracked files of the repository, copied to `dest`: mutations are
    applied there, never to the working tree."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split("\n")
    for name in filter(None, files):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            # A plain copy: fresh modification times, newer than any build
            # in the mutations' target directory, so cargo never reuses a
            # build of an earlier (possibly mutated) copy.
            shutil.copyfile(src, dest / name)


def run_model(work, name):
    env = dict(os.environ, RUSTFLAGS="--cfg loom", LOOM_MAX_PREEMPTIONS="3")
    p = subprocess.run(
        ["cargo", "test", "-q", "-p", "loom-tests", "--release",
         "--target-dir", str(ROOT / "target" / "loom-mutations"),
         "--test", "models", "--", name],
        cwd=work, env=env, capture_output=True, text=True, timeout=900)
    passed = "test result: ok. 1 passed" in p.stdout
    if not passed and os.environ.get("MUTATIONS_VERBOSE"):
        sys.stderr.write(f"--- {name}:\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}\n")
    return passed


def main():
    work = pathlib.Path(tempfile.mkdtemp(prefix="hotpool-mutations-"))
    ok = True
    try:
        copy_tree(work)
        for label, edits in MUTATIONS.items():
            originals = {}
            for path, old, new in edits:
                f = locate(work, path, old)
                originals.setdefault(f, f.read_text())
                f.write_text(f.read_text().replace(old, new, 1))
            results = {m: run_model(work, m) for m in MODELS}
            for f, text in originals.items():
                f.write_text(text)
            failed = [m for m, passed in results.items() if not passed]
            print(f"{label:55} fails: {', '.join(failed) or '-'}", flush=True)
            if (not edits and failed) or (edits and not failed):
                ok = False
    finally:
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
