//! Bench-only package: tokio and may twins of gort's scheduler examples
//! (`crates/gort/examples/{spawn,skynet,pingpong,parked}.rs`) and of their Go twins
//! (`benches/go/*/main.go`), driven side by side by `benches/compare.py`
//! (`cargo xtask bench sched`).
//!
//! Each binary `<runtime>_<workload>` (src/bin/) takes the same flags as the Go twin
//! (`-n N` or `-size N`) and prints the same one-line JSON summary last, with
//! `"impl":"tokio"` or `"impl":"may"`. The number of worker threads comes from
//! `-procs P`, else `GORT_MAXPROCS`, else `GOMAXPROCS`, else the number of CPUs
//! (as Go's `GOMAXPROCS` does).
//!
//! The programs are written the way each runtime is meant to be used, not as literal
//! translations: tokio uses a multi-thread runtime, `tokio::spawn` and
//! `tokio::sync`; may uses `may::config().set_workers`, `go!` and `may::sync`. Each
//! binary says in its header where its runtime has no exact equivalent of the Go
//! construct (e.g. unbuffered channels) and which closest fit it uses.
//!
//! This package has its own `[workspace]` table, so the main workspace's `cargo build`,
//! `cargo test` and `cargo xtask ci` never compile it or its peer dependencies.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "bench code"
)]

use std::sync::atomic::{AtomicUsize, Ordering};

/// The value of flag `name` (e.g. `"-n"`), given as `name value`, or `default`.
pub fn flag(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Worker threads to use: `-procs P`, else `GORT_MAXPROCS`, else `GOMAXPROCS`, else the
/// number of CPUs.
pub fn procs() -> usize {
    let from_env = |k: &str| std::env::var(k).ok().and_then(|v| v.trim().parse().ok());
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let p = flag("-procs", 0);
    let p = if p > 0 {
        p
    } else {
        from_env("GORT_MAXPROCS")
            .or_else(|| from_env("GOMAXPROCS"))
            .unwrap_or(cpus)
    };
    p.max(1)
}

/// Resident bytes of this process (second field of /proc/self/statm, in pages), as
/// gort's `parked` example measures it.
pub fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    pages * page_size()
}

unsafe extern "C" {
    fn sysconf(name: i32) -> i64;
}

/// `sysconf(_SC_PAGESIZE)` (`_SC_PAGESIZE` is 30 on Linux).
fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions; it only reads a system constant.
    let p = unsafe { sysconf(30) };
    usize::try_from(p).unwrap_or(4096)
}

/// A Go-style `sync.WaitGroup` for tokio tasks: `done` is one atomic decrement, and
/// only the last one touches the [`tokio::sync::Notify`] (which keeps a permit if the
/// waiter is not yet parked, so the wake-up cannot be lost).
///
/// tokio has no WaitGroup; the usual alternatives (a `Vec<JoinHandle>` joined one by
/// one, or an mpsc channel whose senders are dropped) cost more per task than Go's
/// counter, so this keeps the twin's shape: one counter shared by reference.
pub struct TokioWaitGroup {
    /// Tasks not yet done. Atomic; decremented by each `done`.
    count: AtomicUsize,
    /// Woken once, by the `done` that brings `count` to zero.
    zero: tokio::sync::Notify,
}

impl TokioWaitGroup {
    /// A wait group expecting `n` calls of [`done`](Self::done).
    pub fn new(n: usize) -> Self {
        Self {
            count: AtomicUsize::new(n),
            zero: tokio::sync::Notify::new(),
        }
    }

    /// One task is done.
    pub fn done(&self) {
        if self.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.zero.notify_one();
        }
    }

    /// Waits until every expected task is done.
    pub async fn wait(&self) {
        while self.count.load(Ordering::Acquire) != 0 {
            self.zero.notified().await;
        }
    }
}

/// Builds the tokio multi-thread runtime with [`procs`] workers.
pub fn tokio_runtime() -> (tokio::runtime::Runtime, usize) {
    let p = procs();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(p)
        .build()
        .expect("tokio runtime");
    (rt, p)
}

/// Runs `body` as a task on a tokio worker (as Go runs `main` as a goroutine on a P),
/// so the tasks it spawns go to that worker's local run queue rather than through the
/// runtime's inject queue, as they would if spawned from `block_on`'s thread. The first
/// panic ends the process ([`exit_on_first_panic`]).
pub fn tokio_main<F, T>(body: F) -> (T, usize)
where
    F: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    exit_on_first_panic();
    let (rt, p) = tokio_runtime();
    let out = rt.block_on(async move { tokio::spawn(body).await.expect("main task") });
    (out, p)
}

/// Makes the first panic anywhere (any thread, task or coroutine) print its message and
/// end the process with status 101, as an unrecovered panic in a Go program does.
///
/// tokio and may catch a panic in a task or coroutine and keep running; in a benchmark
/// that only hides the failure. may's failure to allocate a stack past
/// `vm.max_map_count` is such a panic, hit by every later spawn too: without this the
/// full-size skynet prints ~36k backtraces over ~25 s before its root gives up.
pub fn exit_on_first_panic() {
    std::panic::set_hook(Box::new(|info| {
        eprintln!("panic: {info}");
        std::process::exit(101);
    }));
}

/// Configures may's scheduler with [`procs`] workers and runs `body` in a coroutine
/// (as Go runs `main` as a goroutine), returning its result. The first panic ends the
/// process ([`exit_on_first_panic`]).
pub fn may_main<F, T>(body: F) -> (T, usize)
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    exit_on_first_panic();
    let p = procs();
    may::config().set_workers(p);
    let h = may::go!(body);
    (h.join().expect("main coroutine"), p)
}
