//! Loom model of parked-stack compaction (compact.rs) racing a waker: the compactor
//! claims the parked party (SCAN), swaps its waiter for a proxy and copies its stack
//! aside under the site's lock, then releases the pages (zeroes the words) after
//! unlocking and only then drops the claim; the waker dequeues (faulting the proxy in,
//! which waits for the claim to end), writes the value slot and readies; the owner then
//! runs. The owner must see its stack intact with the
//! value, and a compactor must never read the owner's registration while it runs.

use crate::chan::waiter::{Outcome, WaitQueue, Waiter};
use crate::compact::{release_claim, try_claim};
use crate::g::{GStatus, SCAN};
use crate::park::Parker;
use crate::sync::atomic::{AtomicU32, Ordering};
use crate::sync::{Arc, Mutex, UnsafeCell, spin_loop, thread};

/// A live stack word that is neither the waiter nor the slot.
const ORIGINAL: u64 = 0x5ca1_ab1e;
/// The value the waker hands over.
const VALUE: u64 = 42;

/// The parked party: its status, the site (lock + queue), its "stack" (value slot and
/// one more word, zeroed while compacted, the copy aside) and its registration.
struct Party {
    status: AtomicU32,
    lock: Mutex<()>,
    /// Protected by `lock`.
    queue: UnsafeCell<WaitQueue>,
    slot: UnsafeCell<u64>,
    word: UnsafeCell<u64>,
    /// The compacted copy of `(slot, word)`. Touched under `lock` only.
    copy: UnsafeCell<Option<(u64, u64)>>,
    /// The registration a compactor reads under SCAN (the G's `park_site`); the owner
    /// clears it when it runs again.
    site: UnsafeCell<Option<usize>>,
    /// The party's real waiter ("on its stack").
    waiter: Box<Waiter>,
}

// SAFETY: shared between the model's threads; every field is atomic, a loom lock, or a
// loom cell accessed under the protocol being modelled (loom checks those accesses).
unsafe impl Send for Party {}
// SAFETY: as above.
unsafe impl Sync for Party {}

/// The proxy's fault-in (`compact::restore_owner`): waits for the claim to end, then
/// copies the stack back.
///
/// # Safety
/// `owner` is the `Party`, and the caller holds its lock.
unsafe fn restore(owner: *const ()) {
    // SAFETY: by the contract.
    let p = unsafe { &*owner.cast::<Party>() };
    while p.status.load(Ordering::Acquire) & SCAN != 0 {
        spin_loop();
    }
    // SAFETY: under the lock (contract).
    if let Some((s, w)) = p.copy.with_mut(|c| unsafe { (*c).take() }) {
        // SAFETY: the owner is blocked; under the lock.
        p.slot.with_mut(|x| unsafe { *x = s });
        // SAFETY: as above.
        p.word.with_mut(|x| unsafe { *x = w });
    }
}

