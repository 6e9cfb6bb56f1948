//! A short mixed workload at GOMAXPROCS 1 and 2 — a ring of goroutines passing values
//! over unbuffered channels, `select!` with `default`, yields, and short-lived children —
//! checking that every value arrives exactly once and the run ends (no lost wakeup, no
//! goroutine run twice).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use gort::chan::Chan;
use gort::select;
use gort::sync::WaitGroup;

fn ring(procs: usize, nodes: usize, rounds: u64) {
    let mut c = gort::Config::default();
    c.maxprocs = procs;
    let (sum, children) = gort::run_with(c, move || {
        let links: Vec<Chan<u64>> = (0..nodes).map(|_| Chan::new(0)).collect();
        let side = Chan::<u64>::new(4);
        let total = Arc::new(AtomicU64::new(0));
        let children = Arc::new(AtomicU64::new(0));
        let wg = Arc::new(WaitGroup::new());
        wg.add(nodes as i32);
        for i in 0..nodes {
            let (inbox, outbox) = (links[i].clone(), links[(i + 1) % nodes].clone());
            let (side, total, children, wg) = (
                side.clone(),
                Arc::clone(&total),
                Arc::clone(&children),
                Arc::clone(&wg),
            );
            gort::go(move || {
                let mut x = i as u64 * 0x9E37_79B9 + 1;
                for k in 0..rounds {
                    let v = (i as u64) << 32 | k;
                    if i % 2 == 0 {
                        outbox.send(v);
                        total.fetch_add(inbox.recv().unwrap() & 0xffff_ffff, Ordering::Relaxed);
                    } else {
                        let got = inbox.recv().unwrap();
                        outbox.send(v);
                        total.fetch_add(got & 0xffff_ffff, Ordering::Relaxed);
                    }
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    match x % 4 {
                        0 => gort::yield_now(),
                        1 => {
                            // Non-blocking traffic on a shared side channel.
                            select! {
                                send(side, k) => {},
                                recv(side) -> _v => {},
                                default => {},
                            }
                        }
                        2 => {
                            let children = Arc::clone(&children);
                            gort::go(move || {
                                children.fetch_add(1, Ordering::Relaxed);
                            });
                        }
                        _ => {}
                    }
                }
                wg.done();
            });
        }
        wg.wait();
        // Children are fire-and-forget; let them finish.
        while gort::num_goroutine() > 1 {
            gort::yield_now();
        }
        (
            total.load(Ordering::Relaxed),
            children.load(Ordering::Relaxed),
        )
    })
    .unwrap();
    // Every node received `rounds` values whose low halves are 0..rounds.
    assert_eq!(sum, nodes as u64 * rounds * (rounds - 1) / 2);
    assert!(children > 0);
}

#[test]
fn ring_one_proc() {
    ring(1, 32, 300);
}

#[test]
fn ring_two_procs() {
    ring(2, 32, 300);
}

#[test]
fn ring_four_procs() {
    ring(4, 16, 300);
}
