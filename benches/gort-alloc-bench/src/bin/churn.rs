//! churn: one thread replaces random slots of a 10k working set with objects of random
//! sizes (mostly 8 B..1 KiB, 1 in 16 up to 16 KiB), 20M replacements.
#![allow(clippy::unwrap_used, reason = "bench code")]

use gort_alloc_bench::{Rng, Switch};

#[global_allocator]
static A: Switch = Switch;

fn work() -> u64 {
    const SLOTS: usize = 10_000;
    const OPS: usize = 20_000_000;
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let mut slots: Vec<Option<Box<[u8]>>> = (0..SLOTS).map(|_| None).collect();
    let mut check = 0u64;
    for _ in 0..OPS {
        let r = rng.next();
        let i = (r % SLOTS as u64) as usize;
        let size = if (r >> 20) % 16 == 0 {
            1024 + (r >> 24) % 15_360
        } else {
            8 + (r >> 24) % 1017
        } as usize;
        if let Some(old) = slots[i].take() {
            check = check.wrapping_add(old[0] as u64 + old.len() as u64);
        }
        let mut b = Vec::<u8>::with_capacity(size);
        b.push((r >> 8) as u8);
        // SAFETY: capacity is `size`; only the first byte is read back.
        unsafe { b.set_len(size) };
        slots[i] = Some(b.into_boxed_slice());
    }
    check
}

fn main() {
    gort_alloc_bench::main("churn", work);
}
