//! `get` + drop of an idle connection performs no heap allocation.
//!
//! A counting global allocator wraps the system allocator; the test lends and
//! returns an idle connection many times and asserts the count did not move.
//! Any allocation added to the hot path — boxing a future, cloning a string,
//! registering a listener — makes it fail.
#![allow(unsafe_code)]
mod support;
use hotpool::Pool;
use std::{
    alloc::{GlobalAlloc, Layout, System},
    cell::Cell,
    future::Future,
    pin::pin,
    task::{Context, Poll, Waker},
};
use support::*;

struct Counting;

thread_local! {
    // Only the counting thread's own allocations are counted: the test
    // harness, other tests and quanta's clock thread allocate on their own
    // schedule.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

fn counting() -> bool {
    COUNTING.try_with(Cell::get).unwrap_or(false)
}

fn count() {
    let _ = ALLOCS.try_with(|a| a.set(a.get() + 1));
}

fn allocs() -> usize {
    ALLOCS.with(Cell::get)
}

fn set_counting(on: bool) {
    COUNTING.with(|c| c.set(on));
}

// The one unsafe impl in the project: the GlobalAlloc trait is unsafe to
// implement. It only forwards to `System` and counts.
// SAFETY: every method forwards to `System` with the caller's arguments.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if counting() {
            count();
        }
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        if counting() {
            count();
        }
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn ready<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("an idle hit must be ready at once"),
    }
}

#[tokio::test(flavor = "current_thread")]
async fn idle_get_and_put_do_not_allocate() {
    let pool = Pool::builder().build(Dummy::new()).unwrap();
    pool.set_ips(DOMAIN, [ip(2)]);
    drop(pool.get(DOMAIN).await.unwrap());
    // warm up per-thread state (arc-swap's debt list) outside the count
    for _ in 0..10 {
        drop(ready(pool.get(DOMAIN)).unwrap());
        drop(pool.try_get(DOMAIN).unwrap());
    }

    set_counting(true);
    for _ in 0..10_000 {
        let c = ready(pool.get(DOMAIN)).unwrap();
        std::hint::black_box(&*c);
        drop(c);
        drop(pool.try_get(DOMAIN).unwrap());
    }
    set_counting(false);
    assert_eq!(allocs(), 0, "allocations on the idle get/put path");
    assert_eq!(pool.stats().total.hits, 20_020);
}

#[tokio::test(flavor = "current_thread")]
async fn idle_gets_across_domains_do_not_allocate() {
    // Gets that alternate between domains go through the thread's cache
    // table (the inline last put holds another domain): once the table has
    // grown to its size for these domains, nothing allocates.
    let pool = Pool::builder().build(Dummy::new()).unwrap();
    let keys = ["a.alloc.test", "b.alloc.test", "c.alloc.test"];
    for (i, k) in keys.iter().enumerate() {
        pool.set_ips(k, [ip(2 + i as u8)]);
        drop(pool.get(k).await.unwrap());
    }
    let handle = pool.domain("d.alloc.test");
    pool.set_ips("d.alloc.test", [ip(9)]);
    drop(handle.get().await.unwrap());
    // Enough rounds for the table to reach any size it can grow to (each
    // doubling needs as many moves as it has slots: 64 + ... + 2,048).
    let round = || {
        for k in keys {
            let c = ready(pool.get(k)).unwrap();
            std::hint::black_box(&*c);
        }
        drop(ready(handle.get()).unwrap());
    };
    for _ in 0..4_000 {
        round();
    }

    set_counting(true);
    for _ in 0..5_000 {
        round();
    }
    set_counting(false);
    assert_eq!(allocs(), 0, "allocations on the idle get/put path");
    assert_eq!(pool.stats().total.hits, 4 * 9_000);
}

#[test]
fn the_counter_counts() {
    // Guard against a vacuous pass: an allocation in the counted window is seen.
    let before = allocs();
    set_counting(true);
    let v = std::hint::black_box(vec![1u8; 64]);
    set_counting(false);
    drop(v);
    assert!(allocs() > before);
}
