//! `PageAlloc`: finds, allocates and frees runs of pages with a radix tree of free-run
//! summaries over allocation bitmaps (Go: mpagealloc.go, mpagealloc_64bit.go).
//! See the crate docs for the overview and docs/design/gort-heap.md for the proofs.
//!
//! Layout. The 48-bit address space is cut into 4 MiB *chunks* of 512 pages; each chunk
//! that belongs to the heap has two 512-bit bitmaps (allocated, scavenged). Above them is
//! a radix tree of [`Summary`] values with 5 levels: level 4 has one entry per chunk,
//! each level above merges 8 entries of the level below, and level 0 has 2^14 entries of
//! 16 GiB each. Every level is one flat `MAP_NORESERVE` array indexed by address, so
//! never-grown address space reads as the zero summary ("nothing free") at no cost.
//!
//! Finding `n` free pages (first fit, lowest address) walks down from level 0: in each
//! block of entries it carries the free run that crosses entry boundaries and stops as
//! soon as that run reaches `n`, or descends into the first entry whose `max >= n`. Cost:
//! O(E0 + 4·8 + 8) where E0 is the number of level-0 entries the heap spans (one per
//! 16 GiB of address range, usually 1 or 2), independent of fragmentation and heap size.
//! Updating after an alloc or free of `n` pages costs O(n/512 + 4·8) summary merges.
//!
//! All of it is protected by the heap lock (`&mut self`).

mod chunk;
mod summary;

use chunk::{CHUNK_PAGES, Chunk, LOG_CHUNK_BYTES};
pub(crate) use summary::Summary;

use crate::address::{
    ARENA_INDEX_LEN, ARENA_SHIFT, Address, HEAP_ADDR_BITS, PAGE_SHIFT, PAGE_SIZE,
};
use crate::error::Error;

/// Summary levels (Go: `summaryLevels`).
const LEVELS: usize = 5;
/// log2 of the bytes one entry covers, per level: 16 GiB, 2 GiB, 256 MiB, 32 MiB, 4 MiB.
const LEVEL_SHIFT: [usize; LEVELS] = [34, 31, 28, 25, 22];
/// log2 of the fan-out below levels 1..=4 (8 children per entry).
const LEVEL_BITS: usize = 3;
/// Chunks per arena (16).
const CHUNKS_PER_ARENA: usize = 1 << (ARENA_SHIFT - LOG_CHUNK_BYTES);
/// Bytes per chunk (4 MiB): the heap grows in multiples of this.
pub(crate) const CHUNK_BYTES: usize = 1 << LOG_CHUNK_BYTES;
/// Most pages the scavenger takes in one lock hold (one chunk).
pub(crate) const SCAVENGE_BATCH_PAGES: usize = CHUNK_PAGES;

/// Entries in level `l`.
const fn level_len(l: usize) -> usize {
    1 << (HEAP_ADDR_BITS - LEVEL_SHIFT[l])
}

/// Pages one entry of level `l` covers.
const fn entry_pages(l: usize) -> usize {
    1 << (LEVEL_SHIFT[l] - PAGE_SHIFT)
}

/// The bitmaps of one arena's 16 chunks.
struct ArenaChunks {
    chunks: [Chunk; CHUNKS_PER_ARENA],
}

/// A grown range `[start, end)` of the heap, chunk aligned.
#[derive(Copy, Clone, Debug)]
struct Range {
    start: usize,
    end: usize,
}

/// The page allocator. Protected by the heap lock.
pub(crate) struct PageAlloc {
    /// Level arrays, `level_len(l)` summaries each, mapped on first grow (null before).
    summary: [*mut Summary; LEVELS],
    /// One slot per arena: its chunk bitmaps, or null if no page of it was ever grown.
    chunks: *mut *mut ArenaChunks,
    /// Lower bound on the lowest free page's address (`usize::MAX`: nothing free).
    search_addr: usize,
    /// One past the highest level-0 entry holding heap memory.
    l0_end: usize,
    /// Invariant: no chunk at or above this index holds a free, unreleased page (Go's
    /// `scavengeIndex` in one word). Raised by frees; lowered by scavenger scans that
    /// start from it; so repeated scavenging does not rescan exhausted chunks.
    scav_hint: usize,
    /// The grown ranges, sorted and merged: `ranges_len` entries at `ranges`.
    ranges: *mut Range,
    ranges_len: usize,
    ranges_cap: usize,
    /// Free pages, including those released to the OS or in flight to the scavenger.
    pub(crate) free_pages: usize,
    /// Free pages whose memory is released (scavenged bit set).
    pub(crate) released_pages: usize,
    /// Pages ever grown (Go: `HeapSys` in pages).
    pub(crate) sys_pages: usize,
}

