//! The collector's view of the allocator: span iteration, object lookup from interior
//! pointers, mark bits and sweeping (Go: mbitmap.go `findObject`, mgcsweep.go). See the
//! crate docs for the overview.

use gort_heap::Address;

use crate::allocator::Allocator;
use crate::span_class::SpanClass;
use crate::span_meta::{MetaState, SpanMeta};
use crate::sync::atomic::Ordering;

/// A span as the collector sees it: its objects, their allocation and mark bits.
#[derive(Clone, Copy, Debug)]
pub struct SpanRef {
    meta: &'static SpanMeta,
}

/// An object found from an address inside it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ObjectInfo {
    /// The object's first byte.
    pub base: Address,
    /// Its size: the class size (for a large object, its span's bytes from `base`).
    pub size: usize,
    /// Its span class (size class 0 for large objects).
    pub span_class: SpanClass,
    /// Its index in its span.
    pub index: usize,
    /// Whether the object is allocated (in use, or held free by a cache).
    pub allocated: bool,
}

/// What a sweep did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SweepResult {
    /// Objects freed (allocated and unmarked).
    pub freed: usize,
    /// True when the span became empty and went back to the page heap.
    pub span_released: bool,
}

impl SpanRef {
    /// Address of the first object.
    pub fn base(&self) -> Address {
        Address::new(self.meta.start())
    }

    /// Object size.
    pub fn elem_size(&self) -> usize {
        self.meta.elem_size()
    }

    /// Number of object slots.
    pub fn nelems(&self) -> usize {
        self.meta.nelems()
    }

    /// Span class.
    pub fn span_class(&self) -> SpanClass {
        self.meta.span_class()
    }

    /// True for a large object's span.
    pub fn is_large(&self) -> bool {
        self.meta.state() == MetaState::Large
    }

    /// Address of object `i`.
    pub fn object(&self, i: usize) -> Address {
        Address::new(self.meta.object_addr(i))
    }

    /// Whether object `i` is allocated.
    pub fn is_allocated(&self, i: usize) -> bool {
        i < self.nelems() && self.meta.alloc_bits.get(i)
    }

    /// Whether object `i` is marked.
    pub fn is_marked(&self, i: usize) -> bool {
        i < self.nelems() && self.meta.mark_bits.get(i)
    }

    /// Marks object `i` (atomic; safe from many markers); returns whether it was marked.
    pub fn set_marked(&self, i: usize) -> bool {
        if i >= self.nelems() {
            gort_heap::fatal("mark of an object index outside its span");
        }
        self.meta.mark_bits.set_atomic(i)
    }

    /// Allocated objects.
    pub fn allocated_count(&self) -> usize {
        self.meta.alloc_bits.count(self.nelems())
    }

    /// Marked objects.
    pub fn marked_count(&self) -> usize {
        self.meta.mark_bits.count(self.nelems())
    }
}

impl Allocator {
    /// Calls `f` for every span that holds objects (small and large). Spans allocated or
    /// freed while the walk runs may or may not be seen; the collector walks with the
    /// world stopped or treats new spans as allocated black.
    pub fn for_each_span(&self, mut f: impl FnMut(SpanRef)) {
        for m in self.metas() {
            if m.state() != MetaState::Free {
                f(SpanRef { meta: m });
            }
        }
    }

    /// The object containing `addr`, from any interior address, in O(1): span map lookup,
    /// then a multiplication by the class's magic (Go `findObject`). `None` when `addr`
    /// is not in a span of this allocator or falls in a span's tail waste.
    #[inline]
    pub fn find_object(&self, addr: Address) -> Option<ObjectInfo> {
        let m = self.meta_of(addr.as_usize())?;
        if m.state() == MetaState::Free {
            return None;
        }
        let index = m.object_index(addr.as_usize())?;
        Some(ObjectInfo {
            base: Address::new(m.object_addr(index)),
            size: m.elem_size(),
            span_class: m.span_class(),
            index,
            allocated: m.alloc_bits.get(index),
        })
    }

    /// The span holding `addr`, if any.
    pub fn span_ref_of(&self, addr: Address) -> Option<SpanRef> {
        let m = self.meta_of(addr.as_usize())?;
        (m.state() != MetaState::Free).then_some(SpanRef { meta: m })
    }

    /// Marks the allocated object containing `addr` (a conservative or precise pointer).
    /// Returns `Some(was_marked)`, or `None` when `addr` is in no allocated object.
    pub fn mark_object(&self, addr: Address) -> Option<bool> {
        let m = self.meta_of(addr.as_usize())?;
        if m.state() == MetaState::Free {
            return None;
        }
        let i = m.object_index(addr.as_usize())?;
        if !m.alloc_bits.get(i) {
            return None;
        }
        Some(m.mark_bits.set_atomic(i))
    }

    /// Sweeps one span: frees every allocated, unmarked object, clears the mark bits,
    /// and returns the span to the page heap if it became empty (a large span goes back
    /// when its object is unmarked). Counts the freed objects in the statistics.
    ///
    /// # Safety
    /// No object of the span that is allocated and unmarked may be used again; objects
    /// that caches hold as free count as allocated, so every cache must have been flushed
    /// (or those objects marked) since it last took objects of this span's class. The
    /// `SpanRef` must not be used after `span_released`.
    pub unsafe fn sweep(&self, span: SpanRef) -> SweepResult {
        let m = span.meta;
        match m.state() {
            MetaState::Free => SweepResult::default(),
            MetaState::Large => {
                if m.mark_bits.get(0) {
                    m.mark_bits.clear();
                    return SweepResult::default();
                }
                self.large.nfree.fetch_add(1, Ordering::Relaxed);
                self.large
                    .free_bytes
                    .fetch_add(m.elem_size() as u64, Ordering::Relaxed);
                // SAFETY: [Safety] the unmarked large object is dead.
                unsafe { self.release_large(m) };
                SweepResult {
                    freed: 1,
                    span_released: true,
                }
            }
            MetaState::Small => {
                let spc = m.span_class();
                // SAFETY: `m` is a Small meta of `spc`; the rest is [Safety].
                let (freed, release) = unsafe { self.central(spc, m.shard() as usize).sweep(m) };
                self.swept[spc.size_class().0 as usize].fetch_add(freed as u64, Ordering::Relaxed);
                if release {
                    // SAFETY: `sweep` unlinked the empty span for us.
                    unsafe { self.release_small(m) };
                }
                SweepResult {
                    freed,
                    span_released: release,
                }
            }
        }
    }
}
