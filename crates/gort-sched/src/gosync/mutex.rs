//! `Mutex<T>`: Go's `sync.Mutex` (spinning, then a semaphore; 1 ms starvation mode)
//! holding the data it protects. See the crate docs for the overview.

use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};

use super::semaphore::Semaphore;
use crate::fatal::throw;
use crate::park::WaitReason;
use crate::sync::UnsafeCell;
use crate::sync::atomic::{AtomicU32, Ordering};

/// `state` bit: the mutex is locked (Go's `mutexLocked`).
const LOCKED: u32 = 1;
/// `state` bit: a waiter has been woken or is spinning, so `unlock` need not wake
/// another (Go's `mutexWoken`).
const WOKEN: u32 = 2;
/// `state` bit: starvation mode, ownership is handed off in FIFO order (Go's
/// `mutexStarving`).
const STARVING: u32 = 4;
/// The waiter count lives above the three flag bits (Go's `mutexWaiterShift`).
const WAITER_SHIFT: u32 = 3;
/// One waiter in `state`.
const WAITER: u32 = 1 << WAITER_SHIFT;
/// A waiter that waited longer than this switches the mutex to starvation mode (Go's
/// `starvationThresholdNs`, 1 ms).
const STARVATION_THRESHOLD: std::time::Duration = std::time::Duration::from_millis(1);

/// A mutual-exclusion lock with Go's `sync.Mutex` algorithm, protecting a `T`.
///
/// Normal mode: waiters queue FIFO, but a woken waiter competes with newly arriving
/// parties (which spin briefly first), and usually loses to them since they are already
/// running; throughput is high. A waiter that fails to get the lock for more than 1 ms
/// switches the mutex to starvation mode: the unlocker hands ownership directly to the
/// waiter at the front of the queue, and newcomers neither spin nor try to take it. The
/// mutex returns to normal mode when the waiter that got it is the last one, or waited
/// under 1 ms.
///
/// Blocking parks the goroutine (or thread) through the scheduler, never spins long.
/// Unlike `std::sync::Mutex` there is no poisoning: a panic while locked unlocks it.
///
/// ```
/// use gort_sched::gosync::Mutex;
///
/// let m = Mutex::new(1);
/// *m.lock() += 1;
/// assert_eq!(*m.lock(), 2);
/// ```
pub struct Mutex<T> {
    /// Flag bits and the waiter count (Go's `state`). Atomic; CAS transitions follow
    /// Go's `lockSlow`/`unlockSlow`.
    state: AtomicU32,
    /// Where waiters park (Go's `sema`).
    sema: Semaphore,
    /// The protected value. Accessed only through a guard while `LOCKED` is held.
    data: UnsafeCell<T>,
}

// SAFETY: the mutex hands `T` between threads (`T: Send`) and gives out `&mut T` only to
// the single lock holder.
unsafe impl<T: Send> Send for Mutex<T> {}
// SAFETY: as above; shared access to `data` is serialised by the lock.
unsafe impl<T: Send> Sync for Mutex<T> {}

/// Proof that the mutex is held; unlocks on drop. Dereferences to the protected value.
#[must_use = "the mutex unlocks as soon as the guard is dropped"]
pub struct MutexGuard<'a, T> {
    mutex: &'a Mutex<T>,
    /// Makes the guard `Send`/`Sync` exactly when `&mut T` is.
    _marker: PhantomData<&'a mut T>,
}

impl<T> Mutex<T> {
    /// An unlocked mutex holding `value`.
    pub fn new(value: T) -> Self {
        Self {
            state: AtomicU32::new(0),
            sema: Semaphore::new(0),
            data: UnsafeCell::new(value),
        }
    }

