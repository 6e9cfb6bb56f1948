//! gort: Go's runtime for Rust. This facade composes the layers into one runtime with
//! Go's programming model: goroutines ([`go()`], [`go!`]), channels and [`select!`]
//! ([`chan`]), Go's `sync` package ([`sync`]), and Go's runtime knobs and reports.
//!
//! ```
//! let sum = gort::run(|| {
//!     let results = gort::chan::Chan::new(0);
//!     for i in 0..10u64 {
//!         let results = results.clone();
//!         gort::go!(results.send(i * i));
//!     }
//!     (0..10).map(|_| results.recv().unwrap_or(0)).sum::<u64>()
//! });
//! assert_eq!(sum, 285);
//! ```
//!
//! # The model
//!
//! [`run`] turns the calling thread into the first M of a new scheduler, runs the
//! closure as the main goroutine (goroutine 1), and returns its result when it returns;
//! goroutines still running then are abandoned, as in a Go program whose `main` returns.
//! [`#[gort::main]`](macro@main) does the same for a program's `fn main`, as
//! `#[tokio::main]` does for tokio; [`run_main`] is what it expands to.
//! GOMAXPROCS comes from `GORT_MAXPROCS` (default: the number of CPUs), schedtrace from
//! `GORT_DEBUG=schedtrace=MS,scheddetail=1`, and `GORT_TRACE=FILE` writes an execution
//! trace of the whole run to `FILE` (see [`trace`]). A bad value stops the program with
//! a message naming the variable and what it accepts.
//!
//! Go's fatal checks apply: when every goroutine is blocked forever the program prints
//! `fatal error: all goroutines are asleep - deadlock!` with the blocked goroutines and
//! exits with status 2; a panic that leaves a goroutine prints `panic: <msg>` and
//! `goroutine N [running]:` and exits with status 2.
//!
//! # Glossary (Go → gort)
//!
//! | Go | gort |
//! | --- | --- |
//! | `go f()` | [`go()`]`(f)`, [`go!`]`(f())` |
//! | `runtime.Gosched` | [`yield_now`] |
//! | `runtime.NumGoroutine` | [`num_goroutine`] |
//! | `runtime.GOMAXPROCS(n)` | [`set_maxprocs`], [`gomaxprocs`] |
//! | `runtime.LockOSThread` | [`lock_os_thread`] |
//! | `GOMAXPROCS`, `GODEBUG` | `GORT_MAXPROCS`, `GORT_DEBUG` |
//! | `make(chan T, n)` | `chan::Chan::new(n)` |
//! | `time.Sleep`, `time.After`, `time.NewTimer` | [`time::sleep`], [`time::after`], [`time::Timer`] |
//! | `select { ... case <-time.After(d): }` | `select! { ..., recv(timeout) -> _ => ... }` with `let timeout = time::after(d);` |
//! | a blocking syscall (`entersyscall`) | [`syscall()`](fn@syscall)`(\|\| ...)` |
//! | `sync.WaitGroup` etc. | `sync::WaitGroup` etc. |
//! | `runtime/trace`, `go tool trace` | `GORT_TRACE=FILE`, then ui.perfetto.dev |
//! | `new(T)` on the GC heap, `runtime.GC`, `runtime.ReadMemStats`, `GOGC` | [`gc::Gc::new`], [`gc::gc()`], [`gc::read_mem_stats`], `GORT_GC` (needs [`GortAlloc`] as the global allocator) |
//! | `net.Listen`, `net.Dial`, `net.Conn`, `SetReadDeadline` | [`net::TcpListener`], [`net::TcpStream`] (`std::io::Read`/`Write`), `set_read_deadline` |
//!
//! # Hazard: goroutines migrate between OS threads
//!
//! A goroutine may resume on another OS thread after any blocking point: channel and
//! `sync` operations, sleeps, [`yield_now`], spawning, [`preempt_check!`]. Rust's `Send`
//! cannot express this, so the compiler does not stop a `!Send` value held across such
//! a point from being used on another thread than the one it was made on: a
//! `thread_local!` borrow (or an `Rc` cloned out of one), `std::io::StdoutLock`, a guard
//! of `std::sync::Mutex` (which is then unlocked from another thread, undefined on some
//! platforms). Drop such values before blocking, keep per-goroutine state in a
//! [`GoroutineLocal`] (whose values must be `Send`), or pin the goroutine to its thread
//! with [`lock_os_thread`].
//!
//! # Plain threads and deadlock detection
//!
//! As Go does not count non-Go threads, the deadlock check counts only goroutines as
//! wakers: if every goroutine waits on something only a plain `std::thread` will do
//! (send on a channel, unlock), the program stops with `all goroutines are asleep -
//! deadlock!`. Wait with a timeout (`select!` with a [`time::after`] case; a pending timer
//! keeps the check quiet) or do the wait inside [`syscall()`](fn@syscall).
//!
//! # Preemption
//!
//! A goroutine gives up its P at channel, sync, yield, sleep, spawn and network points and
//! at [`preempt_check!`]; one that runs 10 ms without such a point is stopped in place by
//! a SIGURG from sysmon (Go 1.14's asynchronous preemption) and resumed later on the same
//! OS thread, with its registers, `errno` and thread-locals untouched, while other
//! goroutines use the P. `GORT_DEBUG=asyncpreemptoff=1` turns that off. A program must not
//! install its own SIGURG handler. Blocking calls belong in [`syscall()`](fn@syscall),
//! which lets the other goroutines run meanwhile.

