//! The facade's std side: plain std types, and an `UnsafeCell` with loom's `with` API.
#![allow(
    unused_imports,
    reason = "the facade exports more than each crate uses"
)]

pub(crate) use std::hint::spin_loop;
pub(crate) use std::sync::Arc;

use core::cell::Cell;
use core::mem::ManuallyDrop;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{Ordering as FenceOrdering, compiler_fence};
use std::sync::{LockResult, PoisonError, TryLockError, TryLockResult};
pub(crate) use std::thread;

/// Atomics (std's).
pub(crate) mod atomic {
    pub(crate) use std::sync::atomic::{
        AtomicBool, AtomicI64, AtomicPtr, AtomicU8, AtomicU16, AtomicU32, AtomicU64, AtomicUsize,
        Ordering, fence,
    };
}

/// `UnsafeCell` with loom's closure API, so code reads the same under both cfgs.
#[derive(Debug, Default)]
#[repr(transparent)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[allow(dead_code, reason = "the facade exports more than each crate uses")]
impl<T> UnsafeCell<T> {
    /// Wraps `value`.
    pub(crate) const fn new(value: T) -> Self {
        Self(std::cell::UnsafeCell::new(value))
    }

    /// Runs `f` with a shared raw pointer to the contents.
    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    /// Runs `f` with a mutable raw pointer to the contents.
    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

/// Thread-local storage (std's `thread_local!`).
pub(crate) use std::thread_local;

thread_local! {
    /// Runtime locks (this facade's `Mutex`es) held by this thread, plus open
    /// `preempt::NoPreempt` sections (Go: `m.locks`). Read by the SIGURG handler on the same
    /// thread: a thread with a non-zero count is never preempted in place, so nothing a
    /// preempted goroutine holds is ever needed by g0 or sysmon to give it its P back.
    static LOCKS: Cell<u32> = const { Cell::new(0) };
}

/// Counts one more runtime lock (or no-preemption section) on this thread. The compiler
/// fence keeps the count from sinking below the acquisition it announces, as the signal
/// handler on this thread would see it.
#[inline(always)]
pub(crate) fn locks_inc() {
    let _ = LOCKS.try_with(|c| c.set(c.get() + 1));
    compiler_fence(FenceOrdering::SeqCst);
}

/// Undoes [`locks_inc`], after the release it announces.
#[inline(always)]
pub(crate) fn locks_dec() {
    compiler_fence(FenceOrdering::SeqCst);
    let _ = LOCKS.try_with(|c| c.set(c.get().saturating_sub(1)));
}

/// Runtime locks held by this thread (async-signal-safe: a thread-local read).
#[inline(always)]
pub(crate) fn locks_held() -> u32 {
    LOCKS.try_with(Cell::get).unwrap_or(1)
}

/// std's `Mutex`, counting its holders in [`LOCKS`] (Go's runtime `lock` bumps
/// `m.locks` the same way). Same API as std's for what the crate uses.
#[derive(Default)]
pub(crate) struct Mutex<T: ?Sized>(std::sync::Mutex<T>);

/// The guard of [`Mutex`]: std's guard, and one count in [`LOCKS`] dropped after it.
pub(crate) struct MutexGuard<'a, T: ?Sized> {
    /// Dropped by hand before the count (see `Drop`).
    inner: ManuallyDrop<std::sync::MutexGuard<'a, T>>,
}

#[allow(dead_code, reason = "the facade exports more than each crate uses")]
impl<T> Mutex<T> {
    /// A new unlocked mutex.
    pub(crate) const fn new(value: T) -> Self {
        Mutex(std::sync::Mutex::new(value))
    }

    /// Consumes the mutex.
    pub(crate) fn into_inner(self) -> LockResult<T> {
        self.0.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Locks (std's `lock`), counting the lock from before the wait.
    pub(crate) fn lock(&self) -> LockResult<MutexGuard<'_, T>> {
        locks_inc();
        match self.0.lock() {
            Ok(g) => Ok(MutexGuard::wrap(g)),
            Err(e) => Err(PoisonError::new(MutexGuard::wrap(e.into_inner()))),
        }
    }

    /// Locks if free (std's `try_lock`).
    pub(crate) fn try_lock(&self) -> TryLockResult<MutexGuard<'_, T>> {
        locks_inc();
        match self.0.try_lock() {
            Ok(g) => Ok(MutexGuard::wrap(g)),
            Err(TryLockError::Poisoned(e)) => Err(TryLockError::Poisoned(PoisonError::new(
                MutexGuard::wrap(e.into_inner()),
            ))),
            Err(TryLockError::WouldBlock) => {
                locks_dec();
                Err(TryLockError::WouldBlock)
            }
        }
    }

    /// The contents, through a unique reference (no locking).
    pub(crate) fn get_mut(&mut self) -> LockResult<&mut T> {
        self.0.get_mut()
    }
}

impl<T: ?Sized + core::fmt::Debug> core::fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.0.fmt(f)
    }
}

impl<'a, T: ?Sized> MutexGuard<'a, T> {
    /// Wraps a std guard whose lock [`locks_inc`] already counted.
    fn wrap(inner: std::sync::MutexGuard<'a, T>) -> Self {
        MutexGuard {
            inner: ManuallyDrop::new(inner),
        }
    }

    /// Takes the std guard out, keeping the count (for `Condvar`).
    fn into_std(self) -> std::sync::MutexGuard<'a, T> {
        let mut me = ManuallyDrop::new(self);
        // SAFETY: `me` is never dropped, so `inner` is taken exactly once.
        unsafe { ManuallyDrop::take(&mut me.inner) }
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.inner
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: dropped once, here; `inner` is not used afterwards.
        unsafe { ManuallyDrop::drop(&mut self.inner) };
        locks_dec();
    }
}

impl<T: ?Sized + core::fmt::Debug> core::fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        (**self).fmt(f)
    }
}

/// std's `Condvar` for the counting [`Mutex`] (the count stays while waiting: the
/// thread is blocked in the runtime either way).
#[derive(Debug, Default)]
pub(crate) struct Condvar(std::sync::Condvar);

#[allow(dead_code, reason = "the facade exports more than each crate uses")]
impl Condvar {
    /// A new condition variable.
    pub(crate) const fn new() -> Self {
        Condvar(std::sync::Condvar::new())
    }

    /// std's `wait`.
    pub(crate) fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> LockResult<MutexGuard<'a, T>> {
        match self.0.wait(guard.into_std()) {
            Ok(g) => Ok(MutexGuard::wrap(g)),
            Err(e) => Err(PoisonError::new(MutexGuard::wrap(e.into_inner()))),
        }
    }

    /// std's `wait_timeout`.
    pub(crate) fn wait_timeout<'a, T>(
        &self,
        guard: MutexGuard<'a, T>,
        dur: core::time::Duration,
    ) -> LockResult<(MutexGuard<'a, T>, std::sync::WaitTimeoutResult)> {
        match self.0.wait_timeout(guard.into_std(), dur) {
            Ok((g, t)) => Ok((MutexGuard::wrap(g), t)),
            Err(e) => {
                let (g, t) = e.into_inner();
                Err(PoisonError::new((MutexGuard::wrap(g), t)))
            }
        }
    }

    /// std's `notify_one`.
    pub(crate) fn notify_one(&self) {
        self.0.notify_one();
    }

    /// std's `notify_all`.
    pub(crate) fn notify_all(&self) {
        self.0.notify_all();
    }
}
