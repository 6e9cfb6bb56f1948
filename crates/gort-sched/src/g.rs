//! `G`: a goroutine — its status, saved context, stack and entry closure (Go: runtime2.go
//! `g`). See the crate docs for the overview.

use core::cell::UnsafeCell;
use core::mem::{self, MaybeUninit};
use core::ptr;

use gort_stack::{Context, Stack};

use crate::fatal::throw;
use crate::gls::Gls;
use crate::park::WaitReason;
use crate::sched::Sched;
use crate::sync::atomic::{AtomicPtr, AtomicU8, AtomicU32, AtomicU64, Ordering};

/// A goroutine's status (Go: `_Gidle` … `_Gdead`). The numbers are Go's.
///
/// Legal transitions (checked by [`G::cas_status`]; anything else is a runtime bug):
///
/// | from | to | who, where |
/// | --- | --- | --- |
/// | Idle | Runnable | `newproc` on a freshly allocated G |
/// | Dead | Runnable | `newproc` reusing a G from a free list |
/// | Runnable | Running | `execute`, by the M that took it from a run queue |
/// | Running | Runnable | `yield_now` (on g0, after switching off the goroutine) |
/// | Running | Waiting | `park` (on g0, after the unlock callback ran) |
/// | Running | Running + notified | `unpark` racing ahead of `park` |
/// | Running + notified | Runnable | `park` finding the early unpark |
/// | Waiting | Runnable | `unpark` (Go's `goready`) |
/// | Running | Dead | goroutine exit (on g0) |
///
/// `Syscall` is Go's status for a goroutine in a blocking system call; gort does not
/// use it: a goroutine inside `syscall(f)` stays `Running` (its P is what changes,
/// to `PStatus::Syscall`), since nothing else inspects a running goroutine's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum GStatus {
    /// Just allocated, not yet initialised. Owned by the allocating M.
    Idle = 0,
    /// On a run queue (or being handed to one); not running; its stack is not in use.
    Runnable = 1,
    /// Running user code on an M that holds a P; owns its stack.
    Running = 2,
    /// In a system call (unused: see above).
    Syscall = 3,
    /// Blocked; recorded in some wait queue that will ready it. Its stack is idle.
    Waiting = 4,
    /// Exited; on a free list (with its stack) or about to be.
    Dead = 6,
}

/// Set together with `Running` when `unpark` arrives before `park` finished parking.
pub(crate) const NOTIFIED: u32 = 0x100;

/// Set together with `Waiting` while a compactor works on the G (Go's `_Gscan`; see
/// `compact.rs`): `ready` waits for it to clear.
pub(crate) const SCAN: u32 = 0x1000;

impl GStatus {
    fn from_bits(bits: u32) -> Option<GStatus> {
        Some(match bits & !(NOTIFIED | SCAN) {
            0 => GStatus::Idle,
            1 => GStatus::Runnable,
            2 => GStatus::Running,
            3 => GStatus::Syscall,
            4 => GStatus::Waiting,
            6 => GStatus::Dead,
            _ => return None,
        })
    }

    /// Go's name for the status in dumps (`runnable`, `running`, …).
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            GStatus::Idle => "idle",
            GStatus::Runnable => "runnable",
            GStatus::Running => "running",
            GStatus::Syscall => "syscall",
            GStatus::Waiting => "waiting",
            GStatus::Dead => "dead",
        }
    }
}

/// Closures up to this many bytes (and word alignment) are stored inside the G, so
/// spawning one allocates nothing.
const INLINE_WORDS: usize = 6;

/// A goroutine's entry closure, stored inline when small, else boxed.
struct Entry {
    /// The closure (or a `Box` of it). Valid iff `call` is `Some`.
    buf: MaybeUninit<[usize; INLINE_WORDS]>,
    /// Moves the closure out of `buf` and runs it (`true`) or drops it (`false`).
    call: Option<unsafe fn(*mut u8, bool)>,
}

/// Runs or drops an inline closure.
///
/// # Safety
/// `p` holds an initialised `F` that is not used again.
unsafe fn call_inline<F: FnOnce()>(p: *mut u8, run: bool) {
    // SAFETY: forwarded from the caller; the read moves the closure onto this frame.
    let f = unsafe { ptr::read(p.cast::<F>()) };
    if run {
        f();
    }
}

/// Runs or drops a boxed closure.
///
/// # Safety
/// `p` holds an initialised `Box<F>` that is not used again.
unsafe fn call_boxed<F: FnOnce()>(p: *mut u8, run: bool) {
    // SAFETY: forwarded from the caller.
    let f = unsafe { ptr::read(p.cast::<Box<F>>()) };
    if run {
        f();
    }
}

