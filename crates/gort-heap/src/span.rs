//! `Span`, a run of pages handed out by the heap, and its `SpanState`.
//! See the crate docs for the overview.

use crate::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, AtomicUsize, Ordering};
use crate::{Address, PAGE_SHIFT};

/// The state of a [`Span`] (Go: `mSpanState`).
///
/// Legal transitions, all made by the heap under its lock:
/// - `Free → InUse` and `Free → Manual` in [`crate::PageHeap::alloc_span`], before the
///   span is published in the span map;
/// - `InUse → Free` and `Manual → Free` in [`crate::PageHeap::free_span`].
///
/// No other transition exists; `free_span` of a `Free` span is a fatal error (a double
/// free). The state is stored with `Release` and loaded with `Acquire`, so a reader that
/// sees `InUse`/`Manual` also sees the span's start and length.
#[repr(u8)]
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum SpanState {
    /// Not a live span: the struct is unused, recycled, or its pages were freed. Its
    /// pages (if any) belong to the page allocator. Nobody owns the memory.
    Free = 0,
    /// Handed to a garbage-collected user (Go: `mSpanInUse`): the layer above carves it
    /// into objects; the collector may scan and sweep it. Owned by the caller of
    /// `alloc_span` until `free_span`.
    InUse = 1,
    /// Handed out for manual management (Go: `mSpanManual`: stacks, explicitly freed
    /// large objects). Owned by the caller of `alloc_span` until `free_span`.
    Manual = 2,
}

impl SpanState {
    fn from_u8(v: u8) -> SpanState {
        match v {
            1 => SpanState::InUse,
            2 => SpanState::Manual,
            _ => SpanState::Free,
        }
    }
}

/// One span: a run of contiguous 8 KiB pages (Go: `mspan`).
///
/// `&'static Span` handles are stable for the process lifetime: span structs come from a
/// fixed-size allocator over [`crate::persistent_alloc`] memory and are recycled only
/// after [`crate::PageHeap::free_span`]; a recycled struct is re-initialised before it is
/// published again. A stale handle therefore never dangles, but after `free_span` it may
/// describe another run of pages: callers must not use a handle after freeing it.
///
/// Invariant: while `state` is `InUse` or `Manual`, every page of
/// `start .. start + npages * PAGE_SIZE` maps to this span in the span map, and the
/// pages are marked allocated in the page allocator.
#[derive(Debug)]
pub struct Span {
    /// First byte of the span, page-aligned. Written by the heap under its lock before
    /// publication (the `Release` store of `state`); read lock-free.
    start: AtomicUsize,
    /// Number of pages. Same protection as `start`.
    npages: AtomicUsize,
    /// A [`SpanState`] as `u8`. Written under the heap lock with `Release`; read with
    /// `Acquire` anywhere.
    state: AtomicU8,
    /// Whether the pages may hold old data (Go: `mspan.needzero`). Written before
    /// publication; read by the owner.
    needs_zeroing: AtomicBool,
    /// Owned by the layer above (Go: `spanclass`); reset to 0 by `alloc_span`.
    span_class: AtomicU8,
    /// Owned by the layer above (e.g. a pointer to its span metadata); reset to 0 by
    /// `alloc_span`. `Release` stores, `Acquire` loads.
    owner_data: AtomicUsize,
    /// Link in the heap's free list of span structs. Protected by the heap lock.
    pub(crate) next_free: AtomicPtr<Span>,
}

impl Span {
    /// A `Free` span describing no pages.
    pub(crate) fn new() -> Span {
        Span {
            start: AtomicUsize::new(0),
            npages: AtomicUsize::new(0),
            state: AtomicU8::new(SpanState::Free as u8),
            needs_zeroing: AtomicBool::new(true),
            span_class: AtomicU8::new(0),
            owner_data: AtomicUsize::new(0),
            next_free: AtomicPtr::new(core::ptr::null_mut()),
        }
    }