// SAFETY: the raw pointers point to process-lifetime memory owned by this allocator and
// are only dereferenced through `&mut self` (under the heap lock) or `&self`.
unsafe impl Send for PageAlloc {}

impl core::fmt::Debug for PageAlloc {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PageAlloc")
            .field("free_pages", &self.free_pages)
            .field("released_pages", &self.released_pages)
            .field("sys_pages", &self.sys_pages)
            .finish_non_exhaustive()
    }
}

impl PageAlloc {
    /// An empty allocator (no memory until the first grow).
    pub(crate) fn new() -> PageAlloc {
        PageAlloc {
            summary: [core::ptr::null_mut(); LEVELS],
            chunks: core::ptr::null_mut(),
            search_addr: usize::MAX,
            scav_hint: 0,
            l0_end: 0,
            ranges: core::ptr::null_mut(),
            ranges_len: 0,
            ranges_cap: 0,
            free_pages: 0,
            released_pages: 0,
            sys_pages: 0,
        }
    }

    #[inline]
    fn sum(&self, l: usize, i: usize) -> Summary {
        debug_assert!(i < level_len(l));
        // SAFETY: summary[l] has level_len(l) entries once mapped; find/update only run
        // after the first grow mapped every level, and i is in bounds.
        unsafe { *self.summary[l].add(i) }
    }

    #[inline]
    fn set_sum(&mut self, l: usize, i: usize, s: Summary) {
        debug_assert!(i < level_len(l));
        // SAFETY: as in `sum`; `&mut self` gives exclusive access.
        unsafe { *self.summary[l].add(i) = s }
    }

    /// The bitmaps of chunk `ci`, which must belong to a grown arena.
    #[inline]
    fn chunk(&self, ci: usize) -> &Chunk {
        // SAFETY: callers pass chunks inside grown ranges, whose arena slot was filled by
        // `grow` with a live ArenaChunks; the index has ARENA_INDEX_LEN slots.
        unsafe {
            let arena = *self.chunks.add(ci / CHUNKS_PER_ARENA);
            debug_assert!(!arena.is_null());
            &(*arena).chunks[ci % CHUNKS_PER_ARENA]
        }
    }

    #[inline]
    fn chunk_mut(&mut self, ci: usize) -> &mut Chunk {
        // SAFETY: as in `chunk`; `&mut self` gives exclusive access.
        unsafe {
            let arena = *self.chunks.add(ci / CHUNKS_PER_ARENA);
            debug_assert!(!arena.is_null());
            &mut (*arena).chunks[ci % CHUNKS_PER_ARENA]
        }
    }

    /// Adds `base .. base + npages` (chunk aligned, fresh zeroed memory) as free,
    /// released pages (Go: `pageAlloc.grow`).
    pub(crate) fn grow(&mut self, base: Address, npages: usize) -> Result<(), Error> {
        let bytes = npages * PAGE_SIZE;
        debug_assert!(
            base.is_aligned(CHUNK_BYTES) && bytes.is_multiple_of(CHUNK_BYTES) && bytes > 0
        );
        if self.chunks.is_null() {
            for l in 0..LEVELS {
                self.summary[l] = crate::os::map_zeroed(level_len(l) * 8)?.as_ptr();
            }
            self.chunks =
                crate::os::map_zeroed(ARENA_INDEX_LEN * size_of::<*mut ArenaChunks>())?.as_ptr();
        }
        self.push_range(base.as_usize(), base.as_usize() + bytes)?;
        let first_arena = base.as_usize() >> ARENA_SHIFT;
        let last_arena = (base.as_usize() + bytes - 1) >> ARENA_SHIFT;
        for ai in first_arena..=last_arena {
            // SAFETY: ai < ARENA_INDEX_LEN because grown memory lies below 2^48.
            let slot = unsafe { &mut *self.chunks.add(ai) };
            if slot.is_null() {
                let p =
                    crate::persistent_alloc(size_of::<ArenaChunks>(), align_of::<ArenaChunks>())?;
                let arena: *mut ArenaChunks = p.as_ptr().cast();
                // SAFETY: fresh, zeroed, suitably aligned memory for one ArenaChunks; no
                // page of it is in the heap yet, so mark them all allocated.
                unsafe {
                    for c in &mut (*arena).chunks {
                        c.alloc = [!0; 8];
                    }
                }
                *slot = arena;
            }
        }
        let first = base.as_usize() >> LOG_CHUNK_BYTES;
        for ci in first..first + bytes / CHUNK_BYTES {
            let c = self.chunk_mut(ci);
            c.alloc = [0; 8];
            c.scav = [!0; 8];
        }
        self.update(base.as_usize(), npages);
        self.search_addr = self.search_addr.min(base.as_usize());
        self.l0_end = self
            .l0_end
            .max(((base.as_usize() + bytes - 1) >> LEVEL_SHIFT[0]) + 1);
        self.free_pages += npages;
        self.released_pages += npages;
        self.sys_pages += npages;
        Ok(())
    }

