//! Stopping every other thread of the process with a signal handshake (Boehm's
//! `pthread_stop_world.c`), recording each one's registers, stack pointer and thread
//! pointer. See `roots/mod.rs` for the overview and the protocol.

use core::ffi::c_void;
use core::time::Duration;
use std::time::Instant;

use super::raw;
use crate::sync::static_atomic::{
    AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering,
};

/// The suspend signal (Boehm's choice on Linux). Not SIGURG (gort-sched's preemption)
/// nor glibc's reserved SIGRTMIN..SIGRTMIN+2.
pub const SUSPEND_SIGNAL: i32 = libc::SIGPWR;

/// Words of register state recorded per thread: the 16 general registers and rip, then
/// the 16 xmm registers (two words each; a `memcpy` may move a pointer through them).
pub const SAVED_WORDS: usize = 17 + 32;

/// How often the stopper re-checks that the threads it waits for still exist.
const POLL: Duration = Duration::from_millis(10);

/// A slot's state. Transitions: `FREE → SIGNALLED` (stopper, before `tgkill`);
/// `SIGNALLED → STOPPED` (the thread's handler, after recording); `SIGNALLED → GONE`
/// (stopper, when `tgkill` says the thread exited, or it gave up on it);
/// `STOPPED → RESUMED` (handler, by compare-and-swap after the restart, failing
/// harmlessly if the stopper freed the slot first); any → `FREE` (stopper, right after
/// restarting: it does not wait for the handlers to return).
mod state {
    /// Unused.
    pub(super) const FREE: u32 = 0;
    /// The stopper sent the signal; the thread has not answered.
    pub(super) const SIGNALLED: u32 = 1;
    /// The thread recorded its state and waits in its handler for the restart.
    pub(super) const STOPPED: u32 = 2;
    /// The thread left the wait after the restart.
    pub(super) const RESUMED: u32 = 3;
    /// The thread exited (or never answered and was given up on).
    pub(super) const GONE: u32 = 4;
}

/// A slot's tag: `tid` and `state` in one word.
const fn tag(tid: u32, state: u32) -> u64 {
    ((tid as u64) << 32) | state as u64
}

/// The thread id of a tag.
const fn tag_tid(tag: u64) -> u32 {
    (tag >> 32) as u32
}

/// The state of a tag.
const fn tag_state(tag: u64) -> u32 {
    tag as u32
}

/// One thread's record, shared between the stopper and that thread's signal handler.
#[derive(Debug)]
#[repr(C)]
pub(crate) struct Slot {
    /// `tag(tid, state)`: the kernel thread id in the high half and a `state::*` value in
    /// the low half, changed together so a handler's compare-and-swap names both.
    tag: AtomicU64,
    /// The interrupted stack pointer. Written by the handler before `STOPPED` (Release).
    sp: AtomicUsize,
    /// The thread pointer (`%fs` base). Written by the handler before `STOPPED`.
    thread_pointer: AtomicUsize,
    /// The interrupted register file. Written by the handler before `STOPPED`.
    regs: [AtomicUsize; SAVED_WORDS],
    /// Address of the interrupted thread's saved FPU/vector state (the `XSAVE` area the
    /// kernel put in the signal frame; `fpregs` of the `ucontext`), or 0. Written by the
    /// handler before `STOPPED`; the frame stays valid while the handler waits.
    fp_state: AtomicUsize,
    /// Bytes of that area (see [`fp_state_len`]).
    fp_state_len: AtomicUsize,
}

impl Slot {
    fn new() -> Slot {
        Slot {
            tag: AtomicU64::new(tag(0, state::FREE)),
            sp: AtomicUsize::new(0),
            thread_pointer: AtomicUsize::new(0),
            regs: core::array::from_fn(|_| AtomicUsize::new(0)),
            fp_state: AtomicUsize::new(0),
            fp_state_len: AtomicUsize::new(0),
        }
    }
}

