//! `PageHeap`: arenas, spans and the page allocator behind one lock, plus the lock-free
//! span map (Go: mheap.go). See the crate docs for the overview.

use crate::address::{ARENA_SIZE, Address, HEAP_ADDR_BITS, PAGE_SHIFT, PAGE_SIZE, align_up};
use crate::error::Error;
use crate::lock_rank::{self, Rank};
use crate::os;
use crate::page_alloc::{CHUNK_BYTES, PageAlloc};
use crate::scavenger::Scavenger;
use crate::span::{Span, SpanState};
use crate::span_map::SpanMap;
use crate::stats::HeapStats;
use crate::sync::Mutex;
use crate::sync::atomic::{AtomicUsize, Ordering};
use crate::sync::static_atomic;

/// Span structs are carved from persistent memory in blocks of this many bytes
/// (Go: `_FixAllocChunk`).
const SPAN_BLOCK_BYTES: usize = 16 << 10;
/// Largest span: the whole 48-bit space in pages is far beyond any real request; this
/// bound only keeps page arithmetic from overflowing.
const MAX_SPAN_PAGES: usize = 1 << (HEAP_ADDR_BITS - 1 - PAGE_SHIFT);
/// Default retained-memory goal of the global heap's scavenger.
pub const DEFAULT_RETAINED_GOAL: usize = 64 << 20;
/// The global heap's first reservation is tried here, as Go's first heap address
/// (0xc000000000) so heap pointers are easy to spot in a debugger; elsewhere if taken.
const GLOBAL_HINT: usize = 0x00c0 << 32;

/// `*counter += n` for a counter written only under the heap lock: a load and a store,
/// not a locked read-modify-write.
#[inline]
fn add(counter: &AtomicUsize, n: usize) {
    counter.store(counter.load(Ordering::Relaxed) + n, Ordering::Relaxed);
}

/// `*counter -= n` for a counter written only under the heap lock.
#[inline]
fn sub(counter: &AtomicUsize, n: usize) {
    counter.store(counter.load(Ordering::Relaxed) - n, Ordering::Relaxed);
}

/// How a heap is built. `HeapConfig::default()` is what [`PageHeap::global`] uses.
#[derive(Copy, Clone, Debug)]
pub struct HeapConfig {
    max_heap_bytes: usize,
    retained_goal: usize,
    background_scavenger: bool,
    scavenger_cpu_percent: u32,
    hint: usize,
}

impl Default for HeapConfig {
    fn default() -> Self {
        HeapConfig {
            max_heap_bytes: usize::MAX,
            retained_goal: DEFAULT_RETAINED_GOAL,
            background_scavenger: true,
            scavenger_cpu_percent: 1,
            hint: 0,
        }
    }
}

impl HeapConfig {
    /// The default configuration: no heap limit, a 64 MiB retained goal, and a
    /// background scavenger using about 1% of one CPU (Go's pacing).
    pub fn new() -> Self {
        Self::default()
    }

    /// Caps `heap_sys`: growth beyond it fails with [`Error::OutOfMemory`].
    #[must_use]
    pub fn max_heap_bytes(mut self, bytes: usize) -> Self {
        self.max_heap_bytes = bytes;
        self
    }

    /// The scavenger's retained-memory goal (see [`PageHeap::set_retained_goal`]).
    #[must_use]
    pub fn retained_goal(mut self, bytes: usize) -> Self {
        self.retained_goal = bytes;
        self
    }

    /// Whether the heap starts its background scavenger thread when it first grows.
    #[must_use]
    pub fn background_scavenger(mut self, on: bool) -> Self {
        self.background_scavenger = on;
        self
    }

    /// The share of one CPU the background scavenger may use, in percent (1..=100).
    #[must_use]
    pub fn scavenger_cpu_percent(mut self, percent: u32) -> Self {
        self.scavenger_cpu_percent = percent.clamp(1, 100);
        self
    }
}

