//! gort-sched: Go's G/M/P scheduler for Rust — goroutines multiplexed onto OS threads
//! by per-processor run queues with work stealing, plus the parking primitive that
//! channels and `sync` are built on.
//!
//! # What it is
//!
//! A goroutine (G) is a closure running on its own stack (from gort-stack). It runs on
//! an OS thread (M) only while that thread holds a processor (P); there are GOMAXPROCS
//! Ps. Each P has a local run queue; idle Ms steal from others. A blocked goroutine is
//! parked off its thread ([`WaitReason`] says why) and readied later by whoever
//! unblocks it. [`run_with`] makes the calling thread the first M of a new scheduler and
//! runs a closure as goroutine 1; the `gort` facade wraps it.
//!
//! # Glossary (Go name → gort name)
//!
//! | Go | gort |
//! | --- | --- |
//! | `g`, `m`, `p`, `schedt` | `G` (g.rs), `M` (m.rs), `P` (p.rs), `Sched` (sched.rs) |
//! | `_Grunnable` … `_Gdead` | `GStatus` |
//! | `runq`, `runnext`, `runqput`/`runqget`/`runqsteal` | `RunQueue::push`/`pop`/`steal_from` |
//! | `schedule`, `findRunnable`, `execute` | `mstart` loop, `find_runnable`, `execute` |
//! | `wakep`, `startm`, `stopm`, `newm`, `handoffp` | same names on `Sched` / in sched.rs |
//! | `newproc`, `goexit0`, `gfget`/`gfput` | `Sched::newproc`, `goexit0`, `gfget`/`gfput` |
//! | `gopark`, `goready` | `park::park`, `park::Parker::unpark` → `Sched::ready` |
//! | `waitReason` | [`WaitReason`] |
//! | `runtime.Gosched`, `NumGoroutine`, `GOMAXPROCS`, `LockOSThread` | [`yield_now`], [`num_goroutine`], [`set_maxprocs`], [`lock_os_thread`] |
//! | `checkdead`, `throw`, `fatal` | `Sched::checkdead`, `fatal::throw`, `fatal::fatal` |
//! | `p.timers`, `checkTimers`, `time.Sleep`/`After`/`Tick`/`Timer`/`Ticker` | `P::timers` (4-ary heap), `run_timers`, [`time`] |
//! | `entersyscall`/`exitsyscall` | [`syscall()`] |
//! | `sysmon`, `retake`, `preemptone` | `sysmon.rs`, [`preempt_check`], [`add_sysmon_hook`] |
//! | `preemptM`, `asyncPreempt`, `isAsyncSafePoint`, `m.locks` | `preempt/` (SIGURG, stop in place), `NoPreempt` |
//! | `stopTheWorld`, `forEachP`, `allgs` | [`stop_the_world`] → [`WorldStopped::for_each_g`], [`for_each_p`] |
//! | `netpoll`, `pollDesc`, `netpollblock`/`netpollunblock`, `internal/poll.FD` | [`netpoll`] (`PollDesc`, `Slot::wait`/`unblock`), [`netpoll::PollFd`] |
//! | `shrinkstack` of a parked G, `_Gscan` | parked-stack compaction (opt-in [`Config::compact_parked_after`]; `compact.rs`, `SCAN`), [`compact_stats`] |
//!
//! # Fast paths and slow paths
//!
//! 1. Spawn: a dead G from the P's free list, the closure stored inline in the G, a
//!    swap into `runnext`; no allocation, no lock. Slow: free list empty (a batch from
//!    the global list, or a new G), ring full (half goes to the global queue).
//! 2. First run: a stack from the running P's LIFO cache (hot in this CPU's cache);
//!    slow: the global cache, then gort-stack's pool.
//! 3. Park: switch to g0, run the unlock callback there, CAS Running → Waiting, pick
//!    the next G (runnext first). Unpark: CAS Waiting → Runnable, push to the caller's
//!    runnext, `wakep` only if a P is idle and nobody spins.
//! 4. No local work: global queue, then stealing half a victim's queue (four passes,
//!    runnext last), then releasing the P, re-checking, and sleeping on the M's note
//!    (the one M sleeping for timers or the network sleeps in `epoll_wait`).
//! 5. Network I/O: the syscall first; only on `EAGAIN` park on the descriptor's
//!    slot. An idle M's `epoll_wait(0)` (or the sleeping M's blocking one) readies
//!    exactly the goroutines whose descriptors are ready, into its own run queue.
//!
//! 6. Preemption: cooperative at channel operations, parking, [`yield_now`], spawning and
//!    [`preempt_check`]; a goroutine running 10 ms without one gets a SIGURG from sysmon
//!    and is stopped in place on its own thread (the P moves on) until a P comes back
//!    to it (`GORT_DEBUG=asyncpreemptoff=1` turns that off). [`stop_the_world`] stops
//!    every P for the collector and the tracer with the same two mechanisms.
//! 7. Parked-stack compaction (opt-in): an idle P copies the live stack of a goroutine
//!    parked on a channel longer than the threshold (~0.6 KiB) aside and releases its
//!    pages, 32 at a time; the waker that dequeues it copies it back first. Off: one
//!    relaxed load per blocking channel operation.
//!
//! # Not done here
//!
//! Forwarding a program's own SIGURG, trace events for asynchronous preemption.
//! docs/design/gort-sched.md has the details and the rejected designs.
//!
//! Go source followed: `runtime/proc.go`, `runtime/runtime2.go` (scheduler),
//! `runtime/chan.go`, `runtime/select.go`, `runtime/sema.go`, `sync/` (channels, sync),
//! `runtime/netpoll.go`, `runtime/netpoll_epoll.go` (the netpoller).

mod sync;

mod compact;
mod config;
mod error;
mod fatal;
mod g;
mod gls;
mod m;
mod p;
mod panicking;
mod park;
mod preempt;
mod proc;
mod run_queue;
mod sched;
mod schedtrace;
mod stw;
mod syscall;
mod sysmon;
mod trace;

#[cfg(not(loom))]
pub mod debug;

pub use compact::{CompactStats, compact_stats};
pub use config::{Config, DEFAULT_STACK_SIZE, MAX_PROCS, parse_maxprocs};
pub use error::Error;
pub use gls::GoroutineLocal;
pub use park::WaitReason;
pub use preempt::{async_preemptions, set_async_preempt_veto};
pub use proc::{
    goid, gomaxprocs, lock_os_thread, num_goroutine, on_goroutine, schedtrace_line, set_maxprocs,
    spawn, spawn_with, unlock_os_thread, yield_now,
};
pub use sched::run_with;
pub use stw::{GInfo, GoroutineStatus, WorldStopped, for_each_p, stop_the_world};
pub use syscall::syscall;
pub use sysmon::{FORCE_PREEMPT, add_sysmon_hook, preempt_check};

pub mod time;

pub mod netpoll;

pub mod chan;
pub use chan::Chan;
pub mod gosync;

#[cfg(all(test, loom))]
mod tests;
