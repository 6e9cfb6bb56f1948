//! Criterion micro benchmarks of the cache fast paths (alloc + free of one object) and
//! of a batch that goes through the central (refill + flush).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "bench code")]

use core::alloc::Layout;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use gort_alloc::Allocator;

fn fast_path(c: &mut Criterion) {
    let a = Allocator::global();
    let mut cache = a.new_cache().unwrap();
    for size in [16usize, 256, 4096] {
        let l = Layout::from_size_align(size, 8).unwrap();
        c.bench_function(&format!("alloc_free_{size}"), |b| {
            b.iter(|| {
                let p = cache.alloc(black_box(l)).unwrap();
                // SAFETY: the pointer is a live allocation of this test, used with its allocation layout and not used afterwards.
                unsafe { cache.dealloc(black_box(p), l) };
            })
        });
    }
    let l = Layout::from_size_align(64, 8).unwrap();
    c.bench_function("alloc_1000_then_free_64", |b| {
        let mut v = Vec::with_capacity(1000);
        b.iter(|| {
            for _ in 0..1000 {
                v.push(cache.alloc(l).unwrap());
            }
            for p in v.drain(..) {
                // SAFETY: the pointer is a live allocation of this test, used with its allocation layout and not used afterwards.
                unsafe { cache.dealloc(p, l) };
            }
        })
    });
}

criterion_group!(benches, fast_path);
criterion_main!(benches);
