//! `Once`: Go's `sync.Once`, run a function exactly once. See the crate docs for the
//! overview.

use super::mutex::Mutex;
use crate::sync::atomic::{AtomicBool, Ordering};

/// Runs an action exactly once, however many parties call it (Go's `sync.Once`).
///
/// Every call returns only after the first call's action has returned, so the action's
/// effects are visible to all callers. As in Go, if the action panics `call_once`
/// considers it done: later calls do not run it again. An action that calls
/// `call_once` on the same `Once` deadlocks, as in Go.
///
/// ```
/// use gort_sched::gosync::Once;
///
/// let once = Once::new();
/// let mut n = 0;
/// once.call_once(|| n += 1);
/// once.call_once(|| n += 1);
/// assert_eq!(n, 1);
/// ```
pub struct Once {
    /// Set (Release) after the action returned; the fast path reads it (Acquire).
    /// Go's `done`, kept first for the hot path.
    done: AtomicBool,
    /// Serialises the slow path (Go's `m`).
    m: Mutex<()>,
}

impl Once {
    /// A `Once` whose action has not run.
    pub fn new() -> Self {
        Self {
            done: AtomicBool::new(false),
            m: Mutex::new(()),
        }
    }

    /// Runs `f` if no call has run an action yet; otherwise waits for that action to
    /// have returned (Go's `Do`).
    pub fn call_once(&self, f: impl FnOnce()) {
        // Fast path: an atomic load only (Go's comment explains why a CAS would be
        // wrong: the second caller must wait for the first action to finish).
        if !self.done.load(Ordering::Acquire) {
            self.call_once_slow(f);
        }
    }

    #[cold]
    fn call_once_slow(&self, f: impl FnOnce()) {
        let _m = self.m.lock();
        if !self.done.load(Ordering::Relaxed) {
            /// Sets `done` when dropped, also while unwinding (Go's `defer`).
            struct SetDone<'a>(&'a AtomicBool);
            impl Drop for SetDone<'_> {
                fn drop(&mut self) {
                    self.0.store(true, Ordering::Release);
                }
            }
            let _set = SetDone(&self.done);
            f();
        }
    }

    /// True once an action has returned (or panicked).
    pub fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }
}

// A panic never leaves a Once inconsistent (its state changes are atomic steps).
impl core::panic::UnwindSafe for Once {}
impl core::panic::RefUnwindSafe for Once {}

impl Default for Once {
    fn default() -> Self {
        Self::new()
    }
}

impl core::fmt::Debug for Once {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Once")
            .field("done", &self.is_done())
            .finish()
    }
}
