//! Execution-tracer hooks (gort-trace): each P's event writer, the off-P path, and the
//! one place the scheduler decides where an event goes.
//!
//! Every hook costs one relaxed load of the tracer's on/off word and a branch when
//! tracing is off; the event's arguments are computed only behind that branch. Under
//! loom the hooks compile to nothing (the tracer's global is not loom-constructible).

use crate::p::P;
use crate::sched::Sched;

#[cfg(not(loom))]
use core::cell::UnsafeCell;
#[cfg(not(loom))]
use gort_trace::Tracer;

use gort_trace::{Emit, ProcBuf};

/// A P's trace writer (Go: `p.trace.buf`). Owned by the M owning the P; flushed when
/// the P is dropped with its scheduler.
#[cfg(not(loom))]
pub(crate) struct PTrace(UnsafeCell<ProcBuf<'static>>);

#[cfg(not(loom))]
impl PTrace {
    pub(crate) fn new(id: u32) -> PTrace {
        PTrace(UnsafeCell::new(Tracer::global().proc_buf(id)))
    }
}

/// Runs `f` on `p`'s writer if tracing is on. The caller owns `p` (is the M holding
/// it, or the only party touching it).
#[inline(always)]
pub(crate) fn on_p(p: &P, f: impl FnOnce(&mut ProcBuf<'static>)) {
    #[cfg(not(loom))]
    if Tracer::global().is_enabled() {
        // SAFETY: the caller owns `p`, so nobody else touches its writer now (the same
        // discipline as `P::gfree`).
        f(unsafe { &mut *p.trace.0.get() });
    }
    #[cfg(loom)]
    let _ = (p, f);
}

/// Runs `f` on the writer of the calling M's P if the caller is an M of `sched` holding
/// a P, else on the shared off-P writer; only if tracing is on (where the event goes is
/// worked out only then).
#[inline(always)]
pub(crate) fn here(sched: &Sched, f: impl FnOnce(&mut dyn Emit)) {
    #[cfg(not(loom))]
    if Tracer::global().is_enabled() {
        here_slow(sched, f);
    }
    #[cfg(loom)]
    let _ = (sched, f);
}

/// Runs `f` on the shared off-P writer if tracing is on (a thread without a P).
#[inline(always)]
pub(crate) fn off_p(f: impl FnOnce(&mut dyn Emit)) {
    #[cfg(not(loom))]
    if let Some(mut w) = Tracer::global().off_p() {
        f(&mut w);
    }
    #[cfg(loom)]
    let _ = f;
}

#[cfg(not(loom))]
#[cold]
#[inline(never)]
fn here_slow(sched: &Sched, f: impl FnOnce(&mut dyn Emit)) {
    let p = match crate::m::current_m() {
        Some(m) if core::ptr::eq(m.sched, sched) => m.p.get(),
        _ => core::ptr::null_mut(),
    };
    if p.is_null() {
        off_p(f);
    } else {
        // SAFETY: `p` is the calling M's own P, which it owns; Ps live as long as their
        // scheduler.
        f(unsafe { &mut *(*p).trace.0.get() });
    }
}

/// Flushes the writers of the idle Ps (at the end of `run`, so a trace stopped after it
/// has every event of the run; a P leaving its M at shutdown is flushed by that M).
pub(crate) fn flush_idle_ps(sched: &Sched) {
    #[cfg(not(loom))]
    if Tracer::global().is_enabled() {
        let l = sched.lock();
        for &p in &l.pidle {
            // SAFETY: a P on the idle list has no owner, and it leaves the list only
            // under `Sched::lock`, which we hold; Ps live as long as the scheduler.
            unsafe { (*(*p).trace.0.get()).flush() };
        }
    }
    #[cfg(loom)]
    let _ = sched;
}
