//! gort-stack: goroutine stacks for gort — guarded stack segments carved from large
//! reservations, a stack pool, an assembly context switch, stackful coroutines,
//! segmented growth and an overflow handler. It is usable alone (a Rust program that only
//! wants stackful coroutines) and is the layer `gort-sched` builds goroutines on.
//!
//! # What it is
//!
//! A goroutine needs its own stack that costs almost nothing until used, is reused when
//! the goroutine ends, and fails loudly when overflowed. gort-stack gives:
//!
//! - [`Stack`]: one segment `[limit, base)` from a [`StackPool`]. Segments of one size
//!   class are carved from ~256 MiB reservations (one `mmap`, `MAP_NORESERVE`, committed
//!   by touch), so a million stacks are a few hundred mappings. Each segment has a guard
//!   page below its limit installed with `madvise(MADV_GUARD_INSTALL)` (Linux ≥ 6.13),
//!   which adds no VMA; older kernels get `mprotect` guards within a budget of a quarter
//!   of `vm.max_map_count`, then canary words ([`GuardPolicy`], [`guard_policy`]).
//! - [`Context`] and [`switch`]: the saved stack pointer of a suspended stack and the
//!   symmetric jump between two (for a scheduler), in x86_64 assembly, saving only
//!   callee-saved state.
//! - [`set_current`] / [`StackInfo`]: which stack runs on this thread, for [`grow`] and
//!   the overflow report (coroutines need no call: their segments carry a footer).
//! - [`Coroutine`] / [`Yielder`]: a safe stackful coroutine (resume with a value,
//!   suspend with a value, finish with a value; panics carried to the resumer; a
//!   dropped suspended coroutine is unwound).
//! - [`grow`]: runs a closure on a linked next segment when the current one runs low;
//!   the segment stays cached in the stack's [`StackChain`].
//! - The overflow handler: a fault in a guard page prints which goroutine or coroutine
//!   overflowed which stack and exits with status 2, as Go does.
//! - Compaction ([`Stack::compact`], [`Stack::restore`], [`Coroutine::compact`]): the
//!   live part of a suspended stack (a few hundred bytes for a parked goroutine) is
//!   copied into a compact buffer ([`CompactCopy`]) and the segment's pages are released;
//!   it is copied back to the same addresses before the stack runs again, so pointers
//!   into it stay valid. A collector scans the buffer meanwhile.
//!
//! # Go name → gort name
//!
//! | Go (runtime) | gort-stack |
//! | --- | --- |
//! | `stack` (`g.stack.lo/hi`) | [`Stack`] (`limit`/`base`), [`StackInfo`] |
//! | `stackpool`, `stackLarge` | [`StackPool`] (size classes, warm/cold lists) |
//! | `mcache.stackcache` | the per-thread segment cache ([`flush_thread_cache`]) |
//! | `gobuf` + `gogo`/`mcall` | [`Context`] + [`switch`] |
//! | `morestack`/`newstack` (segmented, Go ≤ 1.2) | [`grow`] + [`StackChain`] |
//! | `stackguard0` check in the prologue | the `sp - limit < red_zone` test in [`grow`] |
//! | "fatal error: stack overflow" | the overflow handler (exit status 2) |
//! | `stackfree` → scavenger releasing spans | [`StackPool`]'s cold list (`MADV_DONTNEED`) |
//! | `shrinkstack` (a parked G's stack made smaller) | [`Stack::compact`] / [`Stack::restore`] |
//!
//! # Fast path
//!
//! 1. [`Stack::new`] / drop: pop / push the thread's cache of free segments (no lock);
//!    past it, lock the size class and pop the most recently freed (warm) segment.
//! 2. [`Coroutine::resume`] / [`Yielder::suspend`]: a `call` into the coroutine and a
//!    `ret` out of it (so the return-stack predictor stays right), saving rbx/rbp and the
//!    resume address; the values travel as addresses in registers. No thread-local is
//!    touched. [`switch`] (the symmetric scheduler switch) pushes three words and jumps.
//! 3. [`grow`]: read the cached segment bounds from a thread local, check the stack
//!    pointer and the segment footer, compare, call `f`.
//!
//! # Slow path
//!
//! 1. Empty free lists: carve the next slot of the class's reservation (or `mmap` a new
//!    reservation) and install its guard page once; it keeps it while pooled.
//! 2. More warm free segments than the bound: the coldest gets `MADV_DONTNEED`.
//! 3. [`grow`] below the red zone (or on a segment it has not cached): find the segment
//!    from the stack pointer (reservation registry, then its footer), take the cached
//!    next segment of the [`StackChain`] (or a pooled one), move the stack pointer to it,
//!    run `f`, move back.
//! 4. Compaction of a suspended stack: copy `[sp - COMPACT_RED_ZONE, base)` (at most
//!    [`MAX_COMPACT_BYTES`]) into a buffer of the pool's own arena (never the global
//!    allocator), `MADV_DONTNEED` the segment; restore copies it back (one page fault).
//!
//! # Deliberately not done
//!
//! - Copying stacks (Go ≥ 1.3): Rust has no stack maps, so pointers into a stack cannot
//!   be fixed up; segments never move. Growth is explicit through [`grow`]; compaction
//!   copies a stack aside and back to the same addresses, never elsewhere.
//! - Deciding what to compact: the scheduler's policy (see `docs/design/gort-stack.md`,
//!   "Integration plan"); compaction is `unsafe` because safe Rust can lend a suspended
//!   stack's locals to other threads.
//! - Unmapping reservations: pooled segments give back their pages instead.
//! - Other architectures and OSes: `compile_error!` until implemented and tested.
//! - Switching the MXCSR/x87 control words: they are per thread, as in Go.
//!
//! # Go sources followed
//!
//! `runtime/stack.go` (pools, `stackalloc`/`stackfree`, guard layout), `runtime/asm_amd64.s`
//! (`gogo`, `mcall`), `runtime/signal_unix.go` (`sigpanic`, the overflow message), and the
//! Go 1.2 segmented-stack design ("Contiguous stacks", go.dev/s/contigstacks) for the
//! hot-split problem. Peers: corosensei (API shape), generator/may, stacker. The detailed
//! design is in `docs/design/gort-stack.md`.

