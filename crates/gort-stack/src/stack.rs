//! `Stack`: one guarded stack segment handed out by a [`StackPool`]. See the crate docs
//! for the overview.

use core::ops::Range;

use crate::compact::{self, COMPACT_ALIGN, COMPACT_RED_ZONE, CompactCopy, MAX_COMPACT_BYTES};
use crate::error::Error;
use crate::guard::{CANARY, GuardKind};
use crate::os;
use crate::pool::StackPool;

/// One stack segment: usable memory `[limit, base)`, growing down from `base`, with a
/// guard page right below `limit` (or a canary word at `limit`; see [`GuardKind`]).
///
/// Pages are committed by touch. Dropping a `Stack` returns it to its pool.
pub struct Stack {
    /// Lowest usable address; the guard page is `[limit - page, limit)`. Immutable.
    limit: usize,
    /// One past the highest usable address (the initial stack pointer). Immutable.
    base: usize,
    /// How the page below `limit` is protected. Immutable.
    guard: GuardKind,
    /// The pool size class. Immutable.
    class: u8,
    /// The pool the segment returns to. Immutable.
    pool: &'static StackPool,
    /// While compacted: where the live part waits (the segment's pages are released).
    /// Owned by whoever owns the `Stack` (`&mut self` to change).
    saved: Option<CompactCopy>,
}

// The assertion that `Stack` is `Send` (it is plain addresses and a 'static pool).
const _: fn() = || {
    fn is_send<T: Send>() {}
    is_send::<Stack>();
};

/// How much of a segment is really in use, from `mincore`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct StackUsage {
    /// Bytes of the segment resident in memory now.
    pub resident_bytes: usize,
    /// Distance from `base` down to the lowest resident page: the deepest the stack has
    /// been touched since its pages were last given back.
    pub high_water: usize,
    /// Usable size of the segment.
    pub size: usize,
}

impl Stack {
    /// A segment of at least `size` usable bytes from the global pool.
    pub fn new(size: usize) -> Result<Stack, Error> {
        StackPool::global().alloc(size)
    }

    /// Assembles a `Stack` from a slot of `pool`.
    ///
    /// # Safety
    /// `[limit - page, base)` is a slot of `class` just handed out by `pool` with a guard
    /// of kind `guard`, and no other `Stack` owns it.
    pub(crate) unsafe fn from_raw_parts(
        limit: usize,
        base: usize,
        guard: GuardKind,
        class: u8,
        pool: &'static StackPool,
    ) -> Stack {
        Stack {
            limit,
            base,
            guard,
            class,
            pool,
            saved: None,
        }
    }

    /// One past the highest usable address: the stack starts here and grows down.
    #[inline]
    pub fn base(&self) -> usize {
        self.base
    }

    /// The lowest usable address.
    #[inline]
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Usable bytes, `base - limit`.
    #[inline]
    pub fn size(&self) -> usize {
        self.base - self.limit
    }

    /// How the segment is protected against overflow.
    pub fn guard_kind(&self) -> GuardKind {
        self.guard
    }

    /// The guard page's address range, if the segment has one.
    pub fn guard_range(&self) -> Option<Range<usize>> {
        match self.guard {
            GuardKind::Canary => None,
            _ => Some(self.limit - os::page_size()..self.limit),
        }
    }

    /// For a canary-guarded segment, whether the canary at `limit` is intact (always
    /// `true` for guard-page segments).
    pub fn canary_intact(&self) -> bool {
        match self.guard {
            // SAFETY: the canary word is the first usable word of our own segment.
            GuardKind::Canary => unsafe { (self.limit as *const usize).read_volatile() == CANARY },
            _ => true,
        }
    }

    /// How many bytes of the segment are resident and how deep it has been touched
    /// (the stack high-water mark), from `mincore`.
    pub fn usage(&self) -> StackUsage {
        let page = os::page_size();
        let mut resident = 0;
        let mut lowest = None;
        os::for_each_resident(self.limit, self.size(), |i, r| {
            if r {
                resident += page;
                if lowest.is_none() {
                    lowest = Some(self.limit + i * page);
                }
            }
        });
        StackUsage {
            resident_bytes: resident,
            high_water: lowest.map_or(0, |l| self.base - l),
            size: self.size(),
        }
    }

