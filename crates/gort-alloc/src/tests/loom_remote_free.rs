//! Loom models: a free from a non-owner thread (a flushed batch) racing the owner's
//! reclaim (refill from the same span), over a 4-object span in plain memory.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use crate::central::Central;
use crate::size_class::SizeClass;
use crate::span_class::SpanClass;
use crate::span_meta::{MetaState, SpanMeta};
use crate::sync::{Arc, thread};

const SIZE: usize = 16;
const N: usize = 4;

/// A span of `N` 16 B objects in leaked memory, added to a fresh central.
fn setup() -> (Arc<Central>, &'static SpanMeta, usize) {
    let spc = SpanClass::new(SizeClass(2), false);
    let mem: &'static mut [u64] = Box::leak(vec![0u64; N * SIZE / 8].into_boxed_slice());
    let start = mem.as_mut_ptr() as usize;
    let meta: &'static SpanMeta = Box::leak(Box::new(SpanMeta::new()));
    meta.init(0, start, SIZE, N, spc, MetaState::Small);
    let central = Arc::new(Central::new(spc));
    // SAFETY: a fresh Small meta of `spc`, on no list.
    unsafe { central.add_span(meta) };
    (central, meta, start)
}

/// Carves up to `max` objects into a vector.
fn carve(central: &Central, max: usize) -> Vec<usize> {
    let mut buf = [0usize; N];
    let n = central.carve(&mut buf[..max]);
    buf[..n].to_vec()
}

#[test]
fn loom_remote_free_races_owner_refill() {
    loom::model(|| {
        let (central, meta, start) = setup();
        // The owner took three objects; it handed the first to another thread.
        let held = carve(&central, 3);
        assert_eq!(held.len(), 3);
        let remote_obj = held[0];

        let c2 = central.clone();
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
fn loom_two_remote_frees_reopen_a_full_span() {
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