pub use gort_sched::{
    Config, Error, GoroutineLocal, WaitReason, goid, gomaxprocs, lock_os_thread, num_goroutine,
    on_goroutine, schedtrace_line, set_maxprocs, unlock_os_thread, yield_now,
};

/// Stop-the-world and goroutine enumeration, for the collector and the tracer (Go:
/// `stopTheWorld`, `forEachP`, `allgs`); see [`gort_sched::stop_the_world`].
pub use gort_sched::{GInfo, GoroutineStatus, WorldStopped, for_each_p, stop_the_world};

/// Channels and `select!` with Go's semantics (Go's `chan`).
pub mod chan {
    pub use gort_sched::chan::*;
}

/// Go's `sync` package: Mutex, RwLock, WaitGroup, Once, Cond, Semaphore.
pub mod sync {
    pub use gort_sched::gosync::*;
}

pub use gort_sched::select;

pub mod dashboard;
pub mod debug;
pub mod trace;

/// Go's `time` package: [`sleep`](time::sleep), [`after`](time::after),
/// [`tick`](time::tick), [`Timer`](time::Timer), [`Ticker`](time::Ticker), on per-P
/// timer heaps run by the scheduler. A `select!` timeout is a `recv` case on
/// `time::after(d)`.
pub mod time {
    pub use gort_sched::time::*;
    pub use std::time::{Duration, Instant};
}

pub mod net;

/// Runs a blocking call with the P released (Go: `entersyscall`/`exitsyscall`), so
/// other goroutines keep running; see [`gort_sched::syscall`].
pub use gort_sched::syscall;

/// A cooperative preemption point for long loops: yields if sysmon saw this time slice
/// run 10 ms ([`gort_sched::preempt_check`]). [`preempt_check!`] is the same.
pub use gort_sched::preempt_check;

/// Registers periodic work on sysmon's thread (for the forced GC and the scavenger).
pub use gort_sched::add_sysmon_hook;

/// `preempt_check!()`: a cooperative preemption point (see [`preempt_check()`]).
#[macro_export]
macro_rules! preempt_check {
    () => {
        $crate::preempt_check()
    };
}

/// Makes `fn main` the main goroutine (Go's `func main`), as `#[tokio::main]` does for
/// tokio: the body runs inside [`run`], and the program ends when it returns.
///
/// ```
/// #[gort::main]
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let results = gort::chan::Chan::new(0);
///     for i in 0..10u64 {
///         let results = results.clone();
///         gort::go!(results.send(i * i));
///     }
///     let sum: u64 = (0..10).map(|_| results.recv().unwrap_or(0)).sum();
///     if sum != 285 {
///         return Err(format!("sum {sum}").into());
///     }
///     Ok(())
/// }
/// ```
///
/// `#[gort::main(maxprocs = 2)]` fixes GOMAXPROCS, overriding `GORT_MAXPROCS`.
pub use gort_derive::main;

mod builder;
pub use builder::Builder;

pub mod gc;

/// gort's allocator (Go's `mallocgc` heap) as Rust's global allocator; `Gc` needs it:
/// `#[global_allocator] static ALLOC: gort::GortAlloc = gort::GortAlloc;`.
pub use gort_alloc::GortAlloc;

use std::process::{ExitCode, Termination};

/// Runs `f` as the main goroutine of a new scheduler configured from the environment,
/// and returns its result (see the crate docs).
///
/// A bad `GORT_MAXPROCS`/`GORT_DEBUG`, or a call from inside a goroutine, prints a
/// message and exits with status 2; [`try_run`] returns those as errors instead.
pub fn run<F, R>(f: F) -> R
where
    F: FnOnce() -> R + Send,
    R: Send,
{
    match try_run(f) {
        Ok(r) => r,
        Err(e) => die(&e),
    }
}

