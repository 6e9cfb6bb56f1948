//! Allocation statistics with Go's `runtime.MemStats` meanings. See the crate docs.

use gort_heap::PAGE_SIZE;

use crate::allocator::Allocator;
use crate::size_class::{CLASSES, NUM_SIZE_CLASSES};
use crate::span_class::NUM_SPAN_CLASSES;
use crate::span_meta::MetaState;
use crate::sync::atomic::Ordering;

/// Counts of one size class (Go `MemStats.BySize[i]`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SizeClassStats {
    /// Object size of the class (0 for class 0, the large objects).
    pub size: u32,
    /// Objects allocated (cumulative).
    pub mallocs: u64,
    /// Objects freed (cumulative).
    pub frees: u64,
}

/// A snapshot of the allocator's counters, named and meant as Go's `MemStats` fields.
///
/// The counters are read without stopping anyone, so a snapshot taken while other
/// threads allocate is approximate (each counter is exact, their sum is not a single
/// instant). Go's `ReadMemStats` stops the world for an exact one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllocStats {
    /// Objects allocated, cumulative (Go `Mallocs`; tiny allocations included).
    pub mallocs: u64,
    /// Objects freed, cumulative (Go `Frees`).
    pub frees: u64,
    /// Bytes of allocated objects, at class size (Go `HeapAlloc`).
    pub heap_alloc: u64,
    /// Bytes allocated, cumulative (Go `TotalAlloc`).
    pub total_alloc: u64,
    /// Live objects: `mallocs - frees` (Go `HeapObjects`).
    pub heap_objects: u64,
    /// Bytes in spans that hold objects (Go `HeapInuse`).
    pub heap_inuse: u64,
    /// Span metadata structs in use (Go `MSpanInuse`, counted in structs).
    pub spans_inuse: u64,
    /// Per size class counts; index 0 is the large objects (Go `BySize`).
    pub by_size: [SizeClassStats; NUM_SIZE_CLASSES],
}

impl Default for AllocStats {
    fn default() -> AllocStats {
        AllocStats {
            mallocs: 0,
            frees: 0,
            heap_alloc: 0,
            total_alloc: 0,
            heap_objects: 0,
            heap_inuse: 0,
            spans_inuse: 0,
            by_size: [SizeClassStats::default(); NUM_SIZE_CLASSES],
        }
    }
}

impl Allocator {
    /// Reads the statistics (see [`AllocStats`] for their exactness).
    pub fn stats(&self) -> AllocStats {
        let mut s = AllocStats::default();
        for (i, b) in s.by_size.iter_mut().enumerate() {
            b.size = CLASSES[i].size;
        }
        let mut tiny = 0u64;
        let mut c = self.all_caches.load(Ordering::Acquire);
        while !c.is_null() {
            // SAFETY: registry entries are persistent caches, never freed.
            let cache = unsafe { &*c };
            for spc in 2..NUM_SPAN_CLASSES {
                let (m, f) = cache.counts(spc);
                let b = &mut s.by_size[spc >> 1];
                b.mallocs = b.mallocs.wrapping_add(m);
                b.frees = b.frees.wrapping_add(f);
            }
            tiny = tiny.wrapping_add(cache.tiny_allocs.load(Ordering::Relaxed));
            c = cache.all_next.load(Ordering::Relaxed);
        }
        for (i, b) in s.by_size.iter_mut().enumerate().skip(1) {
            b.frees = b.frees.wrapping_add(self.swept[i].load(Ordering::Relaxed));
        }
        let large = &self.large;
        s.by_size[0].mallocs = large.nmalloc.load(Ordering::Relaxed);
        s.by_size[0].frees = large.nfree.load(Ordering::Relaxed);
        for (i, b) in s.by_size.iter().enumerate() {
            s.mallocs = s.mallocs.wrapping_add(b.mallocs);
            s.frees = s.frees.wrapping_add(b.frees);
            if i > 0 {
                let size = b.size as u64;
                s.heap_alloc = s
                    .heap_alloc
                    .wrapping_add(b.mallocs.wrapping_sub(b.frees).wrapping_mul(size));
                s.total_alloc = s.total_alloc.wrapping_add(b.mallocs.wrapping_mul(size));
            }
        }
        let (la, lf) = (
            large.alloc_bytes.load(Ordering::Relaxed),
            large.free_bytes.load(Ordering::Relaxed),
        );
        s.heap_alloc = s.heap_alloc.wrapping_add(la.wrapping_sub(lf));
        s.total_alloc = s.total_alloc.wrapping_add(la);
        // Go counts a tiny allocation as a malloc and, since the block is the object the
        // collector frees, as a free too (MemStats: Frees = nFree + tinyAllocs).
        s.mallocs = s.mallocs.wrapping_add(tiny);
        s.frees = s.frees.wrapping_add(tiny);
        s.heap_objects = s.mallocs.wrapping_sub(s.frees);
        for m in self.metas() {
            match m.state() {
                MetaState::Small => {
                    s.spans_inuse += 1;
                    s.heap_inuse +=
                        (m.span_class().size_class().info().npages as usize * PAGE_SIZE) as u64;
                }
                MetaState::Large => {
                    s.spans_inuse += 1;
                    s.heap_inuse += m.elem_size() as u64;
                }
                MetaState::Free => {}
            }
        }
        s
    }
}
