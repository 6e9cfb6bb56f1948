//! Stop-the-world, goroutine and P enumeration (Go: proc.go `stopTheWorldWithSema`,
//! `startTheWorldWithSema`, `forEachP`, `allgs`), for the collector and the tracer.
//!
//! [`stop_the_world`] stops every running scheduler of the process (the collector is
//! process-wide): each P ends up in `GcStop`, held by the caller. Idle Ps are taken from
//! the idle list, Ps left in a system call (or by a goroutine preempted in place) are
//! taken by CAS, and running ones are asked to stop: the cooperative flag plus SIGURG
//! (async preemption); their M then parks the P at its next schedule point
//! (`gcstopm`, checked at the top of `find_runnable`). The caller polls until every P is
//! stopped or dead. Dropping the [`WorldStopped`] restarts it: Ps with queued work go to
//! new or idle Ms, the rest back to the idle list.
//!
//! Goroutines inside `gort::syscall` keep running on their threads (no P): the collector
//! stops those threads with its own signal handshake and maps their stack pointers to
//! goroutines through [`GInfo::stack_segments`].

use core::marker::PhantomData;
use core::ptr;
use std::time::Duration;

use crate::error::Error;
use crate::g::{G, GPtr, GStatus, NOTIFIED, SCAN};
use crate::m::{M, current_m};
use crate::p::{P, PStatus};
use crate::park::WaitReason;
use crate::preempt::NoPreempt;
use crate::sched::Sched;
use crate::sync::static_atomic::{AtomicBool, Ordering};

/// The running schedulers (pointers; an entry is removed before its scheduler is freed,
/// and removal waits for a stopped world to restart, which holds this lock).
/// tidy: allow(std-sync) a process-wide registry cannot be a loom type.
static SCHEDS: std::sync::Mutex<Vec<usize>> = std::sync::Mutex::new(Vec::new()); // tidy: allow(std-sync) process-wide registry

/// Set while a world is being stopped or is stopped (Go: `sched.gcwaiting`). Ms check it
/// at each schedule point and park their P.
static GCWAITING: AtomicBool = AtomicBool::new(false);

std::thread_local! {
    /// Whether this thread holds a stopped world (a second `stop_the_world` would wait
    /// for itself).
    static HOLDS_WORLD: core::cell::Cell<bool> = const { core::cell::Cell::new(false) };
}

/// A scheduler's registration; dropping it removes the scheduler (waiting for a stopped
/// world to restart first).
#[derive(Debug)]
pub(crate) struct Registration(usize);

/// Registers `sched` for stop-the-world (by `run_with`, for its whole run).
pub(crate) fn register(sched: &Sched) -> Registration {
    let me = ptr::from_ref(sched) as usize;
    lock_scheds().push(me);
    Registration(me)
}

impl Drop for Registration {
    fn drop(&mut self) {
        lock_scheds().retain(|&s| s != self.0);
    }
}

fn lock_scheds() -> std::sync::MutexGuard<'static, Vec<usize>> {
    SCHEDS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether a world is stopped or being stopped (Ms park their P when they see it).
#[inline]
pub(crate) fn gcwaiting() -> bool {
    GCWAITING.load(Ordering::Acquire)
}

/// On g0 of an M that saw [`gcwaiting`]: parks its P in `GcStop` and the M on the idle
/// list until the world restarts (Go: `gcstopm`). Returns false at shutdown.
pub(crate) fn gcstopm(m: &M) -> bool {
    let sched = m.sched();
    if m.is_spinning() {
        m.spinning
            .store(false, crate::sync::atomic::Ordering::Relaxed);
        sched
            .nmspinning
            .fetch_sub(1, crate::sync::atomic::Ordering::SeqCst);
    }
    if !m.p.get().is_null() {
        let p = sched.releasep(m);
        // SAFETY: Ps live as long as the scheduler; we held it until just now.
        unsafe { (*p).set_status(PStatus::GcStop) };
    }
    crate::sched::stopm(m)
}

