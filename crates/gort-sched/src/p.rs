//! `P`: a processor — the right to run goroutines, with its run queue and free Gs (Go:
//! runtime2.go `p`). See the crate docs for the overview.

use core::cell::{Cell, UnsafeCell};

use crate::g::{G, GPtr};
use crate::run_queue::RunQueue;
use crate::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// A P's status (Go: `_Pidle`, `_Prunning`, `_Psyscall`, `_Pgcstop`, `_Pdead`).
///
/// Transitions (checked in debug builds by `P::set_status`): Idle → Running
/// (`acquirep`, by the M taking it from the idle list or handed it by `startm`);
/// Running → Idle (`releasep` + `pidleput`); Idle/Running → Dead (`set_maxprocs`
/// shrinking below its id, or shutdown); Dead → Idle (`set_maxprocs` growing again).
/// Running → Syscall (`syscall`: the M detaches it); Syscall → Running (the M takes it
/// back, a CAS in `exitsyscall`); Syscall → Idle (sysmon's `retake`, a CAS, then
/// `handoffp`). Stop-the-world (stw.rs) moves Idle, Syscall (CAS) and Running (the
/// owning M, `gcstopm`, or the caller's own P) to `GcStop`, and `GcStop` back to Idle or
/// Running when the world starts again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum PStatus {
    /// On the idle list (or being handed to an M); its run queue is empty.
    Idle = 0,
    /// Owned by an M running goroutines.
    Running = 1,
    /// Detached from an M in a system call (`syscall`); sysmon may retake it.
    Syscall = 2,
    /// Stopped for stop-the-world; held by the thread that stopped the world.
    GcStop = 3,
    /// Beyond GOMAXPROCS; unused until GOMAXPROCS grows again.
    Dead = 4,
}

impl PStatus {
    pub(crate) fn from_u32(v: u32) -> PStatus {
        match v {
            0 => PStatus::Idle,
            1 => PStatus::Running,
            2 => PStatus::Syscall,
            3 => PStatus::GcStop,
            _ => PStatus::Dead,
        }
    }
}

/// Whether `old -> new` is a legal P transition. `Idle -> Idle` is a P taken from the idle
/// list and put back unused (shutdown); `Dead -> Dead` is a new P made before it is
/// revived.
fn p_transition_ok(old: PStatus, new: PStatus) -> bool {
    use PStatus::*;
    matches!(
        (old, new),
        (Idle, Running)
            | (Running, Idle)
            | (Running, Syscall)
            | (Syscall, Running)
            | (Syscall, Idle)
            | (Idle, Idle)
            | (Idle, Dead)
            | (Running, Dead)
            | (Dead, Idle)
            | (Dead, Dead)
            | (Idle, GcStop)
            | (Running, GcStop)
            | (Syscall, GcStop)
            | (GcStop, Idle)
            | (GcStop, Running)
    )
}

/// Free Gs kept per P before moving a batch to the global list (Go: `gfput`, 64/32).
pub(crate) const GFREE_LOCAL_MAX: usize = 64;
/// Free Gs left on a P after moving a batch to the global list.
pub(crate) const GFREE_LOCAL_KEEP: usize = 32;
/// Free Gs pulled from the global list at once (Go: `gfget`).
pub(crate) const GFREE_BATCH: usize = 32;
/// Goroutine ids taken from the global counter at once (Go: `_GoidCacheBatch`).
pub(crate) const GOID_BATCH: u64 = 16;

