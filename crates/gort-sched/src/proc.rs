//! The public goroutine API: spawn, yield, counts, GOMAXPROCS, thread locking (Go:
//! `go` statements, `runtime.Gosched`, `runtime.NumGoroutine`, `runtime.GOMAXPROCS`,
//! `runtime.LockOSThread`). See the crate docs for the overview.

use crate::error::Error;
use crate::m::{Action, current_g, current_m};
use crate::sched::{SpawnOpts, current_sched, mcall};
use crate::sync::atomic::Ordering;

/// Starts a goroutine running `f` (Go: `go f()`), returning its id.
///
/// Fails with [`Error::NoRuntime`] when called outside a goroutine of a running
/// scheduler, and [`Error::Stack`] when no stack can be had.
///
/// # Hazard: goroutines migrate between OS threads
///
/// A goroutine may resume on another OS thread after any blocking point (channel and
/// `gosync` operations, sleeps, [`yield_now`], spawning, [`preempt_check!`](crate::preempt_check)).
/// Rust's `Send` cannot express this: a `!Send` value held across such a point is then
/// used on a thread other than the one it was made on. That includes a `thread_local!`
/// borrow (or an `Rc` cloned out of one), `std::io::StdoutLock`, and a guard of
/// `std::sync::Mutex` (unlocked from another thread, which some platforms forbid). Drop
/// such values before blocking, use [`GoroutineLocal`](crate::GoroutineLocal) for
/// per-goroutine state, or pin the goroutine to its thread with [`lock_os_thread`].
pub fn spawn<F: FnOnce() + Send + 'static>(f: F) -> Result<u64, Error> {
    spawn_with(None, None, f)
}

/// [`spawn`] with a name (shown in panic reports) and a stack size in bytes.
pub fn spawn_with<F: FnOnce() + Send + 'static>(
    name: Option<String>,
    stack_size: Option<usize>,
    f: F,
) -> Result<u64, Error> {
    // `newproc` uses the M's P (free lists, run queue): no preemption in place meanwhile.
    let _np = crate::preempt::NoPreempt::new();
    let m = current_m().ok_or(Error::NoRuntime)?;
    let opts = SpawnOpts {
        name,
        stack_size,
        main: false,
    };
    // SAFETY: `f` is 'static.
    unsafe { m.sched().newproc(m, f, opts) }.map(|(id, _)| id)
}

/// Yields the processor, letting other goroutines run (Go: `runtime.Gosched`): the
/// goroutine goes to the global run queue. Outside a goroutine, yields the thread.
pub fn yield_now() {
    match current_g() {
        // SAFETY: `g` is the goroutine running on this thread.
        Some(g) => unsafe { mcall(g, Action::Yield) },
        None => std::thread::yield_now(),
    }
}

/// The number of live goroutines of the current scheduler (Go: `runtime.NumGoroutine`);
/// 0 outside one.
pub fn num_goroutine() -> usize {
    current_sched().map_or(0, |s| s.ngoroutine().max(0) as usize)
}

/// The current GOMAXPROCS; 0 outside a scheduler.
pub fn gomaxprocs() -> usize {
    crate::sched::gomaxprocs()
}

/// Sets GOMAXPROCS (clamped to 1..=1024) and returns the previous value (Go:
/// `runtime.GOMAXPROCS(n)`). Ps beyond the new count stop at their next scheduling
/// point (Go stops the world instead).
pub fn set_maxprocs(n: usize) -> Result<usize, Error> {
    let s = current_sched().ok_or(Error::NoRuntime)?;
    Ok(s.set_maxprocs(n))
}

/// Wires the calling goroutine to its current OS thread (Go: `runtime.LockOSThread`):
/// until [`unlock_os_thread`] it runs only there, and that thread runs nothing else.
/// Returns false outside a goroutine.
pub fn lock_os_thread() -> bool {
    let (Some(m), Some(g)) = (current_m(), current_g()) else {
        return false;
    };
    m.lockedg.set(g);
    // SAFETY: G structs live as long as their scheduler; only the G itself writes this.
    unsafe {
        (*g).locked_m
            .store(core::ptr::from_ref(m).cast_mut(), Ordering::Relaxed)
    };
    true
}

/// Undoes [`lock_os_thread`] (Go: `runtime.UnlockOSThread`).
pub fn unlock_os_thread() {
    let (Some(m), Some(g)) = (current_m(), current_g()) else {
        return;
    };
    m.lockedg.set(core::ptr::null_mut());
    // SAFETY: as in `lock_os_thread`.
    unsafe {
        (*g).locked_m
            .store(core::ptr::null_mut(), Ordering::Relaxed)
    };
}

/// The id of the running goroutine (1 for the main goroutine), or `None` off goroutines.
pub fn goid() -> Option<u64> {
    // SAFETY: G structs live as long as their scheduler.
    current_g().map(|g| unsafe { (*g).goid() })
}

/// True when called on a goroutine.
pub fn on_goroutine() -> bool {
    current_g().is_some()
}

/// The current scheduler's state as one `GODEBUG=schedtrace` line (Go's format, without
/// the trailing newline), or `None` outside a scheduler.
pub fn schedtrace_line() -> Option<String> {
    current_sched().map(|s| crate::schedtrace::format(s, false).trim_end().to_owned())
}
