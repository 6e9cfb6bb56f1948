//! Cycle statistics, `MemStats` (Go's field meanings) and the gctrace line (Go: mstats.go, mgc.go).

use crate::sync::static_sync::OnceLock;

/// Process start as the collector sees it (its first use): gctrace's `@#s` origin.
static START: OnceLock<std::time::Instant> = OnceLock::new();

/// Nanoseconds since the collector's start (monotonic; does not allocate).
pub(crate) fn now_ns() -> u64 {
    START
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_nanos() as u64
}

/// Nanoseconds since the Unix epoch (Go `LastGC`, `PauseEnd`).
fn unix_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// One cycle's measurements, from the runner.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct CycleRecord {
    /// Cycle start (sweep termination begins), `now_ns`.
    pub(crate) start_ns: u64,
    /// The world stopped.
    pub(crate) stw_ns: u64,
    /// Marking finished.
    pub(crate) mark_done_ns: u64,
    /// The world started again.
    pub(crate) end_ns: u64,
    /// Collected heap at the start (Go `heap0`).
    pub(crate) heap0: u64,
    /// Collected heap when marking ended (Go `heap1`; equal to heap0 with the world stopped).
    pub(crate) heap1: u64,
    /// Collected heap marked live (Go `heap2`).
    pub(crate) heap_marked: u64,
    /// The next goal.
    pub(crate) goal: u64,
    /// Stack bytes scanned.
    pub(crate) stack_bytes: u64,
    /// Global bytes scanned.
    pub(crate) global_bytes: u64,
    /// Mark workers (Go's `P` count in the line).
    pub(crate) nworkers: usize,
    /// Started by `gc()`.
    pub(crate) forced: bool,
}

/// Cumulative cycle statistics (the collector half of `MemStats`).
#[derive(Clone, Debug)]
pub(crate) struct GcStats {
    /// Completed cycles (Go `NumGC`).
    pub(crate) num_gc: u32,
    /// Cycles started by `gc()` (Go `NumForcedGC`).
    pub(crate) num_forced_gc: u32,
    /// Total pause (Go `PauseTotalNs`).
    pub(crate) pause_total_ns: u64,
    /// Recent pauses, latest at `(num_gc + 255) % 256` (Go `PauseNs`).
    pub(crate) pause_ns: [u64; 256],
    /// Recent pause end times, Unix ns (Go `PauseEnd`).
    pub(crate) pause_end: [u64; 256],
    /// End of the last cycle, Unix ns (Go `LastGC`).
    pub(crate) last_gc_unix: u64,
    /// End of the last cycle, `now_ns`.
    pub(crate) last_gc_mono: u64,
    /// CPU time spent collecting, ns (pauses × workers).
    pub(crate) gc_cpu_ns: u64,
    /// Next goal (Go `NextGC`).
    pub(crate) next_gc: u64,
}

impl GcStats {
    /// No cycle yet.
    pub(crate) const fn new() -> GcStats {
        GcStats {
            num_gc: 0,
            num_forced_gc: 0,
            pause_total_ns: 0,
            pause_ns: [0; 256],
            pause_end: [0; 256],
            last_gc_unix: 0,
            last_gc_mono: 0,
            gc_cpu_ns: 0,
            next_gc: crate::pacer::HEAP_MINIMUM,
        }
    }

    /// Adds a finished cycle.
    pub(crate) fn record(&mut self, r: &CycleRecord) {
        let pause = r.end_ns.saturating_sub(r.stw_ns);
        let slot = (self.num_gc % 256) as usize;
        self.pause_ns[slot] = pause;
        let end = unix_ns();
        self.pause_end[slot] = end;
        self.pause_total_ns += pause;
        self.num_gc += 1;
        if r.forced {
            self.num_forced_gc += 1;
        }
        self.last_gc_unix = end;
        self.last_gc_mono = r.end_ns;
        self.gc_cpu_ns += pause * r.nworkers as u64 + r.stw_ns.saturating_sub(r.start_ns);
        self.next_gc = r.goal;
    }

    /// Fraction of the available CPU (workers × elapsed) spent collecting (Go
    /// `GCCPUFraction`), for `nworkers` workers.
    pub(crate) fn cpu_fraction(&self, nworkers: usize) -> f64 {
        let elapsed = now_ns().max(1) as f64 * nworkers.max(1) as f64;
        self.gc_cpu_ns as f64 / elapsed
    }

    /// The gctrace line for `r` (already recorded), in Go 1.19's format.
    pub(crate) fn gctrace_line(&self, r: &CycleRecord) -> String {
        let util = (self.cpu_fraction(r.nworkers) * 100.0) as u64;
        gctrace_line(self.num_gc, r, util)
    }
}

/// Go's `fmtNSAsMS`: whole milliseconds from 10 ms up, else two significant digits
/// with at most three decimals.
pub fn fmt_ns_as_ms(ns: u64) -> String {
    if ns >= 10_000_000 {
        return (ns / 1_000_000).to_string();
    }
    let mut x = ns / 1000;
    if x == 0 {
        return "0".to_owned();
    }
    let mut dec = 3;
    while x >= 100 {
        x /= 10;
        dec -= 1;
    }
    itoa_div(x, dec)
}

