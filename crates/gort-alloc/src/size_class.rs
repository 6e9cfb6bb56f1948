//! Go's size classes, generated at compile time by a `const fn` (Go: mksizeclasses.go).
//!
//! See the crate docs for the overview. The table is not typed in: [`CLASSES`] is the
//! output of [`make_classes`], which follows `makeClasses` in Go's
//! `src/runtime/_mkmalloc/mksizeclasses.go` step by step, and the unit tests compare it
//! with the table Go ships.

/// Runtime page size this table is generated for (Go `_PageSize`; gort-heap's `PAGE_SIZE`).
pub const PAGE_SIZE: usize = 1 << 13;
/// Largest size served by a size class; larger objects get their own span (Go `maxSmallSize`).
pub const MAX_SMALL_SIZE: usize = 32768;
/// Number of size classes including the dummy class 0 used for large objects (Go `_NumSizeClasses`).
pub const NUM_SIZE_CLASSES: usize = 68;
/// Largest number of objects in one span (Go `maxObjsPerSpan`).
pub const MAX_OBJS_PER_SPAN: usize = 1024;
/// Size granularity of the first lookup table (Go `smallSizeDiv`).
const SMALL_SIZE_DIV: usize = 8;
/// Largest size looked up in the first table (Go `smallSizeMax`).
const SMALL_SIZE_MAX: usize = 1024;
/// Size granularity of the second lookup table (Go `largeSizeDiv`).
const LARGE_SIZE_DIV: usize = 128;

/// One size class: object size, pages per span, objects per span and the division magic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClassInfo {
    /// Object size in bytes (0 for the dummy class 0).
    pub size: u32,
    /// Pages (of [`PAGE_SIZE`]) in one span of this class.
    pub npages: u32,
    /// Objects in one span: `npages * PAGE_SIZE / size`.
    pub nelems: u32,
    /// `u32::MAX / size + 1`: `(offset * div_magic) >> 32 == offset / size` for every
    /// offset inside a span (Go `computeDivMagic`; checked exhaustively by a test).
    pub div_magic: u32,
}

impl ClassInfo {
    /// Bytes in one span of this class.
    pub const fn span_bytes(&self) -> usize {
        self.npages as usize * PAGE_SIZE
    }

    /// Index of the object containing byte `offset` of the span, by magic multiplication.
    #[inline(always)]
    pub const fn object_index(&self, offset: usize) -> usize {
        ((offset as u64 * self.div_magic as u64) >> 32) as usize
    }
}

const EMPTY: ClassInfo = ClassInfo {
    size: 0,
    npages: 0,
    nelems: 0,
    div_magic: 0,
};

/// Generates Go's size-class table (Go: mksizeclasses.go, `makeClasses`).
///
/// 1. Walk sizes from 8 to 32 KiB in steps of `align`, where `align` is 8, then 16 from
///    32 B, `size / 8` from 128 B and 256 from 2 KiB (bumped on powers of two).
/// 2. For each size take the fewest pages whose tail leftover is at most 1/8 of the span.
/// 3. Merge with the previous class when both use the same pages and object count.
/// 4. Grow each class to the largest size (a multiple of 128) that keeps its object count.
pub const fn make_classes() -> [ClassInfo; NUM_SIZE_CLASSES] {
    let mut classes = [EMPTY; NUM_SIZE_CLASSES];
    let mut n = 1; // class 0 is the dummy (large) class
    let mut align = 8;
    let mut size = align;
    while size <= MAX_SMALL_SIZE {
        if size.is_power_of_two() {
            if size >= 2048 {
                align = 256;
            } else if size >= 128 {
                align = size / 8;
            } else if size >= 32 {
                align = 16;
            }
        }
        let mut alloc_size = PAGE_SIZE;
        while alloc_size % size > alloc_size / 8 {
            alloc_size += PAGE_SIZE;
        }
        let npages = alloc_size / PAGE_SIZE;
        let prev = classes[n - 1];
        if n > 1
            && npages == prev.npages as usize
            && alloc_size / size == alloc_size / prev.size as usize
        {
            classes[n - 1].size = size as u32;
        } else {
            assert!(
                n < NUM_SIZE_CLASSES,
                "the size-class walk made too many classes"
            );
            classes[n] = ClassInfo {
                size: size as u32,
                npages: npages as u32,
                nelems: 0,
                div_magic: 0,
            };
            n += 1;
        }
        size += align;
    }
    assert!(
        n == NUM_SIZE_CLASSES,
        "the size-class walk made too few classes"
    );
    let mut i = 1;
    while i < NUM_SIZE_CLASSES {
        let c = &mut classes[i];
        let span = c.npages as usize * PAGE_SIZE;
        let new_size = (span / (span / c.size as usize)) & !(LARGE_SIZE_DIV - 1);
        if new_size > c.size as usize {
            c.size = new_size as u32;
        }
        c.nelems = (span / c.size as usize) as u32;
        assert!(
            c.nelems as usize <= MAX_OBJS_PER_SPAN,
            "a class has too many objects per span"
        );
        c.div_magic = (u32::MAX / c.size) + 1;
        i += 1;
    }
    classes
}

