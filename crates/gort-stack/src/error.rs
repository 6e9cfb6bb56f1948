//! The crate's error type. See the crate docs for the overview.

use core::fmt;

/// Why a stack could not be made.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The requested size is above the largest stack class.
    TooLarge {
        /// The size asked for, in bytes.
        requested: usize,
        /// The largest size a stack may have, in bytes.
        max: usize,
    },
    /// The OS refused to reserve address space for a new reservation.
    OutOfAddressSpace {
        /// The size of the reservation that failed, in bytes.
        requested: usize,
        /// The `errno` of the failed `mmap`.
        errno: i32,
    },
    /// Installing a guard page failed for a reason other than "unsupported".
    GuardFailed {
        /// The `errno` of the failed `madvise`/`mprotect`.
        errno: i32,
    },
    /// [`crate::Stack::compact`] on a stack that is already compacted (compactions do not
    /// nest; restore it first).
    AlreadyCompacted {
        /// The segment's base.
        base: usize,
    },
    /// The saved stack pointer given to [`crate::Stack::compact`] is not on the segment
    /// (for example, the stack was suspended on a segment linked by `grow`).
    NotOnStack {
        /// The stack pointer given.
        sp: usize,
        /// The segment's limit.
        limit: usize,
        /// The segment's base.
        base: usize,
    },
    /// The live part of the stack is larger than [`crate::MAX_COMPACT_BYTES`]; it keeps
    /// its pages.
    TooDeepToCompact {
        /// Bytes from `sp - COMPACT_RED_ZONE` to the base.
        live: usize,
        /// The largest live part compacted.
        max: usize,
    },
    /// [`crate::Coroutine::compact`] on a coroutine that is not suspended (fresh, finished
    /// or already compacted).
    NotSuspended,
    /// [`crate::Coroutine::compact`] on a coroutine whose header (yielder and result) is
    /// aligned to more than [`crate::COMPACT_ALIGN`]: it could not be read from the copy.
    OverAligned {
        /// The header's alignment.
        align: usize,
        /// The largest alignment a compact copy keeps.
        max: usize,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::TooLarge { requested, max } => {
                write!(f, "stack of {requested} bytes exceeds the {max}-byte limit")
            }
            Error::OutOfAddressSpace { requested, errno } => {
                write!(
                    f,
                    "cannot reserve {requested} bytes of stack address space (errno {errno})"
                )
            }
            Error::GuardFailed { errno } => {
                write!(f, "cannot install a stack guard page (errno {errno})")
            }
            Error::AlreadyCompacted { base } => {
                write!(f, "the stack with base {base:#x} is already compacted")
            }
            Error::NotOnStack { sp, limit, base } => {
                write!(f, "sp {sp:#x} is not on the stack [{limit:#x}, {base:#x})")
            }
            Error::TooDeepToCompact { live, max } => {
                write!(
                    f,
                    "{live} live stack bytes exceed the {max}-byte compaction limit"
                )
            }
            Error::NotSuspended => write!(f, "the coroutine is not suspended"),
            Error::OverAligned { align, max } => write!(
                f,
                "a {align}-byte alignment exceeds the {max}-byte alignment of compact copies"
            ),
        }
    }
}

impl std::error::Error for Error {}
