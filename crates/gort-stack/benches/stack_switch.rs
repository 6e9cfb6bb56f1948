//! Criterion micro benches of gort-stack's fast paths: resume+suspend, create+run+drop,
//! `Stack::new` + drop from the pool, and `grow`'s no-growth check. Peers are compared in
//! `benches/gort-stack-bench` (a standalone package).
#![allow(clippy::unwrap_used, reason = "bench code")]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use gort_stack::{Coroutine, Stack, grow};

fn benches(c: &mut Criterion) {
    let mut co = Coroutine::<u64, u64, ()>::new(|y, mut x| {
        loop {
            x = y.suspend(x.wrapping_add(1));
        }
    });
    c.bench_function("coroutine_resume_suspend", |b| {
        b.iter(|| black_box(co.resume(black_box(1))))
    });
    c.bench_function("coroutine_create_run_drop", |b| {
        b.iter(|| {
            let mut co = Coroutine::<u64, (), u64>::new(|_, x| x + 1);
            black_box(co.resume(black_box(1)))
        })
    });
    c.bench_function("stack_new_drop", |b| {
        b.iter(|| black_box(Stack::new(64 * 1024).unwrap()))
    });
    let mut g = Coroutine::<(), u64, ()>::new(|y, ()| {
        loop {
            y.suspend(grow(4096, || black_box(1)));
        }
    });
    c.bench_function("grow_fast_path_in_coroutine", |b| {
        b.iter(|| black_box(g.resume(())))
    });
}

criterion_group!(stack, benches);
criterion_main!(stack);
