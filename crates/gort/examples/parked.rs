//! parked: N goroutines blocked on one channel; resident bytes per goroutine (from
//! /proc/self/statm), then release them. Twin of benches/go/parked. Flags: -n N
//! (default 1000000). Prints one JSON line last.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use gort::chan::Chan;
use gort::sync::WaitGroup;

fn flag(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Resident bytes of this process (second field of /proc/self/statm, in pages).
fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc_page_size() };
    pages * page
}

unsafe extern "C" {
    fn sysconf(name: i32) -> i64;
}

/// `sysconf(_SC_PAGESIZE)` (30 on Linux).
unsafe fn libc_page_size() -> usize {
    // SAFETY: sysconf is always safe to call.
    unsafe { sysconf(30) as usize }
}

fn main() {
    let n = flag("-n", 1_000_000);
    let out = gort::run(move || {
        let before = rss_bytes();
        let gate = Chan::<()>::new(0);
        // Shared by reference, as the Go twin's closure captures `&wg` (no refcount traffic).
        let wg: &'static WaitGroup = Box::leak(Box::new(WaitGroup::new()));
        let arrived = Arc::new(AtomicUsize::new(0));
        wg.add(n as i32);
        let start = Instant::now();
        for _ in 0..n {
            let (gate, arrived) = (gate.clone(), Arc::clone(&arrived));
            gort::go(move || {
                arrived.fetch_add(1, Ordering::Relaxed);
                let _ = gate.recv();
                wg.done();
            });
        }
        // Wait until every goroutine has started and blocked (stricter than the Go
        // twin, which waits only until they exist).
        while arrived.load(Ordering::Relaxed) < n || gort::num_goroutine() < n + 1 {
            gort::yield_now();
        }
        gort::yield_now();
        let up = start.elapsed();
        let after = rss_bytes();
        gate.close();
        wg.wait();
        (up, before, after, gort::gomaxprocs())
    });
    let (up, before, after, procs) = out;
    println!(
        "{{\"bench\":\"parked\",\"impl\":\"gort\",\"procs\":{},\"n\":{},\"spawn_ms\":{:.3},\"rss_per_g_bytes\":{:.0},\"total_rss_mib\":{}}}",
        procs,
        n,
        up.as_secs_f64() * 1e3,
        after.saturating_sub(before) as f64 / n as f64,
        after >> 20
    );
}