    /// Locks, blocking until the mutex is available (Go's `Lock`).
    pub fn lock(&self) -> MutexGuard<'_, T> {
        // Fast path: grab an unlocked mutex.
        if self
            .state
            .compare_exchange(0, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_slow();
        }
        MutexGuard {
            mutex: self,
            _marker: PhantomData,
        }
    }

    /// Locks if the mutex is free now, without waiting (Go's `TryLock`).
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        let old = self.state.load(Ordering::Relaxed);
        if old & (LOCKED | STARVING) != 0 {
            return None;
        }
        // There may be a goroutine waiting for the mutex, but we are running now and
        // can try to grab it before it wakes (Go's comment).
        self.state
            .compare_exchange(old, old | LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| MutexGuard {
                mutex: self,
                _marker: PhantomData,
            })
    }

    /// The protected value, through exclusive access (no locking needed).
    pub fn get_mut(&mut self) -> &mut T {
        // SAFETY: `&mut self` proves no guard exists.
        self.data.with_mut(|p| unsafe { &mut *p })
    }

    /// True if some party holds the lock now (racy; diagnostics).
    pub fn is_locked(&self) -> bool {
        self.state.load(Ordering::Relaxed) & LOCKED != 0
    }

    /// Go's `lockSlow`.
    #[cold]
    fn lock_slow(&self) {
        let mut wait_start: Option<std::time::Instant> = None;
        let mut starving = false;
        let mut awoke = false;
        let mut iter = 0u32;
        let mut old = self.state.load(Ordering::Relaxed);
        loop {
            // Don't spin in starvation mode: ownership is handed off to waiters, so we
            // could not get the mutex anyway.
            if old & (LOCKED | STARVING) == LOCKED && can_spin(iter) {
                // Spinning makes sense. Try to set WOKEN to tell `unlock` not to wake
                // other blocked waiters.
                if !awoke
                    && old & WOKEN == 0
                    && old >> WAITER_SHIFT != 0
                    && self
                        .state
                        .compare_exchange(old, old | WOKEN, Ordering::Relaxed, Ordering::Relaxed)
                        .is_ok()
                {
                    awoke = true;
                }
                do_spin();
                iter += 1;
                old = self.state.load(Ordering::Relaxed);
                continue;
            }
            let mut new = old;
            // Don't try to acquire a starving mutex: newcomers must queue.
            if old & STARVING == 0 {
                new |= LOCKED;
            }
            if old & (LOCKED | STARVING) != 0 {
                new = new.wrapping_add(WAITER);
            }
            // Switch to starvation mode, unless the mutex was just unlocked (then a
            // starving mutex would have no owner to unlock it).
            if starving && old & LOCKED != 0 {
                new |= STARVING;
            }
            if awoke {
                // We were woken from sleep: reset the flag in either case.
                if new & WOKEN == 0 {
                    throw("sync: inconsistent mutex state");
                }
                new &= !WOKEN;
            }
            match self
                .state
                .compare_exchange(old, new, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => {}
                Err(now) => {
                    old = now;
                    continue;
                }
            }
            if old & (LOCKED | STARVING) == 0 {
                return; // Locked with the CAS.
            }
            // If we were already waiting before, queue at the front.
            let lifo = wait_start.is_some();
            let start = *wait_start.get_or_insert_with(std::time::Instant::now);
            self.sema.acquire_as(lifo, WaitReason::SyncMutexLock);
            starving = starving || waited_too_long(start);
            old = self.state.load(Ordering::Acquire);
            if old & STARVING != 0 {
                // Ownership was handed off to us, but the state is not updated yet:
                // WOKEN is clear and we are still counted as a waiter. Fix that up.
                if old & (LOCKED | WOKEN) != 0 || old >> WAITER_SHIFT == 0 {
                    throw("sync: inconsistent mutex state");
                }
                let mut delta = LOCKED.wrapping_sub(WAITER);
                if !starving || old >> WAITER_SHIFT == 1 {
                    // Exit starvation mode: we are the last waiter, or did not wait
                    // long. Starvation mode is inefficient, and two parties could
                    // otherwise lock-step forever.
                    delta = delta.wrapping_sub(STARVING);
                }
                self.state.fetch_add(delta, Ordering::AcqRel);
                return;
            }
            awoke = true;
            iter = 0;
        }
    }

    /// Go's `Unlock`.
    fn unlock(&self) {
        // Fast path: drop the lock bit.
        let new = self
            .state
            .fetch_sub(LOCKED, Ordering::Release)
            .wrapping_sub(LOCKED);
        if new != 0 {
            // Outlined slow path to let the fast path be inlined.
            self.unlock_slow(new);
        }
    }

    /// Go's `unlockSlow`.
    #[cold]
    fn unlock_slow(&self, new: u32) {
        if new.wrapping_add(LOCKED) & LOCKED == 0 {
            throw("sync: unlock of unlocked mutex");
        }
        if new & STARVING == 0 {
            let mut old = new;
            loop {
                // If there are no waiters, or a party was already woken or grabbed the
                // lock, there is no one to wake. In starvation mode ownership goes
                // directly to the next waiter, which is not our business here.
                if old >> WAITER_SHIFT == 0 || old & (LOCKED | WOKEN | STARVING) != 0 {
                    return;
                }
                // Grab the right to wake someone.
                let new = old.wrapping_sub(WAITER) | WOKEN;
                match self
                    .state
                    .compare_exchange(old, new, Ordering::AcqRel, Ordering::Relaxed)
                {
                    Ok(_) => {
                        self.sema.release_as(false);
                        return;
                    }
                    Err(now) => old = now,
                }
            }
        } else {
            // Starvation mode: hand ownership to the next waiter. LOCKED stays clear;
            // the waiter sets it. The mutex still counts as locked for newcomers
            // because STARVING is set.
            self.sema.release_as(true);
        }
    }
}

