//! The facade's loom side: loom's model-checked types under `--cfg loom`.
#![allow(
    unused_imports,
    reason = "the facade exports more than each crate uses"
)]

pub(crate) use loom::cell::UnsafeCell;
pub(crate) use loom::hint::spin_loop;
pub(crate) use loom::sync::{Arc, Condvar, Mutex, MutexGuard};
pub(crate) use loom::thread;

/// Atomics (loom's).
pub(crate) mod atomic {
    pub(crate) use loom::sync::atomic::{
        AtomicBool, AtomicI64, AtomicPtr, AtomicU8, AtomicU16, AtomicU32, AtomicU64, AtomicUsize,
        Ordering, fence,
    };
}

/// Thread-local storage (loom's `thread_local!`, reset per model execution).
pub(crate) use loom::thread_local;

/// Runtime-lock counting is for the SIGURG handler, which loom does not model.
#[inline(always)]
pub(crate) fn locks_inc() {}

/// See [`locks_inc`].
#[inline(always)]
pub(crate) fn locks_dec() {}

/// See [`locks_inc`].
#[inline(always)]
pub(crate) fn locks_held() -> u32 {
    0
}
