//! The crate's error type. See the crate docs for the overview.

use core::fmt;

use crate::span::SpanState;

/// Everything that can go wrong in the page heap that a caller can act on. Broken
/// runtime invariants are not errors: they go to [`crate::fatal`].
#[non_exhaustive]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// The OS refused to commit memory, or the heap limit would be exceeded.
    OutOfMemory {
        /// The number of 8 KiB pages asked for (for metadata requests, the bytes asked
        /// for rounded up to pages).
        requested_pages: usize,
    },
    /// The OS refused to reserve address space (or the 48-bit heap range is full).
    AddressSpaceExhausted {
        /// The bytes of address space asked for.
        requested_bytes: usize,
    },
    /// `alloc_span` was asked for zero pages or for more than the address space holds.
    InvalidPageCount {
        /// The page count asked for.
        npages: usize,
    },
    /// `alloc_span` was asked for a span in a state other than `InUse` or `Manual`.
    InvalidSpanState {
        /// The state asked for.
        state: SpanState,
    },
    /// `persistent_alloc` was asked for an alignment that is not a power of two, or for
    /// a size or alignment too large for it.
    InvalidLayout {
        /// The size asked for.
        size: usize,
        /// The alignment asked for.
        align: usize,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::OutOfMemory { requested_pages } => write!(
                f,
                "out of memory: cannot commit {requested_pages} pages of {} bytes",
                crate::PAGE_SIZE
            ),
            Error::AddressSpaceExhausted { requested_bytes } => {
                write!(
                    f,
                    "address space exhausted: cannot reserve {requested_bytes} bytes"
                )
            }
            Error::InvalidPageCount { npages } => {
                write!(f, "invalid page count {npages} for a span")
            }
            Error::InvalidSpanState { state } => {
                write!(f, "cannot allocate a span in state {state:?}")
            }
            Error::InvalidLayout { size, align } => {
                write!(
                    f,
                    "invalid layout for persistent_alloc: size {size}, align {align}"
                )
            }
        }
    }
}

impl std::error::Error for Error {}
