//! The collector's reporting API (Go: `traceGCStart`, `traceGCDone`,
//! `traceGCSweepStart`, `traceSTWStart`, `traceHeapAlloc`, `traceHeapGoal`): free
//! functions gort-gc calls from any thread, each one relaxed load and a branch when
//! tracing is off. Events go to the off-P writer (the collector's workers hold no P);
//! the exporter draws them on the "GC" track and the heap counters, and the live
//! dashboard reads its GC phase, heap, goal and pause histogram from them.

use crate::event::StwKind;
use crate::tracer::Tracer;
use crate::writer::Emit;

/// Runs `f` on the off-P writer if tracing is on.
#[inline(always)]
fn emit(f: impl FnOnce(&mut dyn Emit)) {
    if let Some(mut w) = Tracer::global().off_p() {
        f(&mut w);
    }
}

/// Collection `seq` begins (Go: GCBegin).
pub fn cycle_begin(seq: u64) {
    emit(|w| w.gc_begin(seq));
}

/// Collection `seq` is done (Go: GCEnd).
pub fn cycle_end(seq: u64) {
    emit(|w| w.gc_end(seq));
}

/// Marking begins.
pub fn mark_begin() {
    emit(|w| w.gc_mark_begin());
}

/// Marking ends.
pub fn mark_end() {
    emit(|w| w.gc_mark_end());
}

/// Sweeping begins (Go: GCSweepBegin).
pub fn sweep_begin() {
    emit(|w| w.gc_sweep_begin());
}

/// Sweeping ends (Go: GCSweepEnd).
pub fn sweep_end() {
    emit(|w| w.gc_sweep_end());
}

/// The world stops for `kind` (Go: STWBegin); pair with [`stw_end`].
pub fn stw_begin(kind: StwKind) {
    emit(|w| w.stw_begin(kind));
}

/// The world restarts (Go: STWEnd).
pub fn stw_end() {
    emit(|w| w.stw_end());
}

/// The live heap is `alloc` bytes and the next collection's goal `goal` bytes (Go:
/// HeapAlloc and HeapGoal; report after each cycle and every few hundred KiB of
/// allocation).
pub fn heap(alloc: u64, goal: u64) {
    emit(|w| {
        w.heap_alloc(alloc);
        w.heap_goal(goal);
    });
}
