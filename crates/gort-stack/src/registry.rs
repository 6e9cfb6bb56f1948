//! A lock-free, append-only table of stack reservations, readable from a signal handler,
//! so a fault address can be matched to the guard page of any segment. See the crate docs
//! for the overview.

use core::cell::Cell;

use crate::sync::static_atomic::{AtomicBool, AtomicUsize, Ordering};

/// Entries in the table; with 256 MiB reservations this covers 1 TiB of stacks. A
/// reservation past the table still works; only its overflow report is less precise
/// (the current stack's bounds are still known through `set_current`).
const CAPACITY: usize = 4096;

/// One reservation. `end` is written last (Release) and cleared on unmap.
struct Entry {
    /// First byte of the reservation. Written once before `end` is published.
    start: AtomicUsize,
    /// One past the last byte; 0 while unpublished or after unregistering.
    end: AtomicUsize,
    /// Slot size (guard page + usable). Written once before `end` is published.
    slot: AtomicUsize,
}

#[allow(
    clippy::declare_interior_mutable_const,
    reason = "used only to initialise the array"
)]
const EMPTY: Entry = Entry {
    start: AtomicUsize::new(0),
    end: AtomicUsize::new(0),
    slot: AtomicUsize::new(0),
};

static TABLE: [Entry; CAPACITY] = [EMPTY; CAPACITY];
/// Entries claimed so far (may exceed `CAPACITY`; extra claims are dropped).
static USED: AtomicUsize = AtomicUsize::new(0);

/// Records a reservation of `len` bytes at `start` carved in slots of `slot` bytes.
/// (Not under loom, whose pools come and go with every model iteration.)
#[cfg(not(loom))]
pub(crate) fn register(start: usize, len: usize, slot: usize) {
    let i = USED.fetch_add(1, Ordering::Relaxed);
    if let Some(e) = TABLE.get(i) {
        e.start.store(start, Ordering::Relaxed);
        e.slot.store(slot, Ordering::Relaxed);
        e.end.store(start + len, Ordering::Release);
    }
}

/// Forgets the reservation starting at `start` (its pool is being dropped).
#[cfg(not(loom))]
pub(crate) fn unregister(start: usize) {
    let n = USED.load(Ordering::Acquire).min(CAPACITY);
    for e in &TABLE[..n] {
        if e.end.load(Ordering::Acquire) != 0 && e.start.load(Ordering::Relaxed) == start {
            e.end.store(0, Ordering::Release);
        }
    }
}

/// The slot `[start, end)` of a registered reservation that holds `addr`, if any: the
/// guard page is `[start, start + page)`, the usable part `[start + page, end)`.
/// Async-signal-safe (atomic loads and a const thread-local only); O(1) when `addr` is
/// in the reservation this thread found last, else O(reservations).
pub(crate) fn slot_of(addr: usize) -> Option<(usize, usize)> {
    let n = USED.load(Ordering::Acquire).min(CAPACITY);
    let hint = LAST.with(Cell::get);
    if hint < n
        && let Some(hit) = slot_in(&TABLE[hint], addr)
    {
        return Some(hit);
    }
    for (i, e) in TABLE[..n].iter().enumerate() {
        if let Some(hit) = slot_in(e, addr) {
            LAST.with(|l| l.set(i));
            return Some(hit);
        }
    }
    None
}

thread_local! {
    /// The table index of the reservation `slot_of` found last on this thread.
    static LAST: Cell<usize> = const { Cell::new(0) };
}

/// The usable part `[limit, base)` of the pooled stack slot holding `addr` (its guard
/// page left out), if any: how a collector maps another thread's stack pointer to the
/// goroutine stack segment it runs on. Async-signal-safe, allocates nothing.
pub fn stack_segment_of(addr: usize) -> Option<(usize, usize)> {
    let (start, end) = slot_of(addr)?;
    Some(((start + crate::os::page_size()).min(end), end))
}

/// The slot of `e` holding `addr`, if `e` is live and holds it.
#[inline]
fn slot_in(e: &Entry, addr: usize) -> Option<(usize, usize)> {
    let end = e.end.load(Ordering::Acquire);
    let start = e.start.load(Ordering::Relaxed);
    if end == 0 || addr < start || addr >= end {
        return None;
    }
    let slot = e.slot.load(Ordering::Relaxed);
    let slot_start = start + (addr - start) / slot * slot;
    Some((slot_start, slot_start + slot))
}

/// Prints, once per process, that the `mprotect` guard budget ran out.
pub(crate) fn warn_canary_fallback(budget: usize) {
    static WARNED: AtomicBool = AtomicBool::new(false);
    if !WARNED.swap(true, Ordering::Relaxed) {
        let mut buf = crate::fmt_buf::FmtBuf::new();
        let _ = core::fmt::write(
            &mut buf,
            format_args!(
                "runtime: stack guard budget of {budget} mprotect guard pages exhausted \
                 (vm.max_map_count); new stacks are canary-checked instead\n"
            ),
        );
        crate::os::write_stderr(buf.as_bytes());
    }
}
