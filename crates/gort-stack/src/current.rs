//! `StackInfo`, `set_current` and segment footers: which stack is running on this OS
//! thread. See the crate docs for the overview.
//!
//! Two sources answer "which stack is this?":
//! - the **footer**: the top 16 bytes of a segment run by a [`crate::Coroutine`] or
//!   entered by [`crate::grow`] hold `MAGIC ^ base` and a pointer to its `StackInfo`. The
//!   stack pointer finds its segment through the reservation registry, so resuming a
//!   coroutine costs no thread-local write at all. A footer is cleared before its info
//!   dies, so a valid footer always points at a live info.
//! - the **slot** set by [`set_current`] (a scheduler's goroutine on a raw [`Stack`]).
//!
//! `grow` keeps the last answer in a per-thread cache (bounds by value plus the info
//! pointer), revalidated on each use by a range check and the footer's words.

use core::cell::Cell;
use core::ptr;

use crate::grow::StackChain;
use crate::registry;
use crate::stack::Stack;

/// What gort-stack knows about a stack: its bounds, an id and a kind for reports, and
/// optionally the [`StackChain`] `grow` links new segments into.
#[derive(Debug, Clone, Copy)]
pub struct StackInfo {
    /// Lowest usable address of the running segment.
    limit: usize,
    /// One past its highest usable address.
    base: usize,
    /// The goroutine or coroutine id shown in reports.
    id: u64,
    /// What runs on it, for reports: "goroutine", "coroutine", "thread".
    what: &'static str,
    /// The growth chain of the stack, or null (then `grow` borrows pooled segments
    /// without caching them).
    chain: *const StackChain,
}

// SAFETY: a StackInfo is plain data; its `chain` pointer is dereferenced only by `grow`
// on the thread running that stack, under the contract of `StackInfo::with_chain`.
unsafe impl Send for StackInfo {}
// SAFETY: as for Send; shared references only read the plain fields.
unsafe impl Sync for StackInfo {}

impl StackInfo {
    /// Info for code running on `stack`, reported as `what` number `id`.
    pub fn new(stack: &Stack, id: u64, what: &'static str) -> StackInfo {
        StackInfo::from_bounds(stack.limit(), stack.base(), id, what)
    }

    /// Info for a stack `[limit, base)` that is not a gort [`Stack`].
    pub const fn from_bounds(limit: usize, base: usize, id: u64, what: &'static str) -> StackInfo {
        StackInfo {
            limit,
            base,
            id,
            what,
            chain: ptr::null(),
        }
    }

    /// The same info with `chain` as the place where `grow` links and caches segments.
    ///
    /// # Safety
    /// `chain` outlives every period during which this info (or a copy) is current on a
    /// thread, and is used by no other stack.
    pub unsafe fn with_chain(self, chain: &StackChain) -> StackInfo {
        StackInfo { chain, ..self }
    }

    /// Lowest usable address.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// One past the highest usable address.
    pub fn base(&self) -> usize {
        self.base
    }

    /// The id shown in reports.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// What runs on the stack ("goroutine", "coroutine", ...).
    pub fn what(&self) -> &'static str {
        self.what
    }

    /// The growth chain, or null.
    pub(crate) fn chain(&self) -> *const StackChain {
        self.chain
    }

    /// The same info moved to another segment `[limit, base)` of the same stack.
    pub(crate) fn on_segment(self, limit: usize, base: usize) -> StackInfo {
        StackInfo {
            limit,
            base,
            ..self
        }
    }

    /// Whether `addr` lies in `[limit, base)`.
    pub(crate) fn contains(&self, addr: usize) -> bool {
        addr >= self.limit && addr < self.base
    }
}

/// Bytes at the top of a segment taken by its footer.
pub(crate) const FOOTER_SIZE: usize = 16;

/// Mixed with the segment base in a footer's first word.
const FOOTER_MAGIC: usize = 0x676f_7274_5f66_7472;

/// Writes the footer of the segment whose top is `base`.
///
/// # Safety
/// The 16 bytes below `base` are ours and unused; `info` outlives the footer (it is
/// cleared with [`clear_footer`] before `info` dies).
pub(crate) unsafe fn write_footer(base: usize, info: *const StackInfo) {
    let words = base as *mut usize;
    // SAFETY: forwarded from the caller.
    unsafe {
        words.sub(2).write(FOOTER_MAGIC ^ base);
        words.sub(1).write(info as usize);
    }
}

/// Clears the footer of the segment whose top is `base`.
///
/// # Safety
/// The footer was written by [`write_footer`] and the segment is still ours.
pub(crate) unsafe fn clear_footer(base: usize) {
    // SAFETY: forwarded from the caller.
    unsafe { (base as *mut usize).sub(2).write(0) };
}

