//! `RwLock<T>`: Go's `sync.RWMutex` (writer preference via a negative reader count)
//! holding the data it protects. See the crate docs for the overview.

use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};

use super::mutex::{Mutex, MutexGuard};
use super::semaphore::Semaphore;
use crate::fatal::throw;
use crate::park::WaitReason;
use crate::sync::UnsafeCell;
use crate::sync::atomic::{AtomicU32, Ordering};

/// The most readers at once (Go's `rwmutexMaxReaders`); a pending writer subtracts it
/// from the reader count to make the count negative.
const MAX_READERS: i32 = 1 << 30;

/// A reader-writer lock with Go's `sync.RWMutex` algorithm, protecting a `T`.
///
/// Any number of readers or one writer. A writer that arrives blocks new readers until it
/// has had its turn (so a stream of readers cannot starve writers), and waits for the
/// readers already inside to leave; when it unlocks, the readers that queued behind it
/// go first. Recursive read locking deadlocks if a writer arrives in between, as in Go.
///
/// ```
/// use gort_sched::gosync::RwLock;
///
/// let l = RwLock::new(vec![1]);
/// assert_eq!(l.read().len(), 1);
/// l.write().push(2);
/// assert_eq!(*l.read(), [1, 2]);
/// ```
pub struct RwLock<T> {
    /// Held by a writer for its whole write section (Go's `w`): writers exclude each
    /// other here first.
    w: Mutex<()>,
    /// Writers wait here for the departing readers (Go's `writerSem`).
    writer_sem: Semaphore,
    /// Readers wait here for a writer to finish (Go's `readerSem`).
    reader_sem: Semaphore,
    /// Readers inside or waiting, minus `MAX_READERS` while a writer is pending (Go's
    /// `readerCount`, an `int32` kept here as two's-complement `u32`). Atomic.
    reader_count: AtomicU32,
    /// Readers a pending writer still waits for to leave (Go's `readerWait`). Atomic.
    reader_wait: AtomicU32,
    /// The protected value. Read through read guards, written through the write guard.
    data: UnsafeCell<T>,
}

// SAFETY: hands `T` between threads (`T: Send`) and gives `&T` to several readers at
// once (`T: Sync`), `&mut T` only to the single writer.
unsafe impl<T: Send> Send for RwLock<T> {}
// SAFETY: as above.
unsafe impl<T: Send + Sync> Sync for RwLock<T> {}

/// Shared access; releases the read lock on drop.
#[must_use = "the read lock is released as soon as the guard is dropped"]
pub struct RwLockReadGuard<'a, T> {
    lock: &'a RwLock<T>,
    _marker: PhantomData<&'a T>,
}

/// Exclusive access; releases the write lock on drop.
#[must_use = "the write lock is released as soon as the guard is dropped"]
pub struct RwLockWriteGuard<'a, T> {
    lock: &'a RwLock<T>,
    /// The writers' mutex, released after the readers are let go (Go's order).
    w: Option<MutexGuard<'a, ()>>,
    _marker: PhantomData<&'a mut T>,
}

/// `fetch_add` on a two's-complement `i32` kept in an `AtomicU32`; returns the new value.
fn add(a: &AtomicU32, delta: i32) -> i32 {
    (a.fetch_add(delta as u32, Ordering::AcqRel) as i32).wrapping_add(delta)
}

impl<T> RwLock<T> {
    /// An unlocked lock holding `value`.
    pub fn new(value: T) -> Self {
        Self {
            w: Mutex::new(()),
            writer_sem: Semaphore::new(0),
            reader_sem: Semaphore::new(0),
            reader_count: AtomicU32::new(0),
            reader_wait: AtomicU32::new(0),
            data: UnsafeCell::new(value),
        }
    }

