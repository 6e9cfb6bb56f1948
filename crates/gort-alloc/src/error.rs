//! The crate's error type.

use core::fmt;

/// Why an allocation failed.
#[non_exhaustive]
#[derive(Debug)]
pub enum Error {
    /// The page heap could not provide memory (out of memory, heap limit, address space).
    Heap(gort_heap::Error),
    /// The request cannot be represented: its size rounded up to pages overflows.
    TooLarge {
        /// Requested size in bytes.
        size: usize,
        /// Requested alignment in bytes.
        align: usize,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Heap(e) => write!(f, "page heap: {e:?}"),
            Error::TooLarge { size, align } => {
                write!(
                    f,
                    "allocation of {size} bytes aligned to {align} is too large"
                )
            }
        }
    }
}

impl std::error::Error for Error {}

impl From<gort_heap::Error> for Error {
    fn from(e: gort_heap::Error) -> Error {
        Error::Heap(e)
    }
}
