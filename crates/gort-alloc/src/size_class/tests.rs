//! Unit tests for the generated size-class table.

use super::*;

/// Go's table (go:src/internal/runtime/gc/sizeclasses.go) as `(bytes, pages, objects)`,
/// copied from the project's reference notes; the generator must reproduce it.
const GO_TABLE: [(u32, u32, u32); 67] = [
    (8, 1, 1024),
    (16, 1, 512),
    (24, 1, 341),
    (32, 1, 256),
    (48, 1, 170),
    (64, 1, 128),
    (80, 1, 102),
    (96, 1, 85),
    (112, 1, 73),
    (128, 1, 64),
    (144, 1, 56),
    (160, 1, 51),
    (176, 1, 46),
    (192, 1, 42),
    (208, 1, 39),
    (224, 1, 36),
    (240, 1, 34),
    (256, 1, 32),
    (288, 1, 28),
    (320, 1, 25),
    (352, 1, 23),
    (384, 1, 21),
    (416, 1, 19),
    (448, 1, 18),
    (480, 1, 17),
    (512, 1, 16),
    (576, 1, 14),
    (640, 1, 12),
    (704, 1, 11),
    (768, 1, 10),
    (896, 1, 9),
    (1024, 1, 8),
    (1152, 1, 7),
    (1280, 1, 6),
    (1408, 2, 11),
    (1536, 1, 5),
    (1792, 2, 9),
    (2048, 1, 4),
    (2304, 2, 7),
    (2688, 1, 3),
    (3072, 3, 8),
    (3200, 2, 5),
    (3456, 3, 7),
    (4096, 1, 2),
    (4864, 3, 5),
    (5376, 2, 3),
    (6144, 3, 4),
    (6528, 4, 5),
    (6784, 5, 6),
    (6912, 6, 7),
    (8192, 1, 1),
    (9472, 7, 6),
    (9728, 6, 5),
    (10240, 5, 4),
    (10880, 4, 3),
    (12288, 3, 2),
    (13568, 5, 3),
    (14336, 7, 4),
    (16384, 2, 1),
    (18432, 9, 4),
    (19072, 7, 3),
    (20480, 5, 2),
    (21760, 8, 3),
    (24576, 3, 1),
    (27264, 10, 3),
    (28672, 7, 2),
    (32768, 4, 1),
];

#[test]
fn generated_table_matches_go() {
    for (i, &(size, npages, nelems)) in GO_TABLE.iter().enumerate() {
        let c = CLASSES[i + 1];
        assert_eq!(
            (c.size, c.npages, c.nelems),
            (size, npages, nelems),
            "class {}",
            i + 1
        );
    }
}

#[test]
fn tail_waste_at_most_one_eighth() {
    for (i, c) in CLASSES.iter().enumerate().skip(1) {
        let span = c.span_bytes();
        let tail = span - c.nelems as usize * c.size as usize;
        assert!(tail * 8 <= span, "class {i}: tail {tail} of {span}");
        assert!(c.npages <= 10, "class {i} uses {} pages", c.npages);
    }
}

#[test]
fn magic_division_is_exact_on_every_offset() {
    for (i, c) in CLASSES.iter().enumerate().skip(1) {
        for off in 0..c.span_bytes() {
            assert_eq!(
                c.object_index(off),
                off / c.size as usize,
                "class {i} offset {off}"
            );
        }
    }
}

#[test]
fn lookup_tables_pick_the_smallest_fitting_class() {
    for size in 1..=MAX_SMALL_SIZE {
        let c = SizeClass::for_size(size).map(|c| c.0 as usize);
        let want = (1..NUM_SIZE_CLASSES).find(|&c| CLASSES[c].size as usize >= size);
        assert_eq!(c, want, "size {size}");
    }
    assert_eq!(SizeClass::for_size(MAX_SMALL_SIZE + 1), None);
}

#[test]
fn layout_classes_are_aligned_and_big_enough() {
    for shift in 0..=14 {
        let align = 1usize << shift;
        for size in (1..=MAX_SMALL_SIZE).step_by(7).chain([align, 2 * align]) {
            match SizeClass::for_layout(size, align) {
                Some(c) => {
                    assert!(c.size() >= size);
                    assert_eq!(c.size() % align, 0, "size {size} align {align}");
                    // Nothing smaller would do.
                    for smaller in CLASSES.iter().take(c.0 as usize).skip(1) {
                        let s = smaller.size as usize;
                        assert!(
                            s < size || !s.is_multiple_of(align),
                            "size {size} align {align}"
                        );
                    }
                }
                None => assert!(
                    align > PAGE_SIZE || size > MAX_SMALL_SIZE,
                    "size {size} align {align}"
                ),
            }
        }
    }
}