/// The current slot table, read by the signal handler. Old tables are never freed (a
/// handler of a long-delayed signal may still hold one); tables only grow, by doubling.
static SLOTS: AtomicPtr<Slot> = AtomicPtr::new(core::ptr::null_mut());
/// Entries in the table `SLOTS` points to.
static SLOT_COUNT: AtomicUsize = AtomicUsize::new(0);
/// Bumped by the stopper to restart the stopped threads, which futex-wait on it.
static EPOCH: AtomicU32 = AtomicU32::new(0);
/// Bumped by a handler after each state change it makes; the stopper futex-waits on it.
static PROGRESS: AtomicU32 = AtomicU32::new(0);
/// Held while a stop is in progress (one stopper at a time in the process).
static BUSY: AtomicU32 = AtomicU32::new(0);
/// Whether the handler is installed.
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// Why threads could not be stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StopFailure {
    /// The slot table or a buffer is too small: grow and retry.
    Grow,
    /// A system call failed with this errno.
    Errno(&'static str, i32),
    /// Thread `tid` did not answer within the timeout.
    NoAnswer(u32),
}

/// Installs the suspend signal's handler (once per process).
pub(crate) fn install() -> Result<(), i32> {
    if INSTALLED.load(Ordering::Acquire) {
        return Ok(());
    }
    // SAFETY: a zeroed sigaction is a valid value to fill in.
    let mut sa: libc::sigaction = unsafe { core::mem::zeroed() };
    sa.sa_sigaction = on_suspend as *const () as usize;
    sa.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_RESTART;
    // SAFETY: `sa.sa_mask` is a sigset_t we own; sigfillset/sigdelset only write it.
    unsafe {
        libc::sigfillset(&mut sa.sa_mask);
        for s in [libc::SIGSEGV, libc::SIGBUS, libc::SIGFPE, libc::SIGILL] {
            libc::sigdelset(&mut sa.sa_mask, s);
        }
    }
    // SAFETY: `sa` is fully initialised and its handler is an `extern "C"` function
    // with the SA_SIGINFO signature that never unwinds.
    if unsafe { libc::sigaction(SUSPEND_SIGNAL, &sa, core::ptr::null_mut()) } != 0 {
        return Err(raw::errno());
    }
    INSTALLED.store(true, Ordering::Release);
    Ok(())
}

/// Makes the slot table hold at least `n` slots (allocates: before stopping).
pub(crate) fn reserve_slots(n: usize) {
    let have = SLOT_COUNT.load(Ordering::Acquire);
    if have >= n {
        return;
    }
    let len = n.max(have * 2).max(16);
    let table: Box<[Slot]> = (0..len).map(|_| Slot::new()).collect();
    let ptr = Box::into_raw(table).cast::<Slot>();
    // Publish the pointer first, then the larger count: a handler that reads the new
    // count (Acquire) sees the new pointer too. The old table is leaked on purpose.
    SLOTS.store(ptr, Ordering::Release);
    SLOT_COUNT.store(len, Ordering::Release);
}

/// The current slot table.
fn slots() -> &'static [Slot] {
    let n = SLOT_COUNT.load(Ordering::Acquire);
    let p = SLOTS.load(Ordering::Acquire);
    if p.is_null() {
        return &[];
    }
    // SAFETY: `p` came from a leaked `Box<[Slot]>` of at least `n` entries (the count is
    // published after the pointer and tables only grow), never freed.
    unsafe { core::slice::from_raw_parts(p, n) }
}

/// A stopped thread's record, read after it answered.
#[derive(Clone, Debug)]
pub struct StoppedThread<'a> {
    /// Its kernel thread id.
    pub tid: u32,
    /// Its stack pointer when the signal arrived.
    pub sp: usize,
    /// Its thread pointer (`%fs` base): the static TLS block lies below, the TCB above.
    pub thread_pointer: usize,
    /// Its register file when the signal arrived ([`SAVED_WORDS`] words).
    pub registers: &'a [AtomicUsize; SAVED_WORDS],
    /// Its whole saved FPU/vector state (x87, xmm, ymm/zmm upper halves, zmm16-31, ...)
    /// as `start..end` in its signal frame, readable until it resumes; empty if the
    /// kernel gave none.
    pub fp_state: core::ops::Range<usize>,
}

/// The stopper's side: holds `BUSY` from a successful [`Stopper::stop`] to
/// [`Stopper::resume`].
#[derive(Debug)]
pub(crate) struct Stopper {
    /// `getdents64` buffer (allocated before stopping).
    dents: Vec<u8>,
    /// Slots in use this round (a prefix of the table).
    used: usize,
    /// Whether threads are stopped (and `BUSY` is held).
    stopped: bool,
}

