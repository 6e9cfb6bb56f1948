//! Span classes: a size class and a scan/noscan bit in one byte (Go: mheap.go, `spanClass`).

use crate::size_class::{NUM_SIZE_CLASSES, SizeClass};

/// Number of span classes: every size class twice, scan and noscan (Go `numSpanClasses`).
pub const NUM_SPAN_CLASSES: usize = NUM_SIZE_CLASSES * 2;

/// `size_class << 1 | noscan`, as Go's `spanClass`.
///
/// Noscan spans hold objects the collector never scans for pointers. An allocation whose
/// alignment is below a pointer's cannot hold an aligned pointer, so it is noscan.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SpanClass(pub u8);

impl SpanClass {
    /// The tiny allocator's blocks: 16 B noscan (Go `tinySpanClass`).
    pub const TINY: SpanClass = SpanClass::new(SizeClass(2), true);
    /// Large objects holding pointers.
    pub const LARGE_SCAN: SpanClass = SpanClass::new(SizeClass::LARGE, false);
    /// Large pointer-free objects.
    pub const LARGE_NOSCAN: SpanClass = SpanClass::new(SizeClass::LARGE, true);

    /// Builds a span class (Go `makeSpanClass`).
    #[inline(always)]
    pub const fn new(class: SizeClass, noscan: bool) -> SpanClass {
        SpanClass(class.0 << 1 | noscan as u8)
    }

    /// The span class for an allocation of `size` bytes aligned to `align`, whose scan
    /// bit is `noscan || align < size_of::<usize>()`.
    #[inline(always)]
    pub const fn for_layout(size: usize, align: usize, noscan: bool) -> SpanClass {
        let noscan = noscan || align < core::mem::size_of::<usize>();
        match SizeClass::for_layout(size, align) {
            Some(c) => SpanClass::new(c, noscan),
            None => SpanClass::new(SizeClass::LARGE, noscan),
        }
    }

    /// The size class.
    #[inline(always)]
    pub const fn size_class(self) -> SizeClass {
        SizeClass(self.0 >> 1)
    }

    /// True when objects of this class are never scanned.
    #[inline(always)]
    pub const fn noscan(self) -> bool {
        self.0 & 1 != 0
    }

    /// True for the large-object classes (size class 0).
    #[inline(always)]
    pub const fn is_large(self) -> bool {
        self.0 >> 1 == 0
    }

    /// Index into per-span-class arrays.
    #[inline(always)]
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn low_alignment_is_noscan() {
        assert!(SpanClass::for_layout(16, 1, false).noscan());
        assert!(SpanClass::for_layout(16, 4, false).noscan());
        assert!(!SpanClass::for_layout(16, 8, false).noscan());
        assert!(SpanClass::for_layout(16, 8, true).noscan());
        assert_eq!(SpanClass::TINY.0, 5);
        assert!(SpanClass::for_layout(40_000, 8, false).is_large());
        assert!(SpanClass::for_layout(64, 16_384, false).is_large());
    }
}
