//! gort-gc: Go's garbage collector (mgc.go and friends) in Rust, over gort-alloc's heap.
//!
//! # What it is
//!
//! A non-moving mark-sweep collector for [`Gc<T>`](Host) objects. Heap objects are
//! traced precisely through `Trace`; roots (stacks, registers, data segments, TLS) are
//! scanned conservatively, and so is every manual allocation (`Box`, `Vec`, ...) found
//! reachable, because safe Rust can hide a `Gc` in any of them. The runtime around the
//! collector — stopping the world, finding roots, running workers, parking — is the
//! [`Host`] trait; the facade implements it on gort-sched.
//!
//! This first commit holds the host interface; the collector follows.

mod host;
pub mod roots;
mod sync;

pub use host::{Event, Host, RootKind};
