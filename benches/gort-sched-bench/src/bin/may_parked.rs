//! parked (may twin of benches/go/parked): N coroutines blocked on one channel;
//! resident bytes per coroutine (from /proc/self/statm), then release them. Flags:
//! -n N (default 1000000), -procs P. Prints one JSON line last.
//!
//! The gate is a `may::sync::mpmc` channel (its receivers can be shared, unlike mpsc):
//! every coroutine blocks in `recv` and dropping the only sender wakes them all with an
//! error, as Go's `close(gate)` does. Known limit (peers.md §1.1): each live coroutine
//! costs two mappings (stack + guard page), so with the default `vm.max_map_count` of
//! 65530 may fails at about 32k parked coroutines.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use gort_sched_bench::{flag, may_main, rss_bytes};
use may::sync::{WaitGroup, mpmc};

fn main() {
    let n = flag("-n", 1_000_000);
    let ((up, before, after), procs) = may_main(move || {
        let before = rss_bytes();
        let (gate_tx, gate_rx) = mpmc::channel::<()>();
        let wg = WaitGroup::new();
        let arrived = Arc::new(AtomicUsize::new(0));
        let start = Instant::now();
        for _ in 0..n {
            let (gate, arrived, wg) = (gate_rx.clone(), Arc::clone(&arrived), wg.clone());
            may::go!(move || {
                arrived.fetch_add(1, Ordering::Relaxed);
                let _ = gate.recv();
                drop(wg);
            });
        }
        drop(gate_rx);
        // Wait until every coroutine has started and is about to block, as gort's twin
        // does; the final yield lets the last ones reach `recv`.
        while arrived.load(Ordering::Relaxed) < n {
            may::coroutine::yield_now();
        }
        may::coroutine::yield_now();
        let up = start.elapsed();
        let after = rss_bytes();
        drop(gate_tx);
        wg.wait();
        (up, before, after)
    });
    println!(
        "{{\"bench\":\"parked\",\"impl\":\"may\",\"procs\":{},\"n\":{},\"spawn_ms\":{:.3},\"rss_per_g_bytes\":{:.0},\"total_rss_mib\":{}}}",
        procs,
        n,
        up.as_secs_f64() * 1e3,
        after.saturating_sub(before) as f64 / n as f64,
        after >> 20
    );
}