impl Stopper {
    pub(crate) fn new() -> Stopper {
        Stopper {
            dents: vec![0; 16 * 1024],
            used: 0,
            stopped: false,
        }
    }

    /// Makes room for the current thread count with slack. Allocates: before [`stop`].
    ///
    /// [`stop`]: Stopper::stop
    pub(crate) fn prepare(&mut self) -> Result<(), i32> {
        install()?;
        let mut n = 0;
        raw::for_each_task(&mut self.dents, |_| n += 1)?;
        reserve_slots(n * 2 + 16);
        Ok(())
    }

    /// Grows the slot table after [`StopFailure::Grow`].
    pub(crate) fn grow(&mut self) {
        reserve_slots(SLOT_COUNT.load(Ordering::Acquire) * 2);
    }

    /// Stops every thread of the process except the caller and `exempt`; allocates
    /// nothing and takes no lock another thread may hold. On failure nothing stays
    /// stopped.
    pub(crate) fn stop(&mut self, timeout: Duration, exempt: &[u32]) -> Result<(), StopFailure> {
        lock_busy();
        let r = self.stop_locked(timeout, exempt);
        match r {
            Ok(()) => self.stopped = true,
            Err(_) => {
                self.restart_and_clear();
                unlock_busy();
            }
        }
        r
    }

    fn stop_locked(&mut self, timeout: Duration, exempt: &[u32]) -> Result<(), StopFailure> {
        let me = raw::gettid();
        let table = slots();
        self.used = 0;
        let deadline = Instant::now() + timeout;
        // Signal every thread not yet signalled; repeat until a listing finds no new
        // one (a thread running when the listing was read may have created another).
        loop {
            let mut fresh = 0;
            let mut full = false;
            let used = &mut self.used;
            raw::for_each_task(&mut self.dents, |tid| {
                let known = table[..*used]
                    .iter()
                    .any(|s| tag_tid(s.tag.load(Ordering::Relaxed)) == tid);
                if tid == me || full || known || exempt.contains(&tid) {
                    return;
                }
                // io_uring's kernel threads never answer (nor run user code).
                if raw::is_io_worker(tid) {
                    return;
                }
                let Some(slot) = table.get(*used) else {
                    full = true;
                    return;
                };
                *used += 1;
                slot.tag
                    .store(tag(tid, state::SIGNALLED), Ordering::Release);
                if raw::tgkill(tid, SUSPEND_SIGNAL).is_err() {
                    // ESRCH: it exited since the listing. Other errors cannot happen
                    // for a thread of our own process with a valid signal.
                    give_up(slot, tid);
                }
                fresh += 1;
            })
            .map_err(|e| StopFailure::Errno("/proc/self/task", e))?;
            if full {
                return Err(StopFailure::Grow);
            }
            self.wait_answers(deadline)?;
            if fresh == 0 {
                return Ok(());
            }
        }
    }

    /// Waits until every signalled slot is `STOPPED` or `GONE`.
    fn wait_answers(&self, deadline: Instant) -> Result<(), StopFailure> {
        let table = &slots()[..self.used];
        loop {
            let seen = PROGRESS.load(Ordering::Acquire);
            let mut pending = None;
            for s in table {
                let t = s.tag.load(Ordering::Acquire);
                if tag_state(t) != state::SIGNALLED {
                    continue;
                }
                let tid = tag_tid(t);
                if raw::tgkill(tid, 0) == Err(libc::ESRCH) {
                    give_up(s, tid);
                } else {
                    pending = Some(tid);
                }
            }
            let Some(tid) = pending else {
                return Ok(());
            };
            if Instant::now() >= deadline {
                return Err(StopFailure::NoAnswer(tid));
            }
            raw::futex_wait(&PROGRESS, seen, Some(POLL));
        }
    }

