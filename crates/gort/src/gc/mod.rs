//! Go's garbage collector for gort programs (Go's `runtime.GC`, `runtime.MemStats`,
//! `debug.SetGCPercent`, `sync.Pool`): [`Gc<T>`] objects traced precisely through
//! [`Trace`] (derive it), roots found conservatively, collected by gort-gc running on
//! gort's scheduler.
//!
//! ```
//! #[global_allocator]
//! static ALLOC: gort::GortAlloc = gort::GortAlloc;
//!
//! use gort::gc::{Gc, Trace};
//! use std::sync::Mutex;
//!
//! #[derive(Trace)]
//! struct Node {
//!     value: u64,
//!     next: Mutex<Option<Gc<Node>>>,
//! }
//!
//! gort::run(|| {
//!     let a = Gc::new(Node { value: 1, next: Mutex::new(None) });
//!     let b = Gc::new(Node { value: 2, next: Mutex::new(Some(a)) });
//!     *a.next.lock().unwrap() = Some(b); // a cycle: collected once unreachable
//!     gort::gc::gc();
//!     assert_eq!(b.next.lock().unwrap().map(|n| n.value), Some(1));
//! });
//! ```
//!
//! # Requirements
//!
//! gort's allocator must be the global allocator (`#[global_allocator] static ALLOC:
//! gort::GortAlloc = gort::GortAlloc;`): a `Gc` may hide in any `Box`, `Vec` or
//! `HashMap`, so the collector scans every manual allocation reachable from a root, and
//! finds them in gort's heap. Without it, `Gc::new` stops the program with a message
//! saying so. The collector starts with the first [`run`](crate::run) (objects made
//! before then are collected from the first cycle on).
//!
//! # Limits
//!
//! A `Gc` kept only in memory the collector does not scan is freed while still in use:
//! the dynamic TLS of `dlopen`ed modules (a `thread_local!` of a Rust `cdylib` loaded at
//! run time), memory from another allocator (a C library's `malloc`), or a field
//! wrapped in [`Untraced`]. The collector stops every thread with `SIGPWR` (io_uring's
//! kernel threads excepted): a plain thread blocked in `epoll_wait`, `poll`, `select`
//! or another call the kernel never restarts gets `EINTR` and must retry.
//!
//! # How the host works (gort-gc's `Host` on gort-sched)
//!
//! 1. Stop: gather what allocates first (the thread handshake's buffers, the data
//!    segments from `dl_iterate_phdr`, the mark worker threads); then
//!    `gort_sched::stop_the_world` (every P stops: goroutines at safe points or
//!    preempted by SIGURG); then every scheduler's `allg` lock is taken (sysmon and
//!    dumps copy the list under it) and the collecting thread's `WORLD` slot is filled;
//!    then gort-gc's SIGPWR handshake stops every other thread of the process (Ms,
//!    sysmon, goroutines inside `gort::syscall`, plain `std::thread`s) except the mark
//!    workers. From there to the restart the host allocates nothing and takes no lock a
//!    stopped thread may hold.
//! 2. Roots: every stopped goroutine's stack from its saved stack pointer (and the
//!    signal context of one preempted in place); every stopped thread's saved
//!    registers, its stack from its stack pointer — to the top of the goroutine stack
//!    segment holding it (`gort_stack::stack_segment_of`) when it runs a goroutine, else
//!    to the top of its mapping — and its TLS block; the collecting thread's spilled
//!    registers and stack; the writable data segments.
//! 3. Mark workers: `GOMAXPROCS - 1` plain threads started before the stop, exempt from
//!    the handshake, plus the collecting thread.
//! 4. Start: restart the threads, then the schedulers.
//! 5. Blocking (`gort::gc()` waiting for a cycle, the background thread waiting for
//!    finalizers) uses gort-sched's `Mutex` and `Cond`: a goroutine parks, a plain
//!    thread sleeps. Drops of collected objects run on one background thread (not a
//!    goroutine: the collector outlives each `run`).
//! 6. Every 2 minutes without a cycle, sysmon wakes a helper that runs one (Go's
//!    `forcegchelper`).
//!
//! Configuration: `GORT_GC` (percent or `off`), `GORT_MEMLIMIT`, `GORT_DEBUG=gctrace=1`
//! and `gccheckmark=1`, with Go's meanings.

mod alloc_check;
mod forcegc;
mod sched_host;
mod untraced;
mod workers;

pub use untraced::Untraced;

pub use gort_derive::Trace;
pub use gort_gc::{
    FORCE_GC_PERIOD, Gc, GcCell, GcRefCell, MemStats, Pool, Trace, Tracer, num_gc, read_mem_stats,
    set_gc_percent, set_memory_limit,
};

use std::sync::Once; // tidy: allow(std-sync) a process-wide one-time install

/// Runs a garbage collection now and waits for it (Go: `runtime.GC`).
pub fn gc() {
    start();
    gort_gc::gc();
}

/// Installs the collector's host, once per process; a no-op when gort's allocator is not
/// the global allocator (then `Gc::new` refuses with a message). Called by every `run`.
pub(crate) fn start() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if !alloc_check::gort_alloc_is_global() {
            return;
        }
        let host: &'static sched_host::SchedHost =
            Box::leak(Box::new(sched_host::SchedHost::new()));
        match gort_gc::install(host) {
            Ok(()) => forcegc::start(),
            Err(gort_gc::Error::HostInstalled) => {}
            Err(e) => die(&e),
        }
    });
}

/// Prints `gort: <error>` and exits with status 2 (a bad `GORT_GC` or `GORT_MEMLIMIT`).
#[cold]
fn die(e: &gort_gc::Error) -> ! {
    use std::io::Write as _;
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "gort: {e}");
    let _ = err.flush();
    std::process::exit(2)
}
