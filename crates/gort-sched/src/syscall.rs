//! `syscall`: run a blocking call with the P released (Go: proc.go `entersyscall`,
//! `exitsyscall`, `exitsyscallfast`, `exitsyscall0`).

use core::ptr;
use gort_trace::Emit as _;

use crate::g::{G, GStatus};
use crate::m::{Action, M, current_g, current_m, set_current_m};
use crate::p::{P, PStatus};
use crate::sched::mcall;
use crate::sync::atomic::{Ordering, fence};

/// Runs `f`, a call that may block its thread (a blocking read, `std::thread::sleep`,
/// name resolution …), without stalling other goroutines (Go: `entersyscall` /
/// `exitsyscall`).
///
/// The goroutine's P is left in the syscall state: if `f` returns quickly the goroutine
/// takes the same P back (no handoff, no wakeup); if it blocks longer than a sysmon tick
/// (20 µs .. 10 ms), sysmon hands the P to another M. Afterwards the goroutine takes its
/// old P if still free, else an idle P, else it queues itself on the global run queue
/// and its thread sleeps until a P is free.
///
/// Inside `f` the thread is a plain OS thread: gort operations there (channels, sync,
/// `sleep`) block the thread, and `spawn` fails with `NoRuntime`. Off a goroutine,
/// `syscall(f)` is just `f()`. A panic in `f` propagates after the P is reacquired.
pub fn syscall<R>(f: impl FnOnce() -> R) -> R {
    let (Some(m), Some(g)) = (current_m(), current_g()) else {
        return f();
    };
    let pr = {
        // The P is read and changes hands here: no preemption in place meanwhile.
        let _np = crate::preempt::NoPreempt::new();
        let p = m.p.get();
        if p.is_null() {
            None
        } else {
            // SAFETY: the M owns its P; Ps live as long as the scheduler.
            let pr = unsafe { &*p };
            entersyscall(m, g, pr);
            Some(pr)
        }
    };
    let Some(pr) = pr else { return f() };
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    let got_p = {
        let _np = crate::preempt::NoPreempt::new();
        exitsyscall(m, g, pr)
    };
    if !got_p {
        // No P: queue ourselves and let g0 park the M (Go: `exitsyscall0`). Outside the
        // no-preemption section, which must not span a switch.
        // SAFETY: `g` is the goroutine running on this thread.
        unsafe { mcall(g, Action::ExitSyscall) };
    }
    match r {
        Ok(v) => v,
        Err(payload) => std::panic::resume_unwind(payload),
    }
}

/// Detaches the P from the M and leaves it in `Syscall` for sysmon (Go: `reentersyscall`).
fn entersyscall(m: &M, g: *mut G, p: &P) {
    // SAFETY: `g` is the goroutine running on this thread; we still own `p`.
    crate::trace::on_p(p, |w| w.syscall_begin(unsafe { (*g).goid() }));
    p.syscalltick.fetch_add(1, Ordering::Relaxed);
    m.p.set(ptr::null_mut());
    // Publishes the detach: from here sysmon may CAS it to Idle and hand it off.
    p.set_status(PStatus::Syscall);
    // The thread is a plain OS thread until `exitsyscall`.
    set_current_m(ptr::null());
}

/// Reattaches a P (Go: `exitsyscall`): the old one, else an idle one; returns false if
/// there is none (the caller then queues the goroutine globally and the M sleeps on g0
/// until the scheduler runs it again).
fn exitsyscall(m: &M, g: *mut G, oldp: &P) -> bool {
    set_current_m(m);
    let sched = m.sched();
    // 1. The old P, if sysmon did not take it (Go: `exitsyscallfast`).
    if oldp
        .status
        .compare_exchange(
            PStatus::Syscall as u32,
            PStatus::Running as u32,
            Ordering::AcqRel,
            Ordering::Relaxed,
        )
        .is_ok()
    {
        oldp.m_id.store(m.id, Ordering::Relaxed);
        m.p.set(ptr::from_ref(oldp).cast_mut());
        syscall_end_on_p(oldp, g);
        return true;
    }
    // 2. Any idle P (Go: `exitsyscallfast_pidle`).
    let idle = {
        let mut l = sched.lock();
        sched.pidleget_locked(&mut l)
    };
    if let Some(p) = idle {
        sched.acquirep(m, p);
        // SAFETY: just acquired; Ps live as long as the scheduler.
        syscall_end_on_p(unsafe { &*p }, g);
        return true;
    }
    // SAFETY: `g` is the goroutine running on this thread.
    crate::trace::off_p(|w| w.syscall_end(unsafe { (*g).goid() }));
    // 3. No P (the caller switches to g0 for `exitsyscall0`).
    false
}

/// On g0 after `exitsyscall` found no P: the goroutine goes to the global run queue and
/// the M (which has no P) continues into `find_runnable`, where it sleeps for one.
pub(crate) fn exitsyscall0(m: &M, g: *mut G) {
    let sched = m.sched();
    // SAFETY: G structs live as long as their scheduler; we own this running G.
    unsafe { (*g).cas_status(GStatus::Running, GStatus::Runnable) };
    // A goroutine locked to this M is queued too: whoever finds it hands its P to us
    // (`startlockedm`) while we wait in `stoplockedm`.
    sched.globrunqput(g);
    // A P may have gone idle since `exitsyscall` looked (it checked the global queue
    // before our put): wake an M for it.
    fence(Ordering::SeqCst);
    sched.wakep();
}

/// Trace events of a goroutine that got a P back and runs on at once: its syscall ended
/// and it starts again on `p` (the caller's P).
#[inline(always)]
fn syscall_end_on_p(p: &P, g: *mut G) {
    crate::trace::on_p(p, |w| {
        // SAFETY: `g` is the goroutine running on this thread.
        let goid = unsafe { (*g).goid() };
        w.syscall_end(goid);
        w.go_start(goid);
    });
}
