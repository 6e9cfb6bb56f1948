//! Unit tests of caches, centrals, large objects, the collector's view and statistics.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use core::alloc::Layout;

use gort_heap::Address;

use crate::testing::new_allocator;
use crate::{SizeClass, SpanClass};

fn layout(size: usize, align: usize) -> Layout {
    Layout::from_size_align(size, align).unwrap()
}

#[test]
fn small_objects_round_trip_and_find_object() {
    let a = new_allocator().unwrap();
    let mut c = a.new_cache().unwrap();
    let mut ptrs = Vec::new();
    for i in 0..5000usize {
        let size = 1 + (i * 37) % 3000;
        let p = c.alloc(layout(size, 8)).unwrap();
        // SAFETY: the object is a live allocation of this test holding at least that many bytes.
        unsafe { core::ptr::write_bytes(p.as_ptr(), (i % 251) as u8, size) };
        ptrs.push((p, size, i));
    }
    for &(p, size, _) in &ptrs {
        let info = a
            .find_object(Address::new(p.as_ptr() as usize + size - 1))
            .unwrap();
        assert_eq!(info.base.as_usize(), p.as_ptr() as usize);
        assert_eq!(info.size, SizeClass::for_size(size).unwrap().size());
        assert!(info.allocated);
        assert!(!info.span_class.noscan());
    }
    for (p, size, i) in ptrs {
        // SAFETY: the object is a live allocation of this test holding at least that many bytes.
        let s = unsafe { core::slice::from_raw_parts(p.as_ptr(), size) };
        assert!(s.iter().all(|&b| b == (i % 251) as u8));
        // SAFETY: the pointer is a live allocation of this test, used with its allocation layout and not used afterwards.
        unsafe { c.dealloc(p, layout(size, 8)) };
    }
    let st = a.stats();
    assert_eq!(st.mallocs, 5000);
    assert_eq!(st.frees, 5000);
    assert_eq!(st.heap_objects, 0);
    assert_eq!(st.heap_alloc, 0);
}

#[test]
fn empty_spans_go_back_to_the_page_heap() {
    let a = new_allocator().unwrap();
    let mut c = a.new_cache().unwrap();
    let l = layout(64, 8);
    let ptrs: Vec<_> = (0..100_000).map(|_| c.alloc(l).unwrap()).collect();
    let before = a.stats();
    assert!(before.spans_inuse >= 100_000 / 128);
    for p in ptrs {
        // SAFETY: the pointer is a live allocation of this test, used with its allocation layout and not used afterwards.
        unsafe { c.dealloc(p, l) };
    }
    c.flush();
    let after = a.stats();
    // The central keeps 64 KiB of empty spans (8 of this class's 8 KiB spans).
    assert!(
        after.spans_inuse <= 8,
        "{} spans still in use",
        after.spans_inuse
    );
    assert_eq!(a.release_spare_spans(), after.spans_inuse as usize);
    assert_eq!(a.stats().spans_inuse, 0);
    assert_eq!(a.page_heap().stats().heap_inuse, 0);
}

#[test]
fn frees_on_another_cache_return_objects() {
    let a = new_allocator().unwrap();
    let mut producer = a.new_cache().unwrap();
    let mut consumer = a.new_cache().unwrap();
    let l = layout(48, 8);
    for round in 0..20 {
        let ptrs: Vec<_> = (0..10_000).map(|_| producer.alloc(l).unwrap()).collect();
        for p in ptrs {
            // SAFETY: the pointer is a live allocation of this test, used with its allocation layout and not used afterwards.
            unsafe { consumer.dealloc(p, l) };
        }
        // The consumer's bin stays bounded: frees flow back to the central in batches.
        assert!(a.stats().spans_inuse < 200, "round {round}");
    }
    consumer.flush();
    producer.flush();
    assert_eq!(a.stats().heap_objects, 0);
}

