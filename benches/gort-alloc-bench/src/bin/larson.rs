//! larson: two threads replace random slots of one shared 20k-slot table with new
//! objects (16..512 B), freeing what they take out, which the other thread often
//! allocated (larson's "bleeding" server pattern); 10M replacements per thread.
#![allow(clippy::unwrap_used, reason = "bench code")]

use std::alloc::{Layout, alloc, dealloc};
use std::sync::Arc;
use std::sync::atomic::{AtomicPtr, Ordering};

use gort_alloc_bench::{Rng, Switch};

#[global_allocator]
static A: Switch = Switch;

const SLOTS: usize = 20_000;
const OPS: usize = 10_000_000;

/// Objects store their size in their first word so any thread can free them.
unsafe fn free_obj(p: *mut u8) -> u64 {
    if p.is_null() {
        return 0;
    }
    // SAFETY: every object starts with its size and was allocated with that layout.
    unsafe {
        let size = *(p as *const usize);
        dealloc(p, Layout::from_size_align_unchecked(size, 8));
        size as u64
    }
}

fn work() -> u64 {
    let table: Arc<Vec<AtomicPtr<u8>>> = Arc::new(
        (0..SLOTS)
            .map(|_| AtomicPtr::new(std::ptr::null_mut()))
            .collect(),
    );
    let threads: Vec<_> = (0..2u64)
        .map(|t| {
            let table = table.clone();
            std::thread::spawn(move || {
                let mut rng = Rng(0x2545_f491_4f6c_dd1d ^ (t + 1) * 0x9e37);
                let mut check = 0u64;
                for _ in 0..OPS {
                    let r = rng.next();
                    let size = 16 + ((r >> 32) % 497) as usize;
                    // SAFETY: non-zero size, align 8.
                    let p = unsafe { alloc(Layout::from_size_align_unchecked(size, 8)) };
                    assert!(!p.is_null());
                    // SAFETY: the object holds at least 16 bytes.
                    unsafe { *(p as *mut usize) = size };
                    let old = table[(r % SLOTS as u64) as usize].swap(p, Ordering::AcqRel);
                    // SAFETY: `old` came out of the table, so no one else holds it.
                    check = check.wrapping_add(unsafe { free_obj(old) });
                }
                check
            })
        })
        .collect();
    let mut check: u64 = threads
        .into_iter()
        .map(|t| t.join().unwrap())
        .fold(0, u64::wrapping_add);
    for slot in table.iter() {
        // SAFETY: the threads are done; each object is in one slot only.
        check = check
            .wrapping_add(unsafe { free_obj(slot.swap(std::ptr::null_mut(), Ordering::AcqRel)) });
    }
    // Timing-dependent interleavings change which object each swap frees, but not the
    // total: every allocated object is freed exactly once.
    check
}

fn main() {
    gort_alloc_bench::main("larson", work);
}
