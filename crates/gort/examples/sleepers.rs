//! A million sleeping goroutines: spawns N (default 1,000,000; `SLEEPERS=N`) that each
//! sleep 1-2 s on the timer heaps, then reports spawn time, the time for all to wake,
//! the lateness of the last wakeup, and the resident memory.
//!
//! `cargo run --release -p gort --example sleepers`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    reason = "example code"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use gort::sync::WaitGroup;
use gort::time::{Duration, Instant, sleep};

fn rss_mib() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: f64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.0);
    pages * 4096.0 / (1024.0 * 1024.0)
}

fn main() {
    let n: u64 = std::env::var("SLEEPERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    gort::run(move || {
        let wg = Arc::new(WaitGroup::new());
        let late_max = Arc::new(AtomicU64::new(0));
        let t0 = Instant::now();
        wg.add(i32::try_from(n).unwrap());
        for i in 0..n {
            let (wg, late_max) = (Arc::clone(&wg), Arc::clone(&late_max));
            gort::go(move || {
                let d = Duration::from_millis(1000 + i % 1000);
                let start = Instant::now();
                sleep(d);
                let late = start.elapsed().saturating_sub(d);
                late_max.fetch_max(late.as_micros() as u64, Ordering::Relaxed);
                wg.done();
            });
        }
        let spawned = t0.elapsed();
        let rss = rss_mib();
        wg.wait();
        let total = t0.elapsed();
        println!(
            "sleepers={n} gomaxprocs={} spawn={spawned:?} all_woke={total:?} (sleeps end by spawn+2s) max_late={}us rss_after_spawn={rss:.0}MiB",
            gort::gomaxprocs(),
            late_max.load(Ordering::Relaxed)
        );
    });
}
