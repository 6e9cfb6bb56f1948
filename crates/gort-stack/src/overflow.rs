//! The overflow handler: a SIGSEGV/SIGBUS in a guard page names the goroutine or
//! coroutine and its stack and exits with status 2 (Go's `fatal error: stack overflow`);
//! every other fault goes on to the previous handler or the default action. See the
//! crate docs for the overview.

use core::cell::{Cell, UnsafeCell};
use core::fmt::Write as _;
use core::mem::MaybeUninit;

use crate::current;
use crate::fmt_buf::FmtBuf;
use crate::os;
use crate::registry;
use crate::sync::static_atomic::{AtomicU8, Ordering};

/// The actions in place before ours, `[SIGSEGV, SIGBUS]`.
struct OldActions(UnsafeCell<MaybeUninit<[libc::sigaction; 2]>>);

// SAFETY: written once by the thread that wins `STATE` 0 → 1, before our handler is
// installed (the release store of 2 and the kernel's signal delivery order it before
// any read); read-only afterwards.
unsafe impl Sync for OldActions {}

static OLD: OldActions = OldActions(UnsafeCell::new(MaybeUninit::uninit()));

/// 0 = not installed, 1 = being installed, 2 = installed.
static STATE: AtomicU8 = AtomicU8::new(0);

/// Size of an alternate signal stack this crate installs for a thread that has none.
const ALT_STACK_SIZE: usize = 64 * 1024;

/// Installs the overflow handler for SIGSEGV and SIGBUS (idempotent, thread-safe), and an
/// alternate signal stack on the calling thread. Coroutines call it when created; a
/// scheduler calls it (through [`crate::set_current`]) on each of its threads.
pub fn install_overflow_handler() {
    ensure_signal_stack();
    if STATE.load(Ordering::Acquire) == 2 {
        return;
    }
    if STATE
        .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        while STATE.load(Ordering::Acquire) != 2 {
            core::hint::spin_loop();
        }
        return;
    }
    // SAFETY: [1] we won the 0 → 1 transition, so no one else writes OLD and the handler
    // that reads it is not installed yet; [2] `act` is fully initialised (zeroed, then
    // the handler, flags and an empty mask); [3] sigaction writes the old action into
    // the array element.
    unsafe {
        let old = &mut *OLD.0.get();
        let olds = old.as_mut_ptr() as *mut libc::sigaction;
        let mut act: libc::sigaction = core::mem::zeroed();
        act.sa_sigaction = handler as *const () as usize;
        act.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
        libc::sigemptyset(&mut act.sa_mask);
        for (i, sig) in [libc::SIGSEGV, libc::SIGBUS].into_iter().enumerate() {
            // Record the old action first, then install ours.
            libc::sigaction(sig, core::ptr::null(), olds.add(i));
        }
        STATE.store(2, Ordering::Release);
        for sig in [libc::SIGSEGV, libc::SIGBUS] {
            libc::sigaction(sig, &act, core::ptr::null_mut());
        }
    }
}

/// An alternate signal stack this crate mapped for a thread, removed at thread exit.
struct AltStack {
    /// The mapping (guard page + stack), or 0 if the thread already had one.
    addr: Cell<usize>,
    /// Whether this thread has been checked.
    checked: Cell<bool>,
}

impl Drop for AltStack {
    fn drop(&mut self) {
        let addr = self.addr.get();
        if addr != 0 {
            let ss: libc::stack_t = libc::stack_t {
                ss_sp: core::ptr::null_mut(),
                ss_flags: libc::SS_DISABLE,
                ss_size: 0,
            };
            // SAFETY: disables this thread's alternate stack (ours) before unmapping it.
            unsafe { libc::sigaltstack(&ss, core::ptr::null_mut()) };
            // SAFETY: the mapping was made for this thread's alternate stack, which is no
            // longer installed.
            unsafe { os::unmap(addr, ALT_STACK_SIZE + os::page_size()) };
        }
    }
}

thread_local! {
    static ALT: AltStack = const { AltStack { addr: Cell::new(0), checked: Cell::new(false) } };
}

/// Gives the calling thread an alternate signal stack if it has none (Rust's std gives
/// one to the threads it starts; other threads may lack it), so the overflow handler can
/// run when the faulting stack is exhausted.
pub fn ensure_signal_stack() {
    let _ = ALT.try_with(|alt| {
        if alt.checked.get() {
            return;
        }
        alt.checked.set(true);
        let mut old = MaybeUninit::<libc::stack_t>::uninit();
        // SAFETY: queries the current alternate stack into a local.
        let r = unsafe { libc::sigaltstack(core::ptr::null(), old.as_mut_ptr()) };
        // SAFETY: sigaltstack filled `old` when it returned 0.
        if r != 0 || unsafe { old.assume_init() }.ss_flags & libc::SS_DISABLE == 0 {
            return;
        }
        let page = os::page_size();
        let Ok(addr) = os::reserve(ALT_STACK_SIZE + page) else {
            return;
        };
        let _ = os::guard_install(addr, page).or_else(|_| os::protect_none(addr, page));
        let ss = libc::stack_t {
            ss_sp: (addr + page) as *mut libc::c_void,
            ss_flags: 0,
            ss_size: ALT_STACK_SIZE,
        };
        // SAFETY: `ss` describes a fresh mapping owned by this thread until its exit.
        if unsafe { libc::sigaltstack(&ss, core::ptr::null_mut()) } == 0 {
            alt.addr.set(addr);
        } else {
            // SAFETY: the mapping was not installed; nothing refers to it.
            unsafe { os::unmap(addr, ALT_STACK_SIZE + page) };
        }
    });
}

