//! gort-heap: Go's page heap (`mheap`) in Rust.
//!
//! The lowest layer of gort. It owns the process's heap address space: it reserves it
//! from the OS in 64 MiB *arenas*, hands it out as *spans* (runs of contiguous 8 KiB
//! pages), answers "which span holds this address?" in O(1) without locks for any
//! address at all, and gives idle pages back to the OS in the background. The size-class
//! allocator (gort-alloc) carves spans into objects; the collector (gort-gc) finds
//! objects through the span map. Nothing here allocates through the Rust global
//! allocator, because gort-alloc *is* the global allocator and calls into this crate.
//!
//! ```
//! use gort_heap::{PAGE_SIZE, PageHeap, SpanState};
//!
//! let heap = PageHeap::global();
//! let span = heap.alloc_span(4, SpanState::Manual)?;
//! assert_eq!(span.bytes(), 4 * PAGE_SIZE);
//! // Any interior address finds its span, in O(1) and without a lock.
//! let inside = span.start().add(3 * PAGE_SIZE + 100);
//! assert!(core::ptr::eq(heap.span_of(inside).unwrap(), span));
//! // SAFETY: the span came from this heap and is not used after this.
//! unsafe { heap.free_span(span) };
//! assert!(heap.span_of(inside).is_none());
//! # Ok::<(), gort_heap::Error>(())
//! ```
//!
//! # Glossary (Go name → gort name)
//!
//! | Go (runtime) | gort-heap |
//! |---|---|
//! | `mheap`, `mheap_` | [`PageHeap`], [`PageHeap::global`] |
//! | `mspan` | [`Span`] |
//! | `mSpanState` (`mSpanDead`/`mSpanInUse`/`mSpanManual`) | [`SpanState`] (`Free`/`InUse`/`Manual`) |
//! | `mheap.arenas`, `heapArena.spans` | the span map (`span_map.rs`) |
//! | `spanOf`, `spanOfHeap` | [`PageHeap::span_of`] |
//! | `pageAlloc` (`mpagealloc.go`) | the page allocator (`page_alloc/`) |
//! | `pallocSum` | `Summary` |
//! | `pallocBits`, `pallocData.scavenged` | `Chunk::alloc`, `Chunk::scav` |
//! | `mheap.grow`, `sysReserve`/`sysMap`/`sysUnused`/`sysFree` | `PageHeap::grow`, [`os`] |
//! | `persistentalloc` | [`persistent_alloc`] |
//! | `fixalloc` (for `mspan`) | the span-struct free list in `PageHeap` |
//! | `bgscavenge`, `scavenger` | the background scavenger (`scavenger.rs`) |
//! | `mspan.needzero` | [`Span::needs_zeroing`] |
//! | `HeapSys`/`HeapIdle`/`HeapInuse`/`HeapReleased` | [`HeapStats`] |
//! | `throw` | [`fatal`] |
//! | `lockrank.go` | `lock_rank.rs` (heap lock < persistent lock) |
//! | `arenaHints` | `HeapConfig` hint: heap *i* at `i << 40 \| 0xc000000000` |
//!
//! # Allocating a span (`PageHeap::alloc_span`)
//!
//! 1. Take the heap lock (a leaf lock; the only lock on this path).
//! 2. Fast path: the page allocator finds the lowest run of `n` free pages by walking its
//!    radix tree of free-run summaries (5 levels, fan-out 8, one flat array per level),
//!    then the 512-bit bitmap of one 4 MiB chunk: O(E0 + 40) steps whatever the heap's
//!    size or fragmentation (E0 = level-0 entries the heap spans, one per 16 GiB). It
//!    marks the pages allocated and updates O(n/512 + 32) summaries.
//! 3. Take a span struct from the free list (or carve one from persistent memory),
//!    initialise it, publish its state, then point each of its pages' span-map slots at
//!    it (`Release`), so a lock-free `span_of` sees a fully built span.
//! 4. Slow path (`alloc_slow`): grow the heap by whole 4 MiB chunks from the current
//!    reservation, reserving new arenas (contiguously when the OS agrees) when it runs
//!    out; commit them (`mprotect`, `MAP_NORESERVE`), register their arenas in the span
//!    map and their pages (free, released) in the page allocator, and retry.
//!
//! Freeing clears the pages' bits and updates the summaries, which *is* coalescing: free
//! neighbours merge in the summaries with no list surgery. Span-map slots of freed pages
//! are left stale, as in Go; `span_of` rejects them by the span's state and bounds.
//!
//! # Scavenging
//!
//! Every page carries a *scavenged* bit: set when its memory was returned to the OS
//! (`MADV_DONTNEED`) or never touched, so it reads as zero. A span made only of such
//! pages reports `needs_zeroing() == false`. [`PageHeap::scavenge`] releases free pages
//! highest address first (allocation is lowest-first, so the pages likeliest to be
//! reused stay resident). A background thread per heap (a raw pthread, see
//! `scavenger.rs` for why) keeps `heap_sys - heap_released` at or below
//! [`PageHeap::set_retained_goal`], pacing itself to about 1% of one CPU as Go does, and
//! runs even when every mutator is idle.
//!
//! # Deliberately not done
//!
//! - No per-P page cache (Go's `pageCache`): gort-alloc caches spans above this layer.
//! - Arenas are never unmapped (Go neither); released pages keep their address space.
//! - No huge-page management (`MADV_HUGEPAGE`/`MADV_COLLAPSE`): left to the kernel's
//!   default THP policy.
//! - Only the 48-bit address space (Go's `heapAddrBits` on amd64/arm64); addresses
//!   above it are never heap addresses.
//!
//! Go sources followed: `runtime/mheap.go`, `mpagealloc.go`, `mpagealloc_64bit.go`,
//! `mpallocbits.go`, `mgcscavenge.go`, `mem_linux.go`, `malloc.go` (`persistentalloc`).
//! The detailed design, with complexity and rejected alternatives, is in
//! `docs/design/gort-heap.md`.

mod address;
mod error;
mod fatal;
mod lock_rank;
pub mod os;
mod page_alloc;
mod page_heap;
mod persistent;
mod scavenger;
mod span;
mod span_map;
mod stats;
mod sync;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

#[cfg(test)]
mod tests;

pub use address::{
    ARENA_INDEX_LEN, ARENA_SHIFT, ARENA_SIZE, Address, HEAP_ADDR_BITS, PAGE_SHIFT, PAGE_SIZE,
    PAGES_PER_ARENA,
};
pub use error::Error;
pub use fatal::fatal;
pub use page_heap::{DEFAULT_RETAINED_GOAL, HeapConfig, PageHeap};
pub use persistent::{persistent_alloc, persistent_sys_bytes};
pub use span::{Span, SpanState};
pub use stats::HeapStats;
pub use sync::runtime_lock;
