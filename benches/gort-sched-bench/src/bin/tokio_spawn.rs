//! spawn (tokio twin of benches/go/spawn): start N tasks that each signal a wait group;
//! time until all have run. Flags: -n N (default 1000000), -procs P. Prints one JSON
//! line last.
//!
//! Go's `sync.WaitGroup` has no tokio counterpart; [`TokioWaitGroup`] is one atomic
//! counter plus a `Notify`, shared by reference like the Go closure's `&wg`.

use std::time::Instant;

use gort_sched_bench::{TokioWaitGroup, flag, tokio_main};

fn main() {
    let n = flag("-n", 1_000_000);
    let (el, procs) = tokio_main(async move {
        let wg: &'static TokioWaitGroup = Box::leak(Box::new(TokioWaitGroup::new(n)));
        let start = Instant::now();
        for _ in 0..n {
            tokio::spawn(async move { wg.done() });
        }
        wg.wait().await;
        start.elapsed()
    });
    println!(
        "{{\"bench\":\"spawn\",\"impl\":\"tokio\",\"procs\":{},\"n\":{},\"total_ms\":{:.3},\"ns_per_op\":{:.1}}}",
        procs,
        n,
        el.as_secs_f64() * 1e3,
        el.as_nanos() as f64 / n as f64
    );
}
