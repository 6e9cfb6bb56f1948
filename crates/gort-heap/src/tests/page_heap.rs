//! White-box tests of `PageHeap`: allocation, coalescing, the span map's edge cases,
//! typed errors, scavenging and `needs_zeroing`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use crate::testing::new_for_test;
use crate::{Address, Error, PAGE_SIZE, PageHeap, SpanState, persistent_alloc};

#[test]
fn alloc_publishes_every_page_and_free_unpublishes() {
    let heap = new_for_test(usize::MAX).unwrap();
    let a = heap.alloc_span(3, SpanState::InUse).unwrap();
    let b = heap.alloc_span(1, SpanState::Manual).unwrap();
    assert_eq!(a.npages(), 3);
    assert_eq!(a.bytes(), 3 * PAGE_SIZE);
    assert_eq!(a.state(), SpanState::InUse);
    assert_eq!(b.state(), SpanState::Manual);
    // First fit: b follows a.
    assert_eq!(b.start(), a.end());
    for off in [0, 1, PAGE_SIZE, 3 * PAGE_SIZE - 1] {
        assert!(core::ptr::eq(heap.span_of(a.start().add(off)).unwrap(), a));
    }
    assert!(core::ptr::eq(heap.span_of(b.start()).unwrap(), b));
    assert_eq!(a.span_class(), 0);
    assert_eq!(a.owner_data(), 0);
    a.set_span_class(7);
    a.set_owner_data(0xdead);
    assert_eq!((a.span_class(), a.owner_data()), (7, 0xdead));
    let a_start = a.start();
    // SAFETY: a came from this heap and is not used again.
    unsafe { heap.free_span(a) };
    assert!(heap.span_of(a_start).is_none());
    assert!(heap.span_of(a_start.add(2 * PAGE_SIZE)).is_none());
    heap.check_invariants();
    // The recycled struct is reset before it is published again.
    let c = heap.alloc_span(2, SpanState::InUse).unwrap();
    assert_eq!(c.start(), a_start);
    assert_eq!((c.span_class(), c.owner_data()), (0, 0));
    assert!(heap.span_of(a_start.add(2 * PAGE_SIZE)).is_none());
    heap.check_invariants();
}

#[test]
fn span_of_is_safe_on_any_address() {
    let heap = new_for_test(usize::MAX).unwrap();
    // Before the heap has any memory.
    assert!(heap.span_of(Address::new(0x1000)).is_none());
    let s = heap.alloc_span(1, SpanState::InUse).unwrap();
    for a in [
        0usize,
        1,
        4096,
        usize::MAX,
        1 << 48,
        (1 << 48) - 1,
        0xffff_8000_0000_0000,
    ] {
        assert!(heap.span_of(Address::new(a)).is_none(), "{a:#x}");
    }
    assert!(heap.span_of(s.start().sub(1)).is_none());
    assert!(heap.span_of(s.end()).is_none());
    // Another heap's span is not this heap's.
    let other = new_for_test(usize::MAX).unwrap();
    assert!(other.span_of(s.start()).is_none());
}

#[test]
fn free_neighbours_coalesce() {
    let heap = new_for_test(usize::MAX).unwrap();
    let spans: Vec<_> = (0..6)
        .map(|_| heap.alloc_span(10, SpanState::InUse).unwrap())
        .collect();
    let base = spans[0].start();
    for i in [1, 3, 2] {
        // SAFETY: each span is freed once and not used again.
        unsafe { heap.free_span(spans[i]) };
    }
    // Pages 10..40 are one free run now: a 30-page span fits exactly there.
    let big = heap.alloc_span(30, SpanState::InUse).unwrap();
    assert_eq!(big.start(), base.add(10 * PAGE_SIZE));
    heap.check_invariants();
}

