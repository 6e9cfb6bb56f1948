//! Cost of one event on the hot path (tracing on, buffer hand-offs amortised in), of
//! the disabled check, and of the two candidate clocks.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "bench code")]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use gort_trace::{Emit, Tracer, clock};

fn emit(c: &mut Criterion) {
    let mut g = c.benchmark_group("trace_emit");
    g.sample_size(30).measurement_time(Duration::from_secs(2));

    g.bench_function("disabled/go_start", |b| {
        let t = Tracer::new();
        let mut p = t.proc_buf(0);
        b.iter(|| p.go_start(black_box(7)));
    });

    g.bench_function("disabled/off_p", |b| {
        let t = Tracer::new();
        b.iter(|| {
            if let Some(mut w) = t.off_p() {
                w.heap_alloc(black_box(1));
            }
        });
    });

    g.bench_function("enabled/go_start", |b| {
        let t = Tracer::new();
        b.iter_custom(|iters| {
            t.start_collecting().unwrap();
            let mut p = t.proc_buf(0);
            let start = Instant::now();
            for i in 0..iters {
                p.go_start(black_box(i));
            }
            let elapsed = start.elapsed();
            drop(p);
            drop(t.stop_collect().unwrap());
            elapsed
        });
    });

    g.bench_function("enabled/off_p_heap_alloc", |b| {
        let t = Tracer::new();
        b.iter_custom(|iters| {
            t.start_collecting().unwrap();
            let start = Instant::now();
            for i in 0..iters {
                if let Some(mut w) = t.off_p() {
                    w.heap_alloc(black_box(i));
                }
            }
            let elapsed = start.elapsed();
            drop(t.stop_collect().unwrap());
            elapsed
        });
    });

    g.bench_function("clock/rdtsc_ticks", |b| b.iter(clock::ticks));
    g.bench_function("clock/clock_monotonic", |b| b.iter(clock::monotonic_ns));
    g.finish();
}

criterion_group!(benches, emit);
criterion_main!(benches);
