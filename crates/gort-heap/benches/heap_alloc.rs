//! Criterion benches of page allocation: `alloc_span(n)` + `free_span` for n = 1, 8, 64
//! and 1024 pages, on an empty heap and on a fragmented 4 GiB heap.
//!
//! The fragmented heap holds 4 GiB of 1-page spans of which 7 in every 8 are freed:
//! 64 Ki free runs of 7 pages each. A 1-page request is served from the first hole; an
//! 8-, 64- or 1024-page request fits in none of them and must be found beyond all of
//! them, which a free-list or bitmap scan would pay for in proportion to the heap; the
//! radix summary tree skips them in a few dozen steps. Pages are never touched, so the
//! heap costs only its metadata.
//!
//! Run: `cargo bench -p gort-heap --bench heap_alloc`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "bench code"
)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use gort_heap::{HeapConfig, PageHeap, SpanState};

const FRAGMENTED_BYTES: usize = 4 << 30;

fn private_heap() -> &'static PageHeap {
    PageHeap::new_private(HeapConfig::new().background_scavenger(false)).unwrap()
}

fn empty_heap() -> &'static PageHeap {
    let heap = private_heap();
    // Pre-grow so the measured loop never grows the heap.
    let s = heap.alloc_span(4096, SpanState::InUse).unwrap();
    // SAFETY: freed once, not used again.
    unsafe { heap.free_span(s) };
    heap
}

fn fragmented_heap() -> &'static PageHeap {
    let heap = private_heap();
    let pages = FRAGMENTED_BYTES / gort_heap::PAGE_SIZE;
    let spans: Vec<_> = (0..pages)
        .map(|_| heap.alloc_span(1, SpanState::InUse).unwrap())
        .collect();
    for (i, s) in spans.into_iter().enumerate() {
        if i % 8 != 7 {
            // SAFETY: freed once, not used again.
            unsafe { heap.free_span(s) };
        }
    }
    // Pre-grow past the fragmented region for the larger requests.
    let s = heap.alloc_span(4096, SpanState::InUse).unwrap();
    // SAFETY: freed once, not used again.
    unsafe { heap.free_span(s) };
    heap
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("heap_alloc");
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    group.sample_size(30);
    for (name, heap) in [
        ("empty", empty_heap()),
        ("fragmented_4GiB", fragmented_heap()),
    ] {
        for n in [1usize, 8, 64, 1024] {
            group.bench_with_input(BenchmarkId::new(name, n), &n, |b, &n| {
                b.iter(|| {
                    let s = heap.alloc_span(black_box(n), SpanState::InUse).unwrap();
                    // SAFETY: freed once, not used again.
                    unsafe { heap.free_span(black_box(s)) };
                });
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
