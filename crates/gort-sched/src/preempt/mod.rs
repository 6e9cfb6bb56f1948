//! Asynchronous preemption (Go 1.14: preempt.go `preemptM`, `isAsyncSafePoint`,
//! `asyncPreempt`, signal_unix.go `doSigPreempt`): sysmon (or stop-the-world) sends SIGURG
//! to the thread of a goroutine that has run too long; the handler stops it *in place*.
//!
//! # Protocol
//!
//! 1. The requester sets the M's `requested` flag, then `tgkill`s its thread.
//! 2. The handler (on the thread's alternate signal stack) takes the flag and checks the
//!    interrupted point is an async safe point ([`is_async_safe_point`]): the M runs a
//!    goroutine with a P in `Running`, the interrupted stack pointer lies in that
//!    goroutine's own stack (not g0, not another stack), the interrupted instruction is
//!    in the main executable (not libc, the loader or the vDSO, whose locks g0 may need)
//!    or at a `syscall` instruction (blocked in the kernel, e.g. on a contended lock),
//!    the thread holds no runtime lock and is in no [`NoPreempt`] section, and no veto
//!    hook objects (e.g. the allocator mid-operation). Otherwise it returns; sysmon asks
//!    again on a later tick.
//! 3. Safe: it records the preempted goroutine's live stack (interrupted SP minus the red
//!    zone, up to the stack base) and the `ucontext` holding its registers (for the GC),
//!    pins the goroutine to this M (through `G::locked_m`, as `lock_os_thread` does),
//!    detaches the P and leaves it in `Syscall` (like `entersyscall`), marks the M
//!    `PARKED` and sleeps on a futex. Nothing in the handler allocates or locks.
//! 4. sysmon ([`handoff_pending`], also run by stop-the-world) marks the M `QUEUED`, takes
//!    the P back (CAS `Syscall` → `Idle`) unless someone else did, queues the goroutine on
//!    the global run queue and hands the P off (Go's `handoffp`).
//! 5. Whichever M later picks the goroutine sees it is locked to our M and hands its P
//!    over (`startlockedm`), which wakes the futex. The handler acquires that P, starts a
//!    new time slice and returns: the kernel resumes the interrupted code, on the same
//!    thread, with every register, thread-local and `errno` as they were.
//!
//! The goroutine's status stays `Running` throughout (only its P changes hands), so an
//! `unpark` racing with the preemption takes the usual "notified while running" path.
//! No other goroutine runs on the thread while one is stopped mid-function.

use core::ptr;

use crate::g::G;
use crate::m::{M, current_m};
use crate::p::{P, PStatus};
use crate::sched::Sched;
use crate::sync::static_atomic::{
    AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering,
};

/// Bytes below the stack pointer a leaf function may use without moving it (System V).
const RED_ZONE: usize = 128;

/// `MPreempt::state`: the M runs normally.
const RUNNING: u32 = 0;
/// `MPreempt::state`: stopped in the handler; its P is in `Syscall`, its G not queued yet.
const PARKED: u32 = 1;
/// `MPreempt::state`: stopped in the handler; its G is queued, waiting for a P.
const QUEUED: u32 = 2;

/// Ms in `PARKED` across the process (so sysmon's check is one load when there are none).
static PENDING: AtomicUsize = AtomicUsize::new(0);

/// Goroutines stopped in place so far, process-wide.
static PREEMPTIONS: AtomicU64 = AtomicU64::new(0);

/// How many times a goroutine has been stopped in place by an asynchronous preemption
/// in this process (each resumed on its own thread afterwards). For tests and
/// diagnostics.
pub fn async_preemptions() -> u64 {
    PREEMPTIONS.load(Ordering::Relaxed)
}

/// Whether the handler is installed.
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// A hook that may veto preemption (returns true when the thread must not stop now, e.g.
/// inside the allocator); a `fn() -> bool` stored as a pointer, or null.
static VETO: AtomicPtr<()> = AtomicPtr::new(ptr::null_mut());

