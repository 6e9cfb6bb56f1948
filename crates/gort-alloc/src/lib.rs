//! gort-alloc: Go's size-class allocator (mcache → mcentral → mheap) in Rust, usable as
//! the `#[global_allocator]` and as the collector's object heap.
//!
//! # What it is
//!
//! Objects up to 32 KiB are rounded up to one of Go's 67 size classes, generated at
//! compile time by the algorithm of Go's `mksizeclasses.go` (tail waste ≤ 12.5%,
//! [`size_class`]). A span (a run of 8 KiB pages from `gort_heap::PageHeap`) holds objects
//! of one *span class*: a size class plus a scan/noscan bit ([`SpanClass`]). Every span
//! has a [`SpanMeta`] in persistent memory, linked from the heap's `Span::owner_data`,
//! carrying an allocation bitmap and a mark bitmap, so `find_object(addr)` maps any
//! interior address to its object's base, size and class in O(1) (span map lookup, then
//! one multiplication by the class's division magic). Larger objects get their own span.
//!
//! # Glossary (Go name → gort name)
//!
//! | Go | gort |
//! |---|---|
//! | `mcache` | [`Cache`] (owned by a thread's TLS slot or a [`CacheHandle`], e.g. per P) |
//! | `mcentral` | [`Central`] |
//! | `mheap` (allocator half), `mallocgc` | [`Allocator`] |
//! | `mspan` allocator fields (`allocBits`, `gcmarkBits`, `divMul`, `nelems`) | [`SpanMeta`] |
//! | `spanClass`, `makeSpanClass` | [`SpanClass`] |
//! | `class_to_size`, `size_to_class8/128` | [`size_class::CLASSES`], [`size_class::SIZE_TO_CLASS8`] |
//! | `mcache.tiny`, `maxTinySize` | `Cache::alloc_tiny`, [`TINY_SIZE`] |
//! | `findObject` | [`Allocator::find_object`] |
//! | `mspan.sweep` | [`Allocator::sweep`] |
//! | `MemStats` | [`AllocStats`] |
//! | `throw` | `gort_heap::fatal` (shared with the page heap) |
//!
//! # Fast path
//!
//! 1. `SpanClass::for_layout(size, align)`: one table lookup for align ≤ 8.
//! 2. Pop an address off the thread cache's bin for that span class (a stack of object
//!    addresses). No lock, no atomic read-modify-write, no access to the object; the
//!    statistics counter is a relaxed load + store of an owner-written atomic.
//! 3. Free pushes onto the same bin of the *freeing* thread's cache: the layout gives the
//!    class, so no lookup is needed, whichever thread allocated the object.
//!
//! # Slow path
//!
//! 1. Empty bin: `Central::carve` takes a batch (≈32 KiB worth, 2..1024 objects) from
//!    the class's partial spans under that central's lock, scanning allocation bitmaps
//!    with `trailing_zeros` (Go `nextFreeFast`), writing addresses into the bin. Each
//!    span class has [`SHARDS`] centrals; a cache refills from its own shard, so threads
//!    mostly carve from spans no other thread carves from (jemalloc's arenas).
//! 2. No partial span: `Allocator::grow` takes a span from the page heap.
//! 3. A full bin (twice the batch): if it refilled since its last flush and that flush
//!    held only objects of its own shard (a thread freeing what it allocated), the bin
//!    doubles, within a 4 MiB budget per cache (tcmalloc's growing `max_length`);
//!    otherwise its older half goes back (`Allocator::flush_objects`): each object's span
//!    is found through the page heap's lock-free span map (once per run of one span) and
//!    objects of the cache's own shard are freed under that central's lock (one lock per
//!    batch, not per object). Objects of spans of *other* shards (allocated by other
//!    threads) are freed without any lock: per run of one span, an atomic count and one
//!    `fetch_or` per bitmap word onto the span's remote-free bitmap, and one CAS to put
//!    the span on its central's remote stack when it was not there (mimalloc's
//!    thread-free list and delayed-free list, kept as bitmaps so no object memory is
//!    touched). The central collects them in a batch, under its lock, at its next
//!    refill or flush; a producer/consumer pair never shares a lock.
//! 4. A span that becomes empty goes back to the page heap, beyond the spares its
//!    central keeps (64 KiB worth, doubled up to 1 MiB while the central keeps growing
//!    right after releasing).
//!
//! # Deliberately not done
//!
//! - No owner check on the free fast path (mimalloc frees each object to its own page):
//!   with the layout known at free time, a thread frees into its own cache, and only
//!   the batches it flushes are split into local (locked) and remote (lock-free) frees;
//!   see docs/design/gort-alloc.md for the comparison and the measured costs.
//! - No malloc headers or pointer bitmaps (Go 1.22): gort's collector traces precisely
//!   through `Trace` and scans manual objects conservatively, so it needs only the
//!   scan/noscan split.
//! - The tiny allocator is not used by `GortAlloc`: Rust frees each object on its own,
//!   and a tiny block can only be freed when all its objects are dead, which only the
//!   collector knows. It serves the collector's noscan allocations ([`CacheHandle::alloc_tiny`]).
//! - Statistics are summed without stopping the world, so a snapshot is approximate
//!   while other threads allocate (Go's `ReadMemStats` stops the world).
//! - No `fork` handlers: a child forked while another thread holds a central lock may
//!   deadlock in its first refill (glibc installs atfork handlers; gort does not yet).
//! - No debug lock-rank checker: the order below is documented, not asserted.
//!
//! # Lock order
//!
//! `Allocator::orphan_lock` < `Central::lists` < `Allocator::meta_pool` /
//! `Allocator::cache_pool` < page heap locks. No lock is held while calling into the page
//! heap except as ordered here (spans are grown and released outside central locks).
//!
//! # Go sources followed
//!
//! `src/runtime/malloc.go`, `mcache.go`, `mcentral.go`, `mbitmap.go`, `mheap.go`,
//! `msize.go`, `_mkmalloc/mksizeclasses.go`, `mstats.go`.

mod allocator;
mod bitmap;
mod cache;
mod central;
mod collector;
mod error;

mod global_alloc;
pub mod size_class;
mod span_class;
mod span_meta;
mod stats;
mod sync;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

#[cfg(test)]
mod tests;

pub use allocator::{Allocator, SHARDS};
pub use bitmap::Bitmap;
pub use cache::{Cache, CacheHandle, TINY_SIZE};
pub use central::Central;
pub use collector::{Marked, ObjectInfo, SpanRef, SweepResult};
pub use error::Error;
pub use global_alloc::GortAlloc;
pub use size_class::{ClassInfo, MAX_SMALL_SIZE, NUM_SIZE_CLASSES, SizeClass};
pub use span_class::{NUM_SPAN_CLASSES, SpanClass};
pub use span_meta::{MetaState, SpanMeta};
pub use stats::{AllocStats, SizeClassStats};
