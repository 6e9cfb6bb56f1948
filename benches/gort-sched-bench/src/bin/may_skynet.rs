//! skynet (may twin of benches/go/skynet): a tree of 1M coroutines; each leaf sends its
//! number, parents sum ten children (result 499999500000 for 1M). Flags: -size N
//! (default 1000000), -procs P. Prints one JSON line last; exits 1 on a wrong sum.
//!
//! Channels: may's are all unbounded (`may::sync::mpsc::channel`), standing for both
//! Go's `make(chan int, div)` (never more than `div` values in it here) and the root's
//! unbuffered channel (one value). Known limit (peers.md §1.1): every live coroutine
//! has an mmap'd stack plus a guard page, two mappings, so with the default
//! `vm.max_map_count` of 65530 may fails at about 32k live coroutines ("failed to alloc
//! sys stack"); the full-size tree needs ~1.1M alive at its peak.

use std::time::Instant;

use gort_sched_bench::{flag, may_main};
use may::sync::mpsc;

fn skynet(c: mpsc::Sender<u64>, num: u64, size: u64, div: u64) {
    if size == 1 {
        let _ = c.send(num);
        return;
    }
    let (rc_tx, rc_rx) = mpsc::channel();
    for i in 0..div {
        let sub = num + i * (size / div);
        let rc_tx = rc_tx.clone();
        may::go!(move || skynet(rc_tx, sub, size / div, div));
    }
    // Keep no sender of our own: if a child dies (a failed spawn panics the spawning
    // coroutine), `recv` errs once the other children are done instead of waiting
    // forever, and the failure reaches the root as a missing value.
    drop(rc_tx);
    let mut sum = 0;
    for _ in 0..div {
        match rc_rx.recv() {
            Ok(v) => sum += v,
            Err(_) => return,
        }
    }
    let _ = c.send(sum);
}

fn main() {
    let size = flag("-size", 1_000_000) as u64;
    let ((r, el), procs) = may_main(move || {
        let start = Instant::now();
        let (c_tx, c_rx) = mpsc::channel();
        may::go!(move || skynet(c_tx, 0, size, 10));
        // An error here means part of the tree died; the sum check below reports it.
        let r = c_rx.recv().unwrap_or(0);
        (r, start.elapsed())
    });
    println!(
        "{{\"bench\":\"skynet\",\"impl\":\"may\",\"procs\":{},\"size\":{},\"result\":{},\"total_ms\":{:.3}}}",
        procs,
        size,
        r,
        el.as_secs_f64() * 1e3
    );
    let want = (size - 1) * size / 2;
    if r != want {
        eprintln!("skynet: wrong result {r}, want {want}");
        std::process::exit(1);
    }
}