    /// Initialises a `Free` span for `start .. start + npages` pages, resets the owner's
    /// slots, and then publishes `state` with `Release`. The caller holds the heap lock
    /// and publishes the span in the span map only after this returns.
    pub(crate) fn init(
        &self,
        start: Address,
        npages: usize,
        state: SpanState,
        needs_zeroing: bool,
    ) {
        debug_assert_eq!(self.state(), SpanState::Free);
        self.start.store(start.as_usize(), Ordering::Relaxed);
        self.npages.store(npages, Ordering::Relaxed);
        self.needs_zeroing.store(needs_zeroing, Ordering::Relaxed);
        self.span_class.store(0, Ordering::Relaxed);
        self.owner_data.store(0, Ordering::Relaxed);
        self.state.store(state as u8, Ordering::Release);
    }

    /// Marks the span `Free` (`Release`). Caller holds the heap lock.
    pub(crate) fn mark_free(&self) {
        self.state.store(SpanState::Free as u8, Ordering::Release);
    }

    /// First byte of the span.
    #[inline]
    pub fn start(&self) -> Address {
        Address::new(self.start.load(Ordering::Relaxed))
    }

    /// Number of 8 KiB pages.
    #[inline]
    pub fn npages(&self) -> usize {
        self.npages.load(Ordering::Relaxed)
    }

    /// Length in bytes (`npages * PAGE_SIZE`).
    #[inline]
    pub fn bytes(&self) -> usize {
        self.npages() << PAGE_SHIFT
    }

    /// One past the last byte.
    #[inline]
    pub fn end(&self) -> Address {
        self.start().add(self.bytes())
    }

    /// The current state (`Acquire` load).
    #[inline]
    pub fn state(&self) -> SpanState {
        SpanState::from_u8(self.state.load(Ordering::Acquire))
    }

    /// Whether `a` lies inside the span's pages.
    #[inline]
    pub fn contains(&self, a: Address) -> bool {
        let start = self.start.load(Ordering::Relaxed);
        a.as_usize().wrapping_sub(start) < self.bytes()
    }

    /// True when the span's pages may hold old data and must be zeroed by whoever needs
    /// zeroed memory (Go: `mspan.needzero`). False when every byte is known to be zero:
    /// all its pages were fresh from the OS or released by the scavenger since their
    /// last use. See also [`Span::is_known_zero`], the same fact named positively.
    #[inline]
    pub fn needs_zeroing(&self) -> bool {
        self.needs_zeroing.load(Ordering::Relaxed)
    }

    /// True when every byte of the span is known to be zero (fresh or released pages):
    /// `!self.needs_zeroing()`.
    #[inline]
    pub fn is_known_zero(&self) -> bool {
        !self.needs_zeroing()
    }

    /// Records that the owner dirtied (or zeroed) the memory. The heap sets this itself
    /// at allocation; the owner may clear it after zeroing the span, or set it again.
    #[inline]
    pub fn set_needs_zeroing(&self, v: bool) {
        self.needs_zeroing.store(v, Ordering::Relaxed);
    }

    /// The owner's span class slot (0 after `alloc_span`).
    #[inline]
    pub fn span_class(&self) -> u8 {
        self.span_class.load(Ordering::Relaxed)
    }

    /// Sets the owner's span class slot.
    #[inline]
    pub fn set_span_class(&self, c: u8) {
        self.span_class.store(c, Ordering::Relaxed);
    }

    /// The owner's data word (`Acquire`; 0 after `alloc_span`).
    #[inline]
    pub fn owner_data(&self) -> usize {
        self.owner_data.load(Ordering::Acquire)
    }

    /// Sets the owner's data word (`Release`).
    #[inline]
    pub fn set_owner_data(&self, v: usize) {
        self.owner_data.store(v, Ordering::Release);
    }

    /// Asserts the span's own rules (debug builds call it at state transitions).
    pub fn check_invariants(&self) {
        if self.state() != SpanState::Free {
            assert!(self.npages() > 0, "live span with no pages");
            assert!(
                self.start().is_aligned(crate::PAGE_SIZE),
                "span start not page aligned"
            );
            assert!(
                self.end().as_usize() <= 1 << crate::HEAP_ADDR_BITS,
                "span beyond 48 bits"
            );
        }
    }
}
