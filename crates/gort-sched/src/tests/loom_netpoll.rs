//! Loom models of the netpoll/park handshake: a readiness event or an error wake racing
//! a party parking on a descriptor's slot never loses the waiter (Go:
//! `netpollblock`/`netpollunblock`).

use crate::netpoll::poll_desc::Slot;
use crate::sync::atomic::{AtomicBool, AtomicUsize, Ordering, fence};
use crate::sync::{Arc, thread};

/// A readiness event from the poller races the waiter parking: the waiter always
/// returns, having consumed the readiness, and the waiter count is back to zero.
#[test]
fn loom_netpoll_event_racing_park_never_loses_the_waiter() {
    loom::model(|| {
        let slot = Arc::new(Slot::new());
        let waiters = Arc::new(AtomicUsize::new(0));
        let poller = {
            let slot = Arc::clone(&slot);
            thread::spawn(move || {
                if let Some(p) = slot.unblock(true) {
                    p.unpark();
                }
            })
        };
        assert!(slot.wait(&waiters, || false), "woken without readiness");
        assert_eq!(waiters.load(Ordering::SeqCst), 0);
        poller.join().unwrap();
        // The readiness was consumed: a second event makes the next wait return
        // without parking.
        assert!(slot.unblock(true).is_none());
        assert!(slot.wait(&waiters, || false));
    });
}

/// A deadline (flag, then error wake) races the waiter: the waiter returns, and if it
/// saw no readiness it sees the flag.
#[test]
fn loom_netpoll_deadline_racing_park_wakes_with_the_error() {
    loom::model(|| {
        let slot = Arc::new(Slot::new());
        let waiters = Arc::new(AtomicUsize::new(0));
        let expired = Arc::new(AtomicBool::new(false));
        let timer = {
            let (slot, expired) = (Arc::clone(&slot), Arc::clone(&expired));
            thread::spawn(move || {
                expired.store(true, Ordering::SeqCst);
                if let Some(p) = slot.unblock(false) {
                    p.unpark();
                }
            })
        };
        let ready = slot.wait(&waiters, || {
            fence(Ordering::SeqCst);
            expired.load(Ordering::SeqCst)
        });
        assert!(!ready, "readiness from nowhere");
        assert!(
            expired.load(Ordering::SeqCst),
            "returned before the deadline"
        );
        timer.join().unwrap();
    });
}

/// An event and a deadline both race the waiter (three parties): it returns exactly
/// once, and either consumed the event or saw the deadline.
#[test]
fn loom_netpoll_event_and_deadline_racing_park() {
    loom::model(|| {
        let slot = Arc::new(Slot::new());
        let waiters = Arc::new(AtomicUsize::new(0));
        let expired = Arc::new(AtomicBool::new(false));
        let poller = {
            let slot = Arc::clone(&slot);
            thread::spawn(move || {
                if let Some(p) = slot.unblock(true) {
                    p.unpark();
                }
            })
        };
        let timer = {
            let (slot, expired) = (Arc::clone(&slot), Arc::clone(&expired));
            thread::spawn(move || {
                expired.store(true, Ordering::SeqCst);
                if let Some(p) = slot.unblock(false) {
                    p.unpark();
                }
            })
        };
        let ready = slot.wait(&waiters, || expired.load(Ordering::SeqCst));
        assert!(ready || expired.load(Ordering::SeqCst));
        poller.join().unwrap();
        timer.join().unwrap();
    });
}
