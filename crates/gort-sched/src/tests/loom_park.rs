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