/// Executable segments of the main program (`[start, end)` pairs; 0 = unused).
static TEXT: [AtomicUsize; 8] = [const { AtomicUsize::new(0) }; 8];

/// The preemption state of one M. Plain std atomics (not loom's): only the signal
/// handler, sysmon and stop-the-world touch them, none of which loom models.
#[derive(Debug)]
pub(crate) struct MPreempt {
    /// The thread id (`gettid`), for `tgkill`. Immutable.
    tid: i32,
    /// Bounds `[lo, hi)` of the thread's own stack (g0), or (0, 0). Immutable.
    g0: (usize, usize),
    /// Set by a requester before signalling; taken (swapped to false) by the handler.
    requested: AtomicBool,
    /// When the last signal was sent (`CLOCK_MONOTONIC` ns), to space them out: a
    /// goroutine that keeps refusing (blocked inside libc, say) is not showered.
    last_sent: AtomicU64,
    /// `RUNNING`, `PARKED` or `QUEUED`; see the module docs. Written by the handler
    /// (→ `PARKED`, → `RUNNING`) and by `handoff_pending` (`PARKED` → `QUEUED`, a CAS).
    state: AtomicU32,
    /// The preempted goroutine. Written by the handler before `state` leaves `RUNNING`.
    g: AtomicPtr<G>,
    /// The P the handler left in `Syscall`. As `g`.
    p: AtomicPtr<P>,
    /// Lowest live address of the preempted goroutine's stack. As `g`.
    sp: AtomicUsize,
    /// Address of the `ucontext_t` holding its registers (on the signal stack). As `g`.
    uctx: AtomicUsize,
    /// The futex the handler sleeps on; set to 1 by [`wake`].
    futex: AtomicU32,
}

impl MPreempt {
    /// The state of an M created on the calling thread.
    pub(crate) fn for_current_thread() -> MPreempt {
        // Not under loom: gort-stack's pool is loom-modelled there, and a thread-local
        // that remembers the install across model executions would make them differ.
        #[cfg(not(loom))]
        ensure_alt_stack();
        MPreempt {
            // SAFETY: gettid has no preconditions.
            tid: unsafe { libc::gettid() },
            g0: thread_stack_bounds().unwrap_or((0, 0)),
            requested: AtomicBool::new(false),
            last_sent: AtomicU64::new(0),
            state: AtomicU32::new(RUNNING),
            g: AtomicPtr::new(ptr::null_mut()),
            p: AtomicPtr::new(ptr::null_mut()),
            sp: AtomicUsize::new(0),
            uctx: AtomicUsize::new(0),
            futex: AtomicU32::new(0),
        }
    }

    /// If `g` is stopped in place on this M: the live part of its stack `[sp, ..)` and the
    /// `ucontext_t` `[start, end)` holding its registers.
    pub(crate) fn preempted_frame(&self, g: *const G) -> Option<(usize, (usize, usize))> {
        if self.state.load(Ordering::Acquire) == RUNNING
            || !ptr::eq(self.g.load(Ordering::Acquire), g)
        {
            return None;
        }
        let u = self.uctx.load(Ordering::Acquire);
        let (mut lo, mut hi) = (u, u + core::mem::size_of::<libc::ucontext_t>());
        // The vector registers beyond xmm0-15's low halves (ymm/zmm upper halves,
        // zmm16-31, which glibc's memmove uses) live in the frame's XSAVE area, which the
        // kernel puts above the ucontext in the same signal frame: report the hull.
        // SAFETY: `u` is the `ucontext_t` of the handler that is waiting on this M (state
        // is not RUNNING), so the frame is live and not written until it returns.
        let fp = unsafe { (*(u as *const libc::ucontext_t)).uc_mcontext.fpregs } as usize;
        if fp != 0 && fp.abs_diff(u) < MAX_XSTATE {
            // SAFETY: `fp` is that frame's non-null `fpregs`.
            let len = unsafe { fp_state_len(fp as *const u8) };
            lo = lo.min(fp);
            hi = hi.max(fp + len);
        }
        Some((self.sp.load(Ordering::Acquire), (lo, hi)))
    }
}

