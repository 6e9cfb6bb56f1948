//! Unit tests of the `gosync` types on OS threads.

use std::sync::Arc; // tidy: allow(std-sync) test scaffolding shares values with std threads
use std::thread;

use super::*;

#[test]
fn semaphore_counts_permits() {
    let s = Semaphore::new(2);
    assert!(s.try_acquire());
    assert!(s.try_acquire());
    assert!(!s.try_acquire());
    s.release();
    assert_eq!(s.available(), 1);
    s.acquire();
    assert_eq!(s.available(), 0);
}

#[test]
fn semaphore_wakes_blocked_acquirer() {
    let s = Arc::new(Semaphore::new(0));
    let t = {
        let s = Arc::clone(&s);
        thread::spawn(move || s.acquire())
    };
    s.release();
    t.join().unwrap();
    assert_eq!(s.available(), 0);
}

#[test]
fn mutex_excludes_under_contention() {
    let m = Arc::new(Mutex::new(0u64));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let m = Arc::clone(&m);
            thread::spawn(move || {
                for _ in 0..10_000 {
                    *m.lock() += 1;
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(*m.lock(), 40_000);
    assert!(!m.is_locked());
}

#[test]
fn mutex_try_lock() {
    let m = Mutex::new(5);
    let g = m.lock();
    assert!(m.try_lock().is_none());
    drop(g);
    assert_eq!(*m.try_lock().unwrap(), 5);
}

#[test]
fn rwlock_readers_share_writers_exclude() {
    let l = RwLock::new(1);
    let r1 = l.read();
    let r2 = l.try_read().unwrap();
    assert!(l.try_write().is_none());
    assert_eq!(*r1 + *r2, 2);
    drop((r1, r2));
    let mut w = l.try_write().unwrap();
    assert!(l.try_read().is_none());
    *w = 3;
    drop(w);
    assert_eq!(*l.read(), 3);
}

#[test]
fn wait_group_counts() {
    let wg = WaitGroup::new();
    wg.add(2);
    assert_eq!(wg.count(), 2);
    wg.done();
    wg.done();
    wg.wait();
    assert_eq!(wg.count(), 0);
}

#[test]
fn wait_group_negative_counter_panics_with_go_message() {
    let wg = WaitGroup::new();
    let err = std::panic::catch_unwind(|| wg.done()).unwrap_err();
    assert_eq!(
        err.downcast_ref::<String>().unwrap(),
        "sync: negative WaitGroup counter"
    );
}

#[test]
fn once_runs_once_even_after_panic() {
    let once = Once::new();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        once.call_once(|| panic!("boom"));
    }));
    assert!(r.is_err());
    assert!(once.is_done());
    let mut ran = false;
    once.call_once(|| ran = true);
    assert!(!ran);
}

#[test]
fn cond_signal_without_waiter_is_not_remembered() {
    let m = Mutex::new(());
    let c = Cond::new();
    c.signal();
    c.broadcast();
    // A later waiter is not woken by the earlier signals: prove it with a signal from
    // another thread after this one has certainly taken its ticket (under the mutex).
    let pair = Arc::new((m, c));
    let g = pair.0.lock();
    let t = {
        let pair = Arc::clone(&pair);
        thread::spawn(move || {
            let _g = pair.0.lock(); // Acquired only once the waiter unlocked in `wait`.
            pair.1.signal();
        })
    };
    let g = pair.1.wait(g);
    drop(g);
    t.join().unwrap();
}
