//! The synchronisation facade: every atomic, lock, cell and thread this crate uses comes
//! from here, so `RUSTFLAGS="--cfg loom"` swaps them all for loom's model-checked
//! versions at once (tokio's `src/loom`). See the crate docs for the overview.
//!
//! Process-wide statics cannot hold loom types (they are not `const`-constructible), so
//! [`static_atomic`] re-exports std's atomics for them under either cfg; the logic that
//! matters is modelled on per-instance state.

pub mod runtime_lock;

#[cfg(not(loom))]
mod std_impl;
#[cfg(not(loom))]
pub(crate) use std_impl::*;

#[cfg(loom)]
mod loom_impl;
#[cfg(loom)]
pub(crate) use loom_impl::*;

/// Atomics for process-wide `static`s, which loom cannot model; std's under every cfg.
#[allow(unused_imports, reason = "not every crate uses every static atomic")]
pub(crate) mod static_atomic {
    pub(crate) use core::sync::atomic::{
        AtomicBool, AtomicPtr, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering,
    };
}