/// [`run`] for a program's `main`: runs `f` as the main goroutine and reports its value
/// as Rust's `main` would (`Result::Err` prints `Error: {e:?}` and gives exit status 1),
/// returning the [`ExitCode`] for `main` to return. What [`#[gort::main]`](macro@main)
/// expands to.
///
/// The value is reported inside the goroutine, so unlike [`run`] it need not be `Send`
/// (`Box<dyn Error>` works). Failures are those of [`run`].
///
/// ```
/// fn main() -> std::process::ExitCode {
///     gort::run_main(|| -> Result<(), String> {
///         gort::go(|| {});
///         Ok(())
///     })
/// }
/// ```
pub fn run_main<F, T>(f: F) -> ExitCode
where
    F: FnOnce() -> T + Send,
    T: Termination,
{
    run(move || f().report())
}

/// Support for the expansion of `#[gort::main]`; not public API.
#[doc(hidden)]
pub mod __private {
    use super::{Config, ExitCode, Termination, die};

    /// [`run_main`](super::run_main) with GOMAXPROCS fixed to `maxprocs` (the rest of
    /// the configuration still comes from the environment).
    pub fn run_main_maxprocs<F, T>(maxprocs: usize, f: F) -> ExitCode
    where
        F: FnOnce() -> T + Send,
        T: Termination,
    {
        let mut config = match Config::from_env() {
            Ok(config) => config,
            Err(e) => die(&e),
        };
        config.maxprocs = maxprocs;
        match super::run_traced(config, move || f().report()) {
            Ok(code) => code,
            Err(e) => die(&e),
        }
    }
}

/// [`run`] returning configuration and nesting errors.
pub fn try_run<F, R>(f: F) -> Result<R, Error>
where
    F: FnOnce() -> R + Send,
    R: Send,
{
    let config = Config::from_env()?;
    run_traced(config, f)
}

/// `run_with` under the execution tracer when `GORT_TRACE=FILE` is set: the trace
/// starts before the scheduler and its Perfetto/Chrome JSON is written to `FILE` after
/// the scheduler has ended (every P's buffer is flushed when the scheduler is freed).
fn run_traced<F, R>(config: Config, f: F) -> Result<R, Error>
where
    F: FnOnce() -> R + Send,
    R: Send,
{
    runtime_start();
    let dashboard = dashboard::addr_from_env()?;
    let f = move || {
        let _dashboard = dashboard::start_from_env(dashboard);
        f()
    };
    let Some(path) = gort_trace::trace_path_from_env()? else {
        return gort_sched::run_with(config, f);
    };
    gort_trace::start_file(&path)?;
    let result = gort_sched::run_with(config, f);
    let stopped = gort_trace::stop();
    let value = result?;
    stopped?;
    Ok(value)
}

/// [`run`] with an explicit configuration (the environment is not read).
pub fn run_with<F, R>(config: Config, f: F) -> Result<R, Error>
where
    F: FnOnce() -> R + Send,
    R: Send,
{
    runtime_start();
    gort_sched::run_with(config, f)
}

/// What every run sets up before the scheduler starts: the preemption veto (a goroutine
/// is never stopped asynchronously while its thread holds a lock of the page heap, the
/// allocator or the collector — Go's `m.locks`/`mallocing` check; otherwise sysmon, the
/// collector or another M allocating would wait on a holder that waits for a P) and the
/// collector's host.
fn runtime_start() {
    gort_sched::set_async_preempt_veto(Some(gort_heap::runtime_lock::held));
    gc::start();
}

/// Starts a goroutine running `f` (Go: `go f()`).
///
/// Called outside [`run`] (or when no stack can be had) it prints the reason and exits
/// with status 2; [`Builder::spawn`] returns the error instead.
///
/// The goroutine may move between OS threads at any blocking point: see the crate docs'
/// hazard section before holding a `!Send` value (a `thread_local!` borrow, a
/// `StdoutLock`, a `std::sync::MutexGuard`) across one.
pub fn go<F: FnOnce() + Send + 'static>(f: F) {
    if let Err(e) = gort_sched::spawn(f) {
        die(&e);
    }
}

/// `go!(expr)` runs `expr` in a new goroutine, moving what it uses (Go: `go expr`).
/// Unlike Go, arguments are evaluated in the new goroutine.
#[macro_export]
macro_rules! go {
    ($($body:tt)*) => {
        $crate::go(move || {
            $($body)*;
        })
    };
}

#[cold]
#[inline(never)]
fn die(e: &Error) -> ! {
    use std::io::Write;
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "gort: {e}");
    let _ = err.flush();
    std::process::exit(2)
}