/// Go's `itoaDiv`: `val / 10^dec` with `dec` decimals.
fn itoa_div(val: u64, dec: u32) -> String {
    if dec == 0 {
        return val.to_string();
    }
    let p = 10u64.pow(dec);
    format!("{}.{:0width$}", val / p, val % p, width = dec as usize)
}

/// Formats a gctrace line (Go 1.19, `gcMarkTermination`):
/// `gc # @#s #%: #+#+# ms clock, #+#/#/#+# ms cpu, #->#-># MB, # MB goal, # MB stacks, # MB globals, # P`
/// and ` (forced)` when forced. Cycle `n` is 1-based.
pub(crate) fn gctrace_line(n: u32, r: &CycleRecord, util_pct: u64) -> String {
    let sweep_term = r.stw_ns.saturating_sub(r.start_ns);
    let mark = r.mark_done_ns.saturating_sub(r.stw_ns);
    let mark_term = r.end_ns.saturating_sub(r.mark_done_ns);
    let w = r.nworkers.max(1) as u64;
    let mut s = format!(
        "gc {} @{}s {}%: {}+{}+{} ms clock, {}+{}/{}/{}+{} ms cpu, {}->{}->{} MB, {} MB goal, {} MB stacks, {} MB globals, {} P",
        n,
        itoa_div(r.start_ns / 1_000_000, 3),
        util_pct,
        fmt_ns_as_ms(sweep_term),
        fmt_ns_as_ms(mark),
        fmt_ns_as_ms(mark_term),
        fmt_ns_as_ms(sweep_term),
        fmt_ns_as_ms(0),
        fmt_ns_as_ms(mark * w),
        fmt_ns_as_ms(0),
        fmt_ns_as_ms(mark_term),
        r.heap0 >> 20,
        r.heap1 >> 20,
        r.heap_marked >> 20,
        if r.goal == u64::MAX { 0 } else { r.goal >> 20 },
        r.stack_bytes >> 20,
        r.global_bytes >> 20,
        r.nworkers,
    );
    if r.forced {
        s.push_str(" (forced)");
    }
    s
}

/// Memory statistics with Go's `runtime.MemStats` field meanings (snake_case names:
/// `heap_alloc` is Go's `HeapAlloc`). The heap counters are the allocator's (collected
/// and manual objects together: both live in one heap, as in Go).
#[derive(Clone, Debug, PartialEq)]
pub struct MemStats {
    /// Bytes of allocated heap objects (Go `Alloc`, = `heap_alloc`).
    pub alloc: u64,
    /// Cumulative bytes allocated (Go `TotalAlloc`).
    pub total_alloc: u64,
    /// Bytes obtained from the OS (Go `Sys`): heap plus runtime metadata.
    pub sys: u64,
    /// Cumulative objects allocated (Go `Mallocs`).
    pub mallocs: u64,
    /// Cumulative objects freed (Go `Frees`).
    pub frees: u64,
    /// Bytes of allocated heap objects, unswept dead ones included (Go `HeapAlloc`).
    pub heap_alloc: u64,
    /// Heap bytes obtained from the OS (Go `HeapSys`).
    pub heap_sys: u64,
    /// Bytes in idle spans (Go `HeapIdle`).
    pub heap_idle: u64,
    /// Bytes in in-use spans (Go `HeapInuse`).
    pub heap_inuse: u64,
    /// Bytes returned to the OS (Go `HeapReleased`).
    pub heap_released: u64,
    /// Allocated heap objects (Go `HeapObjects`).
    pub heap_objects: u64,
    /// Heap goal of the next cycle (Go `NextGC`).
    pub next_gc: u64,
    /// End of the last cycle, ns since the Unix epoch (Go `LastGC`).
    pub last_gc: u64,
    /// Cumulative stop-the-world pause, ns (Go `PauseTotalNs`).
    pub pause_total_ns: u64,
    /// Recent pauses, ns; the latest at `(num_gc + 255) % 256` (Go `PauseNs`).
    pub pause_ns: [u64; 256],
    /// Recent pause end times, Unix ns (Go `PauseEnd`).
    pub pause_end: [u64; 256],
    /// Completed cycles (Go `NumGC`).
    pub num_gc: u32,
    /// Cycles forced by `gc()` (Go `NumForcedGC`).
    pub num_forced_gc: u32,
    /// Fraction of available CPU used by the collector since start (Go `GCCPUFraction`).
    pub gc_cpu_fraction: f64,
    /// Always true (Go `EnableGC`).
    pub enable_gc: bool,
    /// Per size class `(size, mallocs, frees)` (Go `BySize`; index 0 = large objects).
    pub by_size: Vec<(u32, u64, u64)>,
}

/// Prints checkmark's failure without allocating (the world is stopped) and aborts.
pub(crate) fn fatal_checkmark(addr: usize, size: usize, name: &str) -> ! {
    let mut buf = [0u8; 512];
    let mut w = StackWriter {
        buf: &mut buf,
        len: 0,
    };
    let _ = core::fmt::write(
        &mut w,
        format_args!(
            "fatal error: runtime: checkmark found a reachable object the mark missed: {addr:#x} ({size} bytes, {name})\n"
        ),
    );
    let len = w.len;
    // SAFETY: writes our own buffer to stderr.
    unsafe { libc::write(2, buf.as_ptr().cast(), len) };
    std::process::abort()
}

/// A `fmt::Write` into a fixed buffer (truncates).
struct StackWriter<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl core::fmt::Write for StackWriter<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let n = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}