#[test]
fn large_spans_cross_arenas() {
    let heap = new_for_test(usize::MAX).unwrap();
    let small = heap.alloc_span(1, SpanState::InUse).unwrap();
    let pages = 3 * crate::PAGES_PER_ARENA / 2;
    let big = heap.alloc_span(pages, SpanState::Manual).unwrap();
    assert_eq!(big.npages(), pages);
    assert!(core::ptr::eq(heap.span_of(big.end().sub(1)).unwrap(), big));
    assert!(core::ptr::eq(
        heap.span_of(big.start().add(crate::ARENA_SIZE)).unwrap(),
        big
    ));
    let stats = heap.stats();
    assert_eq!(stats.heap_inuse, (pages + 1) * PAGE_SIZE);
    assert_eq!(stats.heap_manual, pages * PAGE_SIZE);
    assert_eq!(stats.heap_idle, stats.heap_sys - stats.heap_inuse);
    // SAFETY: freed once, not used again.
    unsafe { heap.free_span(big) };
    // SAFETY: freed once, not used again.
    unsafe { heap.free_span(small) };
    assert_eq!(heap.stats().heap_inuse, 0);
    heap.check_invariants();
}

#[test]
fn errors_are_typed() {
    let heap = new_for_test(8 << 20).unwrap();
    assert_eq!(
        heap.alloc_span(0, SpanState::InUse).unwrap_err(),
        Error::InvalidPageCount { npages: 0 }
    );
    assert_eq!(
        heap.alloc_span(1, SpanState::Free).unwrap_err(),
        Error::InvalidSpanState {
            state: SpanState::Free
        }
    );
    let a = heap.alloc_span(1024, SpanState::InUse).unwrap();
    assert_eq!(
        heap.alloc_span(1, SpanState::InUse).unwrap_err(),
        Error::OutOfMemory { requested_pages: 1 }
    );
    assert_eq!(
        heap.alloc_span(usize::MAX / 2, SpanState::InUse)
            .unwrap_err(),
        Error::InvalidPageCount {
            npages: usize::MAX / 2
        }
    );
    // SAFETY: freed once, not used again.
    unsafe { heap.free_span(a) };
    assert!(heap.alloc_span(1024, SpanState::InUse).is_ok());
    assert!(!format!("{}", Error::OutOfMemory { requested_pages: 3 }).is_empty());
}

#[test]
fn fresh_and_scavenged_pages_are_known_zero() {
    let heap = new_for_test(usize::MAX).unwrap();
    let s = heap.alloc_span(4, SpanState::InUse).unwrap();
    assert!(!s.needs_zeroing(), "fresh pages are zero");
    assert!(s.is_known_zero());
    let p: *mut u8 = s.start().as_ptr();
    // SAFETY: the span's 4 pages are ours and committed.
    unsafe { p.write_bytes(0xab, s.bytes()) };
    let start = s.start();
    // SAFETY: freed once, not used again.
    unsafe { heap.free_span(s) };
    let again = heap.alloc_span(4, SpanState::InUse).unwrap();
    assert_eq!(again.start(), start);
    assert!(again.needs_zeroing(), "reused pages are dirty");
    // SAFETY: freed once, not used again.
    unsafe { heap.free_span(again) };
    let before = heap.stats();
    let released = heap.scavenge(usize::MAX);
    assert_eq!(released, before.heap_idle - before.heap_released);
    let after = heap.stats();
    assert_eq!(after.heap_released, after.heap_idle);
    let z = heap.alloc_span(4, SpanState::InUse).unwrap();
    assert_eq!(z.start(), start);
    assert!(!z.needs_zeroing(), "released pages are zero");
    // SAFETY: the span's pages are ours and committed; they must read as zero.
    let bytes = unsafe { core::slice::from_raw_parts(z.start().as_ptr::<u8>(), z.bytes()) };
    assert!(bytes.iter().all(|&b| b == 0));
    heap.check_invariants();
}

#[test]
fn scavenge_to_goal_keeps_the_goal() {
    let heap = new_for_test(usize::MAX).unwrap();
    let spans: Vec<_> = (0..64)
        .map(|_| heap.alloc_span(16, SpanState::InUse).unwrap())
        .collect();
    for s in &spans {
        // SAFETY: the span's pages are ours.
        unsafe { s.start().as_ptr::<u8>().write_bytes(1, s.bytes()) };
    }
    for s in spans {
        // SAFETY: freed once, not used again.
        unsafe { heap.free_span(s) };
    }
    heap.set_retained_goal(2 << 20);
    assert!(heap.scavenge_excess() > 0);
    heap.scavenge_to_goal();
    let s = heap.stats();
    assert!(s.retained() <= 2 << 20, "{s:?}");
    assert_eq!(heap.scavenge_excess(), 0);
    heap.check_invariants();
}

