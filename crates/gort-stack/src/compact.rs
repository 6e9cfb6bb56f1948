//! Compaction of suspended stacks: the live part is copied into a compact buffer and the
//! segment's pages are released, then copied back to the same addresses before the stack
//! runs again. See the crate docs and `docs/design/gort-stack.md` ("Compaction").
//!
//! Buffers come from a [`CompactArena`] owned by the stack's pool: 1 MiB chunks mapped
//! straight from the OS (through `os.rs`), cut into 64 size classes of 128-byte steps
//! (128 B … 8 KiB), each with an intrusive free list. The global allocator is never
//! called, so compaction may run wherever the scheduler runs (on g0, holding a P, inside
//! an allocator's own slow path) without re-entering an allocator that might itself be
//! gort's.

use core::num::NonZeroUsize;
use core::ops::Range;

use crate::error::Error;
use crate::os;

/// Bytes kept below the saved stack pointer when compacting: the x86_64 System V red
/// zone (128 bytes a leaf function may use below `rsp` without moving it).
pub const COMPACT_RED_ZONE: usize = 128;

/// Buffer size classes are multiples of this.
const GRANULE: usize = 128;

/// A compact copy starts at a stack address aligned to this, and its buffer is aligned
/// to it, so every value in the copy keeps its alignment up to this many bytes.
pub const COMPACT_ALIGN: usize = GRANULE;

/// The largest live part (from `sp - COMPACT_RED_ZONE` to the base) that is compacted;
/// deeper stacks keep their pages ([`Error::TooDeepToCompact`]).
pub const MAX_COMPACT_BYTES: usize = 8 * 1024;

/// Number of buffer size classes (`GRANULE`, `2 * GRANULE`, … `MAX_COMPACT_BYTES`).
const NUM_BUF_CLASSES: usize = MAX_COMPACT_BYTES / GRANULE;

/// Bytes mapped at a time for buffers.
const CHUNK_BYTES: usize = 1 << 20;

/// Where the live part of a compacted stack waits: `len` bytes at `buffer`, a copy of
/// `[base - len, base)` of the segment. Scan [`CompactCopy::buffer`] instead of the
/// segment while the stack is compacted (pointers in it keep their values: the stack
/// comes back to the same addresses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompactCopy {
    /// Start of the buffer (granule-aligned).
    buffer: NonZeroUsize,
    /// Bytes copied (the live part, red zone included).
    len: u32,
    /// The segment's base (the copy ends there).
    base: usize,
}

impl CompactCopy {
    /// The buffer bytes holding the copy (what a collector scans meanwhile).
    pub fn buffer(&self) -> Range<usize> {
        self.buffer.get()..self.buffer.get() + self.len()
    }

    /// The stack addresses the copy came from and goes back to.
    pub fn original(&self) -> Range<usize> {
        self.base - self.len()..self.base
    }

    /// Bytes copied.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether nothing was copied (never true for a real compaction).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes the buffer takes in the arena (the copy rounded up to its size class).
    pub fn buffer_bytes(&self) -> usize {
        class_size(class_of(self.len()))
    }

    /// The buffer address of the stack address `addr` (which lies in [`Self::original`]).
    pub(crate) fn translate(&self, addr: usize) -> usize {
        debug_assert!(self.original().contains(&addr));
        self.buffer.get() + (addr - (self.base - self.len()))
    }
}

/// The buffer class of a copy of `len` bytes (`1 ..= MAX_COMPACT_BYTES`).
fn class_of(len: usize) -> usize {
    len.div_ceil(GRANULE).max(1) - 1
}

/// Bytes of a buffer of class `c`.
fn class_size(c: usize) -> usize {
    (c + 1) * GRANULE
}

