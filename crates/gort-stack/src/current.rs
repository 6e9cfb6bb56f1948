//! `StackInfo` and `set_current`: which stack is running on this OS thread. See the crate
//! docs for the overview.

use core::cell::Cell;
use core::ptr;

use crate::grow::StackChain;
use crate::stack::Stack;

/// What gort-stack knows about the stack running on a thread: its bounds, an id and a
/// kind for reports, and optionally the [`StackChain`] `grow` links new segments into.
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
// on the thread where the info is current, under the contract of `StackInfo::with_chain`.
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
}

const NONE: StackInfo = StackInfo::from_bounds(0, 0, 0, "thread");

thread_local! {
    /// The info last given to `set_current` on this thread (storage for `CURRENT`).
    static SLOT: Cell<StackInfo> = const { Cell::new(NONE) };
    /// The info of the running stack, or null for the thread's own stack. Points at
    /// `SLOT` or at an info owned by a running coroutine or `grow` frame. Read by the
    /// overflow handler (a const-initialised thread local: async-signal-safe).
    static CURRENT: Cell<*const StackInfo> = const { Cell::new(ptr::null()) };
}

/// Tell gort-stack which stack is running on this OS thread (used by `grow`, high-water
/// and the overflow report). The scheduler calls it when it switches to a goroutine and
/// back to its g0; `None` = the thread's own stack.
pub fn set_current(stack: Option<StackInfo>) {
    match stack {
        Some(info) => {
            crate::overflow::ensure_signal_stack();
            SLOT.with(|s| {
                s.set(info);
                CURRENT.with(|c| c.set(s.as_ptr()));
            });
        }
        None => CURRENT.with(|c| c.set(ptr::null())),
    }
}

/// The stack running on this thread as last told by `set_current` (or by a running
/// coroutine or `grow`), `None` for the thread's own stack.
pub fn current() -> Option<StackInfo> {
    let p = current_ptr();
    // SAFETY: CURRENT is null or points at an info that lives while it is current.
    (!p.is_null()).then(|| unsafe { *p })
}

/// The raw current pointer.
#[inline]
pub(crate) fn current_ptr() -> *const StackInfo {
    CURRENT.with(Cell::get)
}

/// Makes `p` current and returns the previous pointer.
///
/// `p` must stay valid while current; callers restore the previous pointer before it dies.
#[inline]
pub(crate) fn replace_current_ptr(p: *const StackInfo) -> *const StackInfo {
    CURRENT.with(|c| c.replace(p))
}