    /// Records a grown range, merging it with its neighbours.
    fn push_range(&mut self, start: usize, end: usize) -> Result<(), Error> {
        // Extend the last range in the common contiguous-growth case.
        if self.ranges_len > 0 {
            // SAFETY: ranges has ranges_len initialised entries.
            let last = unsafe { &mut *self.ranges.add(self.ranges_len - 1) };
            if last.end == start {
                last.end = end;
                return Ok(());
            }
        }
        if self.ranges_len == self.ranges_cap {
            let cap = (self.ranges_cap * 2).max(64);
            let p = crate::persistent_alloc(cap * size_of::<Range>(), align_of::<Range>())?;
            let new: *mut Range = p.as_ptr().cast();
            if self.ranges_len > 0 {
                // SAFETY: both buffers hold at least ranges_len ranges and do not overlap
                // (the new one is fresh). The old buffer is leaked (persistent memory).
                unsafe { core::ptr::copy_nonoverlapping(self.ranges, new, self.ranges_len) };
            }
            self.ranges = new;
            self.ranges_cap = cap;
        }
        // SAFETY: ranges_len < ranges_cap; the slice covers the initialised entries.
        let ranges = unsafe { core::slice::from_raw_parts_mut(self.ranges, self.ranges_len + 1) };
        let mut i = self.ranges_len;
        while i > 0 && ranges[i - 1].start > start {
            ranges[i] = ranges[i - 1];
            i -= 1;
        }
        ranges[i] = Range { start, end };
        self.ranges_len += 1;
        Ok(())
    }

    fn range_list(&self) -> &[Range] {
        if self.ranges.is_null() {
            return &[];
        }
        // SAFETY: ranges has ranges_len initialised entries.
        unsafe { core::slice::from_raw_parts(self.ranges, self.ranges_len) }
    }

    /// Lowest address of a free run of `npages` pages, if any (Go: `pageAlloc.find`).
    /// See the module docs for the walk and its cost.
    pub(crate) fn find(&self, npages: usize) -> Option<usize> {
        if self.search_addr == usize::MAX || npages == 0 {
            return None;
        }
        // The block of entries to scan at the current level: [lo, hi).
        let mut lo = self.search_addr >> LEVEL_SHIFT[0];
        let mut hi = self.l0_end;
        for (l, &shift) in LEVEL_SHIFT.iter().enumerate() {
            let pages = entry_pages(l);
            let mut run = 0;
            let mut run_base = 0;
            let mut descend = None;
            for j in lo..hi {
                let s = self.sum(l, j);
                let entry_base = j << shift;
                if s.is_full() {
                    run = 0;
                    continue;
                }
                let start = s.start();
                if run + start >= npages {
                    return Some(if run > 0 { run_base } else { entry_base });
                }
                if s.max() >= npages {
                    descend = Some(j);
                    break;
                }
                if start == pages {
                    if run == 0 {
                        run_base = entry_base;
                    }
                    run += pages;
                } else {
                    run = s.end();
                    run_base = entry_base + ((pages - run) << PAGE_SHIFT);
                }
            }
            let j = descend?;
            if l + 1 == LEVELS {
                let i = self.chunk(j).find(npages)?;
                return Some((j << LOG_CHUNK_BYTES) + (i << PAGE_SHIFT));
            }
            lo = j << LEVEL_BITS;
            hi = lo + (1 << LEVEL_BITS);
        }
        None
    }