/// The world is stopped: no goroutine runs on a P (those inside `gort::syscall` run on
/// without one), until this is dropped. Held by the thread that stopped it; it cannot
/// move to another thread. Between stop and drop the calling goroutine, if any, must not
/// block, yield or spawn (its P is stopped too), as in Go.
#[derive(Debug)]
pub struct WorldStopped {
    /// The registry, locked for the whole stop (no scheduler starts or ends meanwhile).
    scheds: std::sync::MutexGuard<'static, Vec<usize>>,
    /// Every scheduler's `allg` guard, once [`WorldStopped::lock_allg`] took them
    /// (released first when the world restarts).
    allg: Vec<crate::sync::MutexGuard<'static, Vec<GPtr>>>,
    /// The caller's M and P, if the caller is a goroutine holding one.
    caller: Option<(&'static M, *mut P, *mut G)>,
    /// Why (for traces and diagnostics).
    reason: &'static str,
    /// The caller is not preempted while it holds the world.
    _no_preempt: NoPreempt,
    /// `!Send`: the registry guard and the caller's P belong to this thread.
    _not_send: PhantomData<*const ()>,
}

/// Stops the world (Go: `stopTheWorld`): returns once every P of every running
/// scheduler is stopped. Callable from a goroutine (whose own P stops with the rest; its
/// own stack is not reported by [`WorldStopped::for_each_g`], the caller scans it
/// itself) or from a plain thread. Waits for another stop in progress to end first.
///
/// Running goroutines stop at their next safe point: a cooperative check (channel and
/// sync operations, `preempt_check`) or, unless `GORT_DEBUG=asyncpreemptoff=1`, an
/// asynchronous preemption (SIGURG) wherever they are in user code. With async
/// preemption off, a goroutine spinning without safe points delays this indefinitely.
///
/// Fails with [`Error::NestedStopTheWorld`] if this thread already holds a stopped world.
pub fn stop_the_world(reason: &'static str) -> Result<WorldStopped, Error> {
    if HOLDS_WORLD.with(core::cell::Cell::get) {
        return Err(Error::NestedStopTheWorld);
    }
    // The registry lock is taken first: its contended path waits inside `syscall`, which
    // may switch to g0, and a no-preemption section must not span a switch. Being stopped
    // in place between the two holds nothing g0 or sysmon needs (only stoppers take it).
    let scheds = acquire_scheds();
    let no_preempt = NoPreempt::new();
    HOLDS_WORLD.with(|h| h.set(true));
    let caller = match (current_m(), crate::m::current_g()) {
        (Some(m), Some(g)) if !m.p.get().is_null() => Some((m, m.p.get(), g)),
        _ => None,
    };
    // Our own P stops now: sysmon leaves a GcStop P alone.
    if let Some((_, p, _)) = caller {
        // SAFETY: our M owns its P; Ps live as long as their scheduler.
        unsafe { (*p).status.store(PStatus::GcStop as u32, Ordering::Release) };
    }
    GCWAITING.store(true, Ordering::SeqCst);
    let mut spins = 0u32;
    loop {
        let mut all = true;
        for &s in scheds.iter() {
            // SAFETY: registered schedulers live until they deregister, which waits for
            // the registry lock we hold.
            let sched = unsafe { &*(s as *const Sched) };
            all &= stop_sched(sched);
        }
        if all {
            break;
        }
        spins += 1;
        if spins < 50 {
            std::thread::yield_now();
        } else {
            std::thread::sleep(Duration::from_micros(20));
        }
    }
    Ok(WorldStopped {
        scheds,
        allg: Vec::new(),
        caller,
        reason,
        _no_preempt: no_preempt,
        _not_send: PhantomData,
    })
}

/// Locks the registry: a goroutine waiting for another stop to end does so inside
/// `syscall`, so that stop can take its P.
fn acquire_scheds() -> std::sync::MutexGuard<'static, Vec<usize>> {
    loop {
        match SCHEDS.try_lock() {
            Ok(g) => return g,
            Err(std::sync::TryLockError::Poisoned(e)) => return e.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => {
                crate::syscall::syscall(|| std::thread::sleep(Duration::from_micros(50)));
            }
        }
    }
}

