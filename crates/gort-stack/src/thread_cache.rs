//! `ThreadCache`: a few free segments of the global pool kept per thread, so creating
//! and dropping a coroutine takes no lock (Go's per-P `mcache.stackcache`). See the crate
//! docs for the overview.

use core::cell::Cell;

use crate::pool::StackPool;

/// Size classes cached per thread (16 KiB … 256 KiB with 4 KiB pages).
pub(crate) const CACHED_CLASSES: usize = 5;

/// Segments cached per class and thread.
const SLOTS: usize = 16;

/// The free segments (tagged slot addresses) cached by one thread, per class. Touched
/// only by its thread; flushed to the global pool when the thread exits.
pub(crate) struct ThreadCache {
    /// `len[k]` slots of class `k` are cached in `slots[k][..len[k]]`.
    len: [Cell<u8>; CACHED_CLASSES],
    /// The cached slots.
    slots: [[Cell<usize>; SLOTS]; CACHED_CLASSES],
}

#[allow(
    clippy::declare_interior_mutable_const,
    reason = "used only to initialise arrays"
)]
const ZERO: Cell<usize> = Cell::new(0);
#[allow(
    clippy::declare_interior_mutable_const,
    reason = "used only to initialise arrays"
)]
const ZERO8: Cell<u8> = Cell::new(0);
#[allow(
    clippy::declare_interior_mutable_const,
    reason = "used only to initialise arrays"
)]
const ROW: [Cell<usize>; SLOTS] = [ZERO; SLOTS];

thread_local! {
    static CACHE: ThreadCache = const { ThreadCache { len: [ZERO8; CACHED_CLASSES], slots: [ROW; CACHED_CLASSES] } };
}

impl ThreadCache {
    /// Moves every cached segment back to the global pool.
    fn flush(&self) {
        let pool = StackPool::global();
        for (class, len) in self.len.iter().enumerate() {
            for slot in &self.slots[class][..len.get() as usize] {
                pool.free_to_lists(class, slot.get());
            }
            len.set(0);
        }
    }
}

impl Drop for ThreadCache {
    fn drop(&mut self) {
        self.flush();
    }
}

/// A cached slot of `class` for the global pool, if this thread has one.
#[inline]
pub(crate) fn pop(class: usize) -> Option<usize> {
    if class >= CACHED_CLASSES {
        return None;
    }
    CACHE
        .try_with(|c| {
            let n = c.len[class].get();
            if n == 0 {
                return None;
            }
            c.len[class].set(n - 1);
            Some(c.slots[class][n as usize - 1].get())
        })
        .ok()
        .flatten()
}

/// Caches a freed slot of the global pool; `false` if the cache is full (or the thread
/// is exiting), and the caller frees it to the pool.
#[inline]
pub(crate) fn push(class: usize, tagged: usize) -> bool {
    if class >= CACHED_CLASSES {
        return false;
    }
    CACHE
        .try_with(|c| {
            let n = c.len[class].get();
            if n as usize == SLOTS {
                return false;
            }
            c.slots[class][n as usize].set(tagged);
            c.len[class].set(n + 1);
            true
        })
        .unwrap_or(false)
}

/// Returns this thread's cached segments to the global pool (before reading its stats,
/// or when a thread goes idle).
pub fn flush_thread_cache() {
    let _ = CACHE.try_with(ThreadCache::flush);
}