mod arch;
mod compact;
mod context;
mod coroutine;
mod current;
mod error;
mod fatal;
mod fmt_buf;
mod grow;
mod guard;
mod os;
mod overflow;
mod pool;
mod registry;
mod stack;
mod sync;
mod thread_cache;

pub use compact::{
    COMPACT_ALIGN, COMPACT_RED_ZONE, CompactCopy, MAX_COMPACT_BYTES, release_compacted,
};
pub use context::{Context, stack_pointer, switch};
pub use coroutine::{Coroutine, CoroutineResult, DEFAULT_STACK_SIZE, Yielder};
pub use current::{StackInfo, current, set_current};
pub use error::Error;
pub use grow::{GROW_SEGMENT_MIN, StackChain, grow};
pub use guard::{CANARY, GuardKind, GuardPolicy, guard_policy};
pub use overflow::{ensure_signal_stack, install_overflow_handler};
pub use pool::{DEFAULT_WARM_BYTES, PoolStats, StackPool, max_stack_size, min_stack_size};
pub use registry::stack_segment_of;
pub use stack::{Stack, StackUsage};
pub use thread_cache::flush_thread_cache;

/// White-box constructors for tests (Go's `export_test.go`).
#[cfg(any(test, feature = "testing"))]
pub mod testing {
    use crate::{GuardPolicy, StackPool};

    /// A process-lifetime pool with a forced guard policy and warm bound (leaked: stacks
    /// borrow their pool for `'static`).
    pub fn pool_with_policy(policy: GuardPolicy, warm_bytes: usize) -> &'static StackPool {
        Box::leak(Box::new(StackPool::new(policy, warm_bytes)))
    }
}

#[cfg(all(test, loom))]
mod tests;
