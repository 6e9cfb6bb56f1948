//! compacted_coroutines: N coroutines suspended with a small live part (like parked
//! goroutines), resident bytes per coroutine before and after compacting them all (from
//! /proc/self/statm), then resumed to completion. Flags: -n N (default 1000000). Prints
//! one JSON line last.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "example code")]

use std::time::Instant;

use gort_stack::{Coroutine, CoroutineResult, StackPool};

fn flag(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Resident bytes of this process (second field of /proc/self/statm; 4 KiB pages on
/// this machine).
fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

fn main() {
    let n = flag("-n", 1_000_000);
    let mut cos: Vec<Coroutine<u64, (), u64>> = Vec::with_capacity(n);
    let before = rss_bytes();
    for _ in 0..n {
        let mut co = Coroutine::new(|y, x: u64| {
            let local = [x; 4];
            let got = y.suspend(());
            local.iter().sum::<u64>() + got
        });
        co.resume(1);
        cos.push(co);
    }
    let suspended = rss_bytes();
    let t = Instant::now();
    for co in &mut cos {
        // SAFETY: nothing but this loop and the resume below use the coroutines' stacks.
        unsafe { co.compact() }.unwrap();
    }
    let compact_ns = t.elapsed().as_nanos() as f64 / n as f64;
    let compacted = rss_bytes();
    let stats = StackPool::global().stats();
    let t = Instant::now();
    for co in &mut cos {
        assert_eq!(co.resume(2), CoroutineResult::Return(6));
    }
    let resume_ns = t.elapsed().as_nanos() as f64 / n as f64;
    println!(
        "{{\"bench\":\"compacted_coroutines\",\"n\":{n},\"rss_per_suspended_bytes\":{:.0},\"rss_per_compacted_bytes\":{:.0},\"buffer_bytes_per_coroutine\":{:.0},\"compact_ns\":{compact_ns:.0},\"restore_resume_finish_ns\":{resume_ns:.0}}}",
        suspended.saturating_sub(before) as f64 / n as f64,
        compacted.saturating_sub(before) as f64 / n as f64,
        stats.compact_buffer_bytes as f64 / n as f64,
    );
}