/// `FP_XSTATE_MAGIC1`: marks an `XSAVE` area in a signal frame (`_fpx_sw_bytes.magic1`).
const FP_XSTATE_MAGIC1: u32 = 0x4650_5853;
/// `FP_XSTATE_MAGIC2`: the word the kernel writes right after the `XSAVE` area.
const FP_XSTATE_MAGIC2: u32 = 0x4650_5845;
/// The legacy `FXSAVE` area: x87, mxcsr, xmm0-15.
const FXSAVE_BYTES: usize = 512;
/// Offset of `_fpx_sw_bytes` in that area.
const SW_BYTES: usize = 464;
/// Largest `XSAVE` area believed (AMX tiles make it about 11 KiB today).
const MAX_XSTATE: usize = 64 * 1024;

/// Bytes of the saved FPU state at `fp` in a signal frame: `_fpx_sw_bytes.xstate_size`
/// when the kernel marked the area with both magic words, else the `FXSAVE` area. (gort-gc's
/// thread handshake reads its own frames the same way; the two crates never depend on
/// each other.)
///
/// # Safety
///
/// `fp` is the non-null `fpregs` of the `ucontext` of a signal being handled.
unsafe fn fp_state_len(fp: *const u8) -> usize {
    // SAFETY: the frame holds at least the FXSAVE area at `fp` (the caller's contract);
    // `_fpx_sw_bytes` lies inside it, 4-byte aligned (the area is 64-byte aligned).
    let (magic1, size) = unsafe {
        (
            fp.add(SW_BYTES).cast::<u32>().read(),
            fp.add(SW_BYTES + 16).cast::<u32>().read() as usize,
        )
    };
    if magic1 != FP_XSTATE_MAGIC1 || !(FXSAVE_BYTES..=MAX_XSTATE).contains(&size) {
        return FXSAVE_BYTES;
    }
    // SAFETY: with magic1 set the kernel wrote `size` bytes followed by MAGIC2, inside the
    // frame.
    let magic2 = unsafe { fp.add(size).cast::<u32>().read_unaligned() };
    if magic2 == FP_XSTATE_MAGIC2 {
        size
    } else {
        FXSAVE_BYTES
    }
}

/// A section in which the running goroutine must not be preempted in place (Go:
/// `acquirem`): code on a goroutine stack that uses its M's P (run queue, free lists,
/// trace writer) holds one, as every runtime lock does implicitly.
#[derive(Debug)]
pub(crate) struct NoPreempt(());

impl NoPreempt {
    /// Opens a section (ends when dropped, on the same thread).
    #[inline(always)]
    pub(crate) fn new() -> NoPreempt {
        crate::sync::locks_inc();
        NoPreempt(())
    }
}

impl Drop for NoPreempt {
    #[inline(always)]
    fn drop(&mut self) {
        crate::sync::locks_dec();
    }
}

/// Registers a hook asked by the SIGURG handler before stopping a goroutine: if it
/// returns true, the goroutine is not preempted this time (sysmon retries later). It runs
/// in a signal handler on the interrupted thread: it must be async-signal-safe (read a
/// thread-local flag, e.g. "inside the allocator"; gort-alloc has none to offer yet).
pub fn set_async_preempt_veto(f: Option<fn() -> bool>) {
    VETO.store(
        f.map_or(ptr::null_mut(), |f| f as *mut ()),
        Ordering::Release,
    );
}

