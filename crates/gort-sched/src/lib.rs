//! gort-sched: Go's G/M/P scheduler for Rust — goroutines multiplexed onto OS threads
//! by per-processor run queues with work stealing, plus the parking primitive that
//! channels and `sync` are built on.
//!
//! # What it is
//!
//! A goroutine (G) is a function running on its own small stack. It runs on an OS
//! thread (M) only while that thread holds a processor (P); there are `GOMAXPROCS` Ps.
//! A blocked goroutine is parked off its thread ([`WaitReason`] says why), and readied
//! later by whoever unblocks it.
//!
//! # Glossary (Go name → gort name)
//!
//! | Go | gort |
//! | --- | --- |
//! | `gopark` | `park::park` |
//! | `goready` | `park::Parker::unpark` |
//! | `waitReason` | [`WaitReason`] |
//!
//! # Not done here
//!
//! Timers, sysmon, syscalls, the netpoller and asynchronous preemption are later work.
//!
//! Go source followed: `runtime/proc.go`, `runtime/runtime2.go`.

mod sync;

#[allow(
    dead_code,
    reason = "Parker and park are crate-internal; channels and sync use them"
)]
mod park;
pub use park::WaitReason;

#[allow(dead_code, reason = "the scheduler core using it lands next")]
mod run_queue;

pub mod chan;
pub use chan::Chan;
pub mod gosync;

#[cfg(all(test, loom))]
mod tests;