/// The signal handler.
extern "C" fn handler(sig: libc::c_int, info: *mut libc::siginfo_t, uctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers of faults.
    let addr = unsafe { (*info).si_addr() } as usize;
    let page = os::page_size();
    let sp = fault_sp(uctx);
    if let Some(i) = current::explicit()
        && addr < i.limit()
        && addr >= i.limit().saturating_sub(page)
    {
        report(i.what(), Some(i.id()), addr, sp, i.limit(), i.base());
    }
    if let Some((start, end)) = registry::slot_of(addr)
        && addr < start + page
    {
        // A guard page: name the segment's owner from its footer, if it has one.
        // SAFETY: the slot is in a live reservation; its top belongs to the faulting
        // thread's stack (a valid footer points at a live info).
        match unsafe { current::read_footer(end) } {
            Some(p) => {
                // SAFETY: as above.
                let i = unsafe { *p };
                report(i.what(), Some(i.id()), addr, sp, i.limit(), i.base())
            }
            None => report("stack", None, addr, sp, start + page, end),
        }
    }
    chain(sig, info, uctx);
}

/// The faulting thread's stack pointer from the signal's ucontext.
fn fault_sp(uctx: *mut libc::c_void) -> usize {
    if uctx.is_null() {
        return 0;
    }
    // SAFETY: for SA_SIGINFO handlers the third argument is the interrupted ucontext.
    unsafe {
        (*(uctx as *const libc::ucontext_t)).uc_mcontext.gregs[libc::REG_RSP as usize] as usize
    }
}

/// Hands a fault that is not ours to the action that was in place before.
fn chain(sig: libc::c_int, info: *mut libc::siginfo_t, uctx: *mut libc::c_void) {
    let i = if sig == libc::SIGBUS { 1 } else { 0 };
    // SAFETY: OLD was written before our handler was installed (see OldActions).
    let old = unsafe { (*OLD.0.get()).assume_init_ref()[i] };
    let h = old.sa_sigaction;
    if h == libc::SIG_DFL || h == libc::SIG_IGN {
        // Restore the default action and return: the faulting instruction runs again
        // and the kernel applies it (a core dump, as without us).
        // SAFETY: `dfl` is a zeroed sigaction with SIG_DFL (0) as its handler.
        unsafe {
            let mut dfl: libc::sigaction = core::mem::zeroed();
            dfl.sa_sigaction = libc::SIG_DFL;
            libc::sigaction(sig, &dfl, core::ptr::null_mut());
        }
    } else if old.sa_flags & libc::SA_SIGINFO != 0 {
        // SAFETY: the previous handler was installed with SA_SIGINFO, so it has this type.
        let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
            unsafe { core::mem::transmute(h) };
        f(sig, info, uctx);
    } else {
        // SAFETY: a handler installed without SA_SIGINFO takes only the signal number.
        let f: extern "C" fn(libc::c_int) = unsafe { core::mem::transmute(h) };
        f(sig);
    }
}

/// Prints the overflow report and exits with status 2 (async-signal-safe).
fn report(what: &str, id: Option<u64>, addr: usize, sp: usize, limit: usize, base: usize) -> ! {
    let mut b = FmtBuf::new();
    let _ = match id {
        Some(id) => write!(b, "runtime: {what} {id} overflowed its stack"),
        None => write!(b, "runtime: a {what} overflowed"),
    };
    let _ = write!(
        b,
        " (fault at {addr:#x} in its guard page)\nruntime: sp={sp:#x} stack=[{limit:#x}, {base:#x}]\nfatal error: stack overflow\n"
    );
    os::write_stderr(b.as_bytes());
    os::exit_now(2)
}

/// Reports an overflow of the segment `[limit, base)` of `what` `id` found by its stack
/// pointer `sp` lying below `limit` (on a canary-guarded segment, whose canary the
/// frames skipped).
pub(crate) fn report_below_limit(what: &str, id: u64, sp: usize, limit: usize, base: usize) -> ! {
    let mut b = FmtBuf::new();
    let _ = write!(
        b,
        "runtime: {what} {id} overflowed its stack (sp below its limit)\nruntime: sp={sp:#x} stack=[{limit:#x}, {base:#x}]\nfatal error: stack overflow\n"
    );
    os::write_stderr(b.as_bytes());
    os::exit_now(2)
}

/// Reports an overflow found by a clobbered canary on the segment `[limit, base)`.
pub(crate) fn report_canary(limit: usize, base: usize) -> ! {
    let mut b = FmtBuf::new();
    let _ = write!(
        b,
        "runtime: stack canary at {limit:#x} overwritten\nruntime: stack=[{limit:#x}, {base:#x}]\nfatal error: stack overflow\n"
    );
    os::write_stderr(b.as_bytes());
    os::exit_now(2)
}