    /// Gives back the pages of `[limit, keep_from)` to the OS; they read as zero when
    /// touched again. Used for parked stacks whose live part starts at `keep_from`.
    ///
    /// # Safety
    /// Nothing live is stored below `keep_from` (round it down to a page yourself if the
    /// live part is not page-aligned: only whole pages below it are released).
    pub unsafe fn release_below(&self, keep_from: usize) {
        let page = os::page_size();
        let end = (keep_from.clamp(self.limit, self.base)) & !(page - 1);
        if end > self.limit {
            // SAFETY: the caller guarantees the range holds nothing live.
            unsafe { os::release(self.limit, end - self.limit) };
            if self.guard == GuardKind::Canary {
                // SAFETY: the canary word is the first usable word of our own segment.
                unsafe { (self.limit as *mut usize).write_volatile(CANARY) };
            }
        }
    }

    /// Compacts the suspended stack: copies its live part `[sp - COMPACT_RED_ZONE, base)`
    /// (rounded down to [`COMPACT_ALIGN`])
    /// (which holds the saved registers and, for coroutines and grown segments, the
    /// footer) into a compact buffer of the pool and releases every page of `[limit,
    /// base)` with `MADV_DONTNEED`. The guard page is untouched (`MADV_GUARD_INSTALL`
    /// markers survive `MADV_DONTNEED`; an `mprotect` guard lies outside the range); a
    /// canary is written back by [`Stack::restore`]. The buffer range is
    /// [`Stack::compacted`]'s, for a collector to scan meanwhile.
    ///
    /// Errors (the stack is left as it was): [`Error::AlreadyCompacted`] (compacting twice
    /// is refused, not nested), [`Error::NotOnStack`] (`sp` outside `[limit, base]`, e.g.
    /// a stack suspended on a grown segment), [`Error::TooDeepToCompact`] (a live part
    /// over [`MAX_COMPACT_BYTES`]: it would save little), [`Error::OutOfAddressSpace`].
    ///
    /// # Safety
    /// - Nothing runs on the stack, and `sp` is its saved stack pointer: nothing live lies
    ///   below `sp - COMPACT_RED_ZONE`.
    /// - Until [`Stack::restore`] returns, nothing reads or writes `[limit, base)` —
    ///   pointers into the stack may exist (they stay valid: the contents come back to
    ///   the same addresses) but must not be used. Rust code can lend a stack's locals to
    ///   other threads while it is suspended (`std::thread::scope`, or a channel waiter
    ///   living on the stack); the caller must exclude all of them.
    /// - The contents written by whoever ran the stack happen-before this call (the
    ///   usual hand-off of a suspended stack).
    pub unsafe fn compact(&mut self, sp: usize) -> Result<CompactCopy, Error> {
        let lo = self.compact_from(sp)?;
        // SAFETY: the caller's contract above is `compact::compact`'s; `lo` is at or
        // above `limit` (`compact_from`).
        let copy =
            unsafe { compact::compact(self.pool.compact_arena(), self.limit, lo, self.base)? };
        self.saved = Some(copy);
        Ok(copy)
    }

    /// [`Stack::compact`] without releasing the pages: the live part is copied and the
    /// stack counts as compacted, but its pages stay until the caller passes
    /// [`Stack::release_range`] to [`crate::release_compacted`] (batched with other
    /// stacks' ranges: one `madvise` per run of neighbouring segments).
    ///
    /// # Safety
    /// As for [`Stack::compact`]; in addition the caller calls `release_compacted` with
    /// this stack's range before the stack is restored or dropped.
    pub unsafe fn compact_keep_pages(&mut self, sp: usize) -> Result<CompactCopy, Error> {
        let lo = self.compact_from(sp)?;
        // SAFETY: the caller's contract: the stack is suspended and nothing writes it.
        let copy = unsafe { compact::copy_out(self.pool.compact_arena(), lo, self.base)? };
        self.saved = Some(copy);
        Ok(copy)
    }