/// The state behind the heap lock.
struct Inner {
    /// The page allocator: bitmaps, summaries, grown ranges, page counters.
    pages: PageAlloc,
    /// Recycled span structs, linked through `Span::next_free`.
    free_spans: *mut Span,
    /// Bump cursor and end of the current block of span structs.
    span_cursor: usize,
    span_end: usize,
    /// Reserved address space not yet grown into the heap: `[cur_base, cur_end)`.
    cur_base: usize,
    cur_end: usize,
    /// Bytes of address space reserved in total.
    reserved: usize,
}

// SAFETY: the raw pointers in `Inner` point to process-lifetime memory owned by the heap
// and are only used under the heap lock.
unsafe impl Send for Inner {}

/// The heap lock held: the lock guard plus the lock-rank bookkeeping.
struct Locked<'a> {
    guard: crate::sync::MutexGuard<'a, Inner>,
}

impl core::ops::Deref for Locked<'_> {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.guard
    }
}

impl core::ops::DerefMut for Locked<'_> {
    fn deref_mut(&mut self) -> &mut Inner {
        &mut self.guard
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        lock_rank::release(Rank::Heap);
    }
}

/// The page heap (Go: `mheap`): hands out spans of contiguous 8 KiB pages from 64 MiB
/// arenas, maps any address to its span in O(1) without locks, and returns idle pages to
/// the OS in the background.
///
/// Lock order: the heap lock is a leaf: nothing else is locked while it is held, and
/// nothing under it allocates through the Rust global allocator or calls out of the crate.
pub struct PageHeap {
    /// Protects the page allocator, the span-struct allocator and the reservation cursor.
    lock: Mutex<Inner>,
    /// Address → span. Written under `lock`; read lock-free.
    map: SpanMap,
    /// Statistics mirrors, in bytes. Written under `lock` (`Relaxed`); read anywhere.
    sys: AtomicUsize,
    inuse: AtomicUsize,
    manual: AtomicUsize,
    released: AtomicUsize,
    reserved: AtomicUsize,
    spans: AtomicUsize,
    scavenged_total: AtomicUsize,
    /// The scavenger's goal for `heap_sys - heap_released`. Atomic; any thread may set it.
    retained_goal: AtomicUsize,
    /// Immutable after construction.
    config: HeapConfig,
    /// The background scavenger's state.
    pub(crate) scavenger: Scavenger,
}

impl core::fmt::Debug for PageHeap {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PageHeap")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl PageHeap {
    /// A heap with `config`; maps nothing until its first allocation.
    fn new(config: HeapConfig) -> PageHeap {
        PageHeap {
            lock: Mutex::new(Inner {
                pages: PageAlloc::new(),
                free_spans: core::ptr::null_mut(),
                span_cursor: 0,
                span_end: 0,
                cur_base: 0,
                cur_end: 0,
                reserved: 0,
            }),
            map: SpanMap::new(),
            sys: AtomicUsize::new(0),
            inuse: AtomicUsize::new(0),
            manual: AtomicUsize::new(0),
            released: AtomicUsize::new(0),
            reserved: AtomicUsize::new(0),
            spans: AtomicUsize::new(0),
            scavenged_total: AtomicUsize::new(0),
            retained_goal: AtomicUsize::new(config.retained_goal),
            config,
            scavenger: Scavenger::new(config.scavenger_cpu_percent),
        }
    }