/// Compact buffers of one pool.
///
/// Invariant: every buffer on a free list is `class_size(c)` bytes inside a chunk, not
/// handed out, and its first word links to the next free buffer of the class (0 ends
/// the list); `next <= end`; `in_use_bytes` is the sum of the class sizes handed out.
#[derive(Debug)]
pub(crate) struct CompactArena {
    /// Head of each class's free list (intrusive: a free buffer's first word is the next).
    free: [usize; NUM_BUF_CLASSES],
    /// The next never-used byte of the newest chunk.
    next: usize,
    /// The end of the newest chunk.
    end: usize,
    /// Chunks mapped, `(start, len)`, unmapped when the pool drops.
    chunks: Vec<(usize, usize)>,
    /// Buffers handed out and not yet freed.
    in_use: usize,
    /// Bytes of the buffers handed out (class sizes).
    in_use_bytes: usize,
}

impl CompactArena {
    /// An empty arena (maps nothing until the first compaction).
    pub(crate) fn new() -> CompactArena {
        CompactArena {
            free: [0; NUM_BUF_CLASSES],
            next: 0,
            end: 0,
            chunks: Vec::new(),
            in_use: 0,
            in_use_bytes: 0,
        }
    }

    /// A buffer of at least `len` bytes (`1 ..= MAX_COMPACT_BYTES`).
    fn alloc(&mut self, len: usize) -> Result<NonZeroUsize, Error> {
        let c = class_of(len);
        let size = class_size(c);
        let head = self.free[c];
        let buf = if head != 0 {
            // SAFETY: a free buffer's first word is its free-list link (invariant).
            self.free[c] = unsafe { (head as *const usize).read() };
            head
        } else {
            if self.end - self.next < size {
                // The tail of the old chunk (< 8 KiB) is abandoned.
                let start = os::reserve(CHUNK_BYTES).map_err(|errno| Error::OutOfAddressSpace {
                    requested: CHUNK_BYTES,
                    errno,
                })?;
                self.chunks.push((start, CHUNK_BYTES));
                self.next = start;
                self.end = start + CHUNK_BYTES;
            }
            let b = self.next;
            self.next += size;
            b
        };
        self.in_use += 1;
        self.in_use_bytes += size;
        NonZeroUsize::new(buf).ok_or(Error::OutOfAddressSpace {
            requested: size,
            errno: 0,
        })
    }

    /// Returns the buffer of `copy` to its class.
    fn free(&mut self, copy: &CompactCopy) {
        let c = class_of(copy.len());
        let b = copy.buffer.get();
        // SAFETY: the buffer was handed out by `alloc` for this class and is no longer
        // used by its stack; its first word becomes the free-list link.
        unsafe { (b as *mut usize).write(self.free[c]) };
        self.free[c] = b;
        self.in_use -= 1;
        self.in_use_bytes -= class_size(c);
    }

    /// `(buffers in use, their bytes, bytes mapped)`.
    pub(crate) fn stats(&self) -> (usize, usize, usize) {
        (
            self.in_use,
            self.in_use_bytes,
            self.chunks.iter().map(|c| c.1).sum(),
        )
    }

    /// Asserts the arena's invariants (debug builds and tests).
    pub(crate) fn check_invariants(&self) {
        debug_assert!(self.next <= self.end, "arena bump pointer past its chunk");
        debug_assert!(
            self.in_use_bytes >= self.in_use * GRANULE,
            "arena byte count below its buffer count"
        );
    }
}

impl Drop for CompactArena {
    fn drop(&mut self) {
        for &(start, len) in &self.chunks {
            // SAFETY: the arena belongs to a pool that is dropping, so no stack of it (and
            // no compact copy) is alive; nothing refers to the chunk.
            unsafe { os::unmap(start, len) };
        }
    }
}

/// Copies `[lo, base)` into a new buffer of `arena` and releases the segment's pages.
///
/// # Safety
/// `[limit, base)` is a segment owned by the caller on which nothing runs; nothing live
/// lies below `lo`; nothing reads or writes the segment until [`restore`] (the caller's
/// contract in [`crate::Stack::compact`]).
pub(crate) unsafe fn compact(
    arena: &crate::sync::Mutex<CompactArena>,
    limit: usize,
    lo: usize,
    base: usize,
) -> Result<CompactCopy, Error> {
    // SAFETY: forwarded from the caller.
    let copy = unsafe { copy_out(arena, lo, base)? };
    // SAFETY: everything live in `[limit, base)` is now in the buffer; the guard page
    // below `limit` is outside the range (and the kernel keeps guard markers anyway).
    unsafe { os::release(limit, base - limit) };
    Ok(copy)
}

