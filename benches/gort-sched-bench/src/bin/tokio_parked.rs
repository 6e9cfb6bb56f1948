//! parked (tokio twin of benches/go/parked): N tasks blocked on one gate; resident bytes
//! per task (from /proc/self/statm), then release them. Flags: -n N (default 1000000),
//! -procs P. Prints one JSON line last.
//!
//! Go's gate is a channel that is closed to release every waiter. tokio's mpsc
//! receivers cannot be shared, so the closest fit is tokio's shutdown-signal idiom, a
//! `tokio::sync::watch` channel: each task awaits `changed()` on its own receiver and
//! all wake with an error when the sender is dropped (the "close").

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use gort_sched_bench::{TokioWaitGroup, flag, rss_bytes, tokio_main};
use tokio::sync::watch;

fn main() {
    let n = flag("-n", 1_000_000);
    let ((up, before, after), procs) = tokio_main(async move {
        let before = rss_bytes();
        let (gate_tx, gate_rx) = watch::channel(());
        let wg: &'static TokioWaitGroup = Box::leak(Box::new(TokioWaitGroup::new(n)));
        let arrived = Arc::new(AtomicUsize::new(0));
        let start = Instant::now();
        for _ in 0..n {
            let (mut gate, arrived) = (gate_rx.clone(), Arc::clone(&arrived));
            tokio::spawn(async move {
                arrived.fetch_add(1, Ordering::Relaxed);
                let _ = gate.changed().await;
                wg.done();
            });
        }
        drop(gate_rx);
        // Wait until every task has run and parked on the gate (`changed()` registers
        // its waiter in the same poll that counted it), as gort's twin does.
        while arrived.load(Ordering::Relaxed) < n {
            tokio::task::yield_now().await;
        }
        tokio::task::yield_now().await;
        let up = start.elapsed();
        let after = rss_bytes();
        drop(gate_tx);
        wg.wait().await;
        (up, before, after)
    });
    println!(
        "{{\"bench\":\"parked\",\"impl\":\"tokio\",\"procs\":{},\"n\":{},\"spawn_ms\":{:.3},\"rss_per_g_bytes\":{:.0},\"total_rss_mib\":{}}}",
        procs,
        n,
        up.as_secs_f64() * 1e3,
        after.saturating_sub(before) as f64 / n as f64,
        after >> 20
    );
}
