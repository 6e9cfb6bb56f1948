//! Stop-the-world latency: `stop_the_world` + restart from a plain thread while a
//! scheduler with 2 Ps runs (a) only parked goroutines, (b) two goroutines spinning
//! without calls (each stop needs two asynchronous preemptions), (c) a channel
//! ping-pong pair (stopped at their next channel operation or by a signal).
//! Run: `cargo bench -p gort-sched --bench stw_latency`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "bench code"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use criterion::{Criterion, criterion_group};
use gort_sched::chan::Chan;
use gort_sched::{Config, run_with};

/// What the goroutines of the background scheduler do.
#[derive(Clone, Copy)]
enum Load {
    Parked,
    Spinning,
    PingPong,
}

/// Runs a 2-P scheduler with `load` on a background thread until the returned flag is
/// set; returns the flag and the thread.
fn background(load: Load) -> (Arc<AtomicBool>, std::thread::JoinHandle<()>) {
    let stop = Arc::new(AtomicBool::new(false));
    let s = Arc::clone(&stop);
    let h = std::thread::spawn(move || {
        let mut c = Config::default();
        c.maxprocs = 2;
        run_with(c, move || {
            match load {
                Load::Parked => {
                    for _ in 0..100 {
                        let c = Chan::<()>::new(0);
                        gort_sched::spawn(move || {
                            let _ = c.recv();
                        })
                        .unwrap();
                    }
                }
                Load::Spinning => {
                    for _ in 0..2 {
                        let s = Arc::clone(&s);
                        gort_sched::spawn(move || {
                            let mut x = 0u64;
                            while !s.load(Ordering::Relaxed) {
                                x = std::hint::black_box(x.wrapping_add(1));
                            }
                        })
                        .unwrap();
                    }
                }
                Load::PingPong => {
                    let (a, b) = (Chan::<u64>::new(0), Chan::<u64>::new(0));
                    let (a2, b2) = (a.clone(), b.clone());
                    let s2 = Arc::clone(&s);
                    gort_sched::spawn(move || {
                        while !s2.load(Ordering::Relaxed) {
                            a2.send(1);
                            let _ = b2.recv();
                        }
                        a2.close();
                    })
                    .unwrap();
                    gort_sched::spawn(move || {
                        while let Some(v) = a.recv() {
                            b.send(v);
                        }
                    })
                    .unwrap();
                }
            }
            while !s.load(Ordering::Relaxed) {
                gort_sched::time::sleep(Duration::from_millis(5));
            }
        })
        .unwrap();
    });
    std::thread::sleep(Duration::from_millis(50));
    (stop, h)
}

fn benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("stw");
    g.sample_size(30);
    for (name, load) in [
        ("stop_start_parked", Load::Parked),
        ("stop_start_2_spinning", Load::Spinning),
        ("stop_start_pingpong", Load::PingPong),
    ] {
        let (stop, h) = background(load);
        g.bench_function(name, |b| {
            b.iter(|| drop(gort_sched::stop_the_world("bench").unwrap()));
        });
        stop.store(true, Ordering::Relaxed);
        h.join().unwrap();
    }
    g.finish();
}

criterion_group!(group, benches);

fn main() {
    group();
    Criterion::default().configure_from_args().final_summary();
}