/// The info a valid footer at `base` points to.
///
/// # Safety
/// `[base - 16, base)` is mapped memory of a segment the calling thread runs on (or, from
/// the overflow handler, the faulting thread's segment).
pub(crate) unsafe fn read_footer(base: usize) -> Option<*const StackInfo> {
    let words = base as *const usize;
    // SAFETY: forwarded from the caller.
    let (tag, info) = unsafe { (words.sub(2).read_volatile(), words.sub(1).read_volatile()) };
    (tag == FOOTER_MAGIC ^ base && info != 0).then_some(info as *const StackInfo)
}

/// The footer info of the gort segment holding `addr`, if it has one.
pub(crate) fn footer_of(addr: usize) -> Option<*const StackInfo> {
    let (start, end) = registry::slot_of(addr)?;
    if addr < start + crate::os::page_size() {
        return None; // in a guard page
    }
    // SAFETY: the slot is in a live reservation (mapped); the caller runs on it.
    unsafe { read_footer(end) }
}

/// `grow`'s per-thread cache of the running segment.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cache {
    /// Lowest usable address of the cached segment (0 when empty).
    pub(crate) limit: usize,
    /// Its top (0 when empty).
    pub(crate) base: usize,
    /// Its info.
    pub(crate) info: *const StackInfo,
    /// True when `info` came from `set_current` or is the thread's own stack (no footer
    /// to revalidate against).
    pub(crate) explicit: bool,
}

impl Cache {
    const EMPTY: Cache = Cache {
        limit: 0,
        base: 0,
        info: ptr::null(),
        explicit: true,
    };

    /// Whether the cache describes the segment holding `sp`.
    #[inline]
    pub(crate) fn valid_for(&self, sp: usize) -> bool {
        sp >= self.limit
            && sp < self.base
            // SAFETY: sp is in [limit, base), so we run on that segment: its top is
            // mapped and ours.
            && match unsafe { read_footer(self.base) } {
                // A segment with a footer belongs to a coroutine or a `grow` frame: trust
                // the cache only if it came from that very footer.
                Some(p) => !self.explicit && p == self.info,
                None => self.explicit,
            }
    }
}

const NONE: StackInfo = StackInfo::from_bounds(0, 0, 0, "thread");

thread_local! {
    /// The info last given to `set_current` on this thread.
    static SLOT: Cell<StackInfo> = const { Cell::new(NONE) };
    /// Whether `SLOT` holds an info (`set_current(Some)` more recently than `None`).
    static HAS_SLOT: Cell<bool> = const { Cell::new(false) };
    /// `grow`'s cache.
    static CACHE: Cell<Cache> = const { Cell::new(Cache::EMPTY) };
}

/// Tell gort-stack which stack is running on this OS thread (used by `grow`, high-water
/// and the overflow report). The scheduler calls it when it switches to a goroutine and
/// back to its g0; `None` = the thread's own stack.
///
/// Coroutines of this crate need no call: their segments carry footers.
pub fn set_current(stack: Option<StackInfo>) {
    match stack {
        Some(info) => {
            crate::overflow::ensure_signal_stack();
            SLOT.set(info);
            HAS_SLOT.set(true);
            let p = SLOT.with(|s| s.as_ptr() as *const StackInfo);
            CACHE.set(Cache {
                limit: info.limit,
                base: info.base,
                info: p,
                explicit: true,
            });
        }
        None => {
            HAS_SLOT.set(false);
            CACHE.set(Cache::EMPTY);
        }
    }
}

/// The stack the caller runs on, if gort-stack knows it: a coroutine's (or a segment
/// `grow` linked to it), else the one last given to `set_current`; `None` for the
/// thread's own stack.
pub fn current() -> Option<StackInfo> {
    let sp = crate::arch::stack_pointer();
    if let Some(p) = footer_of(sp) {
        // SAFETY: a valid footer points at a live info.
        return Some(unsafe { *p });
    }
    explicit()
}

/// The info given to `set_current`, if any.
pub(crate) fn explicit() -> Option<StackInfo> {
    HAS_SLOT.get().then(|| SLOT.get())
}

/// A pointer to the `set_current` slot (valid for the thread's life).
pub(crate) fn explicit_ptr() -> *const StackInfo {
    SLOT.with(|s| s.as_ptr() as *const StackInfo)
}

/// `grow`'s cache.
#[inline]
pub(crate) fn cache() -> Cache {
    CACHE.get()
}

/// Replaces `grow`'s cache, returning the old one.
pub(crate) fn replace_cache(c: Cache) -> Cache {
    CACHE.replace(c)
}
