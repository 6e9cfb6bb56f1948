//! sysmon: the monitor thread that retakes Ps stuck in syscalls, asks long-running
//! goroutines to yield, keeps timers moving and runs registered periodic hooks (Go:
//! proc.go `sysmon`, `retake`, `preemptone`).

use core::time::Duration;

use crate::m::current_m;
#[cfg(not(loom))]
use crate::p::{P, PStatus};
#[cfg(not(loom))]
use crate::sched::Sched;
#[cfg(not(loom))]
use crate::sync::atomic::AtomicBool;
use crate::sync::atomic::Ordering;
use crate::sync::static_atomic;
#[cfg(not(loom))]
use crate::sync::{Arc, thread};
#[cfg(not(loom))]
use crate::time::timers;

/// sysmon's shortest sleep (Go: 20 µs).
const DELAY_MIN: Duration = Duration::from_micros(20);
#[cfg(not(loom))]
/// sysmon's longest sleep (Go: 10 ms).
const DELAY_MAX: Duration = Duration::from_millis(10);
#[cfg(not(loom))]
/// Idle cycles before the sleep starts doubling (Go: 50).
const IDLE_CYCLES: u32 = 50;
/// A goroutine (or a runnext chain) running this long is asked to yield (Go:
/// `forcePreemptNS`).
pub const FORCE_PREEMPT: Duration = Duration::from_millis(10);

/// A periodic hook: the period and the function.
type Hook = (Duration, fn());

/// Hooks run by every scheduler's sysmon (process-wide, like Go's forcegc/scavenger
/// helpers). tidy: allow(std-sync) a process-wide registry cannot be a loom type.
static HOOKS: std::sync::Mutex<Vec<Hook>> = std::sync::Mutex::new(Vec::new()); // tidy: allow(std-sync) process-wide registry

/// Registers `f` to run on sysmon's thread about every `period` (at least every 10 ms
/// late) in every scheduler, from its next sysmon tick on. `f` runs on a thread
/// without a P: it must not block on goroutine operations for long (it may spawn
/// nothing; it may ready goroutines, e.g. by a `try_send`). Go uses this slot for the
/// 2-minute forced GC and the scavenger.
pub fn add_sysmon_hook(period: Duration, f: fn()) {
    let mut hooks = HOOKS.lock().unwrap_or_else(|e| e.into_inner());
    hooks.push((period.max(DELAY_MIN), f));
    HOOK_COUNT.store(hooks.len(), static_atomic::Ordering::Release);
}

/// `HOOKS.len()`, so that a sysmon round without hooks takes no lock.
static HOOK_COUNT: static_atomic::AtomicUsize = static_atomic::AtomicUsize::new(0);

#[cfg(not(loom))]
/// What sysmon last saw of one P (Go: `sysmontick`).
#[derive(Clone, Copy, Default)]
struct PSeen {
    schedtick: u32,
    schedwhen: u64,
    syscalltick: u32,
    syscallwhen: u64,
}

