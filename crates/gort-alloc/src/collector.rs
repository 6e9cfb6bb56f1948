//! The collector's view of the allocator: span iteration, object lookup from interior
//! pointers, mark bits and sweeping (Go: mbitmap.go `findObject`, mgcsweep.go). See the
//! crate docs for the overview.

use gort_heap::Address;

use crate::allocator::Allocator;
use crate::span_class::SpanClass;
use crate::span_meta::{MetaState, SWEEPING, SWEPT, SpanMeta, UNSWEPT};
use crate::sync::atomic::{Ordering, fence};

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

/// What [`Allocator::mark_containing`] found: the object and whether this call marked it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Marked {
    /// The object's first byte.
    pub base: usize,
    /// Its size (the class size, or a large object's span bytes from `base`).
    pub size: usize,
    /// True when this call set the mark bit (the caller must scan the object).
    pub newly: bool,
    /// True for a collected object (gc bit set), false for a manual one.
    pub gc: bool,
    /// True when the object's span is noscan (it holds no pointers).
    pub noscan: bool,
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

    /// Index of the object containing `addr`, if `addr` is inside one of the span's slots.
    #[inline]
    pub fn index_of(&self, addr: usize) -> Option<usize> {
        self.meta.object_index(addr)
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

    /// Whether object `i` is a collected object (its gc bit; see [`SpanRef::set_gc`]).
    #[inline]
    pub fn is_gc(&self, i: usize) -> bool {
        i < self.nelems() && self.meta.gc_bits.get(i)
    }

    /// Makes the allocated object `i` a collected object: sweep frees it when it is
    /// unmarked. Release-ordered after the caller's initialisation of the object.
    ///
    /// # Safety
    /// Object `i` is allocated and owned by the caller (not a manual object anyone will
    /// free), and the span is swept for the current cycle ([`SpanRef::is_unswept`] is
    /// false, checked after the object was allocated): otherwise a sweep of the last
    /// cycle's marks could free it.
    #[inline]
    pub unsafe fn set_gc(&self, i: usize) {
        if i >= self.nelems() {
            gort_heap::fatal("gc bit of an object index outside its span");
        }
        fence(Ordering::Release);
        self.meta.gc_bits.set_atomic(i);
    }

    /// Word `w` of the allocation bits (objects `64w..64w+63`).
    #[inline]
    pub fn alloc_word(&self, w: usize) -> u64 {
        self.meta.alloc_bits.word(w)
    }

    /// Word `w` of the mark bits.
    #[inline]
    pub fn mark_word(&self, w: usize) -> u64 {
        self.meta.mark_bits.word(w)
    }

    /// Word `w` of the gc bits.
    #[inline]
    pub fn gc_word(&self, w: usize) -> u64 {
        self.meta.gc_bits.word(w)
    }

    /// Replaces word `w` of the mark bits (checkmark mode saves and restores them). The
    /// world must be stopped.
    pub fn set_mark_word(&self, w: usize, v: u64) {
        self.meta.mark_bits.set_word(w, v);
    }

    /// True for a span of a noscan class (holds no pointers).
    #[inline]
    pub fn is_noscan(&self) -> bool {
        self.meta.span_class().noscan()
    }

    /// True while the span holds marks of the last cycle not yet swept.
    #[inline]
    pub fn is_unswept(&self) -> bool {
        self.meta.sweep_state.load(Ordering::Acquire) == UNSWEPT
    }

    /// Marks the span as needing a sweep (at mark termination, with the world stopped).
    pub fn set_unswept(&self) {
        self.meta.sweep_state.store(UNSWEPT, Ordering::Release);
    }

    /// Collector flags of the span (cleared when the span is made).
    #[inline]
    pub fn gc_flags(&self) -> u8 {
        self.meta.gc_flags.load(Ordering::Relaxed)
    }

    /// Sets collector flags of the span.
    #[inline]
    pub fn set_gc_flags(&self, bits: u8) {
        if self.meta.gc_flags.load(Ordering::Relaxed) & bits != bits {
            self.meta.gc_flags.fetch_or(bits, Ordering::Relaxed);
        }
    }

    /// Clears collector flags of the span (the world is stopped).
    pub fn clear_gc_flags(&self, bits: u8) {
        self.meta.gc_flags.fetch_and(!bits, Ordering::Relaxed);
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

    /// Marks the allocated object containing `addr` (any interior address) and describes
    /// it, with one span lookup; `None` when `addr` is in no allocated object. The mark
    /// bit is read first, so an already marked object costs no atomic write.
    #[inline]
    pub fn mark_containing(&self, addr: usize) -> Option<Marked> {
        let m = self.meta_of(addr)?;
        if m.state() == MetaState::Free {
            return None;
        }
        let i = m.object_index(addr)?;
        if !m.alloc_bits.get(i) {
            return None;
        }
        let newly = !m.mark_bits.get(i) && !m.mark_bits.set_atomic(i);
        Some(Marked {
            base: m.object_addr(i),
            size: m.elem_size(),
            newly,
            gc: m.gc_bits.get(i),
            noscan: m.span_class().noscan(),
        })
    }

    /// Sweeps one span if it is unswept: frees every collected object (gc bit set) that
    /// is unmarked, clears the mark bits, and returns the span to the page heap if it
    /// became empty (a large span goes back when its collected object is unmarked).
    /// Manual objects (gc bit clear) only lose their marks. Counts the freed objects in
    /// the statistics. Returns `None` when the span needed no sweep (swept already, by
    /// someone else, or released and recycled since `span` was read).
    ///
    /// # Safety
    /// Every collected object of the span that is unmarked is dead: the marks are those
    /// of a complete mark of the last cycle. The `SpanRef` must not be used after
    /// `span_released`.
    pub unsafe fn sweep(&self, span: SpanRef) -> Option<SweepResult> {
        let m = span.meta;
        match m.state() {
            MetaState::Free => None,
            MetaState::Large => {
                if m.sweep_state
                    .compare_exchange(UNSWEPT, SWEEPING, Ordering::AcqRel, Ordering::Relaxed)
                    .is_err()
                {
                    return None;
                }
                let gc = m.gc_bits.get(0);
                fence(Ordering::Acquire);
                if !gc || m.mark_bits.get(0) {
                    // Live, or a manual object: only the mark goes.
                    m.mark_bits.clear();
                    let _ = m.sweep_state.compare_exchange(
                        SWEEPING,
                        SWEPT,
                        Ordering::AcqRel,
                        Ordering::Relaxed,
                    );
                    return Some(SweepResult::default());
                }
                // A collected object is only freed by a sweep, so the meta cannot have
                // been recycled since the claim unless the object we read was a new one
                // on a recycled meta (whose `init` reset the state): check.
                fence(Ordering::SeqCst);
                if m.state() != MetaState::Large
                    || m.sweep_state.load(Ordering::Acquire) != SWEEPING
                {
                    return None;
                }
                m.sweep_state.store(SWEPT, Ordering::Release);
                self.large.nfree.fetch_add(1, Ordering::Relaxed);
                self.large
                    .free_bytes
                    .fetch_add(m.elem_size() as u64, Ordering::Relaxed);
                // SAFETY: [Safety] the unmarked collected large object is dead.
                unsafe { self.release_large(m) };
                Some(SweepResult {
                    freed: 1,
                    span_released: true,
                })
            }
            MetaState::Small => {
                let spc = m.span_class();
                let shard = m.shard();
                // SAFETY: [Safety]; `sweep` re-checks the meta under the lock.
                let (freed, release) =
                    unsafe { self.central(spc, shard as usize).sweep(m, shard)? };
                self.swept[spc.size_class().0 as usize].fetch_add(freed as u64, Ordering::Relaxed);
                if release {
                    // SAFETY: `sweep` unlinked the empty span for us.
                    unsafe { self.release_small(m) };
                }
                Some(SweepResult {
                    freed,
                    span_released: release,
                })
            }
        }
    }
}
