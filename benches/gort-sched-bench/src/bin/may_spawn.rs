//! spawn (may twin of benches/go/spawn): start N coroutines that each signal a wait
//! group; time until all have run. Flags: -n N (default 1000000), -procs P. Prints one
//! JSON line last.
//!
//! may's `WaitGroup` counts clones: each coroutine holds one and drops it when done
//! (a mutex-protected count, may's own idiom for Go's `wg.Add`/`wg.Done`).

use std::time::Instant;

use gort_sched_bench::{flag, may_main};
use may::sync::WaitGroup;

fn main() {
    let n = flag("-n", 1_000_000);
    let (el, procs) = may_main(move || {
        let wg = WaitGroup::new();
        let start = Instant::now();
        for _ in 0..n {
            let wg = wg.clone();
            may::go!(move || drop(wg));
        }
        wg.wait();
        start.elapsed()
    });
    println!(
        "{{\"bench\":\"spawn\",\"impl\":\"may\",\"procs\":{},\"n\":{},\"total_ms\":{:.3},\"ns_per_op\":{:.1}}}",
        procs,
        n,
        el.as_secs_f64() * 1e3,
        el.as_nanos() as f64 / n as f64
    );
}
