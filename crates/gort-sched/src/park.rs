//! Parking and readying: Go's `gopark`/`goready` for goroutines and plain OS threads.
//!
//! See the crate docs for the overview. The contract channels and sync build on:
//!
//! 1. The blocking party takes [`Parker::current`], records it in a wait queue under the
//!    queue's lock, then calls [`park`] with a closure that releases that lock.
//! 2. `park` runs the closure only once the party can no longer miss an
//!    [`Parker::unpark`]: after that, an `unpark` from any thread (even one that races
//!    ahead of the party actually going to sleep) makes `park` return.
//! 3. `park` returns only after an `unpark` for this park (no spurious wakeups), and each
//!    park is ended by at most one `unpark`.
//!
//! On a plain OS thread (including threads under loom) the party is a
//! [`ThreadParker`]: an atomic "notified" flag and the thread's own park token; the flag
//! is the truth and the token only a hint, so other users of `std::thread::park` on the
//! same thread can neither lose nor fake a wakeup.

use crate::g::GPtr;
use crate::sync::atomic::{AtomicBool, Ordering};
use crate::sync::{Arc, thread, thread_local};

/// Why a goroutine (or thread) is blocked, with Go's wording (Go: runtime2.go,
/// `waitReason` and `waitReasonStrings`), used in goroutine dumps and traces. It is the
/// tracer's [`gort_trace::BlockReason`], so a park and its trace event share one list.
pub use gort_trace::BlockReason as WaitReason;

/// The parking state of one OS thread (Go's `note` on an M, for threads that are not
/// running goroutines).
#[derive(Debug)]
pub(crate) struct ThreadParker {
    /// Set by `unpark`, consumed by `park`. Atomic; `unpark` stores `true` with Release,
    /// the owning thread swaps it back with Acquire.
    notified: AtomicBool,
    /// The thread to wake. Immutable after construction.
    thread: thread::Thread,
}

impl ThreadParker {
    fn new() -> Self {
        Self {
            notified: AtomicBool::new(false),
            thread: thread::current(),
        }
    }

    /// A new parker owned by the calling thread (used as an M's park note).
    pub(crate) fn for_current_thread() -> Arc<ThreadParker> {
        Arc::new(Self::new())
    }

    /// Blocks the owning thread until `notify` has been called (once) since the last
    /// return. Must be called only by the owning thread.
    pub(crate) fn wait(&self) {
        // The flag is the truth: a token left by someone else's `Thread::unpark`
        // only makes us re-check it, and a token we leave for someone else only makes
        // their loop re-check theirs.
        while !self.notified.load(Ordering::Acquire) {
            thread::park();
        }
        // Only this thread clears the flag, and the next `notify` belongs to the next
        // park (one unpark per park), so a plain store cannot erase a wakeup.
        self.notified.store(false, Ordering::Relaxed);
    }

    /// [`ThreadParker::wait`] for at most `d` (the idle M sleeping until the next timer:
    /// Go's futexsleep with a timeout). Returns whether it was notified. Under loom
    /// (no timed park) it only yields once.
    pub(crate) fn wait_timeout(&self, d: core::time::Duration) -> bool {
        #[cfg(not(loom))]
        {
            let deadline = std::time::Instant::now() + d;
            while !self.notified.load(Ordering::Acquire) {
                let now = std::time::Instant::now();
                if now >= deadline {
                    return false;
                }
                std::thread::park_timeout(deadline - now);
            }
        }
        #[cfg(loom)]
        {
            let _ = d;
            thread::yield_now();
            if !self.notified.load(Ordering::Acquire) {
                return false;
            }
        }
        // As in `wait`: only this thread clears the flag.
        self.notified.store(false, Ordering::Relaxed);
        true
    }

    /// Wakes the owning thread (or makes its next `wait` return at once).
    pub(crate) fn notify(&self) {
        self.notified.store(true, Ordering::Release);
        self.thread.unpark();
    }
}

thread_local! {
    /// This thread's parker, created on first use.
    static THREAD_PARKER: Arc<ThreadParker> = Arc::new(ThreadParker::new());
}

/// Who a [`Parker`] wakes.
#[derive(Clone, Debug)]
enum Party {
    /// A plain OS thread (not running a goroutine).
    Thread(Arc<ThreadParker>),
    /// A goroutine (G structs live as long as their scheduler, so the pointer stays
    /// valid).
    Goroutine(GPtr),
}

/// A handle to a party (goroutine or OS thread) that can be made runnable again.
/// Cheap to clone; `Send + Sync`.
#[derive(Clone, Debug)]
pub(crate) struct Parker {
    party: Party,
}

impl Parker {
    /// The parker for whoever is running now (the current goroutine, else this thread).
    pub(crate) fn current() -> Parker {
        match crate::m::current_g() {
            Some(g) => Parker {
                party: Party::Goroutine(GPtr(g)),
            },
            None => Parker {
                party: Party::Thread(THREAD_PARKER.with(Arc::clone)),
            },
        }
    }

    /// Makes the party runnable again (Go's `goready`). Must be called at most once per
    /// park; calling it before the party has finished parking is fine (no lost wakeup).
    pub(crate) fn unpark(&self) {
        match &self.party {
            Party::Thread(t) => t.notify(),
            Party::Goroutine(g) => {
                // SAFETY: G structs live as long as their scheduler, which outlives every
                // goroutine that can still be unparked.
                let sched = unsafe { &*(*g.0).sched };
                sched.ready(g.0);
            }
        }
    }
}

/// Blocks the current party until someone calls [`Parker::unpark`] on its parker (Go's
/// `gopark`). `unlock` runs once the party can no longer miss an unpark; use it to
/// release the lock protecting the wait queue the party was put on. Spurious wakeups
/// never happen.
pub(crate) fn park(reason: WaitReason, unlock: impl FnOnce()) {
    if let Some(g) = crate::m::current_g() {
        let mut unlock = Some(unlock);
        let mut call = || {
            if let Some(f) = unlock.take() {
                f();
            }
        };
        // SAFETY: `g` is the goroutine running on this thread.
        unsafe { crate::sched::gopark(g, reason, &mut call) };
        return;
    }
    // A plain thread appears in no goroutine dump, so its reason is not recorded.
    let _ = reason;
    THREAD_PARKER.with(|me| {
        // A thread cannot miss a notify once it holds its parker: the flag is sticky.
        unlock();
        me.wait();
    });
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::sync::Mutex;

    #[test]
    fn unpark_before_park_is_not_lost() {
        let me = Parker::current();
        me.unpark();
        park(WaitReason::Sleep, || {});
    }

    #[test]
    fn cross_thread_wakeup_after_unlock() {
        let slot: Arc<Mutex<Option<Parker>>> = Arc::default();
        for _ in 0..1000 {
            let mut g = slot.lock().unwrap();
            *g = Some(Parker::current());
            let s2 = slot.clone();
            let t = std::thread::spawn(move || {
                let p = loop {
                    if let Some(p) = s2.lock().unwrap().take() {
                        break p;
                    }
                    std::thread::yield_now();
                };
                p.unpark();
            });
            park(WaitReason::ChanSend, move || drop(g));
            t.join().unwrap();
        }
    }

    #[test]
    fn wait_reason_strings_match_go() {
        assert_eq!(WaitReason::ChanReceive.as_str(), "chan receive");
        assert_eq!(WaitReason::SelectNoCases.to_string(), "select (no cases)");
        assert_eq!(WaitReason::SyncMutexLock.as_str(), "sync.Mutex.Lock");
    }
}
