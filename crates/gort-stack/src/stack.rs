//! `Stack`: one guarded stack segment handed out by a [`StackPool`]. See the crate docs
//! for the overview.

use core::ops::Range;

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
            .finish()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.pool.free_slot(self.class as usize, self.tagged_slot());
    }
}
