//! The facade's std side: plain std types, and an `UnsafeCell` with loom's `with` API.
#![allow(
    unused_imports,
    reason = "the facade exports more than each crate uses"
)]

pub(crate) use std::hint::spin_loop;
pub(crate) use std::sync::{Arc, Condvar};

/// Locks are counted per thread, so asynchronous preemption can refuse to stop a holder.
pub(crate) use super::runtime_lock::{RuntimeMutex as Mutex, RuntimeMutexGuard as MutexGuard};
pub(crate) use std::thread;

/// Atomics (std's).
pub(crate) mod atomic {
    pub(crate) use std::sync::atomic::{
        AtomicBool, AtomicPtr, AtomicU8, AtomicU16, AtomicU32, AtomicU64, AtomicUsize, Ordering,
        fence,
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
