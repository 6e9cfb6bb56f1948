//! `M`: an OS thread running goroutines, with its g0 context and park note (Go:
//! runtime2.go `m`). See the crate docs for the overview.

use core::cell::{Cell, UnsafeCell};
use core::ptr;

use gort_stack::Context;

use crate::g::G;
use crate::p::P;
use crate::park::ThreadParker;
use crate::sched::Sched;
use crate::sync::Arc;
use crate::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

/// What a goroutine asked its M to do when it switched to g0 (Go's `mcall` argument:
/// `park_m`, `gosched_m`, `goexit0`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// Nothing pending (the M is on g0 running the scheduler).
    None,
    /// Run `M::parkfn`, then make the G Waiting (Go: `park_m`).
    Park,
    /// Put the G back on the global run queue (Go: `gosched_m`).
    Yield,
    /// The G has finished; free it (Go: `goexit0`).
    Exit,
    /// The G left `syscall` and found no P: queue it globally (Go: `exitsyscall0`).
    ExitSyscall,
}

/// An M. Boxed and never moved; freed when its scheduler is dropped.
pub(crate) struct M {
    /// Id (0 for the thread that called `run`). Immutable.
    pub(crate) id: u32,
    /// The scheduler. Immutable; the M holds a strong count through `sched_arc`.
    pub(crate) sched: *const Sched,
    /// Keeps the scheduler alive while the M's thread runs. Owned by the M's thread.
    pub(crate) sched_arc: UnsafeCell<Option<Arc<Sched>>>,
    /// The scheduler's context on this thread's own stack (Go: `m.g0`). Touched only by
    /// this thread.
    pub(crate) g0: UnsafeCell<Context>,
    /// The goroutine running on this M, or null on g0. Owned by this thread.
    pub(crate) curg: Cell<*mut G>,
    /// The P held, or null. Owned by this thread.
    pub(crate) p: Cell<*mut P>,
    /// A P handed to this M by `startm` before waking it (Go: `m.nextp`). Atomic.
    pub(crate) nextp: AtomicPtr<P>,
    /// Whether the M is spinning (looking for work). Written by this thread, and by
    /// `startm` before it wakes the M. Atomic.
    pub(crate) spinning: AtomicBool,
    /// What the goroutine that just switched to g0 wants. Owned by this thread.
    pub(crate) action: Cell<Action>,
    /// The unlock callback of a parking goroutine, living on that goroutine's stack.
    /// Owned by this thread; set just before the switch to g0, taken right after.
    pub(crate) parkfn: Cell<Option<*mut (dyn FnMut() + 'static)>>,
    /// The G locked to this M by `lock_os_thread`, or null (Go: `m.lockedg`). Owned by
    /// this thread.
    pub(crate) lockedg: Cell<*mut G>,
    /// Set when `lockedg` became runnable without being queued (it yielded, or an
    /// unpark raced its park): run it directly. Owned by this thread.
    pub(crate) lockedg_ready: Cell<bool>,
    /// Where the M sleeps when idle (Go: `m.park` note). Created on the M's thread.
    pub(crate) note: Arc<ThreadParker>,
    /// xorshift state for steal order. Owned by this thread.
    pub(crate) rand: Cell<u64>,
    /// Asynchronous preemption state (thread id, request flag, the frame of a goroutine
    /// stopped in place). See preempt/.
    pub(crate) preempt: crate::preempt::MPreempt,
}

// SAFETY: other threads touch only `nextp`, `spinning` (atomics) and `note` (thread-safe);
// everything else is owned by the M's own thread.
unsafe impl Send for M {}
// SAFETY: as above.
unsafe impl Sync for M {}

impl core::fmt::Debug for M {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("M").field("id", &self.id).finish()
    }
}

impl M {
    /// An M for the calling thread.
    pub(crate) fn new(id: u32, sched: &Arc<Sched>) -> M {
        M {
            id,
            sched: Arc::as_ptr(sched),
            sched_arc: UnsafeCell::new(Some(Arc::clone(sched))),
            g0: UnsafeCell::new(Context::empty()),
            curg: Cell::new(ptr::null_mut()),
            p: Cell::new(ptr::null_mut()),
            nextp: AtomicPtr::new(ptr::null_mut()),
            spinning: AtomicBool::new(false),
            action: Cell::new(Action::None),
            parkfn: Cell::new(None),
            lockedg: Cell::new(ptr::null_mut()),
            lockedg_ready: Cell::new(false),
            note: ThreadParker::for_current_thread(),
            rand: Cell::new(
                0x9E37_79B9_7F4A_7C15 ^ (u64::from(id) + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9),
            ),
            preempt: crate::preempt::MPreempt::for_current_thread(),
        }
    }

    /// The scheduler.
    #[inline]
    pub(crate) fn sched(&self) -> &Sched {
        // SAFETY: `sched_arc` keeps the scheduler alive while the M's thread runs, and
        // only that thread (or code it runs) calls this.
        unsafe { &*self.sched }
    }

    /// A cheap random number (xorshift64*).
    pub(crate) fn fastrand(&self) -> u32 {
        let mut x = self.rand.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rand.set(x);
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) as u32
    }

    pub(crate) fn is_spinning(&self) -> bool {
        self.spinning.load(Ordering::Relaxed)
    }
}

std::thread_local! {
    /// The M running on this thread, or null.
    static CUR_M: Cell<*const M> = const { Cell::new(ptr::null()) };
}

/// The M running on this thread, if any.
///
/// Never inlined: a goroutine may resume on another thread after any blocking call,
/// but LLVM treats a thread-local's address as fixed within a function and may hoist
/// its computation out of a loop that blocks, so an inlined read can return the M of
/// the thread the goroutine *started* on (seen: `gort::go` failing with "no gort
/// runtime" in a release-built loop around `select!`). A call keeps each read on the
/// current thread.
#[inline(never)]
pub(crate) fn current_m() -> Option<&'static M> {
    let m = CUR_M.with(Cell::get);
    // SAFETY: CUR_M is set by the M's own thread to its boxed M, which lives until the
    // scheduler is dropped, after the thread has cleared CUR_M.
    unsafe { m.as_ref() }
}

/// Sets (or clears) the M of this thread.
pub(crate) fn set_current_m(m: *const M) {
    CUR_M.with(|c| c.set(m));
}

/// The goroutine running on this thread, if any.
#[inline]
pub(crate) fn current_g() -> Option<*mut G> {
    let m = current_m()?;
    let g = m.curg.get();
    if g.is_null() { None } else { Some(g) }
}