#[test]
fn large_objects_alignment_zeroing_and_realloc() {
    let a = new_allocator().unwrap();
    let mut c = a.new_cache().unwrap();
    for &(size, align) in &[
        (40_000, 8),
        (1 << 20, 4096),
        (100, 1 << 16),
        (70_000, 1 << 20),
    ] {
        let l = layout(size, align);
        let p = c.alloc_zeroed(l).unwrap();
        assert_eq!(p.as_ptr() as usize % align, 0);
        // SAFETY: the object is a live allocation of this test holding at least that many bytes.
        let s = unsafe { core::slice::from_raw_parts_mut(p.as_ptr(), size) };
        assert!(s.iter().all(|&b| b == 0));
        s.fill(0xAB);
        let info = a
            .find_object(Address::new(p.as_ptr() as usize + size / 2))
            .unwrap();
        assert_eq!(info.base.as_usize(), p.as_ptr() as usize);
        assert!(info.span_class.is_large());
        // SAFETY: the pointer is a live allocation of this test, used with its allocation layout and not used afterwards.
        unsafe { c.dealloc(p, l) };
    }
    // A freed, dirtied span handed out again must be zeroed by alloc_zeroed.
    let l = layout(40_000, 8);
    for _ in 0..4 {
        let p = c.alloc_zeroed(l).unwrap();
        // SAFETY: the object is a live allocation of this test holding at least that many bytes.
        let s = unsafe { core::slice::from_raw_parts_mut(p.as_ptr(), 40_000) };
        assert!(s.iter().all(|&b| b == 0));
        s.fill(0xCD);
        // SAFETY: the pointer is a live allocation of this test, used with its allocation layout and not used afterwards.
        unsafe { c.dealloc(p, l) };
    }
    // Realloc: same class in place; large within its span in place; else moved.
    let p = c.alloc(layout(20, 8)).unwrap();
    // SAFETY: the pointer is a live allocation of this test, used with its allocation layout and not used afterwards.
    let q = unsafe { c.realloc(p, layout(20, 8), 24) }.unwrap();
    assert_eq!(p, q);
    // SAFETY: the pointer is a live allocation of this test, used with its allocation layout and not used afterwards.
    let r = unsafe { c.realloc(q, layout(24, 8), 100_000) }.unwrap();
    // SAFETY: the pointer is a live allocation of this test, used with its allocation layout and not used afterwards.
    let s = unsafe { c.realloc(r, layout(100_000, 8), 100_100) }.unwrap();
    assert_eq!(r, s, "the span of a 100_000 B object has room for 100_100");
    // SAFETY: the pointer is a live allocation of this test, used with its allocation layout and not used afterwards.
    unsafe { c.dealloc(s, layout(100_100, 8)) };
    assert_eq!(a.stats().heap_objects, 0);
}

#[test]
fn low_alignment_goes_to_noscan() {
    let a = new_allocator().unwrap();
    let mut c = a.new_cache().unwrap();
    let p = c.alloc(layout(24, 4)).unwrap();
    let info = a.find_object(Address::new(p.as_ptr() as usize)).unwrap();
    assert!(info.span_class.noscan());
    let q = c.alloc(layout(24, 8)).unwrap();
    assert!(
        !a.find_object(Address::new(q.as_ptr() as usize))
            .unwrap()
            .span_class
            .noscan()
    );
    // SAFETY: the pointer is a live allocation of this test, used with its allocation layout and not used afterwards.
    unsafe {
        c.dealloc(p, layout(24, 4));
        c.dealloc(q, layout(24, 8));
    }
}

#[test]
fn tiny_objects_share_blocks() {
    let a = new_allocator().unwrap();
    let mut c = a.new_cache().unwrap();
    let p1 = c.alloc_tiny(4, 1).unwrap();
    let p2 = c.alloc_tiny(4, 1).unwrap();
    let p3 = c.alloc_tiny(8, 8).unwrap();
    assert_eq!(p2.as_ptr() as usize, p1.as_ptr() as usize + 4);
    assert_eq!(p3.as_ptr() as usize, p1.as_ptr() as usize + 8);
    assert_eq!(p3.as_ptr() as usize % 8, 0);
    let info = a.find_object(Address::new(p2.as_ptr() as usize)).unwrap();
    assert_eq!(info.span_class, SpanClass::TINY);
    assert_eq!(info.base.as_usize(), p1.as_ptr() as usize);
    let p4 = c.alloc_tiny(12, 4).unwrap();
    assert_ne!(
        a.find_object(Address::new(p4.as_ptr() as usize))
            .unwrap()
            .base,
        info.base
    );
    let st = a.stats();
    // Two blocks plus two tiny allocations placed in an existing block.
    assert_eq!(st.by_size[2].mallocs, 2);
    assert_eq!(st.mallocs, 4);
}