/// Installs the SIGURG handler (once per process) and learns the main program's code
/// ranges. Called by `run_with`.
pub(crate) fn install() {
    if INSTALLED.swap(true, Ordering::AcqRel) {
        return;
    }
    learn_text();
    // SAFETY: `act` is fully initialised (zeroed, then the handler, flags and an empty
    // mask); the handler is async-signal-safe (see `handler`).
    unsafe {
        let mut act: libc::sigaction = core::mem::zeroed();
        act.sa_sigaction = handler as *const () as usize;
        // On the alternate stack: the kernel's frame (several KiB with AVX-512 state)
        // never lands on a goroutine stack that may lack the room.
        act.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_RESTART;
        libc::sigemptyset(&mut act.sa_mask);
        libc::sigaction(libc::SIGURG, &act, ptr::null_mut());
    }
}

/// Asks M `m` to stop its goroutine at the next async safe point: sets the request and
/// signals its thread (Go: `preemptM`), unless it was signalled less than `gap` ago.
/// Returns whether a signal was sent.
pub(crate) fn preempt_m(m: &M, gap: core::time::Duration) -> bool {
    if !INSTALLED.load(Ordering::Acquire) {
        return false;
    }
    let pre = &m.preempt;
    if pre.state.load(Ordering::Acquire) != RUNNING {
        return false;
    }
    let now = monotonic_ns();
    let last = pre.last_sent.load(Ordering::Relaxed);
    let gap = u64::try_from(gap.as_nanos()).unwrap_or(u64::MAX);
    if last != 0 && now.saturating_sub(last) < gap {
        return false;
    }
    pre.last_sent.store(now, Ordering::Relaxed);
    pre.requested.store(true, Ordering::Release);
    // SAFETY: tgkill with our own pid and a tid of one of our threads (an M's thread
    // lives as long as its scheduler runs); a stale tid is at worst ESRCH.
    let r = unsafe {
        libc::syscall(
            libc::SYS_tgkill,
            libc::getpid(),
            libc::c_long::from(pre.tid),
            libc::c_long::from(libc::SIGURG),
        )
    };
    r == 0
}

/// `CLOCK_MONOTONIC` in nanoseconds.
fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    u64::try_from(ts.tv_sec).unwrap_or(0) * 1_000_000_000 + u64::try_from(ts.tv_nsec).unwrap_or(0)
}

/// The M holding `p` (by `P::m_id`), if any.
pub(crate) fn m_of(sched: &Sched, p: &P) -> Option<&'static M> {
    let id = p.m_id.load(Ordering::Relaxed);
    if id == u32::MAX {
        return None;
    }
    let l = sched.lock();
    l.allm.iter().find_map(|&m| {
        // SAFETY: Ms live as long as the scheduler.
        let mr: &'static M = unsafe { &*m };
        (mr.id == id).then_some(mr)
    })
}

