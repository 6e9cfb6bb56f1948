//! Criterion benches of `PageHeap::span_of`, the lock-free address → span lookup the
//! collector runs on every candidate pointer: a hit in a live span, a miss on a free
//! page of the heap, and a miss on an address outside any arena.
//!
//! Run: `cargo bench -p gort-heap --bench heap_span_of`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "bench code"
)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use gort_heap::{Address, HeapConfig, PAGE_SIZE, PageHeap, SpanState};

fn bench(c: &mut Criterion) {
    let heap = PageHeap::new_private(HeapConfig::new().background_scavenger(false)).unwrap();
    let live = heap.alloc_span(16, SpanState::InUse).unwrap();
    let freed = heap.alloc_span(16, SpanState::InUse).unwrap();
    let free_addr = freed.start().add(3 * PAGE_SIZE + 40);
    // SAFETY: freed once, not used again.
    unsafe { heap.free_span(freed) };
    let hit = live.start().add(5 * PAGE_SIZE + 123);
    let outside = Address::new(0x10);

    let mut group = c.benchmark_group("heap_span_of");
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    group.sample_size(30);
    group.bench_function("hit", |b| b.iter(|| heap.span_of(black_box(hit)).is_some()));
    group.bench_function("free_page", |b| {
        b.iter(|| heap.span_of(black_box(free_addr)).is_some())
    });
    group.bench_function("no_arena", |b| {
        b.iter(|| heap.span_of(black_box(outside)).is_some())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
