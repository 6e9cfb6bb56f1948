//! `SchedSnapshot`: the scheduler's state at one moment, read from the same atomics
//! schedtrace reads (for the live dashboard and tests).

use crate::g::GStatus;
use crate::p::PStatus;
use crate::sched::Sched;
use crate::sync::atomic::Ordering;

/// A P as seen at one moment.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProcSnapshot {
    /// The P's id (Go: `p.id`).
    pub id: u32,
    /// Go's name for its status: `idle`, `running`, `syscall`, `gcstop`, `dead`.
    pub status: &'static str,
    /// Goroutines in its local run queue (and `runnext`).
    pub runq: usize,
    /// The M holding it, if any.
    pub m: Option<u32>,
    /// The goroutine it runs, if any.
    pub current_goroutine: Option<u64>,
    /// Time slices started on it (Go: `schedtick`).
    pub schedtick: u32,
    /// Successful steals it made from other Ps.
    pub steals: u64,
    /// Times it was handed to another M by an M about to block (Go: `handoffp`).
    pub handoffs: u64,
}

/// What an M is doing, as far as the dashboard can tell without stopping it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MState {
    /// Holds a P and runs goroutines (or the scheduler on its behalf).
    Running,
    /// Its goroutine is in a system call; the P is detached but still associated.
    Syscall,
    /// Holds no P and looks for work.
    Spinning,
    /// Holds no P: asleep waiting for work, or blocked in a system call whose P was
    /// handed off.
    Idle,
}

impl MState {
    /// A short lower-case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            MState::Running => "running",
            MState::Syscall => "syscall",
            MState::Spinning => "spinning",
            MState::Idle => "idle",
        }
    }
}

/// An M (OS thread) as seen at one moment.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ThreadSnapshot {
    /// The M's id (0: the thread that called `run`).
    pub id: u32,
    /// The P it holds, if any.
    pub p: Option<u32>,
    /// What it does.
    pub state: MState,
}

/// Goroutines by status (Go's `_Grunnable`, `_Grunning`, `_Gwaiting`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GoroutineCounts {
    /// Running on a P (including those inside `syscall`).
    pub running: usize,
    /// Waiting on a run queue.
    pub runnable: usize,
    /// Blocked (parked).
    pub waiting: usize,
    /// Inside `syscall` (a subset of `running`: Ps in the syscall state).
    pub syscall: usize,
    /// Blocked goroutines by wait reason (Go's strings), most common first.
    pub by_reason: Vec<(&'static str, usize)>,
}

/// The scheduler at one moment. Fields are read one by one without stopping anything,
/// so they may disagree slightly (as schedtrace's do).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SchedSnapshot {
    /// Milliseconds since the scheduler started.
    pub uptime_ms: u64,
    /// GOMAXPROCS.
    pub gomaxprocs: u32,
    /// Ps `0..gomaxprocs`.
    pub procs: Vec<ProcSnapshot>,
    /// Every M created.
    pub threads: Vec<ThreadSnapshot>,
    /// Live goroutines by status.
    pub goroutines: GoroutineCounts,
    /// Goroutines in the global run queue.
    pub global_runq: usize,
    /// Idle Ps.
    pub idle_procs: u32,
    /// Spinning Ms.
    pub spinning_threads: u32,
}

/// Reads `sched`'s state.
pub(crate) fn take(sched: &Sched) -> SchedSnapshot {
    let gomaxprocs = sched.gomaxprocs();
    let mut procs = Vec::with_capacity(gomaxprocs as usize);
    for i in 0..gomaxprocs as usize {
        let Some(p) = sched.p(i) else { continue };
        let st = p.status();
        let m = p.m_id.load(Ordering::Relaxed);
        let cur = p.cur_goid.load(Ordering::Relaxed);
        procs.push(ProcSnapshot {
            id: p.id,
            status: pstatus_name(st),
            runq: p.runq.len() as usize,
            m: (m != u32::MAX && st != PStatus::Idle).then_some(m),
            current_goroutine: (cur != 0 && st != PStatus::Idle).then_some(cur),
            schedtick: p.schedtick.load(Ordering::Relaxed),
            steals: p.steals.load(Ordering::Relaxed),
            handoffs: p.handoffs.load(Ordering::Relaxed),
        });
    }
    let ms: Vec<(u32, bool)> = {
        let l = sched.lock();
        l.allm
            .iter()
            .map(|&m| {
                // SAFETY: Ms live as long as the scheduler; `id` is immutable and
                // `spinning` atomic.
                let mr = unsafe { &*m };
                (mr.id, mr.is_spinning())
            })
            .collect()
    };
    let threads = ms
        .into_iter()
        .map(|(id, spinning)| {
            let held = procs.iter().find(|p| p.m == Some(id));
            let state = match held {
                Some(p) if p.status == "syscall" => MState::Syscall,
                Some(_) => MState::Running,
                None if spinning => MState::Spinning,
                None => MState::Idle,
            };
            ThreadSnapshot {
                id,
                p: held.map(|p| p.id),
                state,
            }
        })
        .collect();
    let mut counts = GoroutineCounts {
        syscall: procs.iter().filter(|p| p.status == "syscall").count(),
        ..GoroutineCounts::default()
    };
    let mut reasons = [0usize; 256];
    for g in sched.allg() {
        // SAFETY: G structs live as long as their scheduler, which the caller holds.
        let gr = unsafe { &*g.0 };
        match gr.status() {
            GStatus::Running | GStatus::Syscall => counts.running += 1,
            GStatus::Runnable => counts.runnable += 1,
            GStatus::Waiting => {
                counts.waiting += 1;
                let r = gr.wait_reason.load(Ordering::Relaxed);
                reasons[usize::from(r)] += 1;
            }
            GStatus::Idle | GStatus::Dead => {}
        }
    }
    for (i, &n) in reasons.iter().enumerate() {
        if n > 0 {
            let name = match i {
                0 => GStatus::Waiting.as_str(),
                _ => crate::WaitReason::from_index((i - 1) as u8).map_or("other", |r| r.as_str()),
            };
            counts.by_reason.push((name, n));
        }
    }
    counts
        .by_reason
        .sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    SchedSnapshot {
        uptime_ms: sched.start.elapsed().as_millis() as u64,
        gomaxprocs,
        procs,
        threads,
        goroutines: counts,
        global_runq: sched.runq_len(),
        idle_procs: sched.npidle(),
        spinning_threads: sched.nmspinning(),
    }
}

/// Go's lower-case name of a P status.
fn pstatus_name(s: PStatus) -> &'static str {
    match s {
        PStatus::Idle => "idle",
        PStatus::Running => "running",
        PStatus::Syscall => "syscall",
        PStatus::GcStop => "gcstop",
        PStatus::Dead => "dead",
    }
}