/// Queues the goroutines of Ms stopped in place whose P has not been handed off yet, and
/// hands their Ps off (a P someone else already took, e.g. stop-the-world, stays where
/// it is). Called by sysmon every tick and by stop-the-world. Returns how many.
pub(crate) fn handoff_pending(sched: &Sched) -> usize {
    if PENDING.load(Ordering::Acquire) == 0 {
        return 0;
    }
    let mut n = 0;
    let mut next = 0;
    loop {
        // The next PARKED M of this scheduler (the lock is not held while handing off).
        let found = {
            let l = sched.lock();
            let mut found = None;
            while let Some(&m) = l.allm.get(next) {
                next += 1;
                // SAFETY: Ms live as long as the scheduler.
                let mr: &'static M = unsafe { &*m };
                if mr.preempt.state.load(Ordering::Acquire) == PARKED {
                    found = Some(mr);
                    break;
                }
            }
            found
        };
        let Some(m) = found else { break };
        let pre = &m.preempt;
        if pre
            .state
            .compare_exchange(PARKED, QUEUED, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            continue;
        }
        PENDING.fetch_sub(1, Ordering::AcqRel);
        n += 1;
        let g = pre.g.load(Ordering::Acquire);
        let p = pre.p.load(Ordering::Acquire);
        // SAFETY: Ps live as long as the scheduler.
        let pr = unsafe { &*p };
        let took = pr
            .status
            .compare_exchange(
                PStatus::Syscall as u32,
                PStatus::Idle as u32,
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .is_ok();
        {
            let mut l = sched.lock();
            // `startlockedm` undoes this when it hands our M a P.
            l.nmidlelocked += 1;
            sched.globrunqput_locked(&mut l, crate::g::GPtr(g));
        }
        if took {
            pr.syscalltick.fetch_add(1, Ordering::Relaxed);
            crate::sched::handoffp(sched, p);
        } else {
            crate::sync::atomic::fence(crate::sync::atomic::Ordering::SeqCst);
            sched.wakep();
        }
    }
    n
}

/// At shutdown: hands P `p` (just released by an exiting M) to an M stopped in place, if
/// there is one, so that its goroutine runs on to its next switch and the M can end.
/// Nobody else would: the stopped goroutine's queue entry is never looked at again.
pub(crate) fn release_at_shutdown(sched: &Sched, p: *mut P) -> bool {
    let waiting = {
        let l = sched.lock();
        l.allm.iter().copied().find(|&m| {
            // SAFETY: Ms live as long as the scheduler.
            let pre = unsafe { &(*m).preempt };
            match pre.state.load(Ordering::Acquire) {
                QUEUED => true,
                PARKED => {
                    let won = pre
                        .state
                        .compare_exchange(PARKED, QUEUED, Ordering::AcqRel, Ordering::Acquire)
                        .is_ok();
                    if won {
                        PENDING.fetch_sub(1, Ordering::AcqRel);
                    }
                    won
                }
                _ => false,
            }
        })
    };
    let Some(m) = waiting else { return false };
    // SAFETY: Ms live as long as the scheduler.
    let mr = unsafe { &*m };
    if mr
        .nextp
        .compare_exchange(ptr::null_mut(), p, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return false; // already handed one
    }
    wake(mr);
    true
}

/// Wakes M `m` if it is stopped in place (called by `startlockedm` after storing
/// `m.nextp`).
pub(crate) fn wake(m: &M) {
    let pre = &m.preempt;
    if pre.state.load(Ordering::SeqCst) == RUNNING {
        return;
    }
    pre.futex.store(1, Ordering::SeqCst);
    // SAFETY: FUTEX_WAKE on a live word of ours.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            pre.futex.as_ptr(),
            libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
            1,
        );
    }
}

/// Whether the interrupted point is an async safe point (Go: `isAsyncSafePoint`); see
/// the module docs. `sp` and `pc` are the interrupted registers.
///
/// # Safety
/// Called on the thread of `m`, which runs `g` (read from `m.curg`), from its signal
/// handler.
unsafe fn is_async_safe_point(m: &M, g: *mut G, p: *mut P, sp: usize, pc: usize) -> bool {
    if crate::sync::locks_held() != 0 || g.is_null() || p.is_null() {
        return false;
    }
    let (lo, hi) = m.preempt.g0;
    if (lo..hi).contains(&sp) {
        return false; // on g0: scheduler code
    }
    // Not on g0, so the switch into `g` completed and its stack slot is settled.
    // SAFETY: `g` is the G this M runs; its stack slot is written before it runs.
    let Some((limit, base)) =
        (unsafe { (*(*g).stack.get()).as_ref() }).map(|s| (s.limit(), s.base()))
    else {
        return false;
    };
    if sp < limit + RED_ZONE || sp >= base {
        return false;
    }
    if !in_main_text(pc) && !at_syscall(pc) {
        return false;
    }
    // SAFETY: Ps live as long as the scheduler.
    if unsafe { (*p).status() } != PStatus::Running {
        return false;
    }
    let veto = VETO.load(Ordering::Acquire);
    if !veto.is_null() {
        // SAFETY: only `set_async_preempt_veto` stores here, always a `fn() -> bool`.
        let f: fn() -> bool = unsafe { core::mem::transmute::<*mut (), fn() -> bool>(veto) };
        if f() {
            return false;
        }
    }
    true
}

