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
        }
    }
}

impl std::error::Error for Error {}