/// One pass over `sched`'s Ps: takes idle and syscall Ps, asks running ones to stop.
/// Returns whether every P is stopped (`GcStop`) or dead.
fn stop_sched(sched: &Sched) -> bool {
    {
        let mut l = sched.lock();
        while let Some(p) = sched.pidleget_locked(&mut l) {
            // SAFETY: Ps live as long as the scheduler; taken from the idle list.
            unsafe { (*p).set_status(PStatus::GcStop) };
        }
    }
    let mut stopped = true;
    let mut i = 0;
    while let Some(p) = sched.p(i) {
        i += 1;
        loop {
            match p.status() {
                PStatus::GcStop | PStatus::Dead => {}
                PStatus::Syscall => {
                    if p.status
                        .compare_exchange(
                            PStatus::Syscall as u32,
                            PStatus::GcStop as u32,
                            Ordering::AcqRel,
                            Ordering::Relaxed,
                        )
                        .is_err()
                    {
                        continue;
                    }
                    p.syscalltick.fetch_add(1, Ordering::Relaxed);
                }
                PStatus::Running => {
                    stopped = false;
                    // The cooperative flag, for the goroutine's next check …
                    let tick = p.schedtick.load(Ordering::Relaxed);
                    p.preempt.store(tick.wrapping_add(1), Ordering::Relaxed);
                    // … and a signal, for a goroutine that makes none.
                    if sched.config.async_preempt
                        && let Some(m) = crate::preempt::m_of(sched, p)
                    {
                        crate::preempt::preempt_m(m, Duration::from_micros(200));
                    }
                }
                // Handed to an M that has not acquired it yet: it will see gcwaiting.
                PStatus::Idle => stopped = false,
            }
            break;
        }
    }
    // Goroutines preempted in place whose P we just took: queue them.
    crate::preempt::handoff_pending(sched);
    stopped
}

impl WorldStopped {
    /// Why the world was stopped.
    pub fn reason(&self) -> &'static str {
        self.reason
    }

    /// Takes and keeps every stopped scheduler's goroutine-list (`allg`) lock until the
    /// world restarts, so that [`WorldStopped::for_each_g`] then takes no lock: for a
    /// caller that goes on to stop threads which may hold it (sysmon, dumps). Allocates
    /// (call it before stopping such threads). Idempotent.
    pub fn lock_allg(&mut self) {
        if !self.allg.is_empty() {
            return;
        }
        self.allg.reserve_exact(self.scheds.len());
        for &s in self.scheds.iter() {
            // SAFETY: as in `stop_the_world`; the guards are released in `drop` before the
            // registry guard, so before any scheduler can deregister and be freed.
            let sched: &'static Sched = unsafe { &*(s as *const Sched) };
            self.allg
                .push(sched.allg.lock().unwrap_or_else(|e| e.into_inner()));
        }
    }

    /// Calls `f` for every goroutine that is not dead, in every stopped scheduler. The
    /// calling goroutine itself is reported with `is_current` and no stack ranges.
    /// Allocates nothing; takes each scheduler's `allg` lock in turn unless
    /// [`WorldStopped::lock_allg`] holds them all.
    pub fn for_each_g(&self, mut f: impl FnMut(&GInfo<'_>)) {
        if !self.allg.is_empty() {
            for all in &self.allg {
                for g in all.iter() {
                    // SAFETY: G structs live as long as their scheduler.
                    let gr = unsafe { &*g.0 };
                    if let Some(info) = GInfo::new(gr, self.caller.map(|c| c.2)) {
                        f(&info);
                    }
                }
            }
            return;
        }
        for &s in self.scheds.iter() {
            // SAFETY: as in `stop_the_world`.
            let sched = unsafe { &*(s as *const Sched) };
            let all = sched.allg.lock().unwrap_or_else(|e| e.into_inner());
            for g in all.iter() {
                // SAFETY: G structs live as long as their scheduler.
                let gr = unsafe { &*g.0 };
                if let Some(info) = GInfo::new(gr, self.caller.map(|c| c.2)) {
                    f(&info);
                }
            }
        }
    }

    /// Calls `f` with every P of every stopped scheduler (each is owned by the caller
    /// for the call: `GcStop`, or the caller's own). For crate code that needs a P's
    /// owner-only state (trace buffers).
    pub(crate) fn for_each_p_internal(&self, mut f: impl FnMut(&Sched, &P)) {
        for &s in self.scheds.iter() {
            // SAFETY: as in `stop_the_world`.
            let sched = unsafe { &*(s as *const Sched) };
            let mut i = 0;
            while let Some(p) = sched.p(i) {
                i += 1;
                if p.status() != PStatus::Dead {
                    f(sched, p);
                }
            }
        }
    }
}

impl Drop for WorldStopped {
    /// Starts the world again (Go: `startTheWorld`).
    fn drop(&mut self) {
        self.allg.clear();
        GCWAITING.store(false, Ordering::SeqCst);
        for &s in self.scheds.iter() {
            // SAFETY: as in `stop_the_world`.
            let sched = unsafe { &*(s as *const Sched) };
            start_sched(sched, self.caller.map(|c| c.1));
        }
        if let Some((_, p, _)) = self.caller {
            // SAFETY: our own P, stopped by us.
            unsafe {
                (*p).status
                    .store(PStatus::Running as u32, Ordering::Release)
            };
        }
        HOLDS_WORLD.with(|h| h.set(false));
    }
}

