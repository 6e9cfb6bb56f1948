//! `SpanMap`: the lock-free, O(1) map from any address to the span holding it (Go: the
//! arena index `mheap.arenas` and `heapArena.spans`). See the crate docs for the overview.
//!
//! Two levels: an *arena index* of one slot per 64 MiB arena over the whole 48-bit space
//! (4 Mi slots, a 32 MiB `MAP_NORESERVE` mapping of which only the touched pages cost
//! memory), each slot pointing to an [`ArenaSpans`] array of one span pointer per 8 KiB
//! page. A lookup is two dependent `Acquire` loads plus a state check.
//!
//! Publication protocol (modelled in `src/tests/loom_span_map.rs`):
//! 1. `ensure_arena` fully builds an `ArenaSpans` (all null) and then stores it into its
//!    index slot with `Release`; a slot never changes again.
//! 2. `Span::init` writes the span's fields and stores its state with `Release`.
//! 3. `set` stores the span pointer into each of its pages' slots with `Release`.
//!
//! A reader `Acquire`-loads the index base, the arena slot and the page slot, and so sees a
//! fully built arena and a fully initialised span. Slots of freed pages are left stale
//! (Go does the same): the reader rejects them by the span's state and bounds.

use crate::address::{Address, HEAP_ADDR_BITS, PAGE_SHIFT};
use crate::error::Error;
use crate::span::{Span, SpanState};
use crate::sync::atomic::{AtomicPtr, Ordering};

/// log2 of the span-map slots per arena: one per 8 KiB page of a 64 MiB arena (8192).
/// Under loom the map shrinks to 2 pages per arena and 4 arenas so models stay small.
#[cfg(not(loom))]
pub(crate) const MAP_PAGE_BITS: usize = crate::address::ARENA_SHIFT - PAGE_SHIFT;
#[cfg(loom)]
pub(crate) const MAP_PAGE_BITS: usize = 1;
/// Slots in the arena index: every arena of the 48-bit space (4 under loom).
#[cfg(not(loom))]
pub(crate) const MAP_INDEX_LEN: usize = crate::address::ARENA_INDEX_LEN;
#[cfg(loom)]
pub(crate) const MAP_INDEX_LEN: usize = 4;
/// log2 of the bytes one index slot covers (64 MiB; 16 KiB under loom).
pub(crate) const MAP_ARENA_SHIFT: usize = PAGE_SHIFT + MAP_PAGE_BITS;
/// Span-map slots per arena.
pub(crate) const MAP_PAGES: usize = 1 << MAP_PAGE_BITS;

/// The span pointers of one arena, one per page (Go: `heapArena.spans`).
pub(crate) struct ArenaSpans {
    /// Slot `i` holds the span owning page `i` of the arena, or null, or a stale span
    /// (one that is `Free` or no longer contains the page). Written under the heap lock
    /// with `Release`; read lock-free with `Acquire`.
    spans: [AtomicPtr<Span>; MAP_PAGES],
}

/// The address → span map. See the module docs for the publication protocol.
pub(crate) struct SpanMap {
    /// The arena index: `MAP_INDEX_LEN` slots, or null before the heap's first arena.
    /// Set once (with `Release`) under the heap lock; read lock-free with `Acquire`.
    index: AtomicPtr<AtomicPtr<ArenaSpans>>,
}

impl core::fmt::Debug for SpanMap {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SpanMap").finish_non_exhaustive()
    }
}

impl SpanMap {
    /// An empty map (no memory until the first arena).
    pub(crate) fn new() -> SpanMap {
        SpanMap {
            index: AtomicPtr::new(core::ptr::null_mut()),
        }
    }

