//! Micro paths of the scheduler through its public API: spawn + exit of a batch of
//! goroutines joined by a WaitGroup, a yield ping between two goroutines, and an
//! unbuffered channel round trip between goroutines. Measures only; no assertions.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "bench code")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use gort_sched::Config;
use gort_sched::chan::Chan;
use gort_sched::gosync::WaitGroup;

fn config(procs: usize) -> Config {
    let mut c = Config::default();
    c.maxprocs = procs;
    c
}

/// Runs `body(iters)` on a fresh scheduler's main goroutine and returns its timing.
fn on_sched(procs: usize, iters: u64, body: impl FnOnce(u64) -> Duration + Send) -> Duration {
    gort_sched::run_with(config(procs), move || body(iters)).unwrap()
}

fn spawn_batch(c: &mut Criterion) {
    for procs in [1, 2] {
        c.bench_function(&format!("spawn_exit_1000_procs{procs}"), |b| {
            b.iter_custom(|iters| {
                on_sched(procs, iters, |iters| {
                    let wg = Arc::new(WaitGroup::new());
                    let t = Instant::now();
                    for _ in 0..iters {
                        wg.add(1000);
                        for _ in 0..1000 {
                            let wg = Arc::clone(&wg);
                            gort_sched::spawn(move || wg.done()).unwrap();
                        }
                        wg.wait();
                    }
                    t.elapsed()
                })
            });
        });
    }
}

fn yield_ping(c: &mut Criterion) {
    c.bench_function("yield_two_goroutines_procs1", |b| {
        b.iter_custom(|iters| {
            on_sched(1, iters, |iters| {
                let done = Chan::<()>::new(1);
                let d = done.clone();
                let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
                let s2 = Arc::clone(&stop);
                gort_sched::spawn(move || {
                    while !s2.load(std::sync::atomic::Ordering::Relaxed) {
                        gort_sched::yield_now();
                    }
                    d.send(());
                })
                .unwrap();
                let t = Instant::now();
                for _ in 0..iters {
                    gort_sched::yield_now();
                }
                let el = t.elapsed();
                stop.store(true, std::sync::atomic::Ordering::Relaxed);
                done.recv();
                el
            })
        });
    });
}

fn chan_round_trip(c: &mut Criterion) {
    for procs in [1, 2] {
        c.bench_function(&format!("unbuffered_round_trip_procs{procs}"), |b| {
            b.iter_custom(|iters| {
                on_sched(procs, iters, |iters| {
                    let (a, r) = (Chan::<u64>::new(0), Chan::<u64>::new(0));
                    let (a2, r2) = (a.clone(), r.clone());
                    gort_sched::spawn(move || {
                        for v in a2.iter() {
                            r2.send(v);
                        }
                    })
                    .unwrap();
                    let t = Instant::now();
                    for i in 0..iters {
                        a.send(i);
                        r.recv();
                    }
                    let el = t.elapsed();
                    a.close();
                    el
                })
            });
        });
    }
}

criterion_group!(benches, spawn_batch, yield_ping, chan_round_trip);
criterion_main!(benches);
