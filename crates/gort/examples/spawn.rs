//! spawn: start N goroutines that each signal a WaitGroup; report ns per goroutine.
//! Twin of benches/go/spawn. Flags: -n N (default 1000000). Prints one JSON line last.

use std::time::Instant;

use gort::sync::WaitGroup;

fn flag(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let n = flag("-n", 1_000_000);
    let (el, procs) = gort::run(move || {
        // Shared by reference, as the Go twin's closure captures `&wg` (no refcount traffic).
        let wg: &'static WaitGroup = Box::leak(Box::new(WaitGroup::new()));
        let start = Instant::now();
        wg.add(n as i32);
        for _ in 0..n {
            gort::go(move || wg.done());
        }
        wg.wait();
        (start.elapsed(), gort::gomaxprocs())
    });
    println!(
        "{{\"bench\":\"spawn\",\"impl\":\"gort\",\"procs\":{},\"n\":{},\"total_ms\":{:.3},\"ns_per_op\":{:.1}}}",
        procs,
        n,
        el.as_secs_f64() * 1e3,
        el.as_nanos() as f64 / n as f64
    );
}
