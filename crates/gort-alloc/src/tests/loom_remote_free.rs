//! Loom models: frees from non-owner threads racing the owner's reclaim over 4-object
//! spans in plain memory — lock-free remote frees (`Central::free_remote`) against the
//! collection in the owner's refill, and locked flushes (`Central::give_back`) against
//! the owner's refill.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use crate::central::{Central, GiveBack, keep_empty};
use crate::size_class::SizeClass;
use crate::span_class::SpanClass;
use crate::span_meta::{MetaState, SpanMeta};
use crate::sync::atomic::Ordering;
use crate::sync::{Arc, thread};

const SIZE: usize = 16;
const N: usize = 4;

/// A span of `N` 16 B objects in leaked memory, added to `central`.
fn add_span(central: &Central) -> (&'static SpanMeta, usize) {
    let mem: &'static mut [u64] = Box::leak(vec![0u64; N * SIZE / 8].into_boxed_slice());
    let start = mem.as_mut_ptr() as usize;
    let meta: &'static SpanMeta = Box::leak(Box::new(SpanMeta::new()));
    meta.init(0, start, SIZE, N, central.span_class(), MetaState::Small);
    // SAFETY: a fresh Small meta of the central's class, on no list.
    unsafe { central.add_span(meta) };
    (meta, start)
}

/// A fresh central with one span of `N` 16 B objects.
fn setup() -> (Arc<Central>, &'static SpanMeta, usize) {
    let central = Arc::new(Central::new(SpanClass::new(SizeClass(2), false)));
    let (meta, start) = add_span(&central);
    (central, meta, start)
}

/// Carves up to `max` objects into a vector (collecting remote frees first); no span
/// may be released (the models keep at most one empty span there).
fn carve(central: &Central, max: usize) -> Vec<usize> {
    let mut buf = [0usize; N];
    let mut rel = GiveBack::new();
    let n = central.carve(&mut buf[..max], &mut rel);
    assert_eq!(rel.nrelease, 0);
    buf[..n].to_vec()
}

/// Frees `objs` of `meta` as a thread of another shard would (lock-free).
fn free_remote(central: &Central, meta: &'static SpanMeta, objs: &[usize]) {
    let batch: Vec<_> = objs
        .iter()
        .map(|&p| (meta, meta.object_index(p).unwrap()))
        .collect();
    central.free_remote(&batch);
}

/// No remote free is pending on `meta` and its central holds no remote span.
fn assert_collected(central: &Central, meta: &SpanMeta) {
    assert_eq!(meta.remote_pending.load(Ordering::Relaxed), 0);
    assert_eq!(meta.remote_bits.count(N), 0);
    assert!(!central.has_remote());
}

#[test]
fn loom_lock_free_remote_free_races_owner_refill() {
    loom::model(|| {
        let (central, meta, start) = setup();
        // The owner took three objects; it handed the first to another thread.
        let held = carve(&central, 3);
        let remote_obj = held[0];

        let c2 = central.clone();
        let remote = thread::spawn(move || free_remote(&c2, meta, &[remote_obj]));
        // The owner reclaims: collects remote frees, takes every free object it sees.
        let got = carve(&central, N);
        remote.join().unwrap();

        for p in &got {
            assert!(!held[1..].contains(p), "object {p:#x} handed out twice");
            assert!((start..start + N * SIZE).contains(p));
        }
        // The last object is always free to take; the remote one only once published.
        assert!(got.len() == 1 || got.len() == 2);
        let rest = carve(&central, N);
        assert_eq!(
            got.len() + rest.len(),
            2,
            "every free object is found exactly once"
        );
        assert_eq!(meta.alloc_bits.count(N), N);
        assert_eq!(central.span_counts(), (0, 1));
        assert_collected(&central, meta);
        central.check_invariants();
    });
}

