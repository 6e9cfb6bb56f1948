//! Loom models of parking: an `unpark` racing a `park` is never lost.

use crate::park::{Parker, WaitReason, park};
use crate::sync::atomic::{AtomicBool, Ordering};
use crate::sync::{Arc, Mutex, thread};

/// A waiter registers under a lock, parks releasing the lock; a waker takes the
/// registration under the same lock and unparks outside it. The waiter must return.
#[test]
fn loom_thread_park_unpark_no_lost_wakeup() {
    loom::model(|| {
        let slot: Arc<Mutex<Option<Parker>>> = Arc::new(Mutex::new(None));
        let woken = Arc::new(AtomicBool::new(false));

        let waker = {
            let slot = Arc::clone(&slot);
            let woken = Arc::clone(&woken);
            thread::spawn(move || {
                loop {
                    let taken = slot.lock().unwrap().take();
                    if let Some(p) = taken {
                        woken.store(true, Ordering::Relaxed);
                        p.unpark();
                        break;
                    }
                    thread::yield_now();
                }
            })
        };

        let guard = slot.lock().unwrap();
        let mut guard = guard;
        *guard = Some(Parker::current());
        park(WaitReason::ChanReceive, move || drop(guard));
        assert!(
            woken.load(Ordering::Relaxed),
            "returned from park before unpark"
        );
        waker.join().unwrap();
    });
}

/// Two consecutive parks on one thread each need their own unpark.
#[test]
fn loom_thread_park_twice() {
    loom::model(|| {
        let me = Parker::current();
        let count = Arc::new(AtomicBool::new(false));
        let t = {
            let me = me.clone();
            let count = Arc::clone(&count);
            thread::spawn(move || {
                count.store(true, Ordering::Release);
                me.unpark();
            })
        };
        park(WaitReason::Sleep, || {});
        assert!(count.load(Ordering::Acquire));
        t.join().unwrap();
        // A second unpark (from this thread, before parking) is not lost either.
        me.unpark();
        park(WaitReason::Sleep, || {});
    });
}

/// An idle M parking (P released, M on the idle list, asleep on its note) races a
/// plain thread readying a waiting goroutine (global queue, then `wakep`). Whatever the
/// interleaving, the goroutine is taken exactly once and nobody sleeps while it waits:
/// either M1 takes it (before parking, or woken with a P), or `wakep` asked for a new
/// M, which the model then plays and which must find it.
#[test]
fn loom_m_park_vs_ready_no_lost_wakeup() {
    use crate::config::Config;
    use crate::g::{G, GStatus};
    use crate::m::M;
    use crate::sched::{Sched, find_runnable};

    loom::model(|| {
        let mut config = Config::default();
        config.maxprocs = 1;
        let sched = Arc::new(Sched::new(config));
        sched.set_maxprocs(1);
        let g = Box::into_raw(Box::new(G::new(&*sched)));
        // SAFETY: just allocated; no one else sees it yet.
        unsafe {
            (*g).status
                .store(GStatus::Waiting as u32, Ordering::Relaxed)
        };
        let gaddr = g as usize;

        // M1 owns the only P and looks for work.
        let p = {
            let mut l = sched.lock();
            l.mcount = 1;
            sched.pidleget_locked(&mut l).unwrap()
        };
        let m1 = {
            let sched = Arc::clone(&sched);
            let paddr = p as usize;
            thread::spawn(move || {
                let m = M::new(1, &sched);
                sched.acquirep(&m, paddr as *mut _);
                let got = find_runnable(&m).map(|(g, _)| g as usize);
                // Drop the M's strong count before the model ends.
                // SAFETY: this thread owns the M.
                drop(unsafe { (*m.sched_arc.get()).take() });
                got
            })
        };

        // A plain thread readies the goroutine.
        let readier = {
            let sched = Arc::clone(&sched);
            thread::spawn(move || sched.ready(gaddr as *mut G))
        };
        readier.join().unwrap();

        // If `wakep` found no idle M, it asked for a new one: play it here.
        let spawned: Vec<_> = core::mem::take(&mut sched.lock().loom_newm);
        assert!(spawned.len() <= 1);
        let mut takers = 0;
        if let Some(&(np, _spinning)) = spawned.first() {
            let m2 = M::new(2, &sched);
            sched.acquirep(&m2, np);
            let got = find_runnable(&m2).map(|(g, _)| g as usize);
            // M2 either finds the goroutine or finds M1 got it first and then sleeps;
            // it must not sleep while the goroutine waits, which loom would report as
            // a deadlock when M1 is done.
            if got == Some(gaddr) {
                takers += 1;
            }
            // SAFETY: this thread owns M2.
            drop(unsafe { (*m2.sched_arc.get()).take() });
        } else {
            // M1 must take it (it may be asleep with a P on its way): wait for it.
        }
        if takers == 0 {
            let got = m1.join().unwrap();
            assert_eq!(got, Some(gaddr), "the readied goroutine was lost");
        } else {
            sched.begin_shutdown();
            assert_eq!(m1.join().unwrap(), None, "taken twice");
        }
        // SAFETY: the model is over; free the G (the scheduler does not own it).
        drop(unsafe { Box::from_raw(g) });
    });
}
