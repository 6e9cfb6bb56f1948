//! Runtime locks that count themselves per thread (Go: `m.locks`), so a scheduler's
//! asynchronous preemption can refuse to stop a thread that holds one.
//!
//! Why: a goroutine stopped by a signal while it holds, say, a central's lock would leave
//! every other thread that allocates — sysmon, the collector, other Ms — blocked on that
//! lock until the stopped goroutine gets a P back, which may need one of them. Go refuses
//! to preempt asynchronously while `m.locks > 0` or `m.mallocing`; gort does the same with
//! [`held`], which gort-heap, gort-alloc and gort-gc keep up to date through
//! [`RuntimeMutex`] and the persistent-alloc spin lock. The count lives in a
//! const-initialised thread-local `Cell` with no destructor, so reading it is
//! async-signal-safe and never allocates.

use core::cell::Cell;
use core::mem::ManuallyDrop;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{Ordering, compiler_fence};
use std::sync::{LockResult, PoisonError, TryLockError, TryLockResult};

thread_local! {
    /// How many runtime locks this thread holds (or is waiting for). Written only by this
    /// thread; read by this thread's own signal handlers.
    static HELD: Cell<u32> = const { Cell::new(0) };
}

/// Whether the calling thread holds (or is acquiring) a runtime lock of gort-heap,
/// gort-alloc or gort-gc. Async-signal-safe; meant as gort-sched's preemption veto.
#[inline]
pub fn held() -> bool {
    // A thread whose thread-locals are gone is exiting: treat it as holding a lock.
    HELD.try_with(Cell::get).unwrap_or(1) > 0
}

/// Counts one runtime lock taken by this thread; pair with [`exit`].
#[inline]
pub fn enter() {
    let _ = HELD.try_with(|c| c.set(c.get() + 1));
    // A signal handler on this thread must see the count before the lock is taken.
    compiler_fence(Ordering::SeqCst);
}

/// Counts one runtime lock released by this thread.
#[inline]
pub fn exit() {
    compiler_fence(Ordering::SeqCst);
    let _ = HELD.try_with(|c| c.set(c.get().saturating_sub(1)));
}

/// A `std::sync::Mutex` whose holders are counted by [`held`] from the moment they start
/// to acquire it until the guard is dropped.
#[derive(Default)]
pub struct RuntimeMutex<T: ?Sized>(std::sync::Mutex<T>);

/// The guard of a [`RuntimeMutex`]; dropping it releases the lock, then the count.
pub struct RuntimeMutexGuard<'a, T: ?Sized> {
    inner: ManuallyDrop<std::sync::MutexGuard<'a, T>>,
}

impl<T> RuntimeMutex<T> {
    /// A new unlocked mutex holding `value`.
    pub const fn new(value: T) -> Self {
        RuntimeMutex(std::sync::Mutex::new(value))
    }

    /// Consumes the mutex, returning its value.
    pub fn into_inner(self) -> LockResult<T> {
        self.0.into_inner()
    }
}

impl<T: ?Sized> RuntimeMutex<T> {
    /// Locks, counting the lock from before the wait (a waiter must not be stopped either:
    /// it may be granted the lock while stopped).
    pub fn lock(&self) -> LockResult<RuntimeMutexGuard<'_, T>> {
        enter();
        match self.0.lock() {
            Ok(g) => Ok(RuntimeMutexGuard::wrap(g)),
            Err(e) => Err(PoisonError::new(RuntimeMutexGuard::wrap(e.into_inner()))),
        }
    }

    /// Locks if free.
    pub fn try_lock(&self) -> TryLockResult<RuntimeMutexGuard<'_, T>> {
        enter();
        match self.0.try_lock() {
            Ok(g) => Ok(RuntimeMutexGuard::wrap(g)),
            Err(TryLockError::Poisoned(e)) => Err(TryLockError::Poisoned(PoisonError::new(
                RuntimeMutexGuard::wrap(e.into_inner()),
            ))),
            Err(TryLockError::WouldBlock) => {
                exit();
                Err(TryLockError::WouldBlock)
            }
        }
    }

    /// The value, through a unique borrow (no locking, no count).
    pub fn get_mut(&mut self) -> LockResult<&mut T> {
        self.0.get_mut()
    }
}

impl<T: ?Sized + core::fmt::Debug> core::fmt::Debug for RuntimeMutex<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.0.fmt(f)
    }
}

impl<T: ?Sized + core::fmt::Debug> core::fmt::Debug for RuntimeMutexGuard<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        (**self.inner).fmt(f)
    }
}

impl<'a, T: ?Sized> RuntimeMutexGuard<'a, T> {
    fn wrap(inner: std::sync::MutexGuard<'a, T>) -> Self {
        RuntimeMutexGuard {
            inner: ManuallyDrop::new(inner),
        }
    }
}

impl<T: ?Sized> Deref for RuntimeMutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T: ?Sized> DerefMut for RuntimeMutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.inner
    }
}

impl<T: ?Sized> Drop for RuntimeMutexGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: `inner` is dropped exactly once, here, and never used afterwards.
        unsafe { ManuallyDrop::drop(&mut self.inner) };
        exit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_counts_until_the_guard_drops() {
        let m = RuntimeMutex::new(5);
        assert!(!held());
        {
            let g = m.lock().unwrap_or_else(PoisonError::into_inner);
            assert!(held());
            assert_eq!(*g, 5);
            assert!(matches!(m.try_lock(), Err(TryLockError::WouldBlock)));
            assert!(held());
        }
        assert!(!held());
        let g = m.try_lock();
        assert!(held());
        drop(g);
        assert!(!held());
    }

    #[test]
    fn poisoned_guards_still_count() {
        let m = std::sync::Arc::new(RuntimeMutex::new(0));
        let m2 = std::sync::Arc::clone(&m);
        let _ = std::thread::spawn(move || {
            let _g = m2.lock();
            std::panic::panic_any("poison");
        })
        .join();
        let g = m.lock();
        assert!(g.is_err());
        assert!(held());
        drop(g);
        assert!(!held());
    }
}