    /// Calls `f` for every stopped thread. Only between a successful [`Stopper::stop`]
    /// and [`Stopper::resume`].
    pub(crate) fn for_each_stopped(&self, mut f: impl FnMut(StoppedThread<'_>)) {
        if !self.stopped {
            return;
        }
        for s in &slots()[..self.used] {
            let t = s.tag.load(Ordering::Acquire);
            if tag_state(t) == state::STOPPED {
                f(StoppedThread {
                    tid: tag_tid(t),
                    sp: s.sp.load(Ordering::Relaxed),
                    thread_pointer: s.thread_pointer.load(Ordering::Relaxed),
                    registers: &s.regs,
                    fp_state: {
                        let start = s.fp_state.load(Ordering::Relaxed);
                        start..start + s.fp_state_len.load(Ordering::Relaxed)
                    },
                });
            }
        }
    }

    /// Restarts the threads stopped by [`Stopper::stop`] (without waiting for them to
    /// be scheduled: a thread still in its handler when the next stop comes has the new
    /// signal pending and answers it after returning).
    pub(crate) fn resume(&mut self) {
        if !self.stopped {
            return;
        }
        self.stopped = false;
        self.restart_and_clear();
        unlock_busy();
    }

    /// Gives up on unanswered slots, restarts the stopped threads and frees the slots.
    fn restart_and_clear(&mut self) {
        let table = &slots()[..self.used];
        for s in table {
            // A thread that has not answered by now is given up on: if its handler runs
            // later it finds its slot not SIGNALLED and returns at once.
            give_up(s, tag_tid(s.tag.load(Ordering::Acquire)));
        }
        // Clear first, then restart: a handler's last touch is a CAS on its tag, which
        // fails once the slot is FREE (or reused), so nothing waits for the handlers.
        for s in table {
            s.sp.store(0, Ordering::Relaxed);
            s.thread_pointer.store(0, Ordering::Relaxed);
            s.fp_state.store(0, Ordering::Relaxed);
            s.fp_state_len.store(0, Ordering::Relaxed);
            for r in &s.regs {
                r.store(0, Ordering::Relaxed);
            }
            s.tag.store(tag(0, state::FREE), Ordering::Release);
        }
        self.used = 0;
        EPOCH.fetch_add(1, Ordering::AcqRel);
        raw::futex_wake_all(&EPOCH);
    }
}

impl Drop for Stopper {
    fn drop(&mut self) {
        self.resume();
    }
}

/// Marks a slot still `SIGNALLED` for `tid` as `GONE` (the thread exited, or the
/// stopper gives up on it); a no-op if the thread answered first.
fn give_up(slot: &Slot, tid: u32) {
    let _ = slot.tag.compare_exchange(
        tag(tid, state::SIGNALLED),
        tag(tid, state::GONE),
        Ordering::AcqRel,
        Ordering::Acquire,
    );
}

/// Takes `BUSY` (a futex lock: one stop at a time in the process).
fn lock_busy() {
    while BUSY
        .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        raw::futex_wait(&BUSY, 1, Some(POLL));
    }
}

/// Releases `BUSY`.
fn unlock_busy() {
    BUSY.store(0, Ordering::Release);
    raw::futex_wake_all(&BUSY);
}

/// The suspend signal's handler. Async-signal-safe: atomics, `gettid` and `futex`
/// only; errno is preserved.
extern "C" fn on_suspend(_sig: libc::c_int, _info: *mut libc::siginfo_t, ctx: *mut c_void) {
    let saved_errno = raw::errno();
    // Read before answering: the stopper bumps EPOCH only after every answer.
    let epoch = EPOCH.load(Ordering::Acquire);
    let tid = raw::gettid();
    let mine = tag(tid, state::SIGNALLED);
    let Some(slot) = slots()
        .iter()
        .find(|s| s.tag.load(Ordering::Acquire) == mine)
    else {
        raw::set_errno(saved_errno);
        return;
    };
    record(slot, ctx);
    if slot
        .tag
        .compare_exchange(
            mine,
            tag(tid, state::STOPPED),
            Ordering::AcqRel,
            Ordering::Acquire,
        )
        .is_err()
    {
        // Given up on by the stopper meanwhile.
        raw::set_errno(saved_errno);
        return;
    }
    PROGRESS.fetch_add(1, Ordering::AcqRel);
    raw::futex_wake_all(&PROGRESS);
    while EPOCH.load(Ordering::Acquire) == epoch {
        raw::futex_wait(&EPOCH, epoch, None);
    }
    // Fails when the stopper already freed (or reused) the slot: nothing to say then.
    let _ = slot.tag.compare_exchange(
        tag(tid, state::STOPPED),
        tag(tid, state::RESUMED),
        Ordering::AcqRel,
        Ordering::Acquire,
    );
    raw::set_errno(saved_errno);
}

