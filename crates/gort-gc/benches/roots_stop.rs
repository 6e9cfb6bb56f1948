//! The cost of the roots' thread handshake: `prepare` (dl_iterate_phdr, buffer sizing),
//! stopping every other thread with SIGPWR, enumerating the root ranges, resuming — with
//! 4 and 16 other threads asleep in the kernel (the common case: parked Ms, sysmon).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "bench code"
)]

use criterion::{Criterion, criterion_group, criterion_main};
use gort_gc::roots::Roots;
use std::sync::Arc; // tidy: allow(std-sync) bench code
use std::sync::atomic::{AtomicBool, Ordering}; // tidy: allow(std-sync) bench code
use std::time::Duration;

/// Starts `n` threads that sleep in 1 ms steps until `stop`.
fn sleepers(n: usize, stop: &Arc<AtomicBool>) -> Vec<std::thread::JoinHandle<()>> {
    (0..n)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(1));
                }
            })
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("roots");
    for n in [4usize, 16] {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = sleepers(n, &stop);
        let mut roots = Roots::new();
        g.bench_function(format!("prepare_stop_enumerate_resume/{n}_threads"), |b| {
            b.iter(|| {
                roots.prepare(&[]).unwrap();
                roots.stop_threads(&[]).unwrap();
                let mut bytes = 0usize;
                roots.for_each_range(&|_| None, &mut |s, e, _| bytes += e - s);
                roots.resume_threads();
                bytes
            });
        });
        g.bench_function(format!("prepare/{n}_threads"), |b| {
            b.iter(|| roots.prepare(&[]).unwrap());
        });
        stop.store(true, Ordering::Relaxed);
        for t in threads {
            t.join().unwrap();
        }
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(50)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
