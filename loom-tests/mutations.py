#!/usr/bin/env python3
"""Shows that each loom model guards something: applies one weakening of the
core at a time (a removed re-check, fence, notify or lock, a relaxed
ordering, a weaker queue) to a copy of the tree — the working tree is never
touched — runs every model against it, and prints which models fail. Each
pattern is looked up in the file named, or else in the one file under src/
that holds it. Run from the repository root:

    python3 loom-tests/mutations.py

Takes a long while (10 models x 19 runs, release builds under --cfg loom;
about an hour on two cores). Arguments restrict it to the mutations whose
label contains one of them. The unmutated run must pass everything; each
mutation must be caught by at least one model (a failed assertion, a loom
deadlock or causality report — not a compile error, which stops the
script, nor loom's branch budget or a time-out), and each model must catch
at least one mutation. Prints a matrix mutation x model for the README.
"""
import os, pathlib, shutil, subprocess, sys, tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
MODELS = ["two_borrowers", "put_races", "reservation_races", "close_races", "sweep_races",
          "block_races", "two_waiters", "a_dropped_notified", "two_domains",
          "reservation_rollback"]
# The models of `hotpool::streams` (loom-tests/tests/streams.rs).
STREAM_MODELS = ["a_waiter_at_the_limit", "two_waiters_two_ends", "two_takers_race",
                 "the_last_end_races"]
MODELS += STREAM_MODELS
STREAMS = "src/streams.rs"

SIGNAL = "src/engine/signal.rs"

