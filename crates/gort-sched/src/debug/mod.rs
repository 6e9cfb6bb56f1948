//! Goroutine dumps (Go: traceback.go `tracebackothers`, `runtime.Stack(buf, true)`, the
//! SIGQUIT dump) and scheduler snapshots for the live dashboard.
//!
//! Every scheduler registers itself here while `run_with` runs, so a thread that is
//! not one of its Ms (the SIGQUIT watcher, the dashboard's sampler, the tracer's stop
//! hook) can find it. A registration holds a strong reference; the scheduler is freed
//! by whoever drops the last one.

mod dump;
mod sigquit;
mod snapshot;

pub use dump::wait_duration_label;
pub use snapshot::{GoroutineCounts, MState, ProcSnapshot, SchedSnapshot, ThreadSnapshot};

use crate::g::GStatus;
use crate::sched::Sched;
use crate::sync::Arc;
use crate::sync::atomic::Ordering;

/// The running schedulers (normally one). tidy: allow(std-sync) a process-wide
/// registry cannot be a loom type, and this module is not built under loom.
static REGISTRY: std::sync::Mutex<Vec<Arc<Sched>>> = std::sync::Mutex::new(Vec::new()); // tidy: allow(std-sync) process-wide registry

/// Registers the process-wide helpers once (sysmon's wait stamping, the tracer's stop
/// hook, the SIGQUIT handler).
static INSTALL: std::sync::Once = std::sync::Once::new(); // tidy: allow(std-sync) one-time process setup

/// How often sysmon stamps newly waiting goroutines with the time (Go stamps them at
/// each GC; the dump's "N minutes" is whole minutes, so a second is plenty).
const STAMP_PERIOD: std::time::Duration = std::time::Duration::from_secs(1);

/// A scheduler's entry in the registry; dropping it removes the entry.
#[derive(Debug)]
pub(crate) struct Registration(*const Sched);

/// Adds `sched` to the registry (called by `run_with` for its whole run).
pub(crate) fn register(sched: &Arc<Sched>) -> Registration {
    INSTALL.call_once(|| {
        crate::sysmon::add_sysmon_hook(STAMP_PERIOD, stamp_waits);
        gort_trace::Tracer::global().set_stop_hook(Some(crate::trace::flush_all_ps));
        sigquit::install();
    });
    lock_registry().push(Arc::clone(sched));
    Registration(Arc::as_ptr(sched))
}

impl Drop for Registration {
    fn drop(&mut self) {
        let removed = {
            let mut r = lock_registry();
            r.iter()
                .position(|s| core::ptr::eq(Arc::as_ptr(s), self.0))
                .map(|i| r.swap_remove(i))
        };
        // Dropped outside the lock: this may be the last reference.
        drop(removed);
    }
}

/// The registry's guard type. tidy: allow(std-sync) the std mutex above
type RegistryGuard = std::sync::MutexGuard<'static, Vec<Arc<Sched>>>; // tidy: allow(std-sync) the registry's guard

fn lock_registry() -> RegistryGuard {
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

/// Every registered scheduler (strong references: they stay alive while held).
pub(crate) fn schedulers() -> Vec<Arc<Sched>> {
    lock_registry().clone()
}

/// Sysmon hook: stamps goroutines found waiting without a timestamp (Go: the GC's
/// `gp.waitsince = work.tstart`).
fn stamp_waits() {
    let now = dump::now_ms();
    for sched in schedulers() {
        for g in sched.allg() {
            // SAFETY: G structs live as long as their scheduler, which we hold.
            let gr = unsafe { &*g.0 };
            if gr.status() == GStatus::Waiting {
                let _ =
                    gr.wait_since
                        .compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed);
            }
        }
    }
}

/// A handle on a running scheduler, usable from any thread (the dashboard's server
/// threads, a watcher). Keeps the scheduler's memory alive while held.
#[derive(Clone)]
pub struct SchedHandle(Arc<Sched>);

impl core::fmt::Debug for SchedHandle {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("SchedHandle").field(&self.0).finish()
    }
}

impl SchedHandle {
    /// The scheduler of the calling goroutine, or `None` outside a goroutine.
    pub fn current() -> Option<SchedHandle> {
        let me = crate::sched::current_sched()?;
        lock_registry()
            .iter()
            .find(|s| core::ptr::eq(Arc::as_ptr(s), me))
            .map(|s| SchedHandle(Arc::clone(s)))
    }

    /// Whether the scheduler's main goroutine has returned (it runs nothing more).
    pub fn is_finished(&self) -> bool {
        self.0.is_shutdown()
    }

    /// The scheduler's state now: Ps, Ms, goroutine counts (see [`SchedSnapshot`]).
    pub fn snapshot(&self) -> SchedSnapshot {
        snapshot::take(&self.0)
    }

    /// A dump of every goroutine in Go's shape (see [`goroutines`]).
    pub fn goroutines(&self) -> String {
        let mut out = String::new();
        dump::dump_sched(&self.0, &mut out);
        out
    }

    /// Sets GOMAXPROCS (Go: `runtime.GOMAXPROCS(n)`), from any thread; returns the
    /// previous value. `n` is clamped to 1..=[`MAX_PROCS`](crate::MAX_PROCS).
    pub fn set_maxprocs(&self, n: usize) -> usize {
        self.0.set_maxprocs(n.clamp(1, crate::MAX_PROCS))
    }
}

/// Every goroutine of the calling goroutine's scheduler (of every running scheduler
/// when called outside one), in Go's shape (Go: `runtime.Stack(buf, true)`):
///
/// ```text
/// goroutine 7 [chan receive, 2 minutes]:
/// gort_sched::chan::Chan<T>::recv(...)
///     /path/to/chan.rs:120
/// ...
/// ```
///
/// A waiting or runnable goroutine's frames come from a frame-pointer walk of its own
/// stack, read through the kernel (`process_vm_readv`), so a goroutine that resumes
/// mid-walk yields a short or odd trace, never a fault; the walk goes as far as the
/// code kept frame pointers (build with `-C force-frame-pointers=yes` for full
/// traces). A goroutine running on another thread shows Go's "stack unavailable".
pub fn goroutines() -> String {
    let mut out = String::new();
    match SchedHandle::current() {
        Some(h) => dump::dump_sched(&h.0, &mut out),
        None => {
            for s in schedulers() {
                dump::dump_sched(&s, &mut out);
            }
        }
    }
    out
}
