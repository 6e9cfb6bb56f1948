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

mod config;
mod error;
mod fatal;
mod g;
mod gls;
mod m;
mod p;
mod panicking;
mod park;
mod proc;
mod run_queue;
mod sched;
mod schedtrace;

pub use config::{Config, DEFAULT_STACK_SIZE, MAX_PROCS, parse_maxprocs};
pub use error::Error;
pub use gls::GoroutineLocal;
pub use park::WaitReason;
pub use proc::{
    goid, gomaxprocs, lock_os_thread, num_goroutine, on_goroutine, schedtrace_line, set_maxprocs,
    spawn, spawn_with, unlock_os_thread, yield_now,
};
pub use sched::run_with;

pub mod chan;
pub use chan::Chan;
pub mod gosync;

#[cfg(all(test, loom))]
mod tests;
