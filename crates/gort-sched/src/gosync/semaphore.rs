//! `Semaphore`: a counting semaphore with Go's `runtime/sema.go` semantics, the
//! primitive the other `gosync` types park on. See the crate docs for the overview.

use core::ptr;

use crate::chan::waiter::{Outcome, WaitQueue, Waiter};
use crate::compact::{self, Attempt};
use crate::park::{Parker, WaitReason, park};
use crate::sync::atomic::{AtomicUsize, Ordering};
use crate::sync::{Mutex, MutexGuard, UnsafeCell};

/// A counting semaphore (Go's `semacquire`/`semrelease` on a `uint32`, with the wait
/// queue of its `semaRoot`).
///
/// `acquire` takes a permit, blocking while there is none; `release` returns one and
/// wakes the oldest waiter. As in Go, a woken waiter competes for the permit again
/// unless it was handed off to it directly (`release` with handoff, used by `Mutex` in
/// starvation mode), so the queue is fair among waiters but a running party may barge.
///
/// ```
/// use gort_sched::gosync::Semaphore;
///
/// let s = Semaphore::new(1);
/// s.acquire();
/// assert!(!s.try_acquire());
/// s.release();
/// assert!(s.try_acquire());
/// ```
pub struct Semaphore {
    /// Available permits (Go's `*addr`). Atomic; changed by CAS (acquire) and add
    /// (release), SeqCst so that it pairs with `nwait` (a release that sees no waiter
    /// must be seen by a waiter re-checking the count, Dekker style).
    count: AtomicUsize,
    /// Parties queued or about to queue (Go's `semaRoot.nwait`). Changed under `lock`,
    /// read without it by `release`'s fast path. SeqCst.
    nwait: AtomicUsize,
    /// Protects `queue` (Go's `semaRoot.lock`).
    lock: Mutex<()>,
    /// Blocked acquirers, FIFO (LIFO insertions for re-waiting mutex waiters).
    /// Protected by `lock`.
    queue: UnsafeCell<WaitQueue>,
}

// SAFETY: the queue holds pointers to waiters of blocked parties and is only accessed
// under `lock`; everything else is atomic.
unsafe impl Send for Semaphore {}
// SAFETY: as above.
unsafe impl Sync for Semaphore {}

// A panic never leaves a Semaphore inconsistent (its state changes are atomic steps).
impl core::panic::UnwindSafe for Semaphore {}
impl core::panic::RefUnwindSafe for Semaphore {}

impl Semaphore {
    /// A semaphore with `permits` permits available.
    pub fn new(permits: usize) -> Self {
        Self {
            count: AtomicUsize::new(permits),
            nwait: AtomicUsize::new(0),
            lock: Mutex::new(()),
            queue: UnsafeCell::new(WaitQueue::new()),
        }
    }

    /// Takes a permit, blocking until one is available (Go's `semacquire`).
    pub fn acquire(&self) {
        self.acquire_as(false, WaitReason::Semacquire);
    }

    /// Takes a permit if one is available now (Go's `cansemacquire`).
    pub fn try_acquire(&self) -> bool {
        self.try_acquire_from(self.count.load(Ordering::SeqCst))
    }

    /// `try_acquire` starting from the count `v` just read.
    fn try_acquire_from(&self, mut v: usize) -> bool {
        loop {
            if v == 0 {
                return false;
            }
            match self
                .count
                .compare_exchange_weak(v, v - 1, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return true,
                Err(now) => v = now,
            }
        }
    }

    /// Returns a permit and wakes the oldest waiter, if any (Go's `semrelease`).
    pub fn release(&self) {
        self.release_as(false);
    }

