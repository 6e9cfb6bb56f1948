//! pingpong (tokio twin of benches/go/pingpong): two tasks bounce a value over two
//! channels; time per round trip. Flags: -n N (default 2000000), -procs P. Prints one
//! JSON line last.
//!
//! tokio has no unbuffered (rendezvous) channel. The closest fit is a bounded
//! `tokio::sync::mpsc::channel(1)`, the smallest capacity tokio allows: in a strict
//! ping-pong at most one value is ever in flight per channel, so each send completes
//! without waiting and each receive waits for the peer, as with Go's unbuffered
//! channels; only the sender's wait for the receiver's pick-up is missing.

use std::time::Instant;

use gort_sched_bench::{flag, tokio_main};
use tokio::sync::mpsc;

fn main() {
    let n = flag("-n", 2_000_000);
    let ((v, el), procs) = tokio_main(async move {
        let (a_tx, mut a_rx) = mpsc::channel::<u64>(1);
        let (b_tx, mut b_rx) = mpsc::channel::<u64>(1);
        tokio::spawn(async move {
            while let Some(v) = a_rx.recv().await {
                if b_tx.send(v + 1).await.is_err() {
                    break;
                }
            }
            // Dropping b_tx closes b, as the Go twin's close(b).
        });
        let start = Instant::now();
        let mut v = 0;
        for _ in 0..n {
            a_tx.send(v).await.expect("pong task alive");
            v = b_rx.recv().await.expect("pong task alive");
        }
        drop(a_tx);
        (v, start.elapsed())
    });
    println!(
        "{{\"bench\":\"pingpong\",\"impl\":\"tokio\",\"procs\":{},\"n\":{},\"v\":{},\"total_ms\":{:.3},\"ns_per_op\":{:.1}}}",
        procs,
        n,
        v,
        el.as_secs_f64() * 1e3,
        el.as_nanos() as f64 / n as f64
    );
}
