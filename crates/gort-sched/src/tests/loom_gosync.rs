//! Loom models of the `gosync` types: mutual exclusion (including the starvation
//! hand-off), WaitGroup release, Cond wakeups and the semaphore's release/acquire race.

use crate::gosync::{Cond, Mutex, RwLock, Semaphore, WaitGroup};
use crate::sync::{Arc, thread};

/// Two parties increment under the mutex: the data cell sees no unordered access and
/// no increment is lost. Under loom a re-waiting waiter counts as starving, so this
/// also walks the direct hand-off.
#[test]
fn loom_gosync_mutex_excludes() {
    loom::model(|| {
        let m = Arc::new(Mutex::new(0u32));
        let m2 = Arc::clone(&m);
        let t = thread::spawn(move || {
            *m2.lock() += 1;
        });
        *m.lock() += 1;
        t.join().unwrap();
        assert_eq!(*m.lock(), 2);
        assert!(!m.is_locked());
    });
}

/// Three parties contend, so waiters queue and the starvation hand-off runs with a
/// newcomer around.
#[test]
fn loom_gosync_mutex_three_parties() {
    loom::model(|| {
        let m = Arc::new(Mutex::new(0u32));
        let ts: Vec<_> = (0..2)
            .map(|_| {
                let m = Arc::clone(&m);
                thread::spawn(move || *m.lock() += 1)
            })
            .collect();
        *m.lock() += 1;
        for t in ts {
            t.join().unwrap();
        }
        assert_eq!(*m.lock(), 3);
    });
}

/// A writer and a reader: the reader sees the value before or after the write, never
/// concurrently with it.
#[test]
fn loom_gosync_rwlock_writer_vs_reader() {
    loom::model(|| {
        let l = Arc::new(RwLock::new(0u32));
        let l2 = Arc::clone(&l);
        let t = thread::spawn(move || *l2.write() = 1);
        let v = *l.read();
        assert!(v == 0 || v == 1);
        t.join().unwrap();
        assert_eq!(*l.read(), 1);
    });
}

/// `wait` returns only after every `done`, and sees the parties' writes.
#[test]
fn loom_gosync_wait_group_releases_after_done() {
    loom::model(|| {
        let wg = Arc::new(WaitGroup::new());
        let cell = Arc::new(Mutex::new(0u32));
        wg.add(2);
        let ts: Vec<_> = (0..2)
            .map(|_| {
                let (wg, cell) = (Arc::clone(&wg), Arc::clone(&cell));
                thread::spawn(move || {
                    *cell.lock() += 1;
                    wg.done();
                })
            })
            .collect();
        wg.wait();
        assert_eq!(*cell.lock(), 2);
        for t in ts {
            t.join().unwrap();
        }
    });
}

/// A signal sent after the waiter took its ticket is never lost.
#[test]
fn loom_gosync_cond_no_lost_signal() {
    loom::model(|| {
        let pair = Arc::new((Mutex::new(false), Cond::new()));
        let p2 = Arc::clone(&pair);
        let t = thread::spawn(move || {
            *p2.0.lock() = true;
            p2.1.signal();
        });
        let g = pair.1.wait_while(pair.0.lock(), |ready| !*ready);
        assert!(*g);
        drop(g);
        t.join().unwrap();
    });
}

/// A release racing a blocked (or blocking) acquire always lets it through.
#[test]
fn loom_gosync_semaphore_release_vs_acquire() {
    loom::model(|| {
        let s = Arc::new(Semaphore::new(0));
        let s2 = Arc::clone(&s);
        let t = thread::spawn(move || s2.release());
        s.acquire();
        t.join().unwrap();
        assert_eq!(s.available(), 0);
    });
}

/// A writer between two readers: the pending writer waits for the readers already in
/// (`reader_wait`), and readers that arrive behind it wait for it.
#[test]
fn loom_gosync_rwlock_writer_between_two_readers() {
    loom::model(|| {
        let l = Arc::new(RwLock::new(0u32));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let l = Arc::clone(&l);
                thread::spawn(move || {
                    let v = *l.read();
                    assert!(v == 0 || v == 1);
                })
            })
            .collect();
        *l.write() = 1;
        for r in readers {
            r.join().unwrap();
        }
        assert_eq!(*l.read(), 1);
    });
}

/// Broadcast wakes both waiters that took their tickets before it.
#[test]
fn loom_gosync_cond_broadcast_wakes_all() {
    loom::model(|| {
        let pair = Arc::new((Mutex::new(false), Cond::new()));
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let pair = Arc::clone(&pair);
                thread::spawn(move || {
                    let g = pair.1.wait_while(pair.0.lock(), |ready| !*ready);
                    assert!(*g);
                })
            })
            .collect();
        *pair.0.lock() = true;
        pair.1.broadcast();
        for w in waiters {
            w.join().unwrap();
        }
    });
}
