//! Per-span allocator metadata, linked from `gort_heap::Span::owner_data` (Go: mspan's
//! allocator fields). See the crate docs for the overview.

use crate::bitmap::{BITMAP_WORDS, Bitmap, valid_mask};
use crate::span_class::SpanClass;
use crate::sync::UnsafeCell;
use crate::sync::atomic::{AtomicPtr, AtomicU8, AtomicU32, AtomicUsize, Ordering};

/// Lifecycle of a [`SpanMeta`].
///
/// `Free -> Small | Large` when a span is allocated from the page heap (before the meta is
/// published through `Span::set_owner_data`); `Small | Large -> Free` when the span goes
/// back (after the last object is freed or swept). A `Free` meta sits in the allocator's
/// meta pool and its other fields mean nothing.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetaState {
    /// In the meta pool; no span.
    Free = 0,
    /// Describes a span of one small size class, listed in its `Central`.
    Small = 1,
    /// Describes a large object's own span (size class 0).
    Large = 2,
}

/// `SpanMeta::sweep_state`: swept for the current cycle (also every new span).
pub(crate) const SWEPT: u8 = 0;
/// `SpanMeta::sweep_state`: marked in the last cycle, not yet swept.
pub(crate) const UNSWEPT: u8 = 1;
/// `SpanMeta::sweep_state`: a large span claimed by one sweeper.
pub(crate) const SWEEPING: u8 = 2;

/// Which list of its `Central` a small span is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ListId {
    /// On no list (large span, or a free meta).
    None,
    /// Has free objects (`alloc_count < nelems`).
    Partial,
    /// Every object is allocated (`alloc_count == nelems`).
    Full,
}

/// Fields protected by the lock of the span's `Central` (or by the meta pool lock while
/// the meta is free).
#[derive(Debug)]
pub(crate) struct Locked {
    /// Next meta on the same central list (or in the meta pool).
    pub(crate) next: *mut SpanMeta,
    /// Previous meta on the same central list.
    pub(crate) prev: *mut SpanMeta,
    /// The list this span is on.
    pub(crate) list: ListId,
    /// Objects whose allocation bit is set (handed to a cache or in use).
    /// Invariant: `alloc_count == alloc_bits.count(nelems)`.
    pub(crate) alloc_count: u32,
    /// Every bitmap word below this index is full (a search hint; Go's `freeindex`).
    pub(crate) search_word: u32,
}

/// The allocator's metadata for one span, in memory from `persistent_alloc`.
///
/// Metas are never freed, only recycled through the allocator's pool, so a `&'static`
/// to one stays valid; every meta ever made is on the registry list (`all_next`) that
/// the collector's span iteration walks.
#[derive(Debug)]
pub struct SpanMeta {
    /// Lifecycle state. Atomic; written with Release after the fields below are set
    /// (publication) and before the meta goes back to the pool.
    state: AtomicU8,
    /// Address of the `gort_heap::Span` (0 in loom models). Immutable while in use.
    span: AtomicUsize,
    /// First object's address. Immutable while in use.
    start: AtomicUsize,
    /// Object size (the class size; for a large object, span end − `start`). Immutable
    /// while in use.
    elem_size: AtomicUsize,
    /// Objects in the span (1 for large). Immutable while in use.
    nelems: AtomicU32,
    /// `u32::MAX / elem_size + 1` (Go `divMul`). Immutable while in use.
    div_magic: AtomicU32,
    /// Span class. Immutable while in use.
    spc: AtomicU8,
    /// The central shard the span belongs to. Immutable while in use.
    shard: AtomicU8,
    /// Allocation bits: 1 = handed out (in use or held by a cache). Written under the
    /// central lock; read at any time.
    pub(crate) alloc_bits: Bitmap,
    /// Mark bits, set by the collector with atomic `fetch_or`, cleared by sweep.
    pub(crate) mark_bits: Bitmap,
    /// Collector object bits: 1 = the object is a collected (`Gc`) object, freed by sweep
    /// when unmarked; 0 = a manual object (or free), never freed by sweep. Set by the
    /// collector with `fetch_or` once the span is swept for the current cycle; cleared
    /// by sweep (under the central lock) for the objects it frees, and by `init`.
    pub(crate) gc_bits: Bitmap,
    /// The collector's sweep state (`SWEPT` or `UNSWEPT`, see `collector.rs`). Atomic;
    /// set to `UNSWEPT` by the collector with the world stopped, back to `SWEPT` by the
    /// sweeper under the central lock (small spans) or by `init` (a new span).
    pub(crate) sweep_state: AtomicU8,
    /// Collector flags for the span (bit 0: may hold objects awaiting finalization).
    /// Atomic; set by the collector, cleared by `init`.
    pub(crate) gc_flags: AtomicU8,
    /// Lists and counts; see [`Locked`].
    pub(crate) locked: UnsafeCell<Locked>,
    /// Next meta on the registry of every meta ever made. Written once before the meta
    /// is pushed on the registry, immutable afterwards.
    pub(crate) all_next: AtomicPtr<SpanMeta>,
    /// Objects freed by threads of other shards and not yet collected by the span's
    /// central (the span's thread-free list, as a bitmap: mimalloc's `xthread_free`).
    /// Set with `fetch_or` by remote freers, without a lock; taken with `swap` by the
    /// central under its lock (`central/remote.rs`). Invariant: a subset of `alloc_bits`.
    pub(crate) remote_bits: Bitmap,
    /// Objects announced by remote freers and not yet collected. Atomic: a freer adds its
    /// count *before* setting its bits, the collector subtracts what it took. The span is
    /// on its central's remote stack (or held by a collector) exactly while this is
    /// non-zero, and cannot become empty (so cannot be released) while it is.
    pub(crate) remote_pending: AtomicU32,
    /// Next meta on its central's remote stack. Written by the pusher before the push,
    /// read by the collector after taking the stack.
    pub(crate) remote_next: AtomicPtr<SpanMeta>,
}