    /// The span holding `addr`, if `addr` lies in the pages of an `InUse` or `Manual`
    /// span. O(1), lock-free, and safe for any address at all.
    #[inline]
    pub(crate) fn lookup(&self, addr: Address) -> Option<&'static Span> {
        let a = addr.as_usize();
        if a >> HEAP_ADDR_BITS != 0 {
            return None;
        }
        let ai = a >> MAP_ARENA_SHIFT;
        if ai >= MAP_INDEX_LEN {
            return None;
        }
        let index = self.index.load(Ordering::Acquire);
        if index.is_null() {
            return None;
        }
        // SAFETY: a non-null index points to MAP_INDEX_LEN initialised slots that live for
        // the process (never unmapped), and ai < MAP_INDEX_LEN.
        let slot = unsafe { &*index.add(ai) };
        let arena = slot.load(Ordering::Acquire);
        if arena.is_null() {
            return None;
        }
        // SAFETY: a non-null arena slot points to a fully built ArenaSpans (published with
        // Release, loaded with Acquire) that is never freed.
        let arena = unsafe { &*arena };
        let page = (a >> PAGE_SHIFT) & (MAP_PAGES - 1);
        let span = arena.spans[page].load(Ordering::Acquire);
        if span.is_null() {
            return None;
        }
        // SAFETY: span structs are never freed (they are recycled in place), and one
        // published with Release was fully initialised before.
        let span: &'static Span = unsafe { &*span };
        match span.state() {
            SpanState::InUse | SpanState::Manual if span.contains(addr) => Some(span),
            _ => None,
        }
    }

    /// Makes sure the arena holding `addr` has its span slots. Caller holds the heap lock.
    pub(crate) fn ensure_arena(&self, addr: Address) -> Result<(), Error> {
        let ai = addr.as_usize() >> MAP_ARENA_SHIFT;
        if ai >= MAP_INDEX_LEN {
            return Err(Error::AddressSpaceExhausted {
                requested_bytes: 1 << MAP_ARENA_SHIFT,
            });
        }
        let mut index = self.index.load(Ordering::Acquire);
        if index.is_null() {
            index = storage::new_index()?;
            self.index.store(index, Ordering::Release);
        }
        // SAFETY: index has MAP_INDEX_LEN live slots and ai is in bounds.
        let slot = unsafe { &*index.add(ai) };
        if slot.load(Ordering::Acquire).is_null() {
            let arena = storage::new_arena()?;
            slot.store(arena, Ordering::Release);
        }
        Ok(())
    }

    /// Points every page slot of `span` at it (`Release`). The span's arenas exist
    /// (`ensure_arena`), its fields and state are initialised, and the caller holds the
    /// heap lock.
    pub(crate) fn set(&self, span: &'static Span) {
        let index = self.index.load(Ordering::Acquire);
        let ptr = core::ptr::from_ref(span).cast_mut();
        let first = span.start().page_number();
        for page in first..first + span.npages() {
            let ai = page >> MAP_PAGE_BITS;
            if index.is_null() || ai >= MAP_INDEX_LEN {
                crate::fatal("span map: span outside every arena");
            }
            // SAFETY: index has MAP_INDEX_LEN live slots and ai is in bounds.
            let arena = unsafe { &*index.add(ai) }.load(Ordering::Acquire);
            if arena.is_null() {
                crate::fatal("span map: span in an arena without slots");
            }
            // SAFETY: non-null arena slots point to live ArenaSpans.
            unsafe { &*arena }.spans[page & (MAP_PAGES - 1)].store(ptr, Ordering::Release);
        }
    }
}

/// Where the map's arrays come from: zeroed OS memory normally (all-zero bits are valid
/// null `AtomicPtr`s), boxed loom atomics under loom.
#[cfg(not(loom))]
mod storage {
    use super::{ArenaSpans, MAP_INDEX_LEN};
    use crate::error::Error;
    use crate::sync::atomic::AtomicPtr;

    /// A zeroed, never-freed index of `MAP_INDEX_LEN` null slots.
    pub(super) fn new_index() -> Result<*mut AtomicPtr<ArenaSpans>, Error> {
        let bytes = MAP_INDEX_LEN * size_of::<AtomicPtr<ArenaSpans>>();
        Ok(crate::os::map_zeroed(bytes)?.as_ptr())
    }

    /// A zeroed, never-freed `ArenaSpans`.
    pub(super) fn new_arena() -> Result<*mut ArenaSpans, Error> {
        let p = crate::persistent_alloc(size_of::<ArenaSpans>(), align_of::<ArenaSpans>())?;
        Ok(p.as_ptr().cast())
    }
}

#[cfg(loom)]
mod storage {
    use super::{ArenaSpans, MAP_INDEX_LEN, MAP_PAGES};
    use crate::error::Error;
    use crate::sync::atomic::AtomicPtr;

    pub(super) fn new_index() -> Result<*mut AtomicPtr<ArenaSpans>, Error> {
        let v: Vec<AtomicPtr<ArenaSpans>> = (0..MAP_INDEX_LEN)
            .map(|_| AtomicPtr::new(core::ptr::null_mut()))
            .collect();
        Ok(Box::leak(v.into_boxed_slice()).as_mut_ptr())
    }

    pub(super) fn new_arena() -> Result<*mut ArenaSpans, Error> {
        let spans: [AtomicPtr<crate::span::Span>; MAP_PAGES] =
            core::array::from_fn(|_| AtomicPtr::new(core::ptr::null_mut()));
        Ok(Box::leak(Box::new(ArenaSpans { spans })))
    }
}