/// A goroutine. G structs are never freed while their scheduler lives (Go keeps them in
/// `allgs`): a dead G waits on a free list, with its stack, to be reused, so a stale
/// pointer to a G always points at a G.
pub(crate) struct G {
    /// The [`GStatus`] bits, plus [`NOTIFIED`]. Atomic; see the transition table.
    pub(crate) status: AtomicU32,
    /// Goroutine id (Go: `goid`), 1 for the main goroutine. Atomic (read by dumps);
    /// written by `newproc` while the G is Dead.
    pub(crate) goid: AtomicU64,
    /// Saved registers while not running. Written by `switch` on the G's own M; read
    /// by the M that resumes it, after a Release/Acquire hand-off through a run queue.
    pub(crate) ctx: UnsafeCell<Context>,
    /// The stack: bound when the G first runs (or at spawn for a non-default size),
    /// returned to the running P's cache when it exits. Owned by whoever owns the G.
    pub(crate) stack: UnsafeCell<Option<Stack>>,
    /// The entry closure. Written by `newproc` while Dead/Idle; consumed on the G's own
    /// stack when it starts.
    entry: UnsafeCell<Entry>,
    /// Why the G is waiting ([`WaitReason`] as u8 + 1; 0 = none). Atomic (read by dumps).
    pub(crate) wait_reason: AtomicU8,
    /// When the G was first seen waiting in its current wait, in milliseconds of
    /// `CLOCK_MONOTONIC`, or 0 if not seen yet (Go: `gp.waitsince`, which Go stamps
    /// lazily during GC; gort's sysmon hook in debug/ stamps it about once a second).
    /// Atomic; reset by `set_wait_reason`, stamped by a CAS from 0.
    pub(crate) wait_since: AtomicU64,
    /// Where the G is parked, for stack compaction (see `compact.rs`).
    pub(crate) park_site: crate::compact::ParkSite,
    /// The scheduler this G belongs to. Immutable.
    pub(crate) sched: *const Sched,
    /// Builder name, for panic messages and dumps. Written by `newproc` while Dead.
    pub(crate) name: UnsafeCell<Option<String>>,
    /// The M this G is locked to (`lock_os_thread`), or null. Atomic; written only by the
    /// G itself while running.
    pub(crate) locked_m: AtomicPtr<crate::m::M>,
    /// Goroutine-local storage. Touched only by the G itself while running (and
    /// cleared on its own stack as it exits).
    pub(crate) gls: UnsafeCell<Gls>,
}

// SAFETY: a G is handed between threads through the run queues and park/unpark; every
// field is either atomic or owned by exactly one party at a time as documented.
unsafe impl Send for G {}
// SAFETY: as above.
unsafe impl Sync for G {}

impl core::fmt::Debug for G {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("G")
            .field("goid", &self.goid())
            .field("status", &self.status())
            .finish()
    }
}

impl G {
    /// A fresh G (status Idle) belonging to `sched`.
    pub(crate) fn new(sched: *const Sched) -> G {
        G {
            status: AtomicU32::new(GStatus::Idle as u32),
            goid: AtomicU64::new(0),
            ctx: UnsafeCell::new(Context::empty()),
            stack: UnsafeCell::new(None),
            entry: UnsafeCell::new(Entry {
                buf: MaybeUninit::uninit(),
                call: None,
            }),
            wait_reason: AtomicU8::new(0),
            wait_since: AtomicU64::new(0),
            park_site: crate::compact::ParkSite::new(),
            sched,
            name: UnsafeCell::new(None),
            locked_m: AtomicPtr::new(ptr::null_mut()),
            gls: UnsafeCell::new(Gls::default()),
        }
    }

    /// The goroutine id.
    pub(crate) fn goid(&self) -> u64 {
        self.goid.load(Ordering::Relaxed)
    }

    /// The status (without the notified bit).
    pub(crate) fn status(&self) -> GStatus {
        let bits = self.status.load(Ordering::Acquire);
        GStatus::from_bits(bits).unwrap_or_else(|| throw("bad g status bits"))
    }

    /// Moves the status from `old` to `new` (Go: `casgstatus`); a G found in any other
    /// status is a broken runtime invariant.
    #[inline]
    pub(crate) fn cas_status(&self, old: GStatus, new: GStatus) {
        debug_assert!(
            transition_ok(old, new),
            "illegal g status transition {old:?} -> {new:?}"
        );
        if self
            .status
            .compare_exchange(old as u32, new as u32, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            throw("casgstatus: g is not in the expected status");
        }
    }