    /// The process-wide heap, initialised on first use without the Rust global allocator
    /// (gort-alloc is the global allocator and sits on top of this). It reserves its
    /// first arena near Go's 0xc000000000 when that is free, and starts its background
    /// scavenger when it first grows.
    pub fn global() -> &'static PageHeap {
        // A process-wide static: loom types are not const, and `OnceLock` initialises
        // without allocating (a futex-based `Once`).
        static GLOBAL: std::sync::OnceLock<PageHeap> = std::sync::OnceLock::new(); // tidy: allow(std-sync)
        GLOBAL.get_or_init(|| {
            PageHeap::new(HeapConfig {
                hint: GLOBAL_HINT,
                ..HeapConfig::default()
            })
        })
    }

    /// A heap of its own, separate from [`PageHeap::global`] (its own arenas, span map and
    /// scavenger), for subsystems or tests that must not share. The heap lives for the
    /// rest of the process; it is built in persistent memory, not the global allocator.
    pub fn new_private(config: HeapConfig) -> Result<&'static PageHeap, Error> {
        // Go's arena hints: heap i starts at `i << 40 | 0xc000000000`, each in its own
        // terabyte, so a heap can usually grow in place and stay one contiguous range.
        // The global heap is i = 0; after 63 private heaps, the OS chooses.
        static NEXT_HINT: static_atomic::AtomicUsize = static_atomic::AtomicUsize::new(1);
        let i = NEXT_HINT.fetch_add(1, static_atomic::Ordering::Relaxed);
        let config = HeapConfig {
            hint: if i < 64 { i << 40 | GLOBAL_HINT } else { 0 },
            ..config
        };
        let p = crate::persistent_alloc(size_of::<PageHeap>(), align_of::<PageHeap>())?;
        let heap: *mut PageHeap = p.as_ptr().cast();
        // SAFETY: fresh, suitably aligned persistent memory for one PageHeap, never freed,
        // so the reference is valid for 'static.
        unsafe {
            heap.write(PageHeap::new(config));
            Ok(&*heap)
        }
    }

    fn lock(&self) -> Locked<'_> {
        lock_rank::acquire(Rank::Heap);
        // Nothing panics while holding the lock, but do not turn a poisoned lock into a
        // second panic in the allocator.
        let guard = match self.lock.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        Locked { guard }
    }

    /// Allocates `npages` contiguous pages as a span in state `InUse` or `Manual`,
    /// published in the span map before this returns (Go: `mheap.alloc`,
    /// `mheap.allocManual`). The pages are first fit (lowest address);
    /// [`Span::needs_zeroing`] says whether they may hold old data.
    ///
    /// Errors: [`Error::InvalidPageCount`], [`Error::InvalidSpanState`] (for `Free`),
    /// [`Error::OutOfMemory`] and [`Error::AddressSpaceExhausted`] when the heap cannot
    /// grow. Cost: O(1) amortised search (see the crate docs) plus O(npages) to fill the
    /// span map.
    pub fn alloc_span(&self, npages: usize, state: SpanState) -> Result<&'static Span, Error> {
        if npages == 0 || npages > MAX_SPAN_PAGES {
            return Err(Error::InvalidPageCount { npages });
        }
        if state == SpanState::Free {
            return Err(Error::InvalidSpanState { state });
        }
        let mut inner = self.lock();
        let (base, released) = match inner.pages.alloc(npages) {
            Some(found) => found,
            None => self.alloc_slow(&mut inner, npages)?,
        };
        let span = match self.new_span_struct(&mut inner) {
            Ok(s) => s,
            Err(e) => {
                inner.pages.free(base, npages);
                self.sync_stats(&inner);
                return Err(e);
            }
        };
        span.init(base, npages, state, released != npages);
        self.map.set(span);
        self.inuse
            .fetch_add(npages << PAGE_SHIFT, Ordering::Relaxed);
        if state == SpanState::Manual {
            self.manual
                .fetch_add(npages << PAGE_SHIFT, Ordering::Relaxed);
        }
        add(&self.spans, 1);
        self.sync_stats(&inner);
        if cfg!(debug_assertions) {
            span.check_invariants();
        }
        drop(inner);
        #[cfg(gort_expensive_checks)]
        self.check_invariants();
        if self.config.background_scavenger && !self.scavenger.started() {
            // Outside the lock: starting a thread must not happen under a heap lock.
            self.scavenger.start(self);
        }
        Ok(span)
    }

    /// Grows the heap and allocates from the new pages.
    #[cold]
    #[inline(never)]
    fn alloc_slow(&self, inner: &mut Inner, npages: usize) -> Result<(Address, usize), Error> {
        self.grow(inner, npages)?;
        inner.pages.alloc(npages).ok_or(Error::OutOfMemory {
            requested_pages: npages,
        })
    }

    /// Adds at least `npages` contiguous free pages to the heap (Go: `mheap.grow`):
    /// takes them from the current reservation, reserving more arenas (contiguously if
    /// the OS agrees) when it runs out, and commits them in whole 4 MiB chunks.
    fn grow(&self, inner: &mut Inner, npages: usize) -> Result<(), Error> {
        let oom = Error::OutOfMemory {
            requested_pages: npages,
        };
        let ask = npages
            .checked_mul(PAGE_SIZE)
            .map(|b| align_up(b, CHUNK_BYTES))
            .ok_or(oom)?;
        let sys = inner.pages.sys_pages << PAGE_SHIFT;
        if sys.saturating_add(ask) > self.config.max_heap_bytes {
            return Err(oom);
        }
        if inner.cur_end - inner.cur_base < ask {
            let need = ask - (inner.cur_end - inner.cur_base);
            let bytes = align_up(need, ARENA_SIZE);
            let hint = if inner.cur_end != 0 {
                inner.cur_end
            } else {
                self.config.hint
            };
            let at_hint = if hint != 0 {
                os::reserve(Address::new(hint), bytes)
            } else {
                None
            };
            let got = match at_hint {
                Some(a) => a,
                None => os::reserve_aligned(align_up(ask, ARENA_SIZE), ARENA_SIZE)?,
            };
            let got_bytes = if got.as_usize() == hint {
                bytes
            } else {
                align_up(ask, ARENA_SIZE)
            };
            if got.as_usize() + got_bytes > 1 << HEAP_ADDR_BITS {
                // SAFETY: the reservation was just made and is not used.
                unsafe { os::release(got, got_bytes) };
                return Err(Error::AddressSpaceExhausted {
                    requested_bytes: got_bytes,
                });
            }
            inner.reserved += got_bytes;
            if got.as_usize() == inner.cur_end && inner.cur_end != 0 {
                inner.cur_end += got_bytes;
            } else {
                // Discontiguous: grow what is left of the old reservation into the heap
                // rather than waste it, then switch.
                let left = inner.cur_end - inner.cur_base;
                if left > 0 && sys + left + ask <= self.config.max_heap_bytes {
                    self.grow_range(inner, inner.cur_base, left)?;
                }
                inner.cur_base = got.as_usize();
                inner.cur_end = got.as_usize() + got_bytes;
            }
            self.reserved.store(inner.reserved, Ordering::Relaxed);
        }
        let base = inner.cur_base;
        self.grow_range(inner, base, ask)
    }

    /// Commits `base .. base + bytes` (chunk aligned, reserved) and hands it to the span
    /// map and page allocator as free, released pages.
    fn grow_range(&self, inner: &mut Inner, base: usize, bytes: usize) -> Result<(), Error> {
        // SAFETY: the range is part of this heap's reservation and not yet in use.
        unsafe { os::commit(Address::new(base), bytes)? };
        let mut a = base;
        while a < base + bytes {
            self.map.ensure_arena(Address::new(a))?;
            a = (a & !(ARENA_SIZE - 1)) + ARENA_SIZE;
        }
        inner.pages.grow(Address::new(base), bytes >> PAGE_SHIFT)?;
        if inner.cur_base == base {
            inner.cur_base += bytes;
        }
        self.sync_stats(inner);
        Ok(())
    }

    /// A fresh or recycled `Free` span struct.
    fn new_span_struct(&self, inner: &mut Inner) -> Result<&'static Span, Error> {
        if !inner.free_spans.is_null() {
            // SAFETY: the free list holds only span structs from this heap's persistent
            // blocks, which live for the process.
            let span: &'static Span = unsafe { &*inner.free_spans };
            inner.free_spans = span.next_free.load(Ordering::Relaxed);
            return Ok(span);
        }
        let size = size_of::<Span>();
        let align = align_of::<Span>();
        let mut at = align_up(inner.span_cursor, align);
        if inner.span_cursor == 0 || at + size > inner.span_end {
            let block = crate::persistent_alloc(SPAN_BLOCK_BYTES, align)?;
            at = block.as_ptr() as usize;
            inner.span_end = at + SPAN_BLOCK_BYTES;
        }
        inner.span_cursor = at + size;
        let p: *mut Span = Address::new(at).as_ptr();
        // SAFETY: `at .. at + size` is unused, aligned persistent memory inside the
        // current block; it is initialised here and lives for the process.
        unsafe {
            p.write(Span::new());
            Ok(&*p)
        }
    }

    /// Copies the page allocator's counters to the statistics mirrors. Lock held.
    fn sync_stats(&self, inner: &Inner) {
        self.sys
            .store(inner.pages.sys_pages << PAGE_SHIFT, Ordering::Relaxed);
        self.released
            .store(inner.pages.released_pages << PAGE_SHIFT, Ordering::Relaxed);
    }

    /// Returns a span's pages to the free page runs, coalescing with free neighbours
    /// (Go: `mheap.freeSpan`, `mheap.freeManual`). Cost: O(1) amortised plus the summary
    /// update (see the crate docs).
    ///
    /// A span that is already `Free` (a double free) is a fatal error.
    ///
    /// # Safety
    /// The caller owns `span` (it came from this heap's `alloc_span` and was not freed
    /// since) and makes no further use of its memory or of the `&Span` (the struct is
    /// recycled for later spans).
    pub unsafe fn free_span(&self, span: &'static Span) {
        let mut inner = self.lock();
        let state = span.state();
        if state == SpanState::Free {
            drop(inner);
            crate::fatal("free_span: span already free (double free)");
        }
        let (start, npages) = (span.start(), span.npages());
        if self
            .map
            .lookup(start)
            .is_none_or(|s| !core::ptr::eq(s, span))
        {
            drop(inner);
            crate::fatal("free_span: span not from this heap");
        }
        span.mark_free();
        inner.pages.free(start, npages);
        span.next_free.store(inner.free_spans, Ordering::Relaxed);
        inner.free_spans = core::ptr::from_ref(span).cast_mut();
        self.inuse
            .fetch_sub(npages << PAGE_SHIFT, Ordering::Relaxed);
        if state == SpanState::Manual {
            self.manual
                .fetch_sub(npages << PAGE_SHIFT, Ordering::Relaxed);
        }
        sub(&self.spans, 1);
        self.sync_stats(&inner);
        drop(inner);
        #[cfg(gort_expensive_checks)]
        self.check_invariants();
        self.scavenger.wake_if_needed(self);
    }

    /// The span whose pages contain `addr`, if that page belongs to an `InUse` or
    /// `Manual` span. O(1), lock-free, and safe on any address (null, unmapped, kernel,
    /// above 48 bits). Racing with `free_span` of that span, it may return the span or
    /// `None`; callers that need an exact answer synchronise with the freer (the
    /// collector does, by stopping the world).
    #[inline]
    pub fn span_of(&self, addr: Address) -> Option<&'static Span> {
        self.map.lookup(addr)
    }

    /// The heap's statistics, with Go's meanings (see [`HeapStats`]).
    pub fn stats(&self) -> HeapStats {
        let sys = self.sys.load(Ordering::Relaxed);
        let inuse = self.inuse.load(Ordering::Relaxed).min(sys);
        HeapStats {
            heap_sys: sys,
            heap_inuse: inuse,
            heap_manual: self.manual.load(Ordering::Relaxed),
            heap_idle: sys - inuse,
            heap_released: self.released.load(Ordering::Relaxed).min(sys - inuse),
            heap_reserved: self.reserved.load(Ordering::Relaxed),
            spans: self.spans.load(Ordering::Relaxed),
            retained_goal: self.retained_goal.load(Ordering::Relaxed),
            scavenged_total: self.scavenged_total.load(Ordering::Relaxed),
            scavenger_running: self.scavenger.running(),
            persistent_sys: crate::persistent::persistent_sys_bytes(),
        }
    }

    /// Releases up to `bytes` (rounded up to whole OS pages) of free, not yet released
    /// pages to the OS now, highest addresses first (Go: `pageAlloc.scavenge`); returns
    /// the bytes released. Released pages stay in the heap and read as zero when next
    /// allocated, which [`Span::needs_zeroing`] reports. Ignores the retained goal.
    ///
    /// The lock is held only to pick and to return each run, not across the
    /// `madvise` calls, so allocation proceeds meanwhile.
    pub fn scavenge(&self, bytes: usize) -> usize {
        let unit = (os::os_page_size() / PAGE_SIZE).max(1);
        if unit > 64 {
            // OS pages above 512 KiB: not supported; nothing is released.
            return 0;
        }
        let mut cursor = usize::MAX;
        let mut done = 0;
        while done < bytes {
            let want = (bytes - done)
                .div_ceil(PAGE_SIZE)
                .min(crate::page_alloc::SCAVENGE_BATCH_PAGES);
            let taken = self.lock().pages.scavenge_take(&mut cursor, unit, want);
            let Some((base, npages)) = taken else { break };
            // SAFETY: the pages were free and are now marked allocated for the scavenger,
            // so nobody else uses them; they are committed heap memory, OS-page aligned.
            let ok = unsafe { os::decommit(base, npages << PAGE_SHIFT) };
            let mut inner = self.lock();
            inner.pages.scavenge_done(base, npages, ok);
            self.sync_stats(&inner);
            drop(inner);
            if !ok {
                break;
            }
            done += npages << PAGE_SHIFT;
        }
        self.scavenged_total.fetch_add(done, Ordering::Relaxed);
        done
    }

    /// Bytes the scavenger should release: the excess of retained memory (`heap_sys -
    /// heap_released`) over the effective goal, capped by what is free and unreleased.
    /// The effective goal is `max(retained_goal, heap_inuse + heap_inuse / 10)`: as in
    /// Go, whose goal is 110% of a heap goal that is never below the live heap, the
    /// scavenger leaves 10% of headroom above the memory in use so a steady
    /// free/allocate cycle does not fault its pages in over and over. To release
    /// everything free, call [`PageHeap::scavenge`]`(usize::MAX)` (Go: `FreeOSMemory`).
    pub fn scavenge_excess(&self) -> usize {
        let s = self.stats();
        let releasable = s.heap_idle - s.heap_released;
        let goal = s.retained_goal.max(s.heap_inuse + s.heap_inuse / 10);
        s.retained().saturating_sub(goal).min(releasable)
    }

    /// Synchronously does what the background scavenger works toward: releases free
    /// pages until retained memory is at the goal (or nothing free is left). Returns the
    /// bytes released.
    pub fn scavenge_to_goal(&self) -> usize {
        self.scavenge(self.scavenge_excess())
    }

    /// Sets the scavenger's goal for retained memory (`heap_sys - heap_released`), in
    /// bytes: the background scavenger returns free pages to the OS while the heap
    /// retains more than this and more than 110% of `heap_inuse` (see
    /// [`PageHeap::scavenge_excess`]) (Go: the scavenger's `gcPercentGoal`/`memoryLimitGoal`; the
    /// collector's pacer sets this to about 110% of the heap goal).
    pub fn set_retained_goal(&self, bytes: usize) {
        self.retained_goal.store(bytes, Ordering::Relaxed);
        self.scavenger.wake_if_needed(self);
    }

    /// Starts this heap's background scavenger thread if it is not running (heaps built
    /// with `background_scavenger(true)` start it on their first growth). The thread is
    /// a raw `pthread_create` thread that never uses the Rust global allocator.
    pub fn start_background_scavenger(&'static self) -> bool {
        self.scavenger.start(self);
        self.scavenger.running()
    }

    /// The grown ranges of the heap, in address order (white-box tests).
    #[cfg(test)]
    pub(crate) fn grown_ranges(&self) -> Vec<(Address, Address)> {
        let mut out = Vec::new();
        self.lock().pages.for_each_range(|a, b| out.push((a, b)));
        out
    }

    /// Checks the heap's rules: the page allocator's own, the statistics against it, and
    /// that every free page maps to no span. O(heap size): for tests and debugging.
    pub fn check_invariants(&self) {
        let inner = self.lock();
        inner.pages.check_invariants();
        let s = self.stats();
        assert_eq!(s.heap_sys, inner.pages.sys_pages << PAGE_SHIFT, "heap_sys");
        assert_eq!(
            s.heap_idle,
            inner.pages.free_pages << PAGE_SHIFT,
            "heap_idle"
        );
        let mut bad = None;
        inner.pages.for_each_range(|start, end| {
            let mut a = start;
            while a < end {
                let free = inner.pages.is_free(a);
                match self.map.lookup(a) {
                    Some(span) if free || !span.contains(a) => bad = Some(a),
                    _ => {}
                }
                a = a.add(PAGE_SIZE);
            }
        });
        assert!(bad.is_none(), "free page {bad:?} maps to a live span");
    }
}