    /// What a deferred compaction must release: the segment, plus its guard page when it
    /// has one (releasing it keeps its protection), so that neighbouring segments'
    /// ranges touch and merge in [`crate::release_compacted`].
    pub fn release_range(&self) -> Range<usize> {
        match self.guard_range() {
            Some(g) => g.start..self.base,
            None => self.limit..self.base,
        }
    }

    /// The checks of [`Stack::compact`]; returns where the copy starts.
    fn compact_from(&self, sp: usize) -> Result<usize, Error> {
        if self.saved.is_some() {
            return Err(Error::AlreadyCompacted { base: self.base });
        }
        if sp < self.limit || sp > self.base {
            return Err(Error::NotOnStack {
                sp,
                limit: self.limit,
                base: self.base,
            });
        }
        // Aligned down to the buffer granule, so a value keeps its alignment (up to
        // `COMPACT_ALIGN`) in the copy and may be read there.
        let lo = (sp.saturating_sub(COMPACT_RED_ZONE).max(self.limit)) & !(COMPACT_ALIGN - 1);
        let live = self.base - lo;
        if live > MAX_COMPACT_BYTES {
            return Err(Error::TooDeepToCompact {
                live,
                max: MAX_COMPACT_BYTES,
            });
        }
        // `lo` is at or above `limit` (clamped, then aligned down from an address ≥ the
        // page-aligned limit).
        Ok(lo)
    }

    /// Copies a compacted stack's live part back to its original addresses (committing
    /// those pages again), frees the buffer and, for a canary-guarded segment, writes the
    /// canary again. Returns whether the stack was compacted: restoring a stack that is
    /// not compacted (or restoring twice) does nothing and returns `false`, so a
    /// scheduler may call it unconditionally before switching to a stack.
    #[inline]
    pub fn restore(&mut self) -> bool {
        match self.saved.take() {
            None => false,
            Some(copy) => {
                self.restore_slow(&copy);
                true
            }
        }
    }

    #[cold]
    #[inline(never)]
    fn restore_slow(&mut self, copy: &CompactCopy) {
        // SAFETY: `copy` came from `compact` on this stack with this pool's arena; by
        // `compact`'s contract nothing has used the segment since; `saved` was taken, so
        // the copy is not used again.
        unsafe { compact::restore(self.pool.compact_arena(), copy) };
        if self.guard == GuardKind::Canary && copy.original().start > self.limit {
            // SAFETY: the canary word is the first usable word of our own segment, below
            // the restored live part.
            unsafe { (self.limit as *mut usize).write_volatile(CANARY) };
        }
    }

    /// While the stack is compacted, where its live part waits; `None` otherwise.
    #[inline]
    pub fn compacted(&self) -> Option<CompactCopy> {
        self.saved
    }

    /// The pool slot address tagged with the guard kind.
    fn tagged_slot(&self) -> usize {
        (self.limit - os::page_size()) | self.guard.tag()
    }
}

impl core::fmt::Debug for Stack {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Stack")
            .field("limit", &format_args!("{:#x}", self.limit))
            .field("base", &format_args!("{:#x}", self.base))
            .field("guard", &self.guard)
            .field("compacted", &self.saved)
            .finish()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if let Some(copy) = self.saved.take() {
            // The contents are dead (the stack is being freed): drop the copy, leave the
            // pages released.
            // SAFETY: `copy` came from `compact` with this pool's arena; taken, so unused
            // again.
            unsafe { compact::discard(self.pool.compact_arena(), &copy) };
            if self.guard == GuardKind::Canary {
                // SAFETY: the canary word is the first usable word of our own segment;
                // the release wiped it, and `free_slot` checks it.
                unsafe { (self.limit as *mut usize).write_volatile(CANARY) };
            }
        }
        self.pool.free_slot(self.class as usize, self.tagged_slot());
    }
}
