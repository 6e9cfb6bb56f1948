//! gort-gc: Go's garbage collector (mgc.go and friends) in Rust, over gort-alloc's heap.
//!
//! # What it is
//!
//! A non-moving mark-sweep collector for [`Gc<T>`] objects. Collected objects and
//! manual allocations (`Box`, `Vec`, ...) share one heap, gort-alloc's, with the
//! allocator's per-span bitmaps: allocation bits, mark bits, and a *gc bit* per object
//! that tells a collected object (freed by sweep when unmarked) from a manual one (only
//! ever freed by its owner). Collected objects are traced precisely through [`Trace`]
//! (a header word before the value points at the type's vtable); roots — stacks,
//! registers, data segments, TLS, reported by the [`Host`] — are scanned
//! conservatively, and so is every manual allocation found reachable, because safe
//! Rust can hide a `Gc` in any of them. Interior pointers count: `find_object` is O(1).
//!
//! # Glossary (Go name → gort name)
//!
//! | Go | gort |
//! |---|---|
//! | a pointer to a heap object | [`Gc<T>`] |
//! | the pointer bitmap / `_type.gcdata` | [`Trace`] (precise), conservative scan otherwise |
//! | `mspan.gcmarkBits`, `greyobject` | gort-alloc mark bits, `Tracer::mark_gc` |
//! | `gcWork`, `workbuf`, `work.full` | the tracer's local list, `WorkQueue` |
//! | `gcBgMarkWorker` | workers run by [`Host::run_workers`] |
//! | `mspan.sweepgen`, `sweepLocker` | gort-alloc's per-span sweep state, claimed under the central lock |
//! | `bgsweep`, `runfinq`, `finq` | the background goroutine, `FinQueue` |
//! | `SetFinalizer` | `Drop` of a collected value |
//! | `GOGC`, `GOMEMLIMIT`, `debug.SetGCPercent`, `debug.SetMemoryLimit` | `GORT_GC`, `GORT_MEMLIMIT`, [`set_gc_percent`], [`set_memory_limit`] |
//! | `runtime.GC` | [`gc`] |
//! | `forcegcperiod` (2 min) | [`FORCE_GC_PERIOD`], [`maybe_periodic_gc`] |
//! | `runtime.MemStats`, `ReadMemStats` | [`MemStats`], [`read_mem_stats`] |
//! | `GODEBUG=gctrace=1`, `gccheckmark=1` | `GORT_DEBUG=gctrace=1`, `gccheckmark=1` |
//! | `sync.Pool` | [`Pool`] |
//!
//! # Fast path (allocation, [`Gc::new`])
//!
//! 1. Add the size to a thread-local count. Every 64 KiB: add it to the shared count,
//!    sweep a few spans of the last cycle (proportional sweep), and check the trigger —
//!    past it, start a cycle or wait, parked, for the running one.
//! 2. Allocate through the global allocator's thread cache (noscan types through a
//!    thread-local noscan cache); write the header and the value.
//! 3. Publish: one span lookup; if the span still holds the last cycle's marks, sweep
//!    it first (lazy sweep); set the object's gc bit.
//!
//! # Slow path (a cycle)
//!
//! 1. Sweep termination: finish sweeping, close the sweep gate, wait for sweepers.
//! 2. Stop the world ([`Host::stop_the_world`]); spill the runner's registers.
//! 3. Mark from the root ranges and the finalizer queue on [`Host::num_workers`]
//!    workers; then every unmarked object whose value needs `Drop` is marked with what
//!    it reaches and queued for the finalizer goroutine (it survives this cycle).
//! 4. Optional checkmark (before step 3's finalization part); mark termination flags
//!    spans unswept, lists them for the sweepers, and counts live bytes.
//! 5. Start the world; pace the next cycle; the background goroutine sweeps and runs
//!    `Drop`s.
//!
//! # Deliberately not done (yet)
//!
//! - Concurrent marking and the write barrier (the cells are its hook points) — the
//!   mark stops the world.
//! - Mark assists, the 25% background utilisation, the CPU limiter: without concurrent
//!   marking there is nothing to pace but the trigger.
//! - `?Sized` values in `Gc` (slices, trait objects).
//!
//! # Go sources followed
//!
//! `src/runtime/mgc.go`, `mgcmark.go`, `mgcwork.go`, `mgcsweep.go`, `mgcpacer.go`,
//! `mfinal.go`, `mstats.go`, `extern.go` (gctrace), `src/sync/pool.go`.

mod cell;
mod collector;
mod env;
mod error;
mod finalizer;
mod gc;
mod host;
mod mark;
#[cfg(any(test, feature = "testing"))]
mod mock_host;
mod pacer;
mod pool;
mod raw;
pub mod roots;
mod stats;
mod sync;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod trace;

#[cfg(test)]
mod tests;

/// Unit tests allocate collected objects, which need gort's allocator.
#[cfg(test)]
#[global_allocator]
static TEST_ALLOC: gort_alloc::GortAlloc = gort_alloc::GortAlloc;