/// Copies `[lo, base)` into a new buffer of `arena`, leaving the segment's pages.
///
/// # Safety
/// `[lo, base)` is readable, owned by the caller, and nothing writes it meanwhile.
pub(crate) unsafe fn copy_out(
    arena: &crate::sync::Mutex<CompactArena>,
    lo: usize,
    base: usize,
) -> Result<CompactCopy, Error> {
    let len = base - lo;
    let buffer = match arena.lock() {
        Ok(mut a) => a.alloc(len)?,
        Err(p) => p.into_inner().alloc(len)?,
    };
    // SAFETY: [1] `[lo, base)` is our suspended segment, readable (the caller's
    // contract); [2] the buffer was just handed out, at least `len` bytes, and does not
    // overlap a stack segment (separate mappings).
    unsafe { core::ptr::copy_nonoverlapping(lo as *const u8, buffer.get() as *mut u8, len) };
    Ok(CompactCopy {
        buffer,
        len: len as u32,
        base,
    })
}

/// Releases the pages of stacks compacted with [`crate::Stack::compact_keep_pages`],
/// given their [`crate::Stack::release_range`]s: sorted, then one `madvise` per run of
/// adjacent ranges (segments carved one after another from a pool class touch when their
/// guard pages are counted in, so a batch of neighbours costs one system call and one
/// TLB shootdown instead of one each).
///
/// # Safety
/// Each range is the `release_range()` of a distinct stack compacted with
/// `compact_keep_pages` whose pages were not released yet, and no such stack is restored
/// or dropped before this returns (its live part is in its copy; nothing reads or writes
/// the segment).
pub unsafe fn release_compacted(ranges: &mut [Range<usize>]) {
    ranges.sort_unstable_by_key(|r| r.start);
    let mut i = 0;
    while i < ranges.len() {
        let start = ranges[i].start;
        let mut end = ranges[i].end;
        let mut j = i + 1;
        while j < ranges.len() && ranges[j].start == end {
            end = ranges[j].end;
            j += 1;
        }
        // SAFETY: every range in the run holds nothing live (the caller's contract); a
        // guard page in it keeps its protection (`MADV_GUARD_INSTALL` markers survive
        // `MADV_DONTNEED`; a `PROT_NONE` page has nothing to drop).
        unsafe { os::release(start, end - start) };
        i = j;
    }
}

/// Copies `copy` back to its original addresses and frees its buffer.
///
/// # Safety
/// `copy` came from [`compact`] with `arena`, for a segment the caller owns and that
/// nothing has used since; it is not used again.
pub(crate) unsafe fn restore(arena: &crate::sync::Mutex<CompactArena>, copy: &CompactCopy) {
    let r = copy.original();
    // SAFETY: [1] the buffer holds `len` initialised bytes (written by `compact`); [2]
    // the original range is our segment's, writable (released pages read as zero and are
    // committed again by the write); the two do not overlap.
    unsafe {
        core::ptr::copy_nonoverlapping(
            copy.buffer.get() as *const u8,
            r.start as *mut u8,
            copy.len(),
        )
    };
    // SAFETY: forwarded from the caller.
    unsafe { discard(arena, copy) };
}

/// Frees `copy`'s buffer without copying it back (the stack is being freed).
///
/// # Safety
/// `copy` came from [`compact`] with `arena` and is not used again.
pub(crate) unsafe fn discard(arena: &crate::sync::Mutex<CompactArena>, copy: &CompactCopy) {
    match arena.lock() {
        Ok(mut a) => a.free(copy),
        Err(p) => p.into_inner().free(copy),
    }
}