/// Copies the interrupted registers out of the signal's `ucontext` and reads the thread
/// pointer.
fn record(slot: &Slot, ctx: *mut c_void) {
    slot.thread_pointer
        .store(super::thread_pointer(), Ordering::Relaxed);
    if ctx.is_null() {
        return;
    }
    // SAFETY: with SA_SIGINFO the third argument is the interrupted context, a valid
    // `ucontext_t` for the duration of the handler.
    let uc = unsafe { &*ctx.cast::<libc::ucontext_t>() };
    let g = &uc.uc_mcontext.gregs;
    let sp = g[libc::REG_RSP as usize] as usize;
    slot.sp.store(sp, Ordering::Relaxed);
    // REG_R8..REG_RIP are 0..=16: the 16 general registers and rip.
    for (i, r) in slot.regs.iter().take(17).enumerate() {
        r.store(g[i] as usize, Ordering::Relaxed);
    }
    let fp = uc.uc_mcontext.fpregs;
    slot.fp_state.store(fp as usize, Ordering::Relaxed);
    let len = if fp.is_null() {
        0
    } else {
        // SAFETY: a non-null `fpregs` of the signal being handled.
        unsafe { fp_state_len(fp.cast()) }
    };
    slot.fp_state_len.store(len, Ordering::Relaxed);
    if !fp.is_null() {
        // SAFETY: a non-null `fpregs` points to the saved FPU state inside the same
        // signal frame, valid for the duration of the handler.
        let xmm = unsafe { &(*fp)._xmm };
        for (i, x) in xmm.iter().enumerate() {
            let e = x.element;
            let lo = u64::from(e[0]) | (u64::from(e[1]) << 32);
            let hi = u64::from(e[2]) | (u64::from(e[3]) << 32);
            slot.regs[17 + 2 * i].store(lo as usize, Ordering::Relaxed);
            slot.regs[18 + 2 * i].store(hi as usize, Ordering::Relaxed);
        }
    }
}

/// `FP_XSTATE_MAGIC1`: marks an `XSAVE` area in a signal frame (`_fpx_sw_bytes.magic1`).
const FP_XSTATE_MAGIC1: u32 = 0x4650_5853;
/// `FP_XSTATE_MAGIC2`: the word the kernel writes right after the `XSAVE` area.
const FP_XSTATE_MAGIC2: u32 = 0x4650_5845;
/// The legacy `FXSAVE` area's size: x87, mxcsr, xmm0-15.
const FXSAVE_BYTES: usize = 512;
/// Offset of `_fpx_sw_bytes` (the kernel's software-reserved words) in that area.
const SW_BYTES: usize = 464;
/// Largest `XSAVE` area believed (AMX tiles make it about 11 KiB today).
const MAX_XSTATE: usize = 64 * 1024;

/// Bytes of the saved FPU state at `fp` in a signal frame: `_fpx_sw_bytes.xstate_size`
/// (the whole `XSAVE` area: ymm upper halves, zmm, zmm16-31, ...) when the kernel marked
/// it with both magic words, else the 512-byte `FXSAVE` area. Async-signal-safe.
///
/// # Safety
///
/// `fp` is the non-null `fpregs` of the `ucontext` of a signal being handled.
unsafe fn fp_state_len(fp: *const u8) -> usize {
    // SAFETY: the frame holds at least the 512-byte FXSAVE area at `fp` (the caller's
    // contract); `_fpx_sw_bytes` lies inside it, 4-byte aligned (the area is 64-byte
    // aligned).
    let (magic1, size) = unsafe {
        (
            fp.add(SW_BYTES).cast::<u32>().read(),
            fp.add(SW_BYTES + 16).cast::<u32>().read() as usize,
        )
    };
    if magic1 != FP_XSTATE_MAGIC1 || !(FXSAVE_BYTES..=MAX_XSTATE).contains(&size) {
        return FXSAVE_BYTES;
    }
    // SAFETY: with magic1 set the kernel wrote `size` bytes of XSAVE area followed by
    // the 4-byte MAGIC2 (`extended_size` = size + 4), all inside the frame.
    let magic2 = unsafe { fp.add(size).cast::<u32>().read_unaligned() };
    if magic2 == FP_XSTATE_MAGIC2 {
        size
    } else {
        FXSAVE_BYTES
    }
}