MUTATIONS = {
    "none (the real code)": [],
    "waiter does not re-check after registering": [
        ("src/engine/waiting.rs",
         "                if !waiter.register(blocked) {\n                    break None;\n                }",
         "                waiter.register(blocked);\n                if true {\n                    break None;\n                }"),
    ],
    "waiter's RMW Release only (no Acquire)": [
        (SIGNAL, "self.word.fetch_add(WAITER, Ordering::AcqRel);",
         "self.word.fetch_add(WAITER, Ordering::Release);"),
    ],
    "waiter's RMW Acquire only (no Release)": [
        (SIGNAL, "self.word.fetch_add(WAITER, Ordering::AcqRel);",
         "self.word.fetch_add(WAITER, Ordering::Acquire);"),
    ],
    "publish's RMW made a load": [
        (SIGNAL, "let word = self.word.fetch_add(EPOCH, Ordering::AcqRel);",
         "let word = self.word.load(Ordering::Acquire);"),
    ],
    "publish's RMW Acquire only (no Release)": [
        (SIGNAL, "let word = self.word.fetch_add(EPOCH, Ordering::AcqRel);",
         "let word = self.word.fetch_add(EPOCH, Ordering::Acquire);"),
    ],
    "publish's RMW Release only (no Acquire)": [
        (SIGNAL, "let word = self.word.fetch_add(EPOCH, Ordering::AcqRel);",
         "let word = self.word.fetch_add(EPOCH, Ordering::Release);"),
    ],
    "close's RMW made a load (CLOSED never set)": [
        (SIGNAL, "self.word.fetch_or(CLOSED, Ordering::AcqRel);",
         "let _ = self.word.load(Ordering::Acquire);"),
    ],
    "close's RMW Relaxed": [
        (SIGNAL, "self.word.fetch_or(CLOSED, Ordering::AcqRel);",
         "self.word.fetch_or(CLOSED, Ordering::Relaxed);"),
    ],
    "put wakes with notify(n), not notify(n.additional())": [
        (SIGNAL, "Wake::One => self.event.notify(units.additional().relaxed()),",
         "Wake::One => self.event.notify(units.relaxed()),"),
    ],
    "a dropped waiter discards its notification": [
        ("src/engine/waiting.rs",
         "        if self.on_domain.take().is_some() {\n            self.domain.signal.deregister();",
         "        if let Some(l) = self.on_domain.take() {\n            event_listener::Listener::discard(l);\n            self.domain.signal.deregister();"),
    ],
    "rollback does not wake the pool": [
        ("src/engine/capacity.rs",
         "            pool.live.fetch_sub(1, Ordering::SeqCst);\n            pool.publish(1);",
         "            pool.live.fetch_sub(1, Ordering::SeqCst);"),
    ],
    "rollback removed (the unit is kept)": [
        ("src/engine/capacity.rs",
         "            pool.live.fetch_sub(1, Ordering::SeqCst);\n            pool.publish(1);",
         ""),
    ],
    "release does not wake": [
        ("src/engine/lend.rs",
         "        self.pool.live.fetch_sub(1, Ordering::SeqCst);\n        self.publish(1);\n        self.pool.publish(1);",
         "        self.pool.live.fetch_sub(1, Ordering::SeqCst);"),
    ],
    "reserve CAS split into load + store": [
        ("src/engine/capacity.rs",
         "        match counter.compare_exchange_weak(cur, cur + 1, Ordering::SeqCst, Ordering::Relaxed) {",
         "        match {\n            counter.store(cur + 1, Ordering::SeqCst);\n            Ok::<usize, usize>(cur)\n        } {"),
    ],
    "put skips the drain when its RMW reads CLOSED": [
        ("src/engine/lend.rs",
         "        if domain.publish(1) {\n            // Closed: drain, and do not park a reference to a closed\n            // domain in the thread's cache.\n            domain.drain(Reason::PoolClosed);\n            return;\n        }",
         "        domain.publish(1);"),
    ],
    "sweep re-queues without publishing": [
        ("src/engine/sweep.rs", "        if kept > 0 && self.publish(kept) {", "        if false {"),
    ],
    "block copies its deadline without the list lock": [
        ("src/engine/addresses.rs",
         "fn sync_blocked(&self, ip: IpAddr) {\n        let _serial = lock(&self.ips_update);\n",
         "fn sync_blocked(&self, ip: IpAddr) {\n"),
    ],
    "queue claims a slot by load + store instead of CAS": [
        ("src/sync.rs",
         "                if slot.state.load(Ordering::Acquire) == FULL\n                    && slot\n                        .state\n                        .compare_exchange(FULL, READING, Ordering::SeqCst, Ordering::Relaxed)\n                        .is_ok()\n                {",
         "                if slot.state.load(Ordering::Acquire) == FULL {\n                    slot.state.store(READING, Ordering::SeqCst);"),
    ],
    "stream take allows one past the limit": [
        (STREAMS, "if w & RETIRED != 0 || w & COUNT >= limit {",
         "if w & RETIRED != 0 || w & COUNT > limit {"),
    ],
    "stream take ignores retirement": [
        (STREAMS, "if w & RETIRED != 0 || w & COUNT >= limit {",
         "if w & COUNT >= limit {"),
    ],
    "last stream out retires without the CAS": [
        (STREAMS, """            && self
                .0
                .compare_exchange(0, RETIRED, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()""",
         """            && {
                self.0.fetch_or(RETIRED, Ordering::AcqRel);
                true
            }"""),
    ],
    "stream end wakes with notify(1), not one more": [
        (STREAMS, "self.0.notify(1.additional());", "self.0.notify(1);"),
    ],
    "room waiter does not look again after listening": [
        (STREAMS, """            let listener = self.0.listen();
            if let Some(t) = look() {
                return t;
            }
            listener.await;""",
         """            let listener = self.0.listen();
            listener.await;
            if let Some(t) = look() {
                return t;
            }"""),
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
    """One model against the copy: "pass", "caught" (a failed assertion or a
    loom-detected deadlock or causality violation), "budget" (loom gave up:
    too many branches) or "timeout". A compile error stops the script: a
    mutation that does not build proves nothing."""
    # Two preemptions by default (CI runs the models with three): each
    # mutation here costs a build and a run of every model.
    env = dict(os.environ, RUSTFLAGS="--cfg loom",
               LOOM_MAX_PREEMPTIONS=os.environ.get("LOOM_MAX_PREEMPTIONS", "2"))
    try:
        p = subprocess.run(
            ["cargo", "test", "-q", "-p", "loom-tests", "--release",
             "--target-dir", str(ROOT / "target" / "loom-mutations"),
             "--test", "streams" if name in STREAM_MODELS else "models",
             "--", "--test-threads=1", name],
            cwd=work, env=env, capture_output=True, text=True,
            timeout=int(os.environ.get("MUTATIONS_TIMEOUT", "900")))
    except subprocess.TimeoutExpired:
        return "timeout"
    out = p.stdout + p.stderr
    if "could not compile" in out:
        sys.exit(f"the mutated tree does not compile (model {name}):\n{out[-3000:]}")
    if "test result: ok. 1 passed" in p.stdout:
        return "pass"
    if os.environ.get("MUTATIONS_VERBOSE"):
        sys.stderr.write(f"--- {name}:\n{out[-3000:]}\n")
    if "maximum number of branches" in out or "max_branches" in out:
        return "budget"
    if "panicked" in out:
        return "caught"
    return "other"


MARK = {"pass": ".", "caught": "X", "budget": "b", "timeout": "t", "other": "?"}


def main():
    only = sys.argv[1:]
    work = pathlib.Path(tempfile.mkdtemp(prefix="hotpool-mutations-"))
    ok = True
    caught_by = {m: 0 for m in MODELS}
    rows = []
    try:
        copy_tree(work)
        for label, edits in MUTATIONS.items():
            if only and edits and not any(o in label for o in only):
                continue
            originals = {}
            for path, old, new in edits:
                f = locate(work, path, old)
                originals.setdefault(f, f.read_text())
                f.write_text(f.read_text().replace(old, new, 1))
            results = {m: run_model(work, m) for m in MODELS}
            for f, text in originals.items():
                f.write_text(text)
            caught = [m for m, r in results.items() if r == "caught"]
            for m in caught:
                caught_by[m] += 1
            row = " ".join(MARK[results[m]] for m in MODELS)
            rows.append((label, row))
            print(f"{label:55} {row}   caught by: {', '.join(caught) or '-'}", flush=True)
            if not edits and any(r != "pass" for r in results.values()):
                ok = False
            if edits and not caught:
                ok = False
        print("\nmodels (columns):", ", ".join(f"{i + 1}={m}" for i, m in enumerate(MODELS)))
        print("X caught (assertion, deadlock or causality violation), . passed, "
              "b loom's branch budget, t time-out, ? other failure")
        print("\n| mutation | " + " | ".join(str(i + 1) for i in range(len(MODELS))) + " |")
        print("|---|" + "---|" * len(MODELS))
        for label, row in rows:
            print(f"| {label} | " + " | ".join(row.split()) + " |")
        idle = [m for m, n in caught_by.items() if n == 0]
        if idle and not only:
            print(f"\nmodels that caught no mutation: {', '.join(idle)}")
            ok = False
    finally:
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