    /// Records why the G waits (and forgets when an earlier wait began).
    pub(crate) fn set_wait_reason(&self, r: Option<WaitReason>) {
        self.wait_since.store(0, Ordering::Relaxed);
        self.wait_reason
            .store(r.map_or(0, |r| r as u8 + 1), Ordering::Relaxed);
    }

    /// Why the G waits, if it does.
    pub(crate) fn wait_reason(&self) -> Option<WaitReason> {
        match self.wait_reason.load(Ordering::Relaxed) {
            0 => None,
            n => WaitReason::from_index(n - 1),
        }
    }

    /// Stores the entry closure.
    ///
    /// # Safety
    /// The caller owns the G (Idle or Dead) and no entry is stored; whatever `f`
    /// borrows outlives the goroutine.
    pub(crate) unsafe fn set_entry<F: FnOnce() + Send>(&self, f: F) {
        // SAFETY: the caller owns the G, so nobody else touches `entry`.
        let e = unsafe { &mut *self.entry.get() };
        debug_assert!(e.call.is_none(), "entry already set");
        let fits = mem::size_of::<F>() <= mem::size_of::<[usize; INLINE_WORDS]>()
            && mem::align_of::<F>() <= mem::align_of::<usize>();
        let p = e.buf.as_mut_ptr().cast::<u8>();
        if fits {
            // SAFETY: `buf` is large and aligned enough for `F` (checked above).
            unsafe { ptr::write(p.cast::<F>(), f) };
            e.call = Some(call_inline::<F>);
        } else {
            // SAFETY: a `Box` is one word, which `buf` holds.
            unsafe { ptr::write(p.cast::<Box<F>>(), Box::new(f)) };
            e.call = Some(call_boxed::<F>);
        }
    }

    /// Runs the entry closure (on the G's own stack), consuming it.
    ///
    /// # Safety
    /// Only the running G itself may call this.
    pub(crate) unsafe fn run_entry(&self) {
        // SAFETY: the running G owns its entry.
        let e = unsafe { &mut *self.entry.get() };
        if let Some(call) = e.call.take() {
            // SAFETY: `call` matches what `set_entry` stored, and it is used once.
            unsafe { call(e.buf.as_mut_ptr().cast::<u8>(), true) };
        }
    }

    /// Drops an entry closure that never ran (used when a scheduler is torn down).
    ///
    /// # Safety
    /// The caller owns the G and it is not running.
    pub(crate) unsafe fn drop_entry(&self) {
        // SAFETY: forwarded from the caller.
        let e = unsafe { &mut *self.entry.get() };
        if let Some(call) = e.call.take() {
            // SAFETY: as in `run_entry`.
            unsafe { call(e.buf.as_mut_ptr().cast::<u8>(), false) };
        }
    }

    /// Asserts the G's invariants (for a G its caller owns).
    pub(crate) fn check_invariants(&self) {
        let st = self.status();
        // SAFETY: the caller owns the G, so reading its stack slot is not racy.
        let has_stack = unsafe { (*self.stack.get()).is_some() };
        if matches!(st, GStatus::Running | GStatus::Waiting) {
            debug_assert!(has_stack, "a running or waiting g has no stack");
        }
        if st != GStatus::Waiting {
            // SAFETY: as above.
            let compacted =
                unsafe { (*self.stack.get()).as_ref() }.is_some_and(|s| s.compacted().is_some());
            debug_assert!(!compacted, "a g that is not waiting has a compacted stack");
        }
        if st == GStatus::Dead {
            debug_assert!(!has_stack, "a dead g kept its stack");
        }
    }
}

/// Whether Go's state machine allows `old -> new` (see [`GStatus`]).
fn transition_ok(old: GStatus, new: GStatus) -> bool {
    use GStatus::*;
    matches!(
        (old, new),
        (Idle, Runnable)
            | (Dead, Runnable)
            | (Runnable, Running)
            | (Running, Runnable)
            | (Running, Waiting)
            | (Waiting, Runnable)
            | (Running, Dead)
    )
}

/// A `*mut G` that can be sent between threads (ownership moves with it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct GPtr(pub(crate) *mut G);

// SAFETY: G is Send + Sync; the pointer is a handle moved between owners.
unsafe impl Send for GPtr {}
// SAFETY: as above.
unsafe impl Sync for GPtr {}