    /// Locks for reading, blocking while a writer holds or waits for the lock (Go's
    /// `RLock`).
    pub fn read(&self) -> RwLockReadGuard<'_, T> {
        if add(&self.reader_count, 1) < 0 {
            // A writer is pending: wait for it.
            self.reader_sem
                .acquire_as(false, WaitReason::SyncRWMutexRLock);
        }
        RwLockReadGuard {
            lock: self,
            _marker: PhantomData,
        }
    }

    /// Locks for reading if no writer holds or waits for the lock (Go's `TryRLock`).
    pub fn try_read(&self) -> Option<RwLockReadGuard<'_, T>> {
        let mut c = self.reader_count.load(Ordering::Relaxed);
        loop {
            if (c as i32) < 0 {
                return None;
            }
            match self.reader_count.compare_exchange_weak(
                c,
                c.wrapping_add(1),
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    return Some(RwLockReadGuard {
                        lock: self,
                        _marker: PhantomData,
                    });
                }
                Err(now) => c = now,
            }
        }
    }

    /// Locks for writing, blocking until no reader or writer holds the lock (Go's
    /// `Lock`).
    pub fn write(&self) -> RwLockWriteGuard<'_, T> {
        // First, resolve competition with other writers.
        let w = self.w.lock();
        // Announce to readers there is a pending writer.
        let r = add(&self.reader_count, -MAX_READERS).wrapping_add(MAX_READERS);
        // Wait for active readers.
        if r != 0 && add(&self.reader_wait, r) != 0 {
            self.writer_sem
                .acquire_as(false, WaitReason::SyncRWMutexLock);
        }
        RwLockWriteGuard {
            lock: self,
            w: Some(w),
            _marker: PhantomData,
        }
    }

    /// Locks for writing if the lock is free now (Go's `TryLock`).
    pub fn try_write(&self) -> Option<RwLockWriteGuard<'_, T>> {
        let w = self.w.try_lock()?;
        if self
            .reader_count
            .compare_exchange(
                0,
                MAX_READERS.wrapping_neg() as u32,
                Ordering::Acquire,
                Ordering::Relaxed,
            )
            .is_err()
        {
            return None; // Dropping `w` unlocks the writers' mutex.
        }
        Some(RwLockWriteGuard {
            lock: self,
            w: Some(w),
            _marker: PhantomData,
        })
    }

    /// The protected value, through exclusive access (no locking needed).
    pub fn get_mut(&mut self) -> &mut T {
        // SAFETY: `&mut self` proves no guard exists.
        self.data.with_mut(|p| unsafe { &mut *p })
    }

    /// Go's `RUnlock`.
    fn read_unlock(&self) {
        let r = add(&self.reader_count, -1);
        if r < 0 {
            // Outlined slow path.
            self.read_unlock_slow(r);
        }
    }

    /// Go's `rUnlockSlow`.
    #[cold]
    fn read_unlock_slow(&self, r: i32) {
        if r.wrapping_add(1) == 0 || r.wrapping_add(1) == -MAX_READERS {
            throw("sync: RUnlock of unlocked RWMutex");
        }
        // A writer is pending; the last departing reader unblocks it.
        if add(&self.reader_wait, -1) == 0 {
            self.writer_sem.release_as(false);
        }
    }

    /// Go's `Unlock`, minus the final `w.Unlock()` (the guard drops it).
    fn write_unlock(&self) {
        // Announce to readers there is no active writer.
        let r = add(&self.reader_count, MAX_READERS);
        if r >= MAX_READERS {
            throw("sync: Unlock of unlocked RWMutex");
        }
        // Unblock the readers that queued behind us.
        for _ in 0..r {
            self.reader_sem.release_as(false);
        }
    }
}

impl<T: Default> Default for RwLock<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T> core::fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RwLock")
            .field(
                "reader_count",
                &(self.reader_count.load(Ordering::Relaxed) as i32),
            )
            .finish_non_exhaustive()
    }
}

impl<T> Deref for RwLockReadGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: a read guard excludes writers.
        self.lock.data.with(|p| unsafe { &*p })
    }
}

impl<T> Drop for RwLockReadGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.read_unlock();
    }
}

impl<T: core::fmt::Debug> core::fmt::Debug for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Debug::fmt(&**self, f)
    }
}

impl<T> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the write guard excludes everyone else.
        self.lock.data.with(|p| unsafe { &*p })
    }
}

impl<T> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the write guard excludes everyone else.
        self.lock.data.with_mut(|p| unsafe { &mut *p })
    }
}

impl<T> Drop for RwLockWriteGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.write_unlock();
        drop(self.w.take());
    }
}

impl<T: core::fmt::Debug> core::fmt::Debug for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Debug::fmt(&**self, f)
    }
}