/// A processor.
pub(crate) struct P {
    /// Index in `allp`. Immutable.
    pub(crate) id: u32,
    /// [`PStatus`]. Atomic; written by the owning M or under `Sched::lock`.
    pub(crate) status: AtomicU32,
    /// Local run queue and runnext.
    pub(crate) runq: RunQueue<G>,
    /// Incremented for each new time slice (Go: `schedtick`). Atomic (read by
    /// schedtrace); written only by the owning M.
    pub(crate) schedtick: AtomicU32,
    /// Dead Gs with stacks, ready for reuse (Go: `p.gFree`). Owned by the owning M.
    pub(crate) gfree: UnsafeCell<Vec<GPtr>>,
    /// Default-size stacks of exited goroutines, most recently used last. Owned by the
    /// owning M.
    pub(crate) stack_cache: UnsafeCell<Vec<gort_stack::Stack>>,
    /// Length of `gfree`, for schedtrace. Atomic; written only by the owning M.
    pub(crate) gfree_len: AtomicU32,
    /// Next goroutine id to hand out and the end of the cached batch (Go:
    /// `goidcache`, `goidcacheend`). Owned by the owning M.
    pub(crate) goid_cache: Cell<(u64, u64)>,
    /// Runs in a row that inherited the time slice through `runnext`. Owned by the
    /// owning M.
    pub(crate) runnext_streak: Cell<u32>,
    /// Id of the M owning this P, or -1 (for schedtrace). Atomic.
    pub(crate) m_id: AtomicU32,
    /// This P's timers (Go: `p.timers`). Own lock; any M may run them.
    pub(crate) timers: crate::time::timers::Timers,
    /// Incremented on each syscall entry and retake (Go: `syscalltick`). Atomic; read by
    /// sysmon.
    pub(crate) syscalltick: AtomicU32,
    /// `schedtick + 1` of a time slice sysmon asked to end, or 0 (Go: `gp.preempt`, kept
    /// per P). Atomic; written by sysmon, cleared by `preempt_check`.
    pub(crate) preempt: AtomicU32,
    /// Id of the goroutine running on this P, or 0 (for dumps and the dashboard).
    /// Atomic; written only by the owning M (`execute`), read anywhere `Relaxed`.
    #[cfg_attr(
        loom,
        allow(dead_code, reason = "read only by debug/, not built under loom")
    )]
    pub(crate) cur_goid: AtomicU64,
    /// Successful steals by this P (for the dashboard). Atomic; written only by the
    /// owning M.
    #[cfg_attr(
        loom,
        allow(dead_code, reason = "read only by debug/, not built under loom")
    )]
    pub(crate) steals: AtomicU64,
    /// Times this P was handed off by an M about to block (`handoffp`, for the
    /// dashboard). Atomic; written by the party handing it off.
    #[cfg_attr(
        loom,
        allow(dead_code, reason = "read only by debug/, not built under loom")
    )]
    pub(crate) handoffs: AtomicU64,
    /// This P's execution-trace writer. Owned by the owning M (like `gfree`); flushed
    /// when the P is dropped.
    #[cfg(not(loom))]
    pub(crate) trace: crate::trace::PTrace,
}

// SAFETY: a P is shared between Ms: the run queue is thread-safe, the atomics are
// atomics, and the `Cell`/`UnsafeCell` fields are touched only by the owning M (one
// at a time, handed over under `Sched::lock` or through `M::nextp`).
unsafe impl Send for P {}
// SAFETY: as above.
unsafe impl Sync for P {}

impl core::fmt::Debug for P {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("P")
            .field("id", &self.id)
            .field("status", &self.status())
            .finish()
    }
}

impl P {
    pub(crate) fn new(id: u32) -> P {
        P {
            id,
            status: AtomicU32::new(PStatus::Idle as u32),
            runq: RunQueue::new(),
            schedtick: AtomicU32::new(0),
            gfree: UnsafeCell::new(Vec::new()),
            stack_cache: UnsafeCell::new(Vec::new()),
            gfree_len: AtomicU32::new(0),
            goid_cache: Cell::new((0, 0)),
            runnext_streak: Cell::new(0),
            m_id: AtomicU32::new(u32::MAX),
            timers: crate::time::timers::Timers::new(),
            syscalltick: AtomicU32::new(0),
            preempt: AtomicU32::new(0),
            cur_goid: AtomicU64::new(0),
            steals: AtomicU64::new(0),
            handoffs: AtomicU64::new(0),
            #[cfg(not(loom))]
            trace: crate::trace::PTrace::new(id),
        }
    }

    pub(crate) fn status(&self) -> PStatus {
        PStatus::from_u32(self.status.load(Ordering::Acquire))
    }

    /// Moves the P to `s`; an illegal transition (see [`PStatus`]) is a debug assertion.
    pub(crate) fn set_status(&self, s: PStatus) {
        let old = PStatus::from_u32(self.status.swap(s as u32, Ordering::AcqRel));
        debug_assert!(
            p_transition_ok(old, s),
            "illegal P status transition {old:?} -> {s:?}"
        );
    }

    /// Asserts the P's invariants (by its owner or with the world quiet).
    pub(crate) fn check_invariants(&self) {
        self.runq.check_invariants();
        if self.status() == PStatus::Idle {
            debug_assert!(self.runq.is_empty(), "idle P with a non-empty run queue");
        }
    }
}
