//! skynet (tokio twin of benches/go/skynet): a tree of 1M tasks; each leaf sends its
//! number, parents sum ten children (result 499999500000 for 1M). Flags: -size N
//! (default 1000000), -procs P. Prints one JSON line last; exits 1 on a wrong sum.
//!
//! Channels: each parent's `make(chan int, div)` is a bounded
//! `tokio::sync::mpsc::channel(div)`; the root's unbuffered channel has no tokio
//! counterpart and is a `channel(1)` (the smallest capacity tokio allows; it carries
//! one value).

use std::future::Future;
use std::time::Instant;

use gort_sched_bench::{flag, tokio_main};
use tokio::sync::mpsc;

/// The recursion returns `impl Future + Send` (not `async fn`) so the compiler need
/// not prove the recursive future `Send` through itself; no boxing is needed because
/// a child's future is moved into its own task, never nested in the parent's.
#[allow(
    clippy::manual_async_fn,
    reason = "an `async fn` here fails to prove `Send` for `tokio::spawn` (E0283)"
)]
fn skynet(c: mpsc::Sender<u64>, num: u64, size: u64, div: u64) -> impl Future<Output = ()> + Send {
    async move {
        if size == 1 {
            let _ = c.send(num).await;
            return;
        }
        let (rc_tx, mut rc_rx) = mpsc::channel(div as usize);
        for i in 0..div {
            let sub = num + i * (size / div);
            tokio::spawn(skynet(rc_tx.clone(), sub, size / div, div));
        }
        let mut sum = 0;
        for _ in 0..div {
            sum += rc_rx.recv().await.unwrap_or(0);
        }
        let _ = c.send(sum).await;
    }
}

fn main() {
    let size = flag("-size", 1_000_000) as u64;
    let ((r, el), procs) = tokio_main(async move {
        let start = Instant::now();
        let (c_tx, mut c_rx) = mpsc::channel(1);
        tokio::spawn(skynet(c_tx, 0, size, 10));
        let r = c_rx.recv().await.unwrap_or(0);
        (r, start.elapsed())
    });
    println!(
        "{{\"bench\":\"skynet\",\"impl\":\"tokio\",\"procs\":{},\"size\":{},\"result\":{},\"total_ms\":{:.3}}}",
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