/// The SIGURG handler. Async-signal-safe: atomics, thread-locals without destructors,
/// `futex`; no allocation and no lock.
extern "C" fn handler(_sig: libc::c_int, _info: *mut libc::siginfo_t, uctx: *mut libc::c_void) {
    // SAFETY: errno is this thread's; saved and restored around everything we do.
    let errno = unsafe { *libc::__errno_location() };
    // SAFETY: the kernel passes this thread's interrupted context.
    unsafe { preempt_here(uctx.cast()) };
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = errno };
}

/// The body of [`handler`].
///
/// # Safety
/// Called only from the SIGURG handler with the kernel's `ucontext_t`.
unsafe fn preempt_here(uctx: *mut libc::ucontext_t) {
    let Some(m) = current_m() else { return };
    let pre = &m.preempt;
    if !pre.requested.swap(false, Ordering::AcqRel) {
        return; // not ours, or already handled
    }
    // SAFETY: the kernel's context of the interrupted code on this thread.
    let (sp, pc) = unsafe {
        let r = &(*uctx).uc_mcontext.gregs;
        (
            r[libc::REG_RSP as usize] as usize,
            r[libc::REG_RIP as usize] as usize,
        )
    };
    // SAFETY: `curg` and `p` are this thread's own cells; volatile reads see what the
    // interrupted code last stored.
    let g = unsafe { ptr::read_volatile(m.curg.as_ptr()) };
    // SAFETY: as above.
    let p = unsafe { ptr::read_volatile(m.p.as_ptr()) };
    // SAFETY: we are this M's thread, in its signal handler.
    if !unsafe { is_async_safe_point(m, g, p, sp, pc) } {
        return;
    }
    // SAFETY: `g` runs on this thread (checked above); Ps live as long as the scheduler.
    let (gr, pr) = unsafe { (&*g, &*p) };
    // SAFETY: the stack slot of the running G (checked settled above).
    let limit = unsafe { (*gr.stack.get()).as_ref() }.map_or(0, |s| s.limit());
    pre.g.store(g, Ordering::Relaxed);
    pre.p.store(p, Ordering::Relaxed);
    pre.sp.store((sp - RED_ZONE).max(limit), Ordering::Relaxed);
    pre.uctx.store(uctx as usize, Ordering::Relaxed);
    // Pin the G to this M so whoever picks it hands us a P (Go keeps it in _Gpreempted).
    let was_locked = !gr.locked_m.load(Ordering::Relaxed).is_null();
    if !was_locked {
        gr.locked_m
            .store(ptr::from_ref(m).cast_mut(), Ordering::Relaxed);
    }
    // SAFETY: this thread's own cell.
    unsafe { ptr::write_volatile(m.p.as_ptr(), ptr::null_mut()) };
    pre.futex.store(0, Ordering::SeqCst);
    pr.syscalltick.fetch_add(1, Ordering::Relaxed);
    // Publishes the P first (sysmon, `retake` or stop-the-world may take it from here),
    // then the M: `handoff_pending` then always finds the P takeable unless someone took
    // it already, never an ownerless P still marked `Running`.
    pr.status.store(PStatus::Syscall as u32, Ordering::SeqCst);
    PENDING.fetch_add(1, Ordering::AcqRel);
    pre.state.store(PARKED, Ordering::SeqCst);
    // Wait for a P (handed over by `startlockedm` through `nextp`).
    let np = loop {
        pre.futex.store(0, Ordering::SeqCst);
        let np = m.nextp.swap(ptr::null_mut(), Ordering::SeqCst);
        if !np.is_null() {
            break np;
        }
        // SAFETY: FUTEX_WAIT on a live word of ours; returns at once if it is not 0.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                pre.futex.as_ptr(),
                libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
                0,
                ptr::null::<libc::timespec>(),
            );
        }
    };
    // Acquire it (Go: `acquirep` in `exitsyscall`), without trace events (their writer
    // may allocate) and without debug assertions (they may panic).
    // SAFETY: `startlockedm` handed the P to us alone.
    let npr = unsafe { &*np };
    npr.status.store(PStatus::Running as u32, Ordering::Release);
    npr.m_id.store(m.id, Ordering::Relaxed);
    // A new time slice: sysmon's 10 ms count restarts.
    npr.schedtick.store(
        npr.schedtick.load(Ordering::Relaxed).wrapping_add(1),
        Ordering::Relaxed,
    );
    // SAFETY: this thread's own cell.
    unsafe { ptr::write_volatile(m.p.as_ptr(), np) };
    if !was_locked {
        gr.locked_m.store(ptr::null_mut(), Ordering::Relaxed);
    }
    pre.g.store(ptr::null_mut(), Ordering::Relaxed);
    PREEMPTIONS.fetch_add(1, Ordering::Relaxed);
    pre.state.store(RUNNING, Ordering::Release);
}

