//! The page heap as the process's `#[global_allocator]` (one span per allocation): the
//! situation gort-alloc puts it in. A thread-local guard aborts if the allocator is
//! re-entered while the heap is working, so this test fails if anything on the heap's
//! alloc/free path — including starting the background scavenger thread — allocates
//! through the Rust global allocator.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;

use gort_heap::{Address, PAGE_SIZE, PageHeap, SpanState};

struct SpanPerAllocation;

thread_local! {
    /// Set while this thread is inside the heap on behalf of the allocator.
    static IN_HEAP: Cell<bool> = const { Cell::new(false) };
}

fn enter() {
    IN_HEAP.with(|f| {
        if f.replace(true) {
            gort_heap::fatal("the heap re-entered the global allocator");
        }
    });
}

fn leave() {
    IN_HEAP.with(|f| f.set(false));
}

// SAFETY: alloc returns either null or the start of a fresh span of at least
// `layout.size()` bytes, page aligned (so aligned to any `align <= PAGE_SIZE`), owned by
// the caller until dealloc; dealloc frees exactly the span `alloc` returned.
unsafe impl GlobalAlloc for SpanPerAllocation {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.align() > PAGE_SIZE {
            return core::ptr::null_mut();
        }
        enter();
        let npages = layout.size().max(1).div_ceil(PAGE_SIZE);
        let span = PageHeap::global().alloc_span(npages, SpanState::Manual);
        leave();
        span.map_or(core::ptr::null_mut(), |s| s.start().as_ptr())
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded contract.
        let p = unsafe { self.alloc(layout) };
        if !p.is_null() {
            let span = PageHeap::global().span_of(Address::from_ptr(p)).unwrap();
            if span.needs_zeroing() {
                // SAFETY: the span holds at least layout.size() bytes owned by us.
                unsafe { p.write_bytes(0, layout.size()) };
            }
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        enter();
        let heap = PageHeap::global();
        let span = heap.span_of(Address::from_ptr(ptr)).unwrap_or_else(|| {
            gort_heap::fatal("dealloc of a pointer the heap does not know");
        });
        // SAFETY: `ptr` came from `alloc`, so `span` is its span, freed once here.
        unsafe { heap.free_span(span) };
        leave();
    }
}

#[global_allocator]
static ALLOCATOR: SpanPerAllocation = SpanPerAllocation;

#[test]
fn heap_serves_as_the_global_allocator() {
    let heap = PageHeap::global();
    // Collections, strings, zeroed buffers, threads (which allocate their own state).
    let mut v: Vec<String> = Vec::new();
    for i in 0..2000 {
        v.push(format!("value {i}"));
    }
    let zeroed = vec![0u64; 100_000];
    assert!(zeroed.iter().all(|&x| x == 0));
    let handles: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                let mut sum = 0usize;
                for i in 0..500 {
                    let b = Box::new([t + i; 64]);
                    sum += b[63];
                }
                sum
            })
        })
        .collect();
    let total: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(
        total,
        (0..4).map(|t| (0..500).map(|i| t + i).sum::<usize>()).sum()
    );
    assert_eq!(v[1999], "value 1999");
    drop(v);
    drop(zeroed);
    let s = heap.stats();
    assert!(
        s.scavenger_running,
        "the global heap's scavenger did not start: {s:?}"
    );
    assert!(s.spans > 0 && s.heap_inuse > 0);
    // Everything freed goes back as free pages; releasing them all works from here too.
    heap.scavenge(usize::MAX);
    let s = heap.stats();
    assert_eq!(s.heap_released, s.heap_idle, "{s:?}");
}