// SAFETY: the raw pointers in `locked` are only touched under the central lock (or the
// meta pool lock), as documented on each field; every other field is atomic.
unsafe impl Sync for SpanMeta {}
// SAFETY: as for Sync; a meta has no thread affinity.
unsafe impl Send for SpanMeta {}

impl SpanMeta {
    /// A free meta.
    pub(crate) fn new() -> SpanMeta {
        SpanMeta {
            state: AtomicU8::new(MetaState::Free as u8),
            span: AtomicUsize::new(0),
            start: AtomicUsize::new(0),
            elem_size: AtomicUsize::new(0),
            nelems: AtomicU32::new(0),
            div_magic: AtomicU32::new(0),
            spc: AtomicU8::new(0),
            shard: AtomicU8::new(0),
            alloc_bits: Bitmap::new(),
            mark_bits: Bitmap::new(),
            gc_bits: Bitmap::new(),
            sweep_state: AtomicU8::new(SWEPT),
            gc_flags: AtomicU8::new(0),
            locked: UnsafeCell::new(Locked {
                next: core::ptr::null_mut(),
                prev: core::ptr::null_mut(),
                list: ListId::None,
                alloc_count: 0,
                search_word: 0,
            }),
            all_next: AtomicPtr::new(core::ptr::null_mut()),
            remote_bits: Bitmap::new(),
            remote_pending: AtomicU32::new(0),
            remote_next: AtomicPtr::new(core::ptr::null_mut()),
        }
    }

    /// Initialises a free meta for a span of `nelems` objects of `elem_size` bytes at
    /// `start`, with every object free, and publishes the new state.
    ///
    /// The caller owns the meta exclusively (fresh from the pool, not yet published).
    pub(crate) fn init(
        &self,
        span: usize,
        start: usize,
        elem_size: usize,
        nelems: usize,
        spc: SpanClass,
        state: MetaState,
    ) {
        debug_assert!(nelems <= Bitmap::CAPACITY);
        self.span.store(span, Ordering::Relaxed);
        self.start.store(start, Ordering::Relaxed);
        self.elem_size.store(elem_size, Ordering::Relaxed);
        self.nelems.store(nelems as u32, Ordering::Relaxed);
        let magic = if elem_size > u32::MAX as usize {
            0
        } else {
            u32::MAX / elem_size as u32 + 1
        };
        self.div_magic.store(magic, Ordering::Relaxed);
        self.spc.store(spc.0, Ordering::Relaxed);
        self.shard.store(0, Ordering::Relaxed);
        self.alloc_bits.clear();
        self.mark_bits.clear();
        self.gc_bits.clear();
        self.sweep_state.store(SWEPT, Ordering::Relaxed);
        self.gc_flags.store(0, Ordering::Relaxed);
        self.locked.with_mut(|l| {
            // SAFETY: the caller owns the meta exclusively.
            let l = unsafe { &mut *l };
            l.next = core::ptr::null_mut();
            l.prev = core::ptr::null_mut();
            l.list = ListId::None;
            l.alloc_count = 0;
            l.search_word = 0;
        });
        // A meta is released only with no remote frees pending (see `remote_pending`).
        if self.remote_pending.load(Ordering::Relaxed) != 0 {
            gort_heap::fatal("span metadata reused with remote frees pending");
        }
        self.remote_bits.clear();
        self.state.store(state as u8, Ordering::Release);
    }