/// Hands `sched`'s stopped Ps out again: those with queued goroutines to Ms, the others
/// to the idle list; then wakes an M for the global queue.
fn start_sched(sched: &Sched, own: Option<*mut P>) {
    let mut busy = Vec::new();
    {
        let mut l = sched.lock();
        let mut i = 0;
        while let Some(p) = sched.p(i) {
            i += 1;
            let pp = ptr::from_ref(p).cast_mut();
            if own == Some(pp) || p.status() != PStatus::GcStop {
                continue;
            }
            p.set_status(PStatus::Idle);
            if p.runq.is_empty() || p.id >= sched.gomaxprocs() {
                if !p.runq.is_empty() {
                    // A P beyond GOMAXPROCS: its goroutines go to the global queue.
                    // SAFETY: a stopped P is ours.
                    for g in unsafe { p.runq.drain() } {
                        sched.globrunqput_locked(&mut l, crate::g::GPtr(g));
                    }
                }
                sched.pidleput_locked(&mut l, pp);
            } else {
                busy.push(pp);
            }
        }
    }
    for p in busy {
        sched.startm(Some(p), false);
    }
    crate::sync::atomic::fence(crate::sync::atomic::Ordering::SeqCst);
    sched.wakep();
}

/// Runs `f` once for every P (by index) of every running scheduler, with the world
/// stopped, so that each P is at a safe point and owned by the caller during its call
/// (Go: `forEachP`, which gort implements with a brief stop-the-world).
pub fn for_each_p(mut f: impl FnMut(usize)) -> Result<(), Error> {
    let w = stop_the_world("forEachP")?;
    w.for_each_p_internal(|_, p| f(p.id as usize));
    drop(w);
    Ok(())
}

/// A goroutine's status as Go names it in dumps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum GoroutineStatus {
    /// Created or woken, waiting for a P (Go: `_Grunnable`).
    Runnable,
    /// Running; with the world stopped only the caller of `stop_the_world` (Go:
    /// `_Grunning`).
    Running,
    /// Inside `gort::syscall`, running on its thread without a P (Go: `_Gsyscall`).
    Syscall,
    /// Blocked, see the wait reason (Go: `_Gwaiting`).
    Waiting,
    /// Stopped in place by an asynchronous preemption (Go: `_Gpreempted`).
    Preempted,
}

impl GoroutineStatus {
    /// Go's word for it (`runnable`, `running`, `syscall`, `waiting`, `preempted`).
    pub fn as_str(self) -> &'static str {
        match self {
            GoroutineStatus::Runnable => "runnable",
            GoroutineStatus::Running => "running",
            GoroutineStatus::Syscall => "syscall",
            GoroutineStatus::Waiting => "waiting",
            GoroutineStatus::Preempted => "preempted",
        }
    }
}

/// One goroutine, as seen with the world stopped.
#[derive(Debug)]
pub struct GInfo<'a> {
    /// Goroutine id.
    pub goid: u64,
    /// Status.
    pub status: GoroutineStatus,
    /// Why it waits (for `Waiting`).
    pub wait_reason: Option<WaitReason>,
    /// When it was first seen waiting, in milliseconds of `CLOCK_MONOTONIC` (Go:
    /// `waitsince`; stamped lazily, about once a second), if it waits and was stamped.
    pub waiting_since_ms: Option<u64>,
    /// Inside `gort::syscall` (its thread runs on; the stack is reported by its thread).
    pub in_syscall: bool,
    /// Stopped mid-function by an asynchronous preemption.
    pub preempted_in_place: bool,
    /// The goroutine that stopped the world.
    pub is_current: bool,
    /// The G.
    g: &'a G,
    /// For a goroutine preempted in place: its live stack bottom and its `ucontext_t`.
    frame: Option<(usize, (usize, usize))>,
}