#[test]
fn mark_and_sweep_free_unmarked_objects() {
    let a = new_allocator().unwrap();
    let mut c = a.new_cache().unwrap();
    let l = layout(32, 8);
    let ptrs: Vec<_> = (0..1000).map(|_| c.alloc(l).unwrap()).collect();
    let big = c.alloc(layout(50_000, 8)).unwrap();
    let big_dead = c.alloc(layout(60_000, 8)).unwrap();
    c.flush();
    // Make the test's objects collected ones, and every span due for a sweep.
    for p in ptrs
        .iter()
        .map(|p| p.as_ptr() as usize)
        .chain([big.as_ptr() as usize, big_dead.as_ptr() as usize])
    {
        let s = a.span_ref_of(Address::new(p)).unwrap();
        let i = a.find_object(Address::new(p)).unwrap().index;
        // SAFETY: the object is allocated, owned by the test, and its span is swept.
        unsafe { s.set_gc(i) };
    }
    a.for_each_span(|s| s.set_unswept());
    // Keep every third object, through an interior pointer.
    for p in ptrs.iter().step_by(3) {
        assert_eq!(
            a.mark_object(Address::new(p.as_ptr() as usize + 5)),
            Some(false)
        );
    }
    assert_eq!(
        a.mark_object(Address::new(big.as_ptr() as usize + 100)),
        Some(false)
    );
    let mut spans = Vec::new();
    a.for_each_span(|s| spans.push(s));
    let mut freed = 0;
    for s in spans {
        // SAFETY: the cache was flushed before marking and no swept object is used again.
        freed += unsafe { a.sweep(s) }.map_or(0, |r| r.freed);
    }
    assert_eq!(freed, 1000 - 334 + 1);
    for (i, p) in ptrs.iter().enumerate() {
        let info = a
            .find_object(Address::new(p.as_ptr() as usize))
            .map(|i| i.allocated);
        assert_eq!(info.unwrap_or(false), i % 3 == 0, "object {i}");
    }
    assert!(
        a.find_object(Address::new(big_dead.as_ptr() as usize))
            .is_none()
    );
    let st = a.stats();
    assert_eq!(st.heap_objects, 335);
    for p in ptrs.iter().step_by(3) {
        // SAFETY: the pointer is a live allocation of this test, used with its allocation layout and not used afterwards.
        unsafe { c.dealloc(*p, l) };
    }
    // SAFETY: the pointer is a live allocation of this test, used with its allocation layout and not used afterwards.
    unsafe { c.dealloc(big, layout(50_000, 8)) };
    c.flush();
    assert_eq!(a.stats().heap_objects, 0);
}

#[test]
fn find_object_rejects_foreign_and_tail_addresses() {
    let a = new_allocator().unwrap();
    let mut c = a.new_cache().unwrap();
    assert!(a.find_object(Address::new(0)).is_none());
    let local = 5u64;
    assert!(
        a.find_object(Address::new(&raw const local as usize))
            .is_none()
    );
    // Class 2304 B: 7 objects in 2 pages leave a 256 B tail.
    let p = c.alloc(layout(2304, 8)).unwrap();
    let span = a.span_ref_of(Address::new(p.as_ptr() as usize)).unwrap();
    let tail = span.base().as_usize() + 7 * 2304;
    assert!(a.find_object(Address::new(tail)).is_none());
    // SAFETY: the pointer is a live allocation of this test, used with its allocation layout and not used afterwards.
    unsafe { c.dealloc(p, layout(2304, 8)) };
}

#[test]
fn bins_grow_for_local_churn_within_the_budget() {
    let a = new_allocator().unwrap();
    let mut c = a.new_cache().unwrap();
    let l = layout(16, 8);
    for _ in 0..3 {
        let ptrs: Vec<_> = (0..300_000).map(|_| c.alloc(l).unwrap()).collect();
        for p in ptrs {
            // SAFETY: the pointer is a live allocation of this test, freed once.
            unsafe { c.dealloc(p, l) };
        }
    }
    // Everything is free; the cache may hold up to its 4 MiB budget (plus its initial
    // two batches) of 16 B objects, which pins at most that many bytes of spans.
    let held = a.stats().spans_inuse as usize * 8192;
    assert!(
        held > 64 << 10,
        "the bin did not grow: {held} bytes of spans held"
    );
    assert!(held <= (4 << 20) + (2 << 20), "{held} bytes of spans held");
    c.flush();
    a.release_spare_spans();
    assert_eq!(a.stats().spans_inuse, 0);
}

