//! `gosync::Mutex` and `RwLock` under contention on plain OS threads, including Go's
//! mutex fairness test (starvation mode lets a waiter in against a greedy re-locker).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use gort_sched::gosync::{Mutex, RwLock};

#[test]
fn mutex_counts_exactly_under_contention() {
    let m = Arc::new(Mutex::new(0u64));
    let inside = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (m, inside) = (Arc::clone(&m), Arc::clone(&inside));
            thread::spawn(move || {
                for _ in 0..20_000 {
                    let mut g = m.lock();
                    assert_eq!(inside.fetch_add(1, Ordering::Relaxed), 0, "two holders");
                    *g += 1;
                    inside.fetch_sub(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(*m.lock(), 80_000);
}

#[test]
fn mutex_unlocks_when_the_holder_panics() {
    let m = Arc::new(Mutex::new(1));
    let m2 = Arc::clone(&m);
    let r = thread::spawn(move || {
        let _g = m2.lock();
        panic!("holder dies");
    })
    .join();
    assert!(r.is_err());
    // No poisoning: the guard's drop unlocked it during unwinding.
    assert_eq!(*m.try_lock().unwrap(), 1);
}

/// Go's `TestMutexFairness`: one party holds the lock almost all the time, re-locking
/// right after each unlock; another must still get it 10 times within 10 s. Without
/// starvation mode the re-locker (already running, spinning) wins nearly every race.
#[test]
fn mutex_fairness_starvation_mode_lets_waiter_in() {
    let mu = Arc::new(Mutex::new(()));
    let stop = Arc::new(AtomicBool::new(false));
    let greedy = {
        let (mu, stop) = (Arc::clone(&mu), Arc::clone(&stop));
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let g = mu.lock();
                // Hold the lock for a while (workload, not synchronisation).
                let t = Instant::now();
                while t.elapsed() < Duration::from_micros(100) {
                    std::hint::spin_loop();
                }
                drop(g);
            }
        })
    };
    let start = Instant::now();
    for _ in 0..10 {
        thread::sleep(Duration::from_micros(100));
        drop(mu.lock());
    }
    let took = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    greedy.join().unwrap();
    assert!(
        took < Duration::from_secs(10),
        "can't acquire Mutex in 10 seconds: {took:?}"
    );
}

#[test]
fn rwlock_readers_and_writers_keep_invariant() {
    // Writers keep two fields equal; readers check it.
    let l = Arc::new(RwLock::new((0u64, 0u64)));
    let mut threads = Vec::new();
    for _ in 0..2 {
        let l = Arc::clone(&l);
        threads.push(thread::spawn(move || {
            for _ in 0..5_000 {
                let mut g = l.write();
                g.0 += 1;
                g.1 += 1;
            }
        }));
    }
    for _ in 0..3 {
        let l = Arc::clone(&l);
        threads.push(thread::spawn(move || {
            for _ in 0..5_000 {
                let g = l.read();
                assert_eq!(g.0, g.1, "reader saw a torn write");
            }
        }));
    }
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(*l.read(), (10_000, 10_000));
}

#[test]
fn rwlock_pending_writer_blocks_new_readers() {
    // Go's writer preference: once a writer waits, new read attempts fail (try_read)
    // until it has been in and out.
    let l = Arc::new(RwLock::new(0));
    let r = l.read();
    let l2 = Arc::clone(&l);
    let writer = thread::spawn(move || *l2.write() = 1);
    // Wait until the writer has announced itself: then try_read must fail.
    while l.try_read().is_some() {
        thread::yield_now();
    }
    drop(r);
    writer.join().unwrap();
    assert_eq!(*l.read(), 1);
}
