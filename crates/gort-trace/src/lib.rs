//! gort-trace: Go's execution tracer (`runtime/trace`) in Rust.
//!
//! The scheduler and the collector report what happens — goroutines created, started,
//! blocked and unblocked, Ps started and stopped, system calls, GC phases, stop-the-world
//! pauses, heap size and goal — into per-P event buffers; when the trace stops, the
//! events are decoded, merged by time and exported as Chrome/Perfetto trace-event JSON,
//! which ui.perfetto.dev and chrome://tracing open: one track per P with a slice per
//! goroutine run, one per OS thread, GC and STW tracks, counters for goroutines and the
//! heap. The crate stands alone (it depends only on libc); gort-sched and gort-gc call
//! it, and the facade turns it on with `GORT_TRACE=FILE` or `gort::trace::start/stop`.
//!
//! ```
//! use gort_trace::{BlockReason, Emit, Tracer};
//!
//! let tracer = Tracer::new();
//! tracer.start_collecting()?;
//! let mut p0 = tracer.proc_buf(0); // the scheduler keeps one of these in each P
//! p0.proc_start();
//! p0.go_create(7, 1);
//! p0.go_start(7);
//! p0.go_block(7, BlockReason::ChanReceive);
//! p0.flush(); // at stop, the scheduler flushes every P at a safe point
//! let trace = tracer.stop_collect()?;
//! assert_eq!(trace.events.len(), 4);
//! let mut json = Vec::new();
//! trace.write_chrome_json(&mut json)?;
//! assert!(json.starts_with(b"{\"displayTimeUnit\""));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! `GORT_TRACE=/tmp/demo.json cargo run -p gort-trace --example trace_demo` writes a
//! small trace of simulated Ps to open in ui.perfetto.dev.
//!
//! # Glossary (Go name → gort name)
//!
//! | Go (runtime) | gort-trace |
//! |---|---|
//! | `trace` (the global in trace.go), `traceEnabled()` | [`Tracer`], [`Tracer::global`], [`Tracer::is_enabled`] |
//! | `traceBuf` | `Buffer` (`buffer.rs`), 64 KiB |
//! | `traceBufHeader.link`, `trace.full`, `trace.empty` | `Header::next`, `Lists::full`, `Lists::free` |
//! | `p.trace.buf`, `traceWriter` | [`ProcBuf`], the [`Emit`] methods |
//! | `trace.buf` under `trace.bufLock` (events without a P) | [`OffP`] ([`Tracer::off_p`]) |
//! | `traceFlush` | `Tracer::refill`, [`ProcBuf::flush`] |
//! | `traceEv*` (the event type byte) | `Kind` (`event.rs`); decoded: [`EventData`] |
//! | `traceEvGoBlock*` / `waitReason` | [`EventData::GoBlock`] / [`BlockReason`] |
//! | `stwReason` | [`StwKind`] |
//! | `traceGen`, `trace.gen` | the tracer's generation (`Tracer::epoch`, `Header::epoch`) |
//! | `traceClockNow`, `cputicks`, `Frequency` event | [`clock::ticks`], the start/stop calibration |
//! | `traceStrings` / string table | none: strings are `&'static str` stored by address |
//! | `StartTrace` / `StopTrace` / `trace.Start(w)` | [`Tracer::start`] / [`Tracer::stop`] / [`start`] |
//! | `go tool trace` viewer | [`Trace::write_chrome_json`] (Perfetto/Chrome JSON) |
//! | `trace.StartRegion`, `trace.Log` | [`Emit::region_begin`], [`Emit::log`] |
//! | `throw` | [`fatal!`] (formats on the stack, never allocates) |
//! | `trace.FlightRecorder` (Go 1.25) | [`Tracer::start_flight_recorder`] |
//! | `traceGCStart`, `traceSTWStart`, `traceHeapAlloc`, `traceHeapGoal` | [`gc::cycle_begin`], [`gc::stw_begin`], [`gc::heap`] |
//! | `traceStop`'s `forEachP` flush | the stop hook ([`Tracer::set_stop_hook`]; gort-sched's flushes every P) |
//!
//! # Emitting an event (the hot path, [`Emit`])
//!
//! 1. Load the tracer's generation with `Relaxed`; 0 means off: return. This is the
//!    whole cost of a disabled tracer — one load and a predictable branch.
//! 2. Read the clock ([`clock::ticks`]: `rdtsc` on x86_64) and clamp it above the
//!    writer's last timestamp, so a buffer's timestamps strictly increase even if the
//!    thread moved to a core whose counter lags.
//! 3. If the writer's current buffer belongs to this generation and has room (both
//!    checked on the writer's own copy of the epoch and fill level, so no buffer
//!    header is read), store the 32-byte record and bump the fill level — plain stores
//!    into memory only this writer owns: no lock, no atomic read-modify-write.
//!
//! Slow path (`write_slow`, once per 2047 events): take the tracer's lists lock once,
//! file the old buffer on the full list (or the free list if it belongs to an older
//! trace), pop a free buffer, and release the lock; if none was free, map 64 KiB from
//! the OS outside the lock. If the OS refuses, the event is counted as lost — tracing
//! never aborts the program.
//!
//! # Stopping (`Tracer::stop`)
//!
//! 1. Run the stop hook: the scheduler flushes every P's buffer at a safe point (Go's
//!    `traceStop` does it with `forEachP`/stop-the-world). Writers flush themselves on
//!    drop too.
//! 2. Under the off-P lock and the lists lock: flush the off-P buffer, end the session,
//!    set the generation to 0 and detach the full list.
//! 3. Outside the locks: decode the records, convert ticks to nanoseconds with the
//!    start/stop clock pairs, sort stably by time, recycle the buffers, and write the
//!    JSON to the sink.
//!
//! A buffer is owned by exactly one party at a time — its writer, the lists, or `stop` —
//! and ownership moves only under the lists lock, which orders the writer's plain
//! stores before the decoder's reads. Events a writer emits after its flush and before
//! the generation turns 0 stay in its buffer, which the next trace recycles unread.
//!
//! # Never under the allocator
//!
//! gort-alloc's locks may be held when the heap size changes, so tracing must not
//! allocate through the Rust global allocator (which gort-alloc may be) on any emit
//! path: buffers are mapped from the OS (`os.rs`) or reused, the lists are intrusive
//! (`Header::next`), the locks are futex-based std mutexes that do not allocate, and
//! the thread-id cache is a `const` thread local. Only `start` (boxing the sink) and
//! `stop` (decoding, JSON) allocate, and both run from user code outside the runtime's
//! locks. The lists lock is a leaf: nothing else is locked or called while it is held.
//!
//! # Deliberately not done
//!
//! - No streaming: buffers accumulate until `stop` (32 bytes per event, about twice
//!   what Go's varint encoding takes; 64 KiB per 2047 events). A trace reader
//!   thread that writes full buffers as they arrive, as Go's trace reader goroutine does,
//!   is the next step for long traces.
//! - No stack traces per event and no string table: names are `&'static str`.
//! - No Go binary trace format: `go tool trace` cannot read gort traces; Perfetto can.
//! - The per-generation "status" events Go emits at trace start (GoStatus, ProcStatus)
//!   are not emitted; instead the exporter tolerates goroutines it first sees mid-life
//!   and draws the run of a goroutine that was running on a P when the trace began
//!   from the trace's start.
//!
//! Go sources followed: runtime/trace.go, tracebuf.go, traceevent.go, traceruntime.go
//! (Go 1.22+ naming), internal/trace/tracev2/events.go; the old format's trace.go
//! (Go 1.5–1.21) for the per-P buffer and global-lock flush. The design is detailed in
//! docs/design/gort-trace.md.

