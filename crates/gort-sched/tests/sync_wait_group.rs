//! `WaitGroup`, `Once`, `Cond` and `Semaphore` correctness on plain OS threads,
//! including Go's WaitGroup misuse panics.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use gort_sched::gosync::{Cond, Mutex, Once, Semaphore, WaitGroup};

fn panic_message(f: impl FnOnce()) -> String {
    let err = catch_unwind(AssertUnwindSafe(f)).expect_err("expected a panic");
    match err.downcast::<&'static str>() {
        Ok(s) => (*s).to_string(),
        Err(err) => *err.downcast::<String>().expect("string panic payload"),
    }
}

#[test]
fn wait_group_waits_for_all_and_is_reusable() {
    let wg = Arc::new(WaitGroup::new());
    let done = Arc::new(AtomicUsize::new(0));
    for round in 1..=3 {
        wg.add(8);
        for _ in 0..8 {
            let (wg, done) = (Arc::clone(&wg), Arc::clone(&done));
            thread::spawn(move || {
                done.fetch_add(1, Ordering::Relaxed);
                wg.done();
            });
        }
        // Several waiters at once, as Go allows.
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let wg = Arc::clone(&wg);
                thread::spawn(move || wg.wait())
            })
            .collect();
        wg.wait();
        assert_eq!(done.load(Ordering::Relaxed), 8 * round);
        for w in waiters {
            w.join().unwrap();
        }
    }
}

#[test]
fn wait_group_negative_counter_panics() {
    let wg = WaitGroup::new();
    wg.add(1);
    wg.done();
    assert_eq!(
        panic_message(|| wg.done()),
        "sync: negative WaitGroup counter"
    );
    let wg = WaitGroup::new();
    assert_eq!(
        panic_message(|| wg.add(-2)),
        "sync: negative WaitGroup counter"
    );
}

#[test]
fn wait_on_zero_counter_returns_at_once() {
    WaitGroup::new().wait();
}

#[test]
fn once_runs_exactly_once_under_contention() {
    let once = Arc::new(Once::new());
    let runs = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (once, runs, seen) = (Arc::clone(&once), Arc::clone(&runs), Arc::clone(&seen));
            thread::spawn(move || {
                once.call_once(|| {
                    runs.fetch_add(1, Ordering::Relaxed);
                });
                // Every caller returns only after the action finished.
                if runs.load(Ordering::Relaxed) == 1 {
                    seen.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(runs.load(Ordering::Relaxed), 1);
    assert_eq!(seen.load(Ordering::Relaxed), 8);
}

#[test]
fn cond_producer_consumer() {
    // A bounded queue on Mutex + two Conds (Go's classic pattern).
    struct Q {
        items: Mutex<Vec<u64>>,
        not_empty: Cond,
        not_full: Cond,
    }
    let q = Arc::new(Q {
        items: Mutex::new(Vec::new()),
        not_empty: Cond::new(),
        not_full: Cond::new(),
    });
    let producers: Vec<_> = (0..3u64)
        .map(|p| {
            let q = Arc::clone(&q);
            thread::spawn(move || {
                for i in 0..2000 {
                    let mut g = q.not_full.wait_while(q.items.lock(), |v| v.len() >= 4);
                    g.push(p * 2000 + i);
                    drop(g);
                    q.not_empty.signal();
                }
            })
        })
        .collect();
    let mut sum = 0;
    for _ in 0..6000 {
        let mut g = q.not_empty.wait_while(q.items.lock(), |v| v.is_empty());
        sum += g.pop().unwrap();
        drop(g);
        q.not_full.signal();
    }
    for p in producers {
        p.join().unwrap();
    }
    assert_eq!(sum, (0..6000u64).sum());
}

#[test]
fn cond_broadcast_wakes_everyone() {
    let pair = Arc::new((Mutex::new(0u32), Cond::new()));
    let waiters: Vec<_> = (0..5)
        .map(|_| {
            let pair = Arc::clone(&pair);
            thread::spawn(move || {
                let g = pair
                    .1
                    .wait_while(pair.0.lock(), |generation| *generation == 0);
                *g
            })
        })
        .collect();
    *pair.0.lock() = 1;
    pair.1.broadcast();
    for w in waiters {
        assert_eq!(w.join().unwrap(), 1);
    }
}

#[test]
fn semaphore_bounds_concurrency() {
    let sem = Arc::new(Semaphore::new(2));
    let inside = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..6)
        .map(|_| {
            let (sem, inside) = (Arc::clone(&sem), Arc::clone(&inside));
            thread::spawn(move || {
                for _ in 0..2000 {
                    sem.acquire();
                    let n = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    assert!(n <= 2, "{n} holders of 2 permits");
                    inside.fetch_sub(1, Ordering::SeqCst);
                    sem.release();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(sem.available(), 2);
}