    /// Allocates `npages` pages (first fit): their base and how many of them were
    /// released (known zero). `None` if no run fits; the caller grows the heap.
    pub(crate) fn alloc(&mut self, npages: usize) -> Option<(Address, usize)> {
        let base = self.find(npages)?;
        let released = self.mark(base, npages, true);
        self.update(base, npages);
        self.free_pages -= npages;
        self.released_pages -= released;
        if npages == 1 {
            // First fit of one page is the lowest free page: nothing below is free.
            self.search_addr = base + PAGE_SIZE;
        }
        Some((Address::new(base), released))
    }

    /// Frees `npages` pages at `base`, which were allocated by `alloc`.
    pub(crate) fn free(&mut self, base: Address, npages: usize) {
        let b = base.as_usize();
        self.mark(b, npages, false);
        self.update(b, npages);
        self.free_pages += npages;
        self.search_addr = self.search_addr.min(b);
        self.raise_scav_hint(b, npages);
    }

    /// Keeps the `scav_hint` invariant when `base .. base + npages` become free and
    /// unreleased.
    fn raise_scav_hint(&mut self, base: usize, npages: usize) {
        let end_chunk = (base + npages * PAGE_SIZE - 1) / CHUNK_BYTES + 1;
        self.scav_hint = self.scav_hint.max(end_chunk);
    }

    /// Sets (`alloc`) or clears the allocated bits of `base .. base + npages`; when
    /// setting, also clears their scavenged bits and returns how many were set.
    fn mark(&mut self, base: usize, npages: usize, alloc: bool) -> usize {
        let mut released = 0;
        let mut page = base >> PAGE_SHIFT;
        let end = page + npages;
        while page < end {
            let ci = page / CHUNK_PAGES;
            let i = page % CHUNK_PAGES;
            let n = (CHUNK_PAGES - i).min(end - page);
            let c = self.chunk_mut(ci);
            if cfg!(debug_assertions) {
                let set = chunk::count_range(&c.alloc, i, n);
                if set != if alloc { 0 } else { n } {
                    crate::fatal("page allocator: alloc of allocated or free of free pages");
                }
            }
            chunk::set_range(&mut c.alloc, i, n, alloc);
            if alloc {
                released += chunk::count_range(&c.scav, i, n);
                chunk::set_range(&mut c.scav, i, n, false);
            }
            page += n;
        }
        released
    }

    /// Recomputes the summaries covering `base .. base + npages`, leaves first, stopping
    /// early at the first level where no recomputed entry changed (the levels above
    /// then cannot change either).
    fn update(&mut self, base: usize, npages: usize) {
        let mut lo = base >> LOG_CHUNK_BYTES;
        let mut hi = (base + npages * PAGE_SIZE - 1) >> LOG_CHUNK_BYTES;
        let mut changed = false;
        for ci in lo..=hi {
            let s = self.chunk(ci).summarize();
            changed |= s != self.sum(LEVELS - 1, ci);
            self.set_sum(LEVELS - 1, ci, s);
        }
        for l in (0..LEVELS - 1).rev() {
            if !changed {
                return;
            }
            changed = false;
            lo >>= LEVEL_BITS;
            hi >>= LEVEL_BITS;
            for i in lo..=hi {
                let first = i << LEVEL_BITS;
                let mut children = [Summary::default(); 1 << LEVEL_BITS];
                for (k, c) in children.iter_mut().enumerate() {
                    *c = self.sum(l + 1, first + k);
                }
                let merged = Summary::merge(&children, entry_pages(l + 1));
                changed |= merged != self.sum(l, i);
                self.set_sum(l, i, merged);
            }
        }
    }