#[test]
fn loom_two_lock_free_remote_frees_reopen_a_full_span() {
    loom::model(|| {
        let (central, meta, _) = setup();
        let all = carve(&central, N);
        assert_eq!(central.span_counts(), (0, 1));
        let threads: Vec<_> = all[..2]
            .iter()
            .map(|&obj| {
                let c = central.clone();
                thread::spawn(move || free_remote(&c, meta, &[obj]))
            })
            .collect();
        let got = carve(&central, 1);
        for t in threads {
            t.join().unwrap();
        }
        for p in &got {
            assert!(all[..2].contains(p));
        }
        // Whatever the first collection missed, the next one finds.
        let rest = carve(&central, N);
        assert_eq!(got.len() + rest.len(), 2);
        assert_eq!(meta.alloc_bits.count(N), N);
        assert_eq!(central.span_counts(), (0, 1));
        assert_collected(&central, meta);
        central.check_invariants();
    });
}

#[test]
fn loom_remote_frees_empty_a_span_that_is_released_once() {
    loom::model(|| {
        let (central, a, _) = setup();
        let all = carve(&central, N);
        // A second, empty span: span `a` emptied is one more than the spares kept.
        let (b, _) = add_span(&central);
        assert_eq!(keep_empty(central.span_class()), 1);
        let threads: Vec<_> = [all[..2].to_vec(), all[2..].to_vec()]
            .into_iter()
            .map(|objs| {
                let c = central.clone();
                thread::spawn(move || free_remote(&c, a, &objs))
            })
            .collect();
        let first = central.collect();
        for t in threads {
            t.join().unwrap();
        }
        let second = central.collect();
        // `a` is released exactly once, by the collection that saw its last free,
        // and is then on no list and no remote stack.
        let released: Vec<usize> = first
            .spans()
            .iter()
            .chain(second.spans())
            .copied()
            .collect();
        assert_eq!(released, vec![core::ptr::from_ref(a) as usize]);
        assert_collected(&central, a);
        assert_eq!(central.span_counts(), (1, 0));
        assert_eq!(b.alloc_bits.count(N), 0);
        central.check_invariants();
    });
}

#[test]
fn loom_locked_flush_races_owner_refill() {
    loom::model(|| {
        let (central, meta, start) = setup();
        // The owner took three objects; it handed the first to another thread.
        let held = carve(&central, 3);
        assert_eq!(held.len(), 3);
        let remote_obj = held[0];

        let c2 = central.clone();
        // A flush under the central's lock (a thread of the span's own shard).
        let remote = thread::spawn(move || {
            let idx = meta.object_index(remote_obj).unwrap();
            let out = c2.give_back(&[(meta, idx)]);
            assert_eq!(out.nrelease, 0);
        });
        // The owner reclaims: takes every free object it can see.
        let got = carve(&central, N);
        remote.join().unwrap();

        // Never hand out an object that is still held.
        for p in &got {
            assert!(!held[1..].contains(p), "object {p:#x} handed out twice");
            assert!((start..start + N * SIZE).contains(p));
        }
        // The last object is always free to take; the remote one only after its free.
        assert!(got.len() == 1 || got.len() == 2);
        let rest = carve(&central, N);
        assert_eq!(
            got.len() + rest.len(),
            2,
            "every free object is found exactly once"
        );
        assert_eq!(meta.alloc_bits.count(N), N);
        let (partial, full) = central.span_counts();
        assert_eq!((partial, full), (0, 1));
        central.check_invariants();
    });
}

#[test]
fn loom_two_locked_flushes_reopen_a_full_span() {
    loom::model(|| {
        let (central, meta, _) = setup();
        let all = carve(&central, N);
        assert_eq!(central.span_counts(), (0, 1));
        let mut threads = Vec::new();
        for &obj in &all[..2] {
            let c = central.clone();
            threads.push(thread::spawn(move || {
                let idx = meta.object_index(obj).unwrap();
                c.give_back(&[(meta, idx)]);
            }));
        }
        let got = carve(&central, 1);
        for t in threads {
            t.join().unwrap();
        }
        assert!(got.len() <= 1);
        for p in &got {
            assert!(all[..2].contains(p));
        }
        assert_eq!(meta.alloc_bits.count(N), N - 2 + got.len());
        // At least one freed object is left, so the span is back on the partial list.
        assert_eq!(central.span_counts(), (1, 0));
        central.check_invariants();
    });
}
