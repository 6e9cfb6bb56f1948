//! Loom models of the run queue (capacity 4 under loom): every item pushed is taken
//! exactly once, whoever takes it (after tokio's `loom_multi_thread/queue.rs`).

use crate::run_queue::{RUNQ_CAP, RunQueue};
use crate::sync::{Arc, thread};

/// Items are small integers disguised as pointers (never dereferenced).
fn item(i: usize) -> *mut u8 {
    (i + 1) as *mut u8
}

fn id(p: *mut u8) -> usize {
    p as usize - 1
}

/// Sends raw items between loom threads.
struct Taken(Vec<usize>);
// SAFETY: the pointers are opaque integers, never dereferenced.
unsafe impl Send for Taken {}

/// Thief: steal once from `victim` into its own queue and drain its own queue.
fn steal_all(victim: &RunQueue<u8>, steal_runnext: bool) -> Vec<usize> {
    let mine = RunQueue::<u8>::new();
    let mut got = Vec::new();
    // SAFETY: `mine` is owned by this thread.
    unsafe {
        if let Some(x) = mine.steal_from(victim, steal_runnext, false) {
            got.push(id(x));
        }
        while let Some((x, _)) = mine.pop() {
            got.push(id(x));
        }
    }
    got
}

fn check_exactly_once(mut all: Vec<usize>, n: usize) {
    all.sort_unstable();
    assert_eq!(
        all,
        (0..n).collect::<Vec<_>>(),
        "an item was lost or taken twice"
    );
}

#[test]
fn loom_run_queue_basic() {
    loom::model(|| {
        let q = Arc::new(RunQueue::<u8>::new());
        let thief = {
            let q = Arc::clone(&q);
            thread::spawn(move || Taken(steal_all(&q, true)))
        };
        let mut got = Vec::new();
        let n = 3;
        // SAFETY: the model's main thread owns `q`.
        unsafe {
            for i in 0..n {
                assert!(q.push(item(i), i == 2).is_none());
                if i == 1 {
                    if let Some((x, _)) = q.pop() {
                        got.push(id(x));
                    }
                }
            }
            while let Some((x, _)) = q.pop() {
                got.push(id(x));
            }
        }
        got.extend(thief.join().unwrap().0);
        check_exactly_once(got, n);
    });
}

#[test]
fn loom_run_queue_overflow() {
    loom::model(|| {
        let q = Arc::new(RunQueue::<u8>::new());
        let thief = {
            let q = Arc::clone(&q);
            thread::spawn(move || Taken(steal_all(&q, false)))
        };
        let n = RUNQ_CAP as usize + 1;
        let mut got = Vec::new();
        // SAFETY: the model's main thread owns `q`.
        unsafe {
            for i in 0..n {
                if let Some(batch) = q.push(item(i), false) {
                    // The overflow batch goes to the "global queue": count it as taken.
                    got.extend(batch.into_iter().map(id));
                }
            }
            while let Some((x, _)) = q.pop() {
                got.push(id(x));
            }
        }
        got.extend(thief.join().unwrap().0);
        check_exactly_once(got, n);
    });
}

#[test]
fn loom_run_queue_two_stealers() {
    loom::model(|| {
        let q = Arc::new(RunQueue::<u8>::new());
        let n = 3;
        // SAFETY: the model's main thread owns `q`.
        unsafe {
            for i in 0..n {
                assert!(q.push(item(i), false).is_none());
            }
        }
        let thieves: Vec<_> = (0..2)
            .map(|_| {
                let q = Arc::clone(&q);
                thread::spawn(move || Taken(steal_all(&q, true)))
            })
            .collect();
        let mut got = Vec::new();
        // SAFETY: the model's main thread owns `q`.
        unsafe {
            if let Some((x, _)) = q.pop() {
                got.push(id(x));
            }
        }
        for t in thieves {
            got.extend(t.join().unwrap().0);
        }
        // SAFETY: as above.
        unsafe {
            while let Some((x, _)) = q.pop() {
                got.push(id(x));
            }
        }
        check_exactly_once(got, n);
    });
}

#[test]
fn loom_run_queue_chained_steal() {
    loom::model(|| {
        // q1 is stolen from by the owner of q2 while q2 itself is stolen from.
        let q1 = Arc::new(RunQueue::<u8>::new());
        let q2 = Arc::new(RunQueue::<u8>::new());
        let n = 4;
        // SAFETY: the main thread owns q1 until it is handed to no one (it stays the owner).
        unsafe {
            for i in 0..n {
                assert!(q1.push(item(i), false).is_none());
            }
        }
        let q2_owner = {
            let q1 = Arc::clone(&q1);
            let q2 = Arc::clone(&q2);
            thread::spawn(move || {
                let mut got = Vec::new();
                // SAFETY: this thread owns q2.
                unsafe {
                    if let Some(x) = q2.steal_from(&q1, false, false) {
                        got.push(id(x));
                    }
                }
                Taken(got)
            })
        };
        let q2_thief = {
            let q2 = Arc::clone(&q2);
            thread::spawn(move || Taken(steal_all(&q2, false)))
        };
        let mut got = q2_owner.join().unwrap().0;
        got.extend(q2_thief.join().unwrap().0);
        // SAFETY: all other threads are joined; the main thread now drains both.
        unsafe {
            while let Some((x, _)) = q1.pop() {
                got.push(id(x));
            }
            while let Some((x, _)) = q2.pop() {
                got.push(id(x));
            }
        }
        check_exactly_once(got, n);
    });
}