mod buffer;
mod chrome;
pub mod clock;
mod env;
mod error;
mod event;
mod fatal;
#[cfg(not(loom))]
pub mod gc;
mod json;
mod os;
mod sync;
mod trace;
mod tracer;
mod writer;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

#[cfg(test)]
mod tests;

pub use env::{TRACE_ENV, parse_trace_env, trace_path_from_env};
pub use error::Error;
pub use event::{BlockReason, Event, EventData, NO_PROC, StopReason, StwKind};
pub use fatal::fatal_args;
pub use os::thread_id;
pub use trace::Trace;
pub use tracer::{TraceStats, Tracer};
pub use writer::{Emit, OffP, ProcBuf};

/// Starts the process-wide trace; [`stop`] writes its JSON to `sink`.
#[cfg(not(loom))]
pub fn start<W: std::io::Write + Send + 'static>(sink: W) -> Result<(), Error> {
    Tracer::global().start(sink)
}

/// Starts the process-wide trace; [`stop`] writes its JSON to the file `path`.
#[cfg(not(loom))]
pub fn start_file(path: impl AsRef<std::path::Path>) -> Result<(), Error> {
    Tracer::global().start_file(path)
}

/// Stops the process-wide trace and writes it out.
#[cfg(not(loom))]
pub fn stop() -> Result<TraceStats, Error> {
    Tracer::global().stop()
}

/// Whether the process-wide trace is running (one relaxed load).
#[cfg(not(loom))]
#[inline(always)]
pub fn is_enabled() -> bool {
    Tracer::global().is_enabled()
}