/// Whether `pc` lies in the main program's executable segments (learned at install; if
/// they could not be learned, every `pc` passes).
fn in_main_text(pc: usize) -> bool {
    let mut any = false;
    for pair in TEXT.chunks(2) {
        let (s, e) = (
            pair[0].load(Ordering::Relaxed),
            pair[1].load(Ordering::Relaxed),
        );
        if s == 0 {
            break;
        }
        any = true;
        if (s..e).contains(&pc) {
            return true;
        }
    }
    !any
}

/// Whether `pc` is at (restart) or just after (`EINTR`) a `syscall` instruction: the
/// thread is blocked in the kernel, e.g. on a futex inside libc's `syscall()` waiting for
/// a lock a goroutine stopped in place holds (a `std::sync::Mutex`), which only gets its
/// P back if the waiter gives its own up. Reads the code bytes only within `pc`'s page.
fn at_syscall(pc: usize) -> bool {
    const SYSCALL: [u8; 2] = [0x0f, 0x05];
    let off = pc & 0xfff;
    // SAFETY: `pc` is the interrupted instruction, so its page is mapped and executable
    // (readable on x86_64 Linux); only bytes within that page are read.
    unsafe {
        (off <= 0xffe && ptr::read_volatile(pc as *const [u8; 2]) == SYSCALL)
            || (off >= 2 && ptr::read_volatile((pc - 2) as *const [u8; 2]) == SYSCALL)
    }
}

/// Records the main program's executable segments (the first object `dl_iterate_phdr`
/// reports).
fn learn_text() {
    unsafe extern "C" fn cb(
        info: *mut libc::dl_phdr_info,
        _size: libc::size_t,
        _data: *mut libc::c_void,
    ) -> libc::c_int {
        // SAFETY: the loader passes a valid info whose phdr array has dlpi_phnum entries.
        let info = unsafe { &*info };
        let mut k = 0;
        for i in 0..usize::from(info.dlpi_phnum) {
            // SAFETY: as above.
            let ph = unsafe { &*info.dlpi_phdr.add(i) };
            if ph.p_type == libc::PT_LOAD && ph.p_flags & libc::PF_X != 0 && k + 1 < TEXT.len() {
                let start = info.dlpi_addr as usize + ph.p_vaddr as usize;
                TEXT[k].store(start, Ordering::Relaxed);
                TEXT[k + 1].store(start + ph.p_memsz as usize, Ordering::Relaxed);
                k += 2;
            }
        }
        1 // the main program comes first; stop there
    }
    // SAFETY: `cb` only reads the loader's data for the duration of the call.
    unsafe { libc::dl_iterate_phdr(Some(cb), ptr::null_mut()) };
}