pub use cell::{CellValue, GcCell, GcRefCell};
pub use env::{DEBUG_ENV, Debug, GC_ENV, MEMLIMIT_ENV, parse_gc_percent, parse_mem_limit};
pub use error::Error;
pub use gc::Gc;
pub use host::{Event, Host, RootKind};
pub use mark::Tracer;
pub use pacer::{HEAP_MINIMUM, Pacer};
pub use pool::Pool;
pub use stats::{MemStats, fmt_ns_as_ms};
pub use trace::Trace;

use collector::{Collector, Trigger};

/// Go's `forcegcperiod`: a cycle runs when none ran for this long.
pub const FORCE_GC_PERIOD: core::time::Duration = core::time::Duration::from_secs(120);

/// Installs the host the collector runs in and reads GORT_GC and GORT_MEMLIMIT. Until
/// a host is installed no cycle runs (collected objects just accumulate).
pub fn install(host: &'static dyn Host) -> Result<(), Error> {
    let c = Collector::get();
    let pct = match std::env::var(GC_ENV) {
        Ok(v) => Some(parse_gc_percent(&v)?),
        Err(_) => None,
    };
    let limit = match std::env::var(MEMLIMIT_ENV) {
        Ok(v) => Some(parse_mem_limit(&v)?),
        Err(_) => None,
    };
    {
        let mut p = c.pacer.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(pct) = pct {
            p.set_gc_percent(pct);
        }
        if let Some(l) = limit {
            p.set_mem_limit(l);
        }
    }
    if c.install(host) {
        Ok(())
    } else {
        Err(Error::HostInstalled)
    }
}

/// Runs a full cycle now and waits for it (Go `runtime.GC`); waits for a running cycle
/// first, so everything unreachable when called is found.
pub fn gc() {
    Collector::get().collect(Trigger::Forced);
}

/// Sets the GC percent (negative = off) and returns the old one (Go
/// `debug.SetGCPercent`).
pub fn set_gc_percent(percent: i32) -> i32 {
    let c = Collector::get();
    let (old, t) = {
        let mut p = c.pacer.lock().unwrap_or_else(|e| e.into_inner());
        let old = p.set_gc_percent(percent);
        (old, p.trigger())
    };
    c.set_trigger(t);
    old
}

/// Sets the soft memory limit in bytes (`u64::MAX` = none) and returns the old one (Go
/// `debug.SetMemoryLimit`).
pub fn set_memory_limit(bytes: u64) -> u64 {
    let c = Collector::get();
    let mut p = c.pacer.lock().unwrap_or_else(|e| e.into_inner());
    let old = p.set_mem_limit(bytes);
    let sys = c.heap().page_heap().stats().heap_sys as u64;
    let goal = p.goal(sys, c.heap_live());
    drop(p);
    c.set_trigger(goal);
    old
}

/// The periodic-GC hook (Go's `forcegchelper`): the facade calls it from sysmon; it runs
/// a cycle when a collected object exists, the GC percent is not off, and no cycle ran
/// for [`FORCE_GC_PERIOD`]. Returns whether it ran one.
pub fn maybe_periodic_gc() -> bool {
    let c = Collector::get();
    if !c.used() || c.host().is_none() {
        return false;
    }
    if c.pacer
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .gc_percent()
        < 0
    {
        return false;
    }
    let last = c
        .stats
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .last_gc_mono;
    if stats::now_ns().saturating_sub(last) < FORCE_GC_PERIOD.as_nanos() as u64 {
        return false;
    }
    c.collect(Trigger::Periodic);
    true
}

/// Completed cycles (Go `NumGC`).
pub fn num_gc() -> u64 {
    Collector::get().cycles()
}

/// Memory statistics (Go `runtime.ReadMemStats`; read without stopping the world).
pub fn read_mem_stats() -> MemStats {
    let c = Collector::get();
    let heap = c.heap();
    let a = heap.stats();
    let h = heap.page_heap().stats();
    let st = c.stats.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let workers = c.host().map_or(1, |h| h.num_workers());
    MemStats {
        alloc: a.heap_alloc,
        total_alloc: a.total_alloc,
        sys: (h.heap_sys + h.persistent_sys) as u64,
        mallocs: a.mallocs,
        frees: a.frees,
        heap_alloc: a.heap_alloc,
        heap_sys: h.heap_sys as u64,
        heap_idle: h.heap_idle as u64,
        heap_inuse: h.heap_inuse as u64,
        heap_released: h.heap_released as u64,
        heap_objects: a.heap_objects,
        next_gc: st.next_gc,
        last_gc: st.last_gc_unix,
        pause_total_ns: st.pause_total_ns,
        pause_ns: st.pause_ns,
        pause_end: st.pause_end,
        num_gc: st.num_gc,
        num_forced_gc: st.num_forced_gc,
        gc_cpu_fraction: st.cpu_fraction(workers),
        enable_gc: true,
        by_size: a
            .by_size
            .iter()
            .map(|b| (b.size, b.mallocs, b.frees))
            .collect(),
    }
}
