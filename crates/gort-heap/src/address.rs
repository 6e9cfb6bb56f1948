//! `Address`, the machine-word newtype every heap API speaks, and the heap's geometry
//! constants. See the crate docs for the overview.

use core::fmt;

/// log2 of [`PAGE_SIZE`]: runtime pages are 8 KiB whatever the OS page size is
/// (Go: `_PageShift`).
pub const PAGE_SHIFT: usize = 13;
/// The runtime page size, 8 KiB (Go: `_PageSize`).
pub const PAGE_SIZE: usize = 1 << PAGE_SHIFT;
/// log2 of [`ARENA_SIZE`].
pub const ARENA_SHIFT: usize = 26;
/// The address-space reservation granule, 64 MiB (Go: `heapArenaBytes`).
pub const ARENA_SIZE: usize = 1 << ARENA_SHIFT;
/// Runtime pages per arena (8192; Go: `pagesPerArena`).
pub const PAGES_PER_ARENA: usize = ARENA_SIZE / PAGE_SIZE;
/// Bits of address space the heap covers (Go: `heapAddrBits` on linux/amd64 and arm64).
/// Addresses at or above `1 << HEAP_ADDR_BITS` are never heap addresses.
pub const HEAP_ADDR_BITS: usize = 48;
/// Number of arena slots in the arena index: the whole 48-bit space (4 Mi slots).
pub const ARENA_INDEX_LEN: usize = 1 << (HEAP_ADDR_BITS - ARENA_SHIFT);

/// A virtual address. No bare `usize` address crosses the crate's API (CONVENTIONS 20).
///
/// Arithmetic helpers do not check overflow in release builds; heap addresses are below
/// `1 << 48`, so sums of an address and a span length cannot overflow.
#[repr(transparent)]
#[derive(Copy, Clone, Eq, PartialEq, Ord, PartialOrd, Hash, Default)]
pub struct Address(usize);

impl Address {
    /// The null address.
    pub const NULL: Address = Address(0);

    /// Wraps a raw address.
    #[inline(always)]
    pub const fn new(addr: usize) -> Self {
        Address(addr)
    }

    /// The address of `ptr`.
    #[inline(always)]
    pub fn from_ptr<T>(ptr: *const T) -> Self {
        Address(ptr as usize)
    }

    /// The raw value.
    #[inline(always)]
    pub const fn as_usize(self) -> usize {
        self.0
    }

    /// This address as a raw pointer (with the exposed provenance of the mapping).
    #[inline(always)]
    pub fn as_ptr<T>(self) -> *mut T {
        core::ptr::with_exposed_provenance_mut(self.0)
    }

    /// `self + bytes`.
    #[inline(always)]
    #[must_use]
    pub const fn add(self, bytes: usize) -> Self {
        Address(self.0 + bytes)
    }

    /// `self - bytes`.
    #[inline(always)]
    #[must_use]
    pub const fn sub(self, bytes: usize) -> Self {
        Address(self.0 - bytes)
    }

    /// `self - base` in bytes; `base` must not be above `self`.
    #[inline(always)]
    pub const fn offset_from(self, base: Address) -> usize {
        self.0 - base.0
    }

    /// Rounds down to a multiple of `align` (a power of two).
    #[inline(always)]
    #[must_use]
    pub const fn align_down(self, align: usize) -> Self {
        Address(self.0 & !(align - 1))
    }

    /// Rounds up to a multiple of `align` (a power of two).
    #[inline(always)]
    #[must_use]
    pub const fn align_up(self, align: usize) -> Self {
        Address((self.0 + align - 1) & !(align - 1))
    }

    /// Whether the address is a multiple of `align` (a power of two).
    #[inline(always)]
    pub const fn is_aligned(self, align: usize) -> bool {
        self.0 & (align - 1) == 0
    }

    /// Whether this is the null address.
    #[inline(always)]
    pub const fn is_null(self) -> bool {
        self.0 == 0
    }

    /// The global runtime page number of this address (`addr >> PAGE_SHIFT`).
    #[inline(always)]
    pub const fn page_number(self) -> usize {
        self.0 >> PAGE_SHIFT
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

/// Rounds `n` up to a multiple of `align` (a power of two).
#[inline(always)]
pub(crate) const fn align_up(n: usize, align: usize) -> usize {
    (n + align - 1) & !(align - 1)
}