    /// The permits available right now (racy; for tests and diagnostics).
    pub fn available(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    fn lock(&self) -> MutexGuard<'_, ()> {
        self.lock.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Go's `semacquire1`: `lifo` queues at the front (a mutex waiter that already
    /// waited once), `reason` is shown while blocked.
    pub(crate) fn acquire_as(&self, lifo: bool, reason: WaitReason) {
        if self.try_acquire() {
            return;
        }
        loop {
            let guard = self.lock();
            // Announce ourselves before the re-check, so a concurrent release either
            // leaves a permit we see or sees us and wakes us. Both sides read the other
            // side's variable with a read-modify-write, which always reads the latest
            // value: a plain SeqCst load would do on hardware, but RMWs make the
            // argument hold under acquire/release alone (and so under loom, which
            // treats SeqCst accesses as AcqRel).
            self.nwait.fetch_add(1, Ordering::SeqCst);
            if self.try_acquire_from(self.count.fetch_add(0, Ordering::SeqCst)) {
                self.nwait.fetch_sub(1, Ordering::SeqCst);
                return;
            }
            let w = Waiter::new(Parker::current(), ptr::null());
            // SAFETY: we hold the lock; `w` stays on this stack, unmoved, until a
            // releaser dequeues it (we park until then; no spurious wakeups).
            self.queue.with_mut(|q| unsafe {
                if lifo {
                    (*q).push_front(&w);
                } else {
                    (*q).push_back(&w);
                }
            });
            // SAFETY: `self` and `w` outlive the park; `try_compact` is this semaphore's.
            let token =
                unsafe { compact::register(ptr::from_ref(self).cast(), &w, Self::try_compact) };
            park(reason, move || drop(guard));
            compact::unregister(token);
            // A handed-off permit is ours; otherwise compete for the released one.
            if w.outcome() == Outcome::Completed || self.try_acquire() {
                return;
            }
        }
    }

    /// The semaphore's [`compact::TryCompactFn`] (as the channel's, with one queue):
    /// under the lock (`try_lock`, at most `tries` times), each still-queued waiter is
    /// replaced by a proxy and its goroutine's stack compacted.
    ///
    /// # Safety
    ///
    /// [`compact::TryCompactFn`]'s contract, with `site` a `Semaphore`.
    unsafe fn try_compact(
        site: *const (),
        items: &[(*const Waiter, *const crate::g::G)],
        out: &mut [Attempt],
        tries: u32,
    ) {
        // SAFETY: `site` is this semaphore, borrowed by the parked Gs (contract).
        let this = unsafe { &*site.cast::<Semaphore>() };
        let mut left = tries;
        let guard = loop {
            if let Ok(guard) = this.lock.try_lock() {
                break guard;
            }
            left = left.saturating_sub(1);
            if left == 0 {
                out.fill(Attempt::Busy);
                return;
            }
            crate::sync::spin_loop();
        };
        this.queue.with_mut(|q| {
            // SAFETY: we hold the lock.
            let mut queues = [unsafe { &mut *q }];
            for (&(w, g), o) in items.iter().zip(out.iter_mut()) {
                // SAFETY: as in `Chan`'s `try_compact`: under the lock, `w` is `g`'s real
                // waiter, queued here if anywhere.
                *o = unsafe {
                    match WaitQueue::replace_with_proxy(
                        &mut queues,
                        w,
                        g.cast(),
                        compact::restore_owner,
                    ) {
                        None => Attempt::Gone,
                        Some(p) => {
                            if compact::compact_stack(g) {
                                Attempt::Compacted
                            } else {
                                WaitQueue::unreplace_proxy(&mut queues, p);
                                Attempt::Refused
                            }
                        }
                    }
                };
            }
        });
        drop(guard);
    }

    /// Go's `semrelease1`: with `handoff`, the permit goes straight to the woken waiter
    /// (it cannot be stolen by a running party).
    pub(crate) fn release_as(&self, handoff: bool) {
        self.count.fetch_add(1, Ordering::SeqCst);
        // Easy case: no waiters. This check must come after the add, to pair with the
        // waiter's increment-then-recheck in `acquire_as` (an RMW read, see there).
        if self.nwait.fetch_add(0, Ordering::SeqCst) == 0 {
            return;
        }
        let guard = self.lock();
        if self.nwait.load(Ordering::SeqCst) == 0 {
            // Someone else took care of the waiter already.
            return;
        }
        // SAFETY: we hold the lock.
        let w = self.queue.with_mut(|q| unsafe { (*q).dequeue() });
        if w.is_some() {
            self.nwait.fetch_sub(1, Ordering::SeqCst);
        }
        drop(guard);
        if let Some(w) = w {
            let outcome = if handoff && self.try_acquire() {
                Outcome::Completed
            } else {
                Outcome::Closed
            };
            // SAFETY: we dequeued `w`; its owner stays parked until we unpark it.
            if let Some(p) = unsafe { (*w).finish(outcome) } {
                p.unpark();
            }
            // Direct hand-off: the waiter was readied into this P's `runnext`; yield so
            // it runs now rather than after our time slice (Go's `goyield` here). A
            // plain thread's waiter runs on its own thread: nothing to do.
            if outcome == Outcome::Completed && !cfg!(loom) && crate::on_goroutine() {
                crate::yield_now();
            }
        }
    }
}

impl core::fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Semaphore")
            .field("available", &self.available())
            .field("waiting", &self.nwait.load(Ordering::Relaxed))
            .finish()
    }
}