/// Go's size classes: `CLASSES[0]` is the dummy class for large objects.
pub const CLASSES: [ClassInfo; NUM_SIZE_CLASSES] = make_classes();

/// Size → class for sizes up to 1024 B, indexed by `(size + 7) / 8` (Go `size_to_class8`).
pub const SIZE_TO_CLASS8: [u8; SMALL_SIZE_MAX / SMALL_SIZE_DIV + 1] = make_size_to_class8();
/// Size → class for 1024 B < size ≤ 32 KiB, indexed by `(size - 1024 + 127) / 128`
/// (Go `size_to_class128`).
pub const SIZE_TO_CLASS128: [u8; (MAX_SMALL_SIZE - SMALL_SIZE_MAX) / LARGE_SIZE_DIV + 1] =
    make_size_to_class128();

const fn first_class_at_least(size: usize) -> u8 {
    let mut c = 1;
    while c < NUM_SIZE_CLASSES {
        if CLASSES[c].size as usize >= size {
            return c as u8;
        }
        c += 1;
    }
    0
}

const fn make_size_to_class8() -> [u8; SMALL_SIZE_MAX / SMALL_SIZE_DIV + 1] {
    let mut t = [0u8; SMALL_SIZE_MAX / SMALL_SIZE_DIV + 1];
    let mut i = 0;
    while i < t.len() {
        t[i] = first_class_at_least(i * SMALL_SIZE_DIV);
        i += 1;
    }
    t[0] = 1; // size 0 is served as size 1 (GlobalAlloc never asks for it)
    t
}

const fn make_size_to_class128() -> [u8; (MAX_SMALL_SIZE - SMALL_SIZE_MAX) / LARGE_SIZE_DIV + 1] {
    let mut t = [0u8; (MAX_SMALL_SIZE - SMALL_SIZE_MAX) / LARGE_SIZE_DIV + 1];
    let mut i = 0;
    while i < t.len() {
        t[i] = first_class_at_least(SMALL_SIZE_MAX + i * LARGE_SIZE_DIV);
        i += 1;
    }
    t
}

/// A size class index, 1..=67 (0 = large object on its own span).
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SizeClass(pub u8);

impl SizeClass {
    /// The dummy class of objects larger than [`MAX_SMALL_SIZE`].
    pub const LARGE: SizeClass = SizeClass(0);

    /// The class serving `size` bytes at natural (≤ 8 B) alignment, or `None` above 32 KiB.
    #[inline(always)]
    pub const fn for_size(size: usize) -> Option<SizeClass> {
        if size <= SMALL_SIZE_MAX {
            Some(SizeClass(SIZE_TO_CLASS8[size.div_ceil(SMALL_SIZE_DIV)]))
        } else if size <= MAX_SMALL_SIZE {
            Some(SizeClass(
                SIZE_TO_CLASS128[(size - SMALL_SIZE_MAX).div_ceil(LARGE_SIZE_DIV)],
            ))
        } else {
            None
        }
    }

    /// The smallest class whose objects hold `size` bytes at alignment `align`, or `None`
    /// when the object must get its own span. Objects of a class sit at multiples of its
    /// size from a page-aligned span start, so a class serves `align` when `align`
    /// divides its size.
    #[inline(always)]
    pub const fn for_layout(size: usize, align: usize) -> Option<SizeClass> {
        if align <= 8 {
            return Self::for_size(size);
        }
        if align > PAGE_SIZE {
            return None;
        }
        let need = if size > align { size } else { align };
        let Some(SizeClass(mut c)) = Self::for_size(need) else {
            return None;
        };
        while (c as usize) < NUM_SIZE_CLASSES {
            if (CLASSES[c as usize].size as usize).is_multiple_of(align) {
                return Some(SizeClass(c));
            }
            c += 1;
        }
        None
    }

    /// This class's table entry.
    #[inline(always)]
    pub const fn info(self) -> &'static ClassInfo {
        &CLASSES[self.0 as usize]
    }

    /// Object size in bytes.
    #[inline(always)]
    pub const fn size(self) -> usize {
        CLASSES[self.0 as usize].size as usize
    }
}

#[cfg(test)]
mod tests;