    /// Sets the central shard; the caller owns the meta (before publication).
    pub(crate) fn set_shard(&self, shard: u8) {
        self.shard.store(shard, Ordering::Relaxed);
    }

    /// The central shard the span belongs to.
    #[inline]
    pub(crate) fn shard(&self) -> u8 {
        self.shard.load(Ordering::Relaxed)
    }

    /// Marks the meta free (before it goes back to the pool).
    pub(crate) fn retire(&self) {
        self.state.store(MetaState::Free as u8, Ordering::Release);
    }

    /// Lifecycle state (Acquire).
    pub fn state(&self) -> MetaState {
        match self.state.load(Ordering::Acquire) {
            1 => MetaState::Small,
            2 => MetaState::Large,
            _ => MetaState::Free,
        }
    }

    /// Address of the page heap's `Span` (0 in loom models).
    pub(crate) fn span_addr(&self) -> usize {
        self.span.load(Ordering::Relaxed)
    }

    /// First object's address.
    #[inline]
    pub fn start(&self) -> usize {
        self.start.load(Ordering::Relaxed)
    }

    /// Object size in bytes.
    #[inline]
    pub fn elem_size(&self) -> usize {
        self.elem_size.load(Ordering::Relaxed)
    }

    /// Number of objects.
    #[inline]
    pub fn nelems(&self) -> usize {
        self.nelems.load(Ordering::Relaxed) as usize
    }

    /// Span class.
    #[inline]
    pub fn span_class(&self) -> SpanClass {
        SpanClass(self.spc.load(Ordering::Relaxed))
    }

    /// Index of the object containing `addr`, or `None` past the last object (tail waste)
    /// or before `start`. O(1): one multiplication (Go `divideByElemSize`).
    #[inline]
    pub fn object_index(&self, addr: usize) -> Option<usize> {
        let off = addr.checked_sub(self.start())?;
        let idx = if self.nelems() == 1 {
            if off < self.elem_size() {
                0
            } else {
                return None;
            }
        } else {
            ((off as u64 * self.div_magic.load(Ordering::Relaxed) as u64) >> 32) as usize
        };
        (idx < self.nelems()).then_some(idx)
    }

    /// Address of object `idx`.
    #[inline]
    pub fn object_addr(&self, idx: usize) -> usize {
        self.start() + idx * self.elem_size()
    }

    /// Debug check of the cross-field invariants; the caller holds the central lock.
    pub(crate) fn check_invariants(&self) {
        if !cfg!(debug_assertions) {
            return;
        }
        let n = self.nelems();
        let count = self.alloc_bits.count(n);
        self.locked.with(|l| {
            // SAFETY: the caller holds the central lock.
            let l = unsafe { &*l };
            if count != l.alloc_count as usize {
                gort_heap::fatal("span alloc_count disagrees with its allocation bitmap");
            }
            for w in 0..(l.search_word as usize).min(BITMAP_WORDS) {
                if self.alloc_bits.word(w) & valid_mask(w, n) != valid_mask(w, n) {
                    gort_heap::fatal("span search hint skips a free object");
                }
            }
            // Remote freers set bits only for allocated objects, and only the collector
            // (holding the lock, as our caller does) clears alloc bits of remote frees.
            for w in 0..n.div_ceil(64) {
                let remote = self.remote_bits.word(w);
                if remote & self.alloc_bits.word(w) != remote {
                    gort_heap::fatal("remote free of an object that is not allocated");
                }
            }
            let full = l.alloc_count as usize == n;
            match l.list {
                ListId::Full if !full => gort_heap::fatal("span on the full list has free objects"),
                ListId::Partial if full => gort_heap::fatal("full span on the partial list"),
                _ => {}
            }
        });
    }
}
