//! Phase test: allocate 2 GiB of mixed sizes through `GortAlloc`, free it all, and check
//! that the resident set comes back down (empty spans go back to the page heap, which
//! releases them to the OS).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use gort_alloc::{Allocator, GortAlloc};

#[global_allocator]
static A: GortAlloc = GortAlloc;

/// Resident bytes from /proc/self/statm.
fn rss() -> usize {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: usize = s.split_whitespace().nth(1).unwrap().parse().unwrap();
    // SAFETY: sysconf has no preconditions.
    pages * unsafe { libc_page_size() }
}

unsafe extern "C" {
    fn sysconf(name: i32) -> i64;
}

unsafe fn libc_page_size() -> usize {
    const SC_PAGESIZE: i32 = 30;
    // SAFETY: sysconf has no preconditions.
    unsafe { sysconf(SC_PAGESIZE) as usize }
}

#[test]
fn two_gib_mixed_sizes_come_back() {
    const TOTAL: usize = 2 << 30;
    let base = rss();
    let sizes = [24usize, 200, 1500, 9000, 30_000, 100_000, 1 << 20];
    let mut held: Vec<Box<[u8]>> = Vec::with_capacity(1 << 20);
    let mut bytes = 0;
    let mut i = 0usize;
    while bytes < TOTAL {
        let size = sizes[i % sizes.len()];
        // Touch every page so the memory is resident (vec! of non-zero bytes writes it).
        held.push(vec![(i % 255) as u8 + 1; size].into_boxed_slice());
        bytes += size;
        i += 1;
    }
    let peak = rss();
    assert!(
        peak > base + TOTAL / 2,
        "peak RSS {peak} not above {base} + 1 GiB"
    );
    for (j, b) in held.iter().enumerate().step_by(997) {
        assert!(b.iter().all(|&x| x == (j % 255) as u8 + 1));
    }
    drop(held);
    let a = Allocator::global();
    a.release_spare_spans();
    a.page_heap().scavenge(usize::MAX);
    let after = rss();
    println!("rss: base {base} peak {peak} after {after}");
    assert!(
        after < base + (64 << 20),
        "RSS after freeing is {after}, base {base}, peak {peak}"
    );
    assert!(a.stats().heap_objects < 1000);
}