/// Go's `sync_runtime_canSpin`: spin a few times, only on a multicore machine, and on a
/// goroutine only if some other P is running (the holder may be running there: Go's
/// `gomaxprocs > npidle + nmspinning + 1`). Go also refuses when the local run queue is
/// not empty; that check is left out. Never under loom (spinning only multiplies
/// interleavings without changing the protocol).
fn can_spin(iter: u32) -> bool {
    /// Go's `active_spin`.
    const ACTIVE_SPIN: u32 = 4;
    if cfg!(loom) || iter >= ACTIVE_SPIN || ncpu() <= 1 {
        return false;
    }
    match crate::sched::current_sched() {
        Some(s) => s.gomaxprocs() > s.npidle() + s.nmspinning() + 1,
        // A plain thread: the holder may be running on another CPU.
        None => true,
    }
}

/// The number of CPUs, cached (Go's `ncpu`).
fn ncpu() -> usize {
    use crate::sync::static_atomic::{AtomicUsize, Ordering};
    static NCPU: AtomicUsize = AtomicUsize::new(0);
    let n = NCPU.load(Ordering::Relaxed);
    if n != 0 {
        return n;
    }
    let n = std::thread::available_parallelism().map_or(1, usize::from);
    NCPU.store(n, Ordering::Relaxed);
    n
}

/// Go's `sync_runtime_doSpin`: `procyield(active_spin_cnt)` with 30 pause hints.
fn do_spin() {
    for _ in 0..30 {
        crate::sync::spin_loop();
    }
}

/// True once a waiter has waited over the starvation threshold. Under loom time does
/// not advance meaningfully, so every re-wait counts as starving (the starvation
/// hand-off is the path worth model checking).
fn waited_too_long(start: std::time::Instant) -> bool {
    cfg!(loom) || start.elapsed() > STARVATION_THRESHOLD
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T> core::fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let s = self.state.load(Ordering::Relaxed);
        f.debug_struct("Mutex")
            .field("locked", &(s & LOCKED != 0))
            .field("starving", &(s & STARVING != 0))
            .field("waiters", &(s >> WAITER_SHIFT))
            .finish_non_exhaustive()
    }
}

impl<'a, T> MutexGuard<'a, T> {
    /// The mutex this guard holds (for `Cond::wait`).
    pub(crate) fn mutex(&self) -> &'a Mutex<T> {
        self.mutex
    }
}

impl<T> Deref for MutexGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the guard proves we hold the lock, so no one writes concurrently.
        self.mutex.data.with(|p| unsafe { &*p })
    }
}

impl<T> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard proves we hold the lock exclusively.
        self.mutex.data.with_mut(|p| unsafe { &mut *p })
    }
}

impl<T> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        self.mutex.unlock();
    }
}

impl<T: core::fmt::Debug> core::fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Debug::fmt(&**self, f)
    }
}