#[cfg(not(loom))]
/// A running sysmon; [`SysmonHandle::stop`] ends it.
pub(crate) struct SysmonHandle {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

#[cfg(not(loom))]
impl SysmonHandle {
    /// Stops sysmon and waits for its thread.
    pub(crate) fn stop(self) {
        self.stop.store(true, Ordering::Release);
        self.thread.thread().unpark();
        let _ = self.thread.join();
    }
}

#[cfg(not(loom))]
/// Starts sysmon for `sched`.
pub(crate) fn start(sched: Arc<Sched>) -> SysmonHandle {
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = Arc::clone(&stop);
    let spawned = thread::Builder::new()
        .name("gort-sysmon".into())
        .spawn(move || run(&sched, &stop2));
    match spawned {
        Ok(thread) => SysmonHandle { stop, thread },
        Err(_) => crate::fatal::throw("sysmon: cannot start its thread"),
    }
}

#[cfg(not(loom))]
/// sysmon's loop (Go: `sysmon`).
fn run(sched: &Sched, stop: &AtomicBool) {
    let mut seen: Vec<PSeen> = Vec::new();
    let mut hooks_last: Vec<u64> = Vec::new();
    let mut delay = DELAY_MIN;
    let mut idle = 0u32;
    let mut signalled = false;
    while !stop.load(Ordering::Acquire) && !sched.is_shutdown() {
        // Right after a preemption signal, look again soon: a goroutine stopped in place
        // waits for `handoff_pending` to pass its P on.
        thread::park_timeout(if signalled { DELAY_MIN } else { delay });
        let now = timers::nanotime(sched);
        signalled = false;
        let n =
            crate::preempt::handoff_pending(sched) + retake(sched, now, &mut seen, &mut signalled);
        timers_net(sched, now);
        crate::netpoll::sysmon_poll(sched, now);
        crate::compact::sysmon_tick(sched, now);
        run_hooks(now, &mut hooks_last);
        // Go: `if idle == 0 { delay = 20 } else if idle > 50 { delay *= 2 }`.
        if n > 0 {
            idle = 0;
            delay = DELAY_MIN;
        } else {
            idle += 1;
            if idle > IDLE_CYCLES {
                delay = (delay * 2).min(DELAY_MAX);
            }
        }
    }
}

#[cfg(not(loom))]
/// Retakes Ps blocked in syscalls and asks long time slices to end (Go: `retake`).
/// Returns how many Ps were retaken.
fn retake(sched: &Sched, now: u64, seen: &mut Vec<PSeen>, signalled: &mut bool) -> usize {
    let force = u64::try_from(FORCE_PREEMPT.as_nanos()).unwrap_or(u64::MAX);
    let mut n = 0;
    for i in 0..sched.gomaxprocs() as usize {
        let Some(p) = sched.p(i) else { continue };
        if seen.len() <= i {
            seen.resize(i + 1, PSeen::default());
        }
        let pd = &mut seen[i];
        let status = p.status();
        if status != PStatus::Running && status != PStatus::Syscall {
            continue;
        }
        let t = p.schedtick.load(Ordering::Relaxed);
        if pd.schedtick != t {
            pd.schedtick = t;
            pd.schedwhen = now;
        } else if status == PStatus::Running && pd.schedwhen + force <= now {
            *signalled |= preemptone(sched, p, t);
        }
        if status != PStatus::Syscall {
            continue;
        }
        let t = p.syscalltick.load(Ordering::Relaxed);
        if pd.syscalltick != t {
            pd.syscalltick = t;
            pd.syscallwhen = now;
            continue;
        }
        // Not worth a handoff: nothing queued, someone idle to take new work, the call
        // young, and no timer of its due.
        let timers_due = p.timers.next_when() <= now;
        if p.runq.is_empty()
            && sched.nmspinning() + sched.npidle() > 0
            && pd.syscallwhen + force > now
            && !timers_due
        {
            continue;
        }
        if p.status
            .compare_exchange(
                PStatus::Syscall as u32,
                PStatus::Idle as u32,
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .is_ok()
        {
            n += 1;
            p.syscalltick.fetch_add(1, Ordering::Relaxed);
            crate::sched::handoffp(sched, core::ptr::from_ref(p).cast_mut());
            let w = p.timers.next_when();
            if w != timers::NONE {
                timers::wake_for(sched, w);
            }
        }
    }
    n
}

#[cfg(not(loom))]
/// Asks the goroutine running time slice `tick` on `p` to yield: at its next cooperative
/// check, and (unless `asyncpreemptoff`) by a SIGURG to its thread, which stops it in
/// place at the next async safe point (Go: `preemptone`). At most one signal per M per
/// time slice length. Returns whether a signal was sent.
fn preemptone(sched: &Sched, p: &P, tick: u32) -> bool {
    p.preempt.store(tick.wrapping_add(1), Ordering::Relaxed);
    sched.config.async_preempt
        && crate::preempt::m_of(sched, p)
            .is_some_and(|m| crate::preempt::preempt_m(m, FORCE_PREEMPT))
}

#[cfg(not(loom))]
/// Safety net for timers: a due timer with no M about to run it gets one (Go: sysmon's
/// `timeSleepUntil` check).
fn timers_net(sched: &Sched, now: u64) {
    let next = timers::sleep_until(sched);
    // Leave a sleeper its 1 ms of slack before nudging.
    if next.saturating_add(1_000_000) <= now {
        timers::wake_sleeper(sched);
        sched.wakep();
    }
}

#[cfg(not(loom))]
/// Runs the registered hooks whose period has passed.
fn run_hooks(now: u64, last: &mut Vec<u64>) {
    if HOOK_COUNT.load(static_atomic::Ordering::Acquire) == 0 {
        return;
    }
    // try_lock: a goroutine stopped in place inside `add_sysmon_hook` must not stall sysmon
    // (which hands its P off); the hooks run on a later tick instead.
    let hooks: Vec<Hook> = match HOOKS.try_lock() {
        Ok(h) => h.clone(),
        Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner().clone(),
        Err(std::sync::TryLockError::WouldBlock) => return,
    };
    last.resize(hooks.len(), now);
    for (i, (period, f)) in hooks.iter().enumerate() {
        let period = u64::try_from(period.as_nanos()).unwrap_or(u64::MAX);
        if last[i].saturating_add(period) <= now {
            last[i] = now;
            f();
        }
    }
}

/// A safe point for cooperative preemption (Go: the stack-guard check in a function
/// prologue): if sysmon asked the running goroutine's time slice to end (it ran 10 ms),
/// yield. Channel sends and receives check it; call it in long loops that make no
/// channel or yield calls. Cheap: a thread-local read and two relaxed loads.
pub fn preempt_check() {
    if cfg!(loom) {
        // Loom models no sysmon; keep the models' interleavings unchanged.
        return;
    }
    let Some(m) = current_m() else { return };
    if m.curg.get().is_null() || crate::sync::locks_held() != 0 {
        return;
    }
    // SAFETY: the M owns its P while running a goroutine.
    let Some(p) = (unsafe { m.p.get().as_ref() }) else {
        return;
    };
    let flag = p.preempt.load(Ordering::Relaxed);
    if flag != 0 && flag.wrapping_sub(1) == p.schedtick.load(Ordering::Relaxed) {
        p.preempt.store(0, Ordering::Relaxed);
        crate::proc::yield_now();
    }
}
