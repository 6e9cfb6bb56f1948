//! The execution tracer (Go's `runtime/trace`): [`start`] a trace mid-run and
//! [`stop`] it, or set `GORT_TRACE=FILE` to trace a whole [`run`](crate::run), into a
//! Perfetto/Chrome trace-event JSON file (open it in <https://ui.perfetto.dev>).
//! Events: goroutine create/start/stop/block/unblock/end, system calls, P start/stop,
//! steals and GOMAXPROCS changes; GC phases, stop-the-world, heap size and goal once
//! the collector reports them ([`gort_trace::Emit`]).
//!
//! ```
//! gort::run(|| {
//!     let out = std::env::temp_dir().join(format!("gort-doc-trace-{}.json", std::process::id()));
//!     gort::trace::start_file(&out).unwrap();
//!     let c = gort::chan::Chan::new(0);
//!     let tx = c.clone();
//!     gort::go!(tx.send(1u8));
//!     c.recv().unwrap();
//!     let stats = gort::trace::stop().unwrap();
//!     assert!(stats.events > 0);
//!     std::fs::remove_file(out).unwrap();
//! });
//! ```

pub use gort_trace::{Error, TRACE_ENV, TraceStats, is_enabled};

/// Starts tracing every goroutine of the process; [`stop`] writes the JSON to `sink`.
/// An [`Error::AlreadyStarted`] if a trace runs (Go: `trace.Start`).
pub fn start<W: std::io::Write + Send + 'static>(sink: W) -> Result<(), Error> {
    gort_trace::start(sink)
}

/// Starts tracing into the file `path` (created now, so a bad path fails here).
pub fn start_file(path: impl AsRef<std::path::Path>) -> Result<(), Error> {
    gort_trace::start_file(path)
}

/// Stops the trace and writes it (Go: `trace.Stop`). Every P first hands over its
/// partly filled buffer at its next scheduling event (idle Ps and the caller's at
/// once); a P whose goroutine does not reach the scheduler within 200 ms leaves its
/// last events out. May be called from a goroutine or a plain thread.
pub fn stop() -> Result<TraceStats, Error> {
    gort_trace::stop()
}