#[test]
fn background_scavenger_runs_while_mutators_idle() {
    let heap = PageHeap::new_private(
        crate::HeapConfig::new()
            .retained_goal(0)
            .scavenger_cpu_percent(100)
            .background_scavenger(true),
    )
    .unwrap();
    let s = heap.alloc_span(256, SpanState::InUse).unwrap();
    // SAFETY: the span's pages are ours.
    unsafe { s.start().as_ptr::<u8>().write_bytes(1, s.bytes()) };
    assert!(heap.stats().scavenger_running);
    // SAFETY: freed once, not used again.
    unsafe { heap.free_span(s) };
    // Nobody calls into the heap from here on: the thread must do it alone.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while heap.scavenge_excess() > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let st = heap.stats();
    assert_eq!(st.heap_released, st.heap_idle, "{st:?}");
    assert!(st.scavenged_total >= 256 * PAGE_SIZE);
}

#[test]
fn persistent_alloc_is_aligned_zeroed_and_disjoint() {
    let mut prev: Option<(usize, usize)> = None;
    for (size, align) in [
        (1, 1),
        (24, 8),
        (100, 64),
        (4096, 4096),
        (100_000, 16),
        (8, 1 << 16),
    ] {
        let p = persistent_alloc(size, align).unwrap();
        let a = p.as_ptr() as usize;
        assert_eq!(a % align, 0);
        // SAFETY: persistent_alloc returned size readable bytes.
        let bytes = unsafe { core::slice::from_raw_parts(p.as_ptr(), size) };
        assert!(bytes.iter().all(|&b| b == 0));
        // SAFETY: the bytes are ours.
        unsafe { p.as_ptr().write_bytes(0xff, size) };
        if let Some((pa, ps)) = prev {
            assert!(a + size <= pa || pa + ps <= a);
        }
        prev = Some((a, size));
    }
    assert_eq!(
        persistent_alloc(8, 3).unwrap_err(),
        Error::InvalidLayout { size: 8, align: 3 }
    );
}

#[test]
fn global_heap_works() {
    let heap = PageHeap::global();
    assert!(core::ptr::eq(heap, PageHeap::global()));
    let s = heap.alloc_span(2, SpanState::InUse).unwrap();
    assert!(core::ptr::eq(
        heap.span_of(s.start().add(PAGE_SIZE)).unwrap(),
        s
    ));
    // SAFETY: freed once, not used again.
    unsafe { heap.free_span(s) };
}

#[test]
fn concurrent_alloc_free_and_lookups_never_overlap() {
    use std::sync::Arc; // tidy: allow(std-sync) test threads, not modelled
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering}; // tidy: allow(std-sync) test code

    let heap = new_for_test(usize::MAX).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    // The latest span start published by a writer, for the reader to probe.
    let probe = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..3usize)
        .map(|t| {
            let probe = Arc::clone(&probe);
            std::thread::spawn(move || {
                let mut seed = 0x2545_f491_4f6c_dd1d_u64 ^ (t as u64 + 1);
                let mut live = Vec::new();
                for i in 0..3000usize {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    if live.len() < 64 && !seed.is_multiple_of(3) {
                        let n = 1 + (seed as usize >> 8) % 40;
                        let s = heap.alloc_span(n, SpanState::Manual).unwrap();
                        let tag = (t << 32) | i;
                        let first: *mut usize = s.start().as_ptr();
                        let last: *mut usize = s.end().sub(8).as_ptr();
                        // SAFETY: the span's pages are ours and committed.
                        unsafe {
                            first.write(tag);
                            last.write(tag);
                        }
                        probe.store(
                            s.start().as_usize() + (n - 1) * PAGE_SIZE,
                            Ordering::Relaxed,
                        );
                        live.push((s, tag));
                    } else if !live.is_empty() {
                        let (s, tag) = live.swap_remove(seed as usize % live.len());
                        let first: *const usize = s.start().as_ptr();
                        let last: *const usize = s.end().sub(8).as_ptr();
                        // SAFETY: the span is still ours; another owner's write here would
                        // mean two live spans overlap.
                        unsafe {
                            assert_eq!(first.read(), tag, "span overlapped");
                            assert_eq!(last.read(), tag, "span overlapped");
                        }
                        // SAFETY: freed once, not used again.
                        unsafe { heap.free_span(s) };
                    }
                }
                for (s, _) in live {
                    // SAFETY: freed once, not used again.
                    unsafe { heap.free_span(s) };
                }
            })
        })
        .collect();
    let reader = {
        let stop = Arc::clone(&stop);
        let probe = Arc::clone(&probe);
        std::thread::spawn(move || {
            let mut hits = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let a = Address::new(probe.load(Ordering::Relaxed));
                if let Some(s) = heap.span_of(a) {
                    // The answer may go stale at once, but it was consistent when given.
                    assert!(s.npages() >= 1);
                    hits += 1;
                }
            }
            hits
        })
    };
    for w in writers {
        w.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    reader.join().unwrap();
    assert_eq!(heap.stats().heap_inuse, 0);
    assert_eq!(heap.stats().spans, 0);
    heap.check_invariants();
}

