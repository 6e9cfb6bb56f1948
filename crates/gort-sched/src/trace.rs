//! Execution-tracer hooks (gort-trace): each P's event writer, the off-P path, and the
//! one place the scheduler decides where an event goes.
//!
//! Every hook costs one relaxed load of the tracer's on/off word and a branch when
//! tracing is off; the event's arguments are computed only behind that branch. Under
//! loom the hooks compile to nothing (the tracer's global is not loom-constructible).

use crate::p::P;
use crate::sched::Sched;

#[cfg(not(loom))]
use crate::sync::atomic::{AtomicBool, Ordering};
#[cfg(not(loom))]
use core::cell::UnsafeCell;
#[cfg(not(loom))]
use gort_trace::Tracer;

use gort_trace::{Emit, ProcBuf};

/// A P's trace writer (Go: `p.trace.buf`). Owned by the M owning the P; flushed when
/// the P is dropped with its scheduler.
#[cfg(not(loom))]
pub(crate) struct PTrace {
    /// The writer. Owned by the M owning the P.
    buf: UnsafeCell<ProcBuf<'static>>,
    /// Set by the tracer's stop hook ([`flush_all_ps`]): the owner flushes the writer
    /// at its next event, then clears it (Release, after the hand-off). Atomic.
    flush_req: AtomicBool,
}

#[cfg(not(loom))]
impl PTrace {
    pub(crate) fn new(id: u32) -> PTrace {
        PTrace {
            buf: UnsafeCell::new(Tracer::global().proc_buf(id)),
            flush_req: AtomicBool::new(false),
        }
    }

    /// The writer, flushed first if the stop hook asked for it.
    ///
    /// # Safety
    /// The caller owns the P (as for `P::gfree`).
    #[inline(always)]
    #[allow(clippy::mut_from_ref, reason = "ownership is the caller's contract")]
    unsafe fn writer(&self) -> &mut ProcBuf<'static> {
        // SAFETY: forwarded from the caller: nobody else touches the writer now.
        let w = unsafe { &mut *self.buf.get() };
        if self.flush_req.load(Ordering::Relaxed) {
            w.flush();
            self.flush_req.store(false, Ordering::Release);
        }
        w
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
        f(unsafe { p.trace.writer() });
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
        f(unsafe { (*p).trace.writer() });
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
            unsafe { (*(*p).trace.buf.get()).flush() };
        }
    }
    #[cfg(loom)]
    let _ = sched;
}

/// How long the stop hook waits for running Ps to reach a safe point and flush.
#[cfg(not(loom))]
const FLUSH_WAIT: std::time::Duration = std::time::Duration::from_millis(200);

/// The tracer's stop hook (Go: `traceStop`'s `forEachP` flush): every P of every
/// running scheduler hands its partly filled buffer to the tracer before the trace is
/// collected. The caller's own P and idle Ps are flushed here (under `Sched::lock`
/// for idle ones, which no M owns); a running P is asked to, and flushes at its next
/// event (each scheduling step emits one), which this waits for, up to
/// [`FLUSH_WAIT`]: a goroutine that computes without reaching the scheduler for
/// longer leaves its P's last events out of the trace.
#[cfg(not(loom))]
pub(crate) fn flush_all_ps() {
    let scheds = crate::debug::schedulers();
    let deadline = std::time::Instant::now() + FLUSH_WAIT;
    for sched in &scheds {
        let mine = match crate::m::current_m() {
            Some(m) if core::ptr::eq(m.sched, &**sched) => m.p.get().cast_const(),
            _ => core::ptr::null(),
        };
        let ps: Vec<&P> = (0..sched.gomaxprocs() as usize)
            .filter_map(|i| sched.p(i))
            .collect();
        for &p in &ps {
            if core::ptr::eq(p, mine) {
                // SAFETY: the calling M owns its P.
                unsafe { (*p.trace.buf.get()).flush() };
            } else {
                p.trace.flush_req.store(true, Ordering::Relaxed);
            }
        }
        loop {
            {
                let l = sched.lock();
                for &p in &l.pidle {
                    // SAFETY: Ps live as long as the scheduler.
                    let pr = unsafe { &*p };
                    if pr.trace.flush_req.load(Ordering::Relaxed) {
                        // SAFETY: an idle P has no owner and leaves the idle list only
                        // under `Sched::lock`, which we hold.
                        unsafe { (*pr.trace.buf.get()).flush() };
                        pr.trace.flush_req.store(false, Ordering::Relaxed);
                    }
                }
            }
            // Acquire: pairs with the owner's Release after its flush.
            let pending = ps.iter().any(|p| {
                p.status() != crate::p::PStatus::Dead && p.trace.flush_req.load(Ordering::Acquire)
            });
            if !pending || std::time::Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
        for p in ps {
            p.trace.flush_req.store(false, Ordering::Relaxed);
        }
    }
}
