//! Regression: a `Timer`/`Ticker` armed on a scheduler and dropped after that scheduler
//! has ended must not write into the scheduler's freed memory (it used to bump the stale
//! count of its freed P). A quarantining global allocator keeps every block freed while
//! the scheduler runs and ends, filled with a poison byte, and checks afterwards that
//! dropping the timers left the poison intact.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Mutex; // tidy: allow(std-sync) test code outside the crate's facade
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering}; // tidy: allow(std-sync) as above
use std::time::Duration;

use gort_sched::time::{Ticker, Timer};
use gort_sched::{Config, run_with};

const POISON: u8 = 0xA5;
const SLOTS: usize = 1 << 16;

/// Quarantines deallocations while `ON` is set.
struct Quarantine;

static ON: AtomicBool = AtomicBool::new(false);
static COUNT: AtomicUsize = AtomicUsize::new(0);
static BLOCKS: [(AtomicUsize, AtomicUsize); SLOTS] =
    [const { (AtomicUsize::new(0), AtomicUsize::new(0)) }; SLOTS];

// SAFETY: forwards to `System`; a quarantined block is simply never returned to it.
unsafe impl GlobalAlloc for Quarantine {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if ON.load(Ordering::SeqCst) {
            let i = COUNT.fetch_add(1, Ordering::SeqCst);
            if i < SLOTS {
                // SAFETY: the block is ours now (freed by its owner) and `layout.size()`
                // bytes long.
                unsafe { ptr.write_bytes(POISON, layout.size()) };
                BLOCKS[i].0.store(ptr as usize, Ordering::SeqCst);
                BLOCKS[i].1.store(layout.size(), Ordering::SeqCst);
                return;
            }
        }
        // SAFETY: forwarded with the caller's contract.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Quarantine = Quarantine;

/// Only this test runs in this binary (the allocator's window is process-wide).
static ONE: Mutex<()> = Mutex::new(());

#[test]
fn timer_dropped_after_scheduler_does_not_touch_freed_memory() {
    let _one = ONE.lock().unwrap();
    let mut cfg = Config::default();
    cfg.maxprocs = 1;
    ON.store(true, Ordering::SeqCst);
    let t = run_with(cfg.clone(), || Timer::new(Duration::from_secs(3600))).unwrap();
    let tk = run_with(cfg, || Ticker::new(Duration::from_secs(3600))).unwrap();
    // The last M thread drops the scheduler (freeing its Ps) shortly after `run_with`.
    std::thread::sleep(Duration::from_millis(100));
    ON.store(false, Ordering::SeqCst);
    drop(t);
    drop(tk);
    let n = COUNT.load(Ordering::SeqCst).min(SLOTS);
    assert!(n > 0, "nothing was freed: the schedulers did not end");
    for b in &BLOCKS[..n] {
        let (p, len) = (b.0.load(Ordering::SeqCst), b.1.load(Ordering::SeqCst));
        // SAFETY: quarantined blocks are never freed or reused.
        let bytes = unsafe { core::slice::from_raw_parts(p as *const u8, len) };
        assert!(
            bytes.iter().all(|&x| x == POISON),
            "a dropped timer wrote into a freed block of {len} bytes"
        );
    }
}