impl<'a> GInfo<'a> {
    /// The view of `g`, or `None` if it is dead or idle.
    fn new(g: &'a G, caller: Option<*mut G>) -> Option<GInfo<'a>> {
        // SCAN (a compaction claim) is never held with the world stopped: compaction runs
        // on a P. Masked anyway, so a claimed G still shows as waiting.
        let bits = g.status.load(Ordering::Acquire) & !(NOTIFIED | SCAN);
        let is_current = caller.is_some_and(|c| ptr::eq(c, g));
        let locked = g.locked_m.load(Ordering::Acquire);
        // SAFETY: Ms live as long as the scheduler.
        let frame = unsafe { locked.as_ref() }.and_then(|m| m.preempt.preempted_frame(g));
        let (status, in_syscall) = match bits {
            b if b == GStatus::Runnable as u32 => (GoroutineStatus::Runnable, false),
            b if b == GStatus::Waiting as u32 => (GoroutineStatus::Waiting, false),
            b if b == GStatus::Running as u32 => {
                if frame.is_some() {
                    (GoroutineStatus::Preempted, false)
                } else if is_current {
                    (GoroutineStatus::Running, false)
                } else {
                    // With every P stopped, a running G other than the caller has no P:
                    // it is inside `syscall` (or on its way out of it).
                    (GoroutineStatus::Syscall, true)
                }
            }
            _ => return None,
        };
        Some(GInfo {
            goid: g.goid(),
            status,
            wait_reason: (status == GoroutineStatus::Waiting)
                .then(|| g.wait_reason())
                .flatten(),
            waiting_since_ms: match g.wait_since.load(Ordering::Relaxed) {
                0 => None,
                t => (status == GoroutineStatus::Waiting).then_some(t),
            },
            in_syscall,
            preempted_in_place: frame.is_some(),
            is_current,
            g,
            frame,
        })
    }

    /// Calls `f(lo, hi)` for each address range holding this goroutine's live stack
    /// words and saved registers: the conservative roots of a stopped goroutine. From
    /// the saved stack pointer to the top of its stack; for one preempted in place, from
    /// the interrupted stack pointer (less the red zone) up, plus the signal context
    /// holding its registers; for a parked goroutine whose stack is compacted
    /// (`compactparked`), the buffer holding the copy. For a goroutine in a syscall, from
    /// its last saved SP to the top (its thread may be on g0 after leaving the call; the
    /// collector also scans the thread from its stack pointer, see
    /// [`GInfo::stack_segments`]). Nothing for the caller (it scans itself) or for one
    /// that has not started.
    pub fn for_each_stack_range(&self, mut f: impl FnMut(usize, usize)) {
        if self.is_current {
            return;
        }
        let Some((limit, base)) = self.bounds() else {
            return;
        };
        if self.in_syscall {
            // Its thread may have left the call and switched to g0 (no P to return to):
            // the live words are then below its freshly saved SP, which the thread's own
            // scan (on g0) misses. A conservative superset either way: from the saved SP
            // (or the whole stack if it lies outside), overlapping the thread's scan.
            // SAFETY: a word read of the saved context, which only this G's M writes (its
            // thread is stopped by the collector when the ranges are used).
            let sp = unsafe { (*self.g.ctx.get()).sp() };
            let lo = if (limit..base).contains(&sp) {
                sp
            } else {
                limit
            };
            f(lo, base);
            return;
        }
        if let Some((sp, (u0, u1))) = self.frame {
            f(sp, base);
            f(u0, u1);
            return;
        }
        // SAFETY: with the world stopped nothing compacts or restores a stack (that runs
        // on a P) and a stopped G's saved context is not written.
        match unsafe { crate::compact::live_stack(self.g) } {
            Some(crate::compact::LiveStack::OnStack(r)) if r.start < r.end => f(r.start, r.end),
            Some(crate::compact::LiveStack::Compacted { buffer, .. }) => {
                f(buffer.start, buffer.end)
            }
            _ => {}
        }
    }

    /// Calls `f(limit, base)` for each stack segment of this goroutine (one today), so a
    /// thread's stack pointer can be mapped to the goroutine running on it.
    pub fn stack_segments(&self, mut f: impl FnMut(usize, usize)) {
        if let Some((lo, hi)) = self.bounds() {
            f(lo, hi);
        }
    }

    /// The stack's `(limit, base)`, if it has one.
    fn bounds(&self) -> Option<(usize, usize)> {
        // SAFETY: a G's stack slot changes only on its own M while it is not running on
        // a P (first run, exit), neither of which happens with the world stopped.
        unsafe { (*self.g.stack.get()).as_ref() }.map(|s| (s.limit(), s.base()))
    }
}
