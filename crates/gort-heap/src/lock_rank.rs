//! The crate's lock order as data, checked on every acquire in debug builds (Go:
//! lockrank.go). See the crate docs for the overview.
//!
//! Ranks, lowest first; a thread may take a lock only while every lock it holds has a
//! lower rank:
//!
//! | rank | lock | held while |
//! |---|---|---|
//! | 1 | `PageHeap::lock` (any heap) | alloc/free/grow/scavenge bookkeeping |
//! | 2 | `persistent_alloc`'s spin lock | bumping or mapping a metadata chunk |
//!
//! So `heap lock < persistent lock`, and no thread ever holds two heap locks. Both are
//! leaves towards the layers above: nothing under them calls out of the crate. The check
//! uses a const-initialised thread-local `Cell` (no destructor, no allocation), so it is
//! safe on the global allocator's paths and on the scavenger's raw pthread.

/// A lock's rank.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum Rank {
    /// `PageHeap::lock`.
    Heap = 1,
    /// The `persistent_alloc` spin lock.
    Persistent = 2,
}

#[cfg(debug_assertions)]
thread_local! {
    /// Bit `r` set while this thread holds a lock of rank `r`.
    static HELD: core::cell::Cell<u32> = const { core::cell::Cell::new(0) };
}

/// Records that this thread takes a lock of `rank`; fatal if it holds one of an equal or
/// higher rank (a lock-order violation that could deadlock).
#[inline]
pub(crate) fn acquire(rank: Rank) {
    #[cfg(debug_assertions)]
    HELD.with(|held| {
        let bit = 1u32 << rank as u32;
        if held.get() >= bit {
            crate::fatal("lock order violation in gort-heap (see lock_rank.rs)");
        }
        held.set(held.get() | bit);
    });
    #[cfg(not(debug_assertions))]
    let _ = rank;
}

/// Records that this thread released its lock of `rank`.
#[inline]
pub(crate) fn release(rank: Rank) {
    #[cfg(debug_assertions)]
    HELD.with(|held| held.set(held.get() & !(1u32 << rank as u32)));
    #[cfg(not(debug_assertions))]
    let _ = rank;
}

#[cfg(all(test, debug_assertions))]
mod tests {
    use super::*;

    #[test]
    fn ranks_nest_upward_and_release() {
        acquire(Rank::Heap);
        acquire(Rank::Persistent);
        release(Rank::Persistent);
        release(Rank::Heap);
        HELD.with(|h| assert_eq!(h.get(), 0));
        acquire(Rank::Persistent);
        // Taking the heap lock now would be fatal; check the condition without aborting.
        HELD.with(|h| assert!(h.get() >= 1 << Rank::Heap as u32));
        release(Rank::Persistent);
    }
}