#[test]
fn os_layer_reports_typed_errors_and_reads_page_size() {
    let ps = crate::os::os_page_size();
    assert!(ps.is_power_of_two() && ps >= 4096);
    let huge = 1usize << 62;
    assert_eq!(
        crate::os::reserve_aligned(huge, crate::ARENA_SIZE).unwrap_err(),
        Error::AddressSpaceExhausted {
            requested_bytes: huge
        }
    );
    let a = crate::os::reserve_aligned(crate::ARENA_SIZE, crate::ARENA_SIZE).unwrap();
    assert!(a.is_aligned(crate::ARENA_SIZE));
    // SAFETY: the reservation is ours; commit, use, decommit and release it in order.
    unsafe {
        crate::os::commit(a, 2 * ps).unwrap();
        a.as_ptr::<u8>().write(7);
        assert!(crate::os::decommit(a, 2 * ps));
        assert_eq!(
            a.as_ptr::<u8>().read(),
            0,
            "decommitted memory reads as zero"
        );
        crate::os::release(a, crate::ARENA_SIZE);
    }
}

#[test]
fn scavenger_leaves_ten_percent_headroom_above_inuse() {
    let heap = new_for_test(usize::MAX).unwrap();
    let live = heap.alloc_span(1000, SpanState::InUse).unwrap();
    let tmp = heap.alloc_span(500, SpanState::InUse).unwrap();
    // SAFETY: the pages are ours.
    unsafe { tmp.start().as_ptr::<u8>().write_bytes(1, tmp.bytes()) };
    // SAFETY: freed once, not used again.
    unsafe { heap.free_span(tmp) };
    heap.set_retained_goal(0);
    heap.scavenge_to_goal();
    let s = heap.stats();
    // 1000 pages in use: up to 100 free pages stay retained (dirty) as headroom.
    assert_eq!(s.retained(), 1100 * PAGE_SIZE, "{s:?}");
    // An explicit full release still returns everything free.
    heap.scavenge(usize::MAX);
    assert_eq!(heap.stats().retained(), 1000 * PAGE_SIZE);
    // SAFETY: freed once, not used again.
    unsafe { heap.free_span(live) };
}

#[test]
fn private_heap_grows_in_place_from_its_hint() {
    let heap = new_for_test(usize::MAX).unwrap();
    let spans: Vec<_> = (0..5)
        .map(|_| {
            heap.alloc_span(crate::PAGES_PER_ARENA - 1, SpanState::InUse)
                .unwrap()
        })
        .collect();
    let ranges = heap.grown_ranges();
    // When the heap got its hint slot (one of 63) and the slot was free, its five
    // arenas of growth are one contiguous range, so free runs coalesce across them.
    if ranges[0].0.as_usize() & ((1 << 40) - 1) == 0x00c0 << 32 {
        assert_eq!(ranges.len(), 1, "{ranges:?}");
    }
    for s in spans {
        // SAFETY: freed once, not used again.
        unsafe { heap.free_span(s) };
    }
    heap.check_invariants();
}