    /// Takes the highest run of free, unreleased pages below chunk `*cursor` for the
    /// scavenger, at most `max_pages` long and made of whole `unit`-page groups, and marks
    /// it allocated so nobody allocates it while it is being released. Moves `*cursor`
    /// down as chunks are exhausted. Finish with [`PageAlloc::scavenge_done`].
    ///
    /// The scan starts at `min(*cursor, scav_hint)`, so it is strictly highest-first and
    /// skips the chunks known to hold nothing to release; a scan that starts at the hint
    /// lowers it to where it found something (or to 0). Amortised O(1) chunks per call.
    pub(crate) fn scavenge_take(
        &mut self,
        cursor: &mut usize,
        unit: usize,
        max_pages: usize,
    ) -> Option<(Address, usize)> {
        let from_hint = *cursor >= self.scav_hint;
        *cursor = (*cursor).min(self.scav_hint);
        let mut found = None;
        'ranges: for r in self.range_list().iter().rev() {
            let first = r.start >> LOG_CHUNK_BYTES;
            let mut ci = (*cursor).min(r.end >> LOG_CHUNK_BYTES);
            while ci > first {
                let c = ci - 1;
                if let Some((i, n)) = self.chunk(c).highest_scavengeable(unit, max_pages) {
                    found = Some(((c << LOG_CHUNK_BYTES) + (i << PAGE_SHIFT), n));
                    *cursor = ci;
                    break 'ranges;
                }
                ci -= 1;
            }
            *cursor = first;
        }
        if from_hint {
            self.scav_hint = if found.is_some() { *cursor } else { 0 };
        }
        let (base, n) = found?;
        self.mark(base, n, true);
        self.update(base, n);
        Some((Address::new(base), n))
    }

    /// Returns pages taken by `scavenge_take` to the free pool, marked released if
    /// `released` (the OS accepted them), or just free again if not.
    pub(crate) fn scavenge_done(&mut self, base: Address, npages: usize, released: bool) {
        let b = base.as_usize();
        self.mark(b, npages, false);
        if released {
            let mut page = b >> PAGE_SHIFT;
            let end = page + npages;
            while page < end {
                let n = (CHUNK_PAGES - page % CHUNK_PAGES).min(end - page);
                let c = self.chunk_mut(page / CHUNK_PAGES);
                chunk::set_range(&mut c.scav, page % CHUNK_PAGES, n, true);
                page += n;
            }
            self.released_pages += npages;
        } else {
            self.raise_scav_hint(b, npages);
        }
        self.update(b, npages);
        self.search_addr = self.search_addr.min(b);
    }

    /// Whether page `addr` is free (white-box tests and invariant checks).
    pub(crate) fn is_free(&self, addr: Address) -> bool {
        let page = addr.page_number();
        let in_heap = self
            .range_list()
            .iter()
            .any(|r| (r.start..r.end).contains(&addr.as_usize()));
        in_heap
            && self.chunk(page / CHUNK_PAGES).alloc[(page % CHUNK_PAGES) / 64] >> (page % 64) & 1
                == 0
    }

    /// Calls `f(start, end)` for each grown range.
    pub(crate) fn for_each_range(&self, mut f: impl FnMut(Address, Address)) {
        for r in self.range_list() {
            f(Address::new(r.start), Address::new(r.end));
        }
    }

    /// Checks the allocator's rules: every summary equals the merge of its children,
    /// leaf summaries match the bitmaps, `scav & alloc == 0`, and the free/released page
    /// counts match the bitmaps. O(heap size); for tests and expensive-check builds.
    pub(crate) fn check_invariants(&self) {
        let (mut free, mut released) = (0, 0);
        for r in self.range_list() {
            for ci in r.start >> LOG_CHUNK_BYTES..r.end >> LOG_CHUNK_BYTES {
                let c = self.chunk(ci);
                assert_eq!(
                    self.sum(LEVELS - 1, ci),
                    c.summarize(),
                    "leaf summary of chunk {ci}"
                );
                for w in 0..8 {
                    assert_eq!(
                        c.alloc[w] & c.scav[w],
                        0,
                        "scavenged bit on an allocated page"
                    );
                    free += (!c.alloc[w]).count_ones() as usize;
                    released += c.scav[w].count_ones() as usize;
                    if ci >= self.scav_hint {
                        assert_eq!(
                            !c.alloc[w] & !c.scav[w],
                            0,
                            "unreleased free page above scav_hint"
                        );
                    }
                }
            }
            for l in (0..LEVELS - 1).rev() {
                let lo = r.start >> LEVEL_SHIFT[l];
                let hi = (r.end - 1) >> LEVEL_SHIFT[l];
                for i in lo..=hi {
                    let first = i << LEVEL_BITS;
                    let mut children = [Summary::default(); 1 << LEVEL_BITS];
                    for (k, c) in children.iter_mut().enumerate() {
                        *c = self.sum(l + 1, first + k);
                    }
                    assert_eq!(
                        self.sum(l, i),
                        Summary::merge(&children, entry_pages(l + 1))
                    );
                }
            }
        }
        // Pages in flight to the scavenger are allocated in the bitmap but free in the
        // counters, so the bitmap may show fewer free pages, never more.
        assert!(
            free <= self.free_pages,
            "bitmap free {free} > counted {}",
            self.free_pages
        );
        assert_eq!(released, self.released_pages, "released pages");
    }
}
