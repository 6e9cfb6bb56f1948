//! xthread: a producer allocates 10M objects (16..256 B) and sends them in batches of
//! 1000 to a consumer thread, which reads and frees them (the glibc collapse case).
#![allow(clippy::unwrap_used, reason = "bench code")]

use std::sync::mpsc;

use gort_alloc_bench::{Rng, Switch};

#[global_allocator]
static A: Switch = Switch;

fn work() -> u64 {
    const N: usize = 10_000_000;
    const BATCH: usize = 1000;
    let (tx, rx) = mpsc::sync_channel::<Vec<Box<[u8]>>>(16);
    let consumer = std::thread::spawn(move || {
        let mut check = 0u64;
        for batch in rx {
            for b in batch {
                check = check.wrapping_add(b[0] as u64 + b.len() as u64);
            }
        }
        check
    });
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut batch = Vec::with_capacity(BATCH);
    for _ in 0..N {
        let r = rng.next();
        let size = 16 + (r % 241) as usize;
        let mut v = Vec::<u8>::with_capacity(size);
        v.push((r >> 8) as u8);
        // SAFETY: capacity is `size`; only the first byte is read back.
        unsafe { v.set_len(size) };
        batch.push(v.into_boxed_slice());
        if batch.len() == BATCH {
            tx.send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)))
                .unwrap();
        }
    }
    tx.send(batch).unwrap();
    drop(tx);
    consumer.join().unwrap()
}

fn main() {
    gort_alloc_bench::main("xthread", work);
}