/// `Sched::ready_counted`'s status step: wait out a SCAN claim, then Waiting → Runnable.
fn ready(status: &AtomicU32) {
    let waiting = GStatus::Waiting as u32;
    loop {
        let s = status.load(Ordering::Acquire);
        if s == waiting | SCAN {
            spin_loop();
        } else if status
            .compare_exchange(
                waiting,
                GStatus::Runnable as u32,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
        {
            return;
        }
    }
}

/// The compactor's step on one party (compact.rs `compact_one` + a channel's
/// `try_compact`).
fn compactor(p: &Party) {
    if !try_claim(&p.status) {
        return;
    }
    // SAFETY: the claim keeps the owner parked, so its registration is stable.
    let site = p.site.with(|s| unsafe { *s });
    let mut compacted = false;
    if let Some(w) = site
        && let Ok(guard) = p.lock.try_lock()
    {
        compacted = p.queue.with_mut(|q| {
            // SAFETY: we hold the lock; `w` is the party's waiter; `restore` undoes the
            // compaction under the lock.
            let proxied = unsafe {
                WaitQueue::replace_with_proxy(
                    &mut [&mut *q],
                    w as *const Waiter,
                    core::ptr::from_ref(p).cast(),
                    restore,
                )
            };
            if proxied.is_some() {
                // "Compact" (`compact_keep_pages`): copy aside, keep the pages.
                // SAFETY: under the lock, with the waiter proxied: nobody else touches
                // the stack.
                unsafe {
                    let s = p.slot.with(|x| *x);
                    let wd = p.word.with(|x| *x);
                    p.copy.with_mut(|c| *c = Some((s, wd)));
                }
            }
            proxied.is_some()
        });
        drop(guard);
    }
    if compacted {
        // `release_compacted`, after unlocking, still holding the claim.
        // SAFETY: a fault-in waits for our claim to end, so nobody touches the words.
        unsafe {
            p.slot.with_mut(|x| *x = 0);
            p.word.with_mut(|x| *x = 0);
        }
    }
    release_claim(&p.status);
}

/// The waker: dequeue (faulting in), hand the value over, unlock, ready.
fn waker(p: &Party) {
    let guard = p.lock.lock().unwrap();
    // SAFETY: we hold the lock.
    let w = p.queue.with_mut(|q| unsafe { (*q).dequeue() });
    let Some(w) = w else {
        panic!("the waiter vanished")
    };
    // SAFETY: `w` is the real, readable waiter: its stack was restored if compacted.
    unsafe {
        assert_eq!(p.word.with(|x| *x), ORIGINAL, "waker saw a compacted stack");
        p.slot.with_mut(|x| *x = VALUE);
        let _ = (*w).finish(Outcome::Completed);
    }
    drop(guard);
    ready(&p.status);
}

#[test]
fn loom_compact_vs_waker() {
    // The SCAN waits are spin loops (loom yields in them), which lengthen paths.
    let mut b = loom::model::Builder::new();
    b.max_branches = 100_000;
    b.check(|| {
        let p = Arc::new(Party {
            status: AtomicU32::new(GStatus::Waiting as u32),
            lock: Mutex::new(()),
            queue: UnsafeCell::new(WaitQueue::new()),
            slot: UnsafeCell::new(0),
            word: UnsafeCell::new(ORIGINAL),
            copy: UnsafeCell::new(None),
            site: UnsafeCell::new(None),
            waiter: Box::new(Waiter::new(Parker::current(), core::ptr::null())),
        });
        let w: *const Waiter = &*p.waiter;
        // Parked: queued and registered (before any other thread exists).
        // SAFETY: nobody else runs yet; `w` stays put (boxed) for the model.
        p.queue.with_mut(|q| unsafe { (*q).push_back(w) });
        // SAFETY: as above.
        p.site.with_mut(|s| unsafe { *s = Some(w as usize) });

        let c = {
            let p = Arc::clone(&p);
            thread::spawn(move || compactor(&p))
        };
        let k = {
            let p = Arc::clone(&p);
            thread::spawn(move || waker(&p))
        };
        // The owner's M: runs the party once the waker made it Runnable (the compactor
        // may still be running).
        k.join().unwrap();
        assert_eq!(p.status.load(Ordering::Acquire), GStatus::Runnable as u32);
        // SAFETY: the party is ours now (Runnable: its waiter was finished and no
        // compactor holds it).
        unsafe {
            assert_eq!(p.slot.with(|x| *x), VALUE, "the value was lost");
            assert_eq!(p.word.with(|x| *x), ORIGINAL, "the stack was not restored");
            assert!(p.copy.with(|c| (*c).is_none()), "ran while compacted");
            // Back from `park`: the registration is cleared (`unregister`).
            p.site.with_mut(|s| *s = None);
        }
        c.join().unwrap();
        // SAFETY: all threads joined.
        assert!(p.queue.with(|q| unsafe { (*q).is_empty() }));
    });
}
