//! The synchronisation facade: every atomic, lock, cell and thread this crate uses comes
//! from here, so `RUSTFLAGS="--cfg loom"` swaps them all for loom's model-checked
//! versions at once (tokio's `src/loom`). See the crate docs for the overview.
//!
//! Process-wide statics cannot hold loom types (they are not `const`-constructible), so
//! [`static_atomic`] re-exports std's atomics for them under either cfg; the logic that
//! matters is modelled on per-instance state.

#[cfg(not(loom))]
mod std_impl;
#[cfg(not(loom))]
#[allow(unused_imports, reason = "not every facade item is used")]
pub(crate) use std_impl::*;

#[cfg(loom)]
mod loom_impl;
#[cfg(loom)]
#[allow(unused_imports, reason = "not every facade item is used")]
pub(crate) use loom_impl::*;

/// Atomics for process-wide `static`s, which loom cannot model; std's under every cfg.
#[allow(unused_imports, reason = "not every crate uses every static atomic")]
pub(crate) mod static_atomic {
    pub(crate) use core::sync::atomic::{
        AtomicBool, AtomicPtr, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering,
    };
}

/// Locks for process-wide `static`s (loom's are not `const`-constructible); std's under
/// every cfg. Only the collector's own threads and callers outside a stopped world take
/// them, never a marker with the world stopped.
#[allow(unused_imports, reason = "not every crate uses every static lock")]
pub(crate) mod static_sync {
    /// Counted per thread (gort-heap's runtime locks): asynchronous preemption never stops
    /// a goroutine holding one, so the collector never waits on a stopped holder.
    pub(crate) use gort_heap::runtime_lock::{
        RuntimeMutex as Mutex, RuntimeMutexGuard as MutexGuard,
    };
    pub(crate) use std::sync::OnceLock;
    /// Plain std locks, for code that pairs them with a std `Condvar` (the mock host).
    pub(crate) use std::sync::{Mutex as StdMutex, MutexGuard as StdMutexGuard};
}
