//! `Cond`: Go's `sync.Cond`, built on a ticket-based notify list (Go's `notifyList` in
//! `runtime/sema.go`). See the crate docs for the overview.

use core::ptr;

use super::mutex::MutexGuard;
use crate::chan::waiter::{Outcome, WaitQueue, Waiter, WakeList};
use crate::park::{Parker, WaitReason, park};
use crate::sync::atomic::{AtomicU32, Ordering};
use crate::sync::{Mutex, UnsafeCell};

/// A condition variable (Go's `sync.Cond`): parties wait for a condition on data
/// guarded by a [`gosync::Mutex`](super::Mutex), others signal changes.
///
/// `wait` unlocks the mutex, blocks until signalled, and locks it again before
/// returning; as in Go, callers re-check their condition in a loop (or use
/// [`Cond::wait_while`]). A `signal` or `broadcast` wakes only parties that started
/// waiting before it (each `wait` takes a ticket first, Go's notify list), so no wakeup
/// is lost between unlocking and parking, and no party is woken spuriously.
///
/// ```
/// use gort_sched::gosync::{Cond, Mutex};
/// use std::sync::Arc;
///
/// let pair = Arc::new((Mutex::new(false), Cond::new()));
/// let p2 = Arc::clone(&pair);
/// std::thread::spawn(move || {
///     *p2.0.lock() = true;
///     p2.1.signal();
/// });
/// let ready = pair.1.wait_while(pair.0.lock(), |r| !*r);
/// assert!(*ready);
/// ```
pub struct Cond {
    /// The next ticket to hand to a waiter (Go's `notifyList.wait`). Atomic, taken
    /// without the lock.
    wait: AtomicU32,
    /// The next ticket to be notified (Go's `notifyList.notify`). Written under `lock`,
    /// read without it on the fast paths.
    notify: AtomicU32,
    /// Protects `queue` (Go's `notifyList.lock`).
    lock: Mutex<()>,
    /// Parked waiters with their tickets. Protected by `lock`.
    queue: UnsafeCell<WaitQueue>,
}

// SAFETY: the queue holds pointers to waiters of blocked parties and is only accessed
// under `lock`; everything else is atomic.
unsafe impl Send for Cond {}
// SAFETY: as above.
unsafe impl Sync for Cond {}

// A panic never leaves a Cond inconsistent (its state changes are atomic steps).
impl core::panic::UnwindSafe for Cond {}
impl core::panic::RefUnwindSafe for Cond {}

/// Go's `less` on tickets: `a < b` modulo 2^32.
fn less(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

impl Cond {
    /// A condition variable with no waiters.
    pub fn new() -> Self {
        Self {
            wait: AtomicU32::new(0),
            notify: AtomicU32::new(0),
            lock: Mutex::new(()),
            queue: UnsafeCell::new(WaitQueue::new()),
        }
    }

    /// Unlocks `guard`'s mutex, waits for a [`Cond::signal`] or [`Cond::broadcast`], and
    /// locks the mutex again (Go's `Wait`).
    pub fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        // Take a ticket while still holding the mutex (Go's `notifyListAdd`).
        let t = self.wait.fetch_add(1, Ordering::SeqCst);
        let mutex = guard.mutex();
        drop(guard);
        self.wait_ticket(t);
        mutex.lock()
    }

    /// Waits while `condition` holds, re-checking after each wakeup, and returns the
    /// guard with the condition false.
    pub fn wait_while<'a, T>(
        &self,
        mut guard: MutexGuard<'a, T>,
        mut condition: impl FnMut(&mut T) -> bool,
    ) -> MutexGuard<'a, T> {
        while condition(&mut guard) {
            guard = self.wait(guard);
        }
        guard
    }

    /// Wakes one waiting party, if any (Go's `Signal`).
    pub fn signal(&self) {
        // Fast path: no waiter since the last notification.
        if self.wait.load(Ordering::SeqCst) == self.notify.load(Ordering::SeqCst) {
            return;
        }
        let guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        // Re-check under the lock.
        let t = self.notify.load(Ordering::Relaxed);
        if t == self.wait.load(Ordering::SeqCst) {
            return;
        }
        // Ticket `t` is notified: whoever holds it either is queued (wake it) or has
        // not queued yet (it will see the ticket notified and not sleep).
        self.notify.store(t.wrapping_add(1), Ordering::SeqCst);
        // SAFETY: we hold the lock; the queue holds no select waiters.
        let w = self.queue.with_mut(|q| unsafe { (*q).remove_ticket(t) });
        drop(guard);
        if let Some(w) = w {
            // SAFETY: we unlinked `w`; its owner stays parked until we unpark it.
            if let Some(p) = unsafe { (*w).finish(Outcome::Completed) } {
                p.unpark();
            }
        }
    }

    /// Wakes every waiting party (Go's `Broadcast`).
    pub fn broadcast(&self) {
        if self.wait.load(Ordering::SeqCst) == self.notify.load(Ordering::SeqCst) {
            return;
        }
        let guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut wake = WakeList::new();
        // SAFETY: we hold the lock; dequeued waiters stay parked until `wake_all`.
        self.queue.with_mut(|q| unsafe {
            while let Some(w) = (*q).dequeue() {
                wake.push(w);
            }
        });
        self.notify
            .store(self.wait.load(Ordering::SeqCst), Ordering::SeqCst);
        drop(guard);
        // SAFETY: every waiter in `wake` was dequeued by us above.
        unsafe { wake.wake_all(Outcome::Completed) };
    }

    /// Go's `notifyListWait`: sleeps until ticket `t` is notified.
    fn wait_ticket(&self, t: u32) {
        let guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        // Return right away if this ticket was already notified.
        if less(t, self.notify.load(Ordering::Relaxed)) {
            return;
        }
        let w = Waiter::new(Parker::current(), ptr::null());
        w.set_ticket(t);
        // SAFETY: we hold the lock; `w` stays on this stack, unmoved, until a notifier
        // unlinks it (we park until then).
        self.queue.with_mut(|q| unsafe { (*q).push_back(&w) });
        park(WaitReason::SyncCondWait, move || drop(guard));
    }
}

impl Default for Cond {
    fn default() -> Self {
        Self::new()
    }
}

impl core::fmt::Debug for Cond {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let waiting = self
            .wait
            .load(Ordering::Relaxed)
            .wrapping_sub(self.notify.load(Ordering::Relaxed));
        f.debug_struct("Cond").field("waiting", &waiting).finish()
    }
}