#[test]
fn remote_frees_from_another_thread_are_collected_and_reused() {
    let a = new_allocator().unwrap();
    // The first two caches of a fresh allocator get different shards, so every free of
    // the consumer is a remote free (lock-free, collected by the producer's refills).
    let mut producer = a.new_cache().unwrap();
    let consumer = a.new_cache().unwrap();
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<(usize, usize, u64)>>(8);
    let t = std::thread::spawn(move || {
        let mut consumer = consumer;
        let mut seen = 0u64;
        for batch in rx {
            for (p, size, tag) in batch {
                // SAFETY: the producer wrote `tag` at the object's start and sent it to us.
                assert_eq!(unsafe { *(p as *const u64) }, tag, "object contents");
                let ptr = core::ptr::NonNull::new(p as *mut u8).unwrap();
                // SAFETY: allocated by the producer with this layout; freed once, here.
                unsafe { consumer.dealloc(ptr, layout(size, 8)) };
                seen += 1;
            }
        }
        consumer.flush();
        seen
    });
    let mut max_spans = 0;
    for b in 0..1000u64 {
        let batch: Vec<_> = (0..1000u64)
            .map(|i| {
                let tag = b * 1000 + i;
                let size = 16 + (tag * 37 % 241) as usize;
                let p = producer.alloc(layout(size, 8)).unwrap().as_ptr();
                // SAFETY: a fresh object of at least 16 bytes, aligned to 8.
                unsafe { *(p as *mut u64) = tag };
                (p as usize, size, tag)
            })
            .collect();
        tx.send(batch).unwrap();
        max_spans = max_spans.max(a.stats().spans_inuse);
    }
    drop(tx);
    assert_eq!(t.join().unwrap(), 1_000_000);
    // Without collection the million objects (~130 MiB) would need ~16k spans; with it
    // the spans in use stay near what the objects in flight need.
    assert!(max_spans < 3000, "{max_spans} spans in use at the peak");
    producer.flush();
    a.check_invariants();
    let st = a.stats();
    assert_eq!(
        (st.mallocs, st.frees, st.heap_objects),
        (1_000_000, 1_000_000, 0)
    );
    a.release_spare_spans();
    assert_eq!(a.stats().spans_inuse, 0);
    assert_eq!(a.page_heap().stats().heap_inuse, 0);
}

#[test]
fn caches_take_the_least_used_shard() {
    let a = new_allocator().unwrap();
    let first: Vec<_> = (0..crate::SHARDS).map(|_| a.new_cache().unwrap()).collect();
    let mut shards: Vec<u8> = first.iter().map(|c| c.shard()).collect();
    shards.sort_unstable();
    assert_eq!(shards, (0..crate::SHARDS as u8).collect::<Vec<_>>());
    // A thread per task: each new cache takes the shard the last one gave back, never
    // one still in use (a round robin would pile two caches on a shard in turn).
    let mut first = first;
    let gone = first.remove(1).shard();
    for _ in 0..5 {
        let c = a.new_cache().unwrap();
        assert_eq!(c.shard(), gone);
    }
    drop(first);
}

#[test]
fn a_thrashing_central_keeps_more_empty_spans() {
    let a = new_allocator().unwrap();
    let mut producer = a.new_cache().unwrap();
    let mut consumer = a.new_cache().unwrap();
    let l = layout(128, 8);
    // 32 spans of 64 objects go out and come back as remote frees at once, each round:
    // more than the 8 empty spans a 128 B central keeps at first.
    let mut kept = Vec::new();
    for _ in 0..6 {
        let ptrs: Vec<_> = (0..64 * 32).map(|_| producer.alloc(l).unwrap()).collect();
        for p in ptrs {
            // SAFETY: allocated above with `l`, freed once.
            unsafe { consumer.dealloc(p, l) };
        }
        consumer.flush();
        // The producer's next refill collects the remote frees, emptying 32 spans.
        let p = producer.alloc(l).unwrap();
        kept.push(a.stats().spans_inuse);
        // SAFETY: as above.
        unsafe { producer.dealloc(p, l) };
    }
    // At first 8 are kept (and the one carved from); growing right after releasing
    // doubles the allowance until a whole round's spans stay.
    assert!(kept[0] <= 10, "{kept:?}");
    assert!(*kept.last().unwrap() >= 32, "{kept:?}");
    assert!(kept.iter().all(|&k| k <= 1 + (1 << 20) / 8192), "{kept:?}");
    producer.flush();
    a.release_spare_spans();
    assert_eq!(a.stats().spans_inuse, 0);
}

#[test]
fn scattered_remote_frees_are_all_collected() {
    let a = new_allocator().unwrap();
    let mut producer = a.new_cache().unwrap();
    let mut consumer = a.new_cache().unwrap();
    let l = layout(64, 8);
    let mut ptrs: Vec<_> = (0..20_000).map(|_| producer.alloc(l).unwrap()).collect();
    // A fixed pseudo-random order: consecutive frees mostly hit different spans, so the
    // consumer's flushes take the sorting path of remote frees.
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for i in (1..ptrs.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        ptrs.swap(i, (x % (i as u64 + 1)) as usize);
    }
    for p in ptrs {
        // SAFETY: allocated above with `l`, freed once.
        unsafe { consumer.dealloc(p, l) };
    }
    consumer.flush();
    producer.flush();
    a.check_invariants();
    assert_eq!(a.stats().heap_objects, 0);
    a.release_spare_spans();
    assert_eq!(a.stats().spans_inuse, 0);
}