/// The calling thread's stack bounds `[lo, hi)` (pthread_getattr_np).
fn thread_stack_bounds() -> Option<(usize, usize)> {
    // SAFETY: standard pthread attribute queries on the calling thread, with the
    // attribute object initialised by pthread_getattr_np and destroyed after use.
    unsafe {
        let mut attr: libc::pthread_attr_t = core::mem::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) != 0 {
            return None;
        }
        let mut addr: *mut libc::c_void = ptr::null_mut();
        let mut size: libc::size_t = 0;
        let r = libc::pthread_attr_getstack(&attr, &mut addr, &mut size);
        libc::pthread_attr_destroy(&mut attr);
        (r == 0).then_some((addr as usize, addr as usize + size))
    }
}

/// Size of the alternate signal stack an M gets: the SIGURG handler sleeps on it, and
/// while it does a collector's suspend signal may nest on it too; with AVX-512 state each
/// kernel frame is over 3 KiB, more than std's 8 KiB stack comfortably holds.
#[cfg(not(loom))]
const ALT_STACK_SIZE: usize = 64 * 1024;

/// An alternate signal stack this module installed for its thread (a guarded segment
/// from gort-stack's pool).
#[cfg(not(loom))]
struct AltStack(core::cell::RefCell<Option<gort_stack::Stack>>);

#[cfg(not(loom))]
impl Drop for AltStack {
    fn drop(&mut self) {
        let Some(stack) = self.0.get_mut().take() else {
            return;
        };
        // SAFETY: queries, then (if it is still ours) disables this thread's alternate
        // stack before the segment goes back to the pool.
        unsafe {
            let mut cur: libc::stack_t = core::mem::zeroed();
            if libc::sigaltstack(ptr::null(), &mut cur) == 0 && cur.ss_sp as usize == stack.limit()
            {
                let off = libc::stack_t {
                    ss_sp: ptr::null_mut(),
                    ss_flags: libc::SS_DISABLE,
                    ss_size: 0,
                };
                libc::sigaltstack(&off, ptr::null_mut());
            }
        }
        drop(stack);
    }
}

#[cfg(not(loom))]
std::thread_local! {
    static ALT: AltStack = const { AltStack(core::cell::RefCell::new(None)) };
}

/// Gives the calling thread (a new M) an alternate signal stack of [`ALT_STACK_SIZE`]
/// if its current one is smaller (std's threads get 8 KiB). The previous one's owner
/// still frees its own; ours goes back to the pool at thread exit.
#[cfg(not(loom))]
fn ensure_alt_stack() {
    let _ = ALT.try_with(|alt| {
        let Ok(mut slot) = alt.0.try_borrow_mut() else {
            return;
        };
        if slot.is_some() {
            return;
        }
        // SAFETY: a query into a zeroed local.
        let mut cur: libc::stack_t = unsafe { core::mem::zeroed() };
        // SAFETY: as above.
        if unsafe { libc::sigaltstack(ptr::null(), &mut cur) } != 0
            || cur.ss_flags & libc::SS_ONSTACK != 0
            || (cur.ss_flags & libc::SS_DISABLE == 0 && cur.ss_size >= ALT_STACK_SIZE)
        {
            return;
        }
        let Ok(stack) = gort_stack::Stack::new(ALT_STACK_SIZE) else {
            return;
        };
        let ss = libc::stack_t {
            ss_sp: stack.limit() as *mut libc::c_void,
            ss_flags: 0,
            ss_size: stack.size(),
        };
        // SAFETY: `ss` describes a guarded segment we own until this thread's exit
        // (`AltStack::drop` uninstalls it first).
        if unsafe { libc::sigaltstack(&ss, ptr::null_mut()) } == 0 {
            *slot = Some(stack);
        }
    });
}
