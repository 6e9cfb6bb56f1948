//! pingpong (may twin of benches/go/pingpong): two coroutines bounce a value over two
//! channels; time per round trip. Flags: -n N (default 2000000), -procs P. Prints one
//! JSON line last.
//!
//! may's channels are all unbounded (`may::sync::mpsc::channel`); it has no unbuffered
//! (rendezvous) channel. In a strict ping-pong at most one value is ever in flight per
//! channel, so each receive waits for the peer as with Go's unbuffered channels; only
//! the sender's wait for the receiver's pick-up is missing.

use std::time::Instant;

use gort_sched_bench::{flag, may_main};
use may::sync::mpsc;

fn main() {
    let n = flag("-n", 2_000_000);
    let ((v, el), procs) = may_main(move || {
        let (a_tx, a_rx) = mpsc::channel::<u64>();
        let (b_tx, b_rx) = mpsc::channel::<u64>();
        let pong = may::go!(move || {
            for v in a_rx.iter() {
                if b_tx.send(v + 1).is_err() {
                    break;
                }
            }
            // Dropping b_tx closes b, as the Go twin's close(b).
        });
        let start = Instant::now();
        let mut v = 0;
        for _ in 0..n {
            a_tx.send(v).expect("pong coroutine alive");
            v = b_rx.recv().expect("pong coroutine alive");
        }
        drop(a_tx);
        let el = start.elapsed();
        pong.join().expect("pong coroutine");
        (v, el)
    });
    println!(
        "{{\"bench\":\"pingpong\",\"impl\":\"may\",\"procs\":{},\"n\":{},\"v\":{},\"total_ms\":{:.3},\"ns_per_op\":{:.1}}}",
        procs,
        n,
        v,
        el.as_secs_f64() * 1e3,
        el.as_nanos() as f64 / n as f64
    );
}
