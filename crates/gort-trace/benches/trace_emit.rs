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

    // Tracing on: timed in traces of at most CHUNK events (stop and decode are not
    // timed), so memory stays bounded; buffer hand-offs (one per 2047 events) are in.
    g.bench_function("enabled/go_start", |b| {
        let t = Tracer::new();
        b.iter_custom(|iters| {
            chunked(&t, iters, |t, n| {
                let mut p = t.proc_buf(0);
                let start = Instant::now();
                for i in 0..n {
                    p.go_start(black_box(i));
                }
                start.elapsed()
            })
        });
    });

    // The same with traces of 16 buffers: after the first, every buffer comes back
    // from the free list already faulted in (what a streaming reader would give).
    g.bench_function("enabled/go_start_recycled_buffers", |b| {
        let t = Tracer::new();
        b.iter_custom(|iters| {
            chunked_by(&t, iters, SMALL_CHUNK, |t, n| {
                let mut p = t.proc_buf(0);
                let start = Instant::now();
                for i in 0..n {
                    p.go_start(black_box(i));
                }
                start.elapsed()
            })
        });
    });

    g.bench_function("enabled/off_p_heap_alloc", |b| {
        let t = Tracer::new();
        b.iter_custom(|iters| {
            chunked(&t, iters, |t, n| {
                let start = Instant::now();
                for i in 0..n {
                    if let Some(mut w) = t.off_p() {
                        w.heap_alloc(black_box(i));
                    }
                }
                start.elapsed()
            })
        });
    });

    g.bench_function("clock/rdtsc_ticks", |b| b.iter(clock::ticks));
    g.bench_function("clock/clock_monotonic", |b| b.iter(clock::monotonic_ns));
    g.finish();
}

/// Events per timed trace.
const CHUNK: u64 = 1 << 20;

/// Events per timed trace in the recycled-buffers bench: 16 buffers' worth.
const SMALL_CHUNK: u64 = 16 * 2047;

/// Runs `iters` events as traces of at most [`CHUNK`] events; returns the summed time
/// `f` measured.
fn chunked(t: &Tracer, iters: u64, f: impl Fn(&Tracer, u64) -> Duration) -> Duration {
    chunked_by(t, iters, CHUNK, f)
}

/// As [`chunked`], with traces of at most `chunk` events.
fn chunked_by(
    t: &Tracer,
    iters: u64,
    chunk: u64,
    f: impl Fn(&Tracer, u64) -> Duration,
) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(chunk);
        t.start_collecting().unwrap();
        total += f(t, n);
        drop(t.stop_collect().unwrap());
        left -= n;
    }
    total
}

criterion_group!(benches, emit);
criterion_main!(benches);
