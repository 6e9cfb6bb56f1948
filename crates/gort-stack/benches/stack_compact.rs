//! Criterion micro benches of compaction: compact + restore of a parked-goroutine-sized
//! live part (about 600 bytes, one touched page), and compact + resume of a suspended
//! coroutine (the restore then costs the page fault of the first touch).
#![allow(clippy::unwrap_used, reason = "bench code")]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use gort_stack::{Coroutine, Stack};

fn benches(c: &mut Criterion) {
    let mut s = Stack::new(16 * 1024).unwrap();
    let sp = s.base() - 512;
    // SAFETY: a fresh stack: nothing runs on it or uses it; its live part is [sp, base).
    unsafe { (sp as *mut u8).write_bytes(0x5a, 512) };
    c.bench_function("stack_compact_restore_640b", |b| {
        b.iter(|| {
            // SAFETY: as above.
            black_box(unsafe { s.compact(black_box(sp)) }.unwrap());
            black_box(s.restore())
        })
    });
    let mut co = Coroutine::<(), (), ()>::new(|y, ()| {
        loop {
            y.suspend(());
        }
    });
    co.resume(());
    c.bench_function("coroutine_compact_resume", |b| {
        b.iter(|| {
            // SAFETY: nothing else uses the coroutine's stack.
            black_box(unsafe { co.compact() }.unwrap());
            co.resume(())
        })
    });
    c.bench_function("coroutine_resume_uncompacted", |b| b.iter(|| co.resume(())));
}

criterion_group!(compact, benches);
criterion_main!(compact);
