//! Per-P timer heaps, running due timers from the scheduler loop, and the idle M that
//! sleeps until the next timer (Go: time.go `checkTimers`, `timeSleepUntil`, proc.go's
//! `findRunnable` blocking in `netpoll(delay)` and `wakeNetPoller`).

use core::ptr;

use crate::m::M;
use crate::p::P;
use crate::park::Parker;
use crate::sched::Sched;
use crate::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering, fence};
use crate::sync::{Arc, Mutex};
use crate::time::TimerShared;
use crate::time::heap::TimerHeap;

/// "No timer" / "no deadline" as a `when`.
pub(crate) const NONE: u64 = u64::MAX;
/// A heap is rebuilt without stopped entries once it has at least this many entries and
/// more than half of them are stale.
const CLEAN_MIN: usize = 64;

/// What happens when a timer fires.
pub(crate) enum Fire {
    /// Make a sleeping goroutine runnable (`sleep`).
    Wake(Parker),
    /// Send the time on a timer's channel if `seq` is still the timer's generation
    /// (`after`, `Timer`, `Ticker`).
    Send(Arc<TimerShared>, u64),
    /// Call `f.fire(arg)` (netpoll deadlines); stale once `!f.is_current(arg)`.
    #[cfg_attr(loom, allow(dead_code, reason = "no netpoller under loom"))]
    Call(Arc<dyn Callback>, u64),
}

/// A timer callback run on the M that finds it due (it must not block).
pub(crate) trait Callback: Send + Sync {
    /// The timer fired.
    fn fire(&self, arg: u64);
    /// Whether firing would still do anything (else the entry may be dropped early).
    fn is_current(&self, arg: u64) -> bool;
}

/// The timers of one P (Go: `p.timers`). Any M may push to or run any P's timers (each
/// heap has its own lock), which is how timers of idle, syscall-bound and retired Ps
/// are adopted.
pub(crate) struct Timers {
    /// The heap. Own lock: the P's owner pushes, any M pops due entries.
    heap: Mutex<TimerHeap<Fire>>,
    /// The heap's earliest `when`, or [`NONE`] (Go: `timer0When`). Written under `heap`'s
    /// lock with SeqCst (the "timer published" half of the sleeper handshake); read
    /// without it.
    when0: AtomicU64,
    /// Entries known to belong to stopped or reset timers. Atomic; a hint for cleaning.
    /// Shared (`Arc`) with the timers whose entries are here, so a timer stopped after
    /// its scheduler (and this P) has been freed bumps a live counter.
    stale: Arc<AtomicUsize>,
}

impl Timers {
    pub(crate) fn new() -> Self {
        Self {
            heap: Mutex::new(TimerHeap::new()),
            when0: AtomicU64::new(NONE),
            stale: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The earliest `when` of this P's timers, or [`NONE`].
    pub(crate) fn next_when(&self) -> u64 {
        self.when0.load(Ordering::SeqCst)
    }

    /// The stale-entry counter, for a timer pushing an entry here to keep (it outlives
    /// this P: see [`crate::time::TimerShared::disarm`]).
    pub(crate) fn stale_counter(&self) -> Arc<AtomicUsize> {
        Arc::clone(&self.stale)
    }

    fn lock(&self) -> crate::sync::MutexGuard<'_, TimerHeap<Fire>> {
        self.heap.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn push(&self, when: u64, fire: Fire) {
        let mut h = self.lock();
        let stale = self.stale.load(Ordering::Relaxed);
        if h.len() >= CLEAN_MIN && stale > h.len() / 2 {
            h.retain(|f| match f {
                Fire::Wake(_) => true,
                Fire::Send(t, seq) => t.is_current(*seq),
                Fire::Call(f, arg) => f.is_current(*arg),
            });
            self.stale.store(0, Ordering::Relaxed);
        }
        h.push(when, fire);
        if cfg!(debug_assertions) && h.len() < 1024 {
            h.check_invariants();
        }
        self.when0
            .store(h.peek_when().unwrap_or(NONE), Ordering::SeqCst);
    }

    /// Pops one due entry.
    fn pop_due(&self, now: u64) -> Option<(u64, Fire)> {
        let mut h = self.lock();
        let e = h.pop_due(now);
        self.when0
            .store(h.peek_when().unwrap_or(NONE), Ordering::SeqCst);
        e
    }
}

/// Scheduler-wide timer state: the one idle M sleeping until the next timer (Go: the M
/// blocked in `netpoll(delay)`, `sched.pollUntil`).
pub(crate) struct SchedTimers {
    /// The M sleeping until `sleep_until`, or null. SeqCst.
    sleeper: AtomicPtr<M>,
    /// When the sleeper wakes (ns since `Sched::start`), or [`NONE`]. SeqCst.
    sleep_until: AtomicU64,
}

/// What the publisher of a timer must do so that some M wakes for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WakeFor {
    /// No M sleeps for timers: start one (`wakep`).
    NoSleeper,
    /// The sleeper would sleep past the timer: notify it.
    Notify(*mut M),
    /// The sleeper wakes in time.
    InTime,
}

impl SchedTimers {
    pub(crate) fn new() -> Self {
        Self {
            sleeper: AtomicPtr::new(ptr::null_mut()),
            sleep_until: AtomicU64::new(NONE),
        }
    }

    /// Publisher's half of the handshake, after storing the timer's `when` in a heap's
    /// `when0` (SeqCst): which M, if any, must be woken.
    pub(crate) fn wake_for(&self, when: u64) -> WakeFor {
        fence(Ordering::SeqCst);
        let s = self.sleeper.load(Ordering::SeqCst);
        if s.is_null() {
            WakeFor::NoSleeper
        } else if when < self.sleep_until.load(Ordering::SeqCst) {
            WakeFor::Notify(s)
        } else {
            WakeFor::InTime
        }
    }

    /// Sleeper's half: `me` tries to become the timer sleeper for `next`; `earliest`
    /// re-reads every heap's `when0`. Returns the deadline to sleep until, or `None` if
    /// another M is the sleeper. A timer published before our `sleep_until` store is
    /// seen by `earliest`; one published after it sees us in `wake_for` (both SeqCst).
    pub(crate) fn become_sleeper(
        &self,
        me: *mut M,
        next: u64,
        earliest: impl Fn() -> u64,
    ) -> Option<u64> {
        self.sleeper
            .compare_exchange(ptr::null_mut(), me, Ordering::SeqCst, Ordering::SeqCst)
            .ok()?;
        self.sleep_until.store(next, Ordering::SeqCst);
        // Store-fence-load on both sides (Dekker): loom models SeqCst fences, not the
        // total order of SeqCst loads and stores.
        fence(Ordering::SeqCst);
        let deadline = next.min(earliest());
        self.sleep_until.store(deadline, Ordering::SeqCst);
        Some(deadline)
    }

    /// The sleeper woke: leave the slot (a publisher seeing it empty starts an M). The
    /// caller re-reads the heaps afterwards (the fence orders that read after this).
    pub(crate) fn leave(&self) {
        self.sleeper.store(ptr::null_mut(), Ordering::SeqCst);
        self.sleep_until.store(NONE, Ordering::SeqCst);
        fence(Ordering::SeqCst);
    }
}

/// Nanoseconds since the scheduler started (the timers' clock; monotonic).
pub(crate) fn nanotime(sched: &Sched) -> u64 {
    u64::try_from(sched.start.elapsed().as_nanos()).unwrap_or(NONE - 1)
}

/// `when` for a deadline `d` from now.
pub(crate) fn when_after(sched: &Sched, d: core::time::Duration) -> u64 {
    nanotime(sched).saturating_add(u64::try_from(d.as_nanos()).unwrap_or(NONE - 1))
}

/// Adds a timer on the current M's P (or P 0 when the M has none), then makes sure an M
/// will wake for it.
pub(crate) fn add(m: &M, when: u64, fire: Fire) {
    let sched = m.sched();
    // SAFETY: an M's P, and every P, lives as long as the scheduler.
    let p = unsafe { m.p.get().as_ref() }.or_else(|| sched.p(0));
    let Some(p) = p else { return };
    p.timers.push(when, fire);
    wake_for(sched, when);
}

/// A timer at `when` was published (SeqCst): wake the timer sleeper if it would sleep
/// past it, or start an M if nobody sleeps for timers (Go: `wakeNetPoller`).
pub(crate) fn wake_for(sched: &Sched, when: u64) {
    if cfg!(loom) {
        return;
    }
    match sched.timers.wake_for(when) {
        WakeFor::NoSleeper => sched.wakep(),
        WakeFor::Notify(s) => {
            // SAFETY: Ms live as long as the scheduler.
            unsafe { (*s).note.notify() };
            crate::netpoll::wake_poller(sched);
        }
        WakeFor::InTime => {}
    }
}

/// Wakes the timer sleeper, if any (shutdown, sysmon's safety net).
pub(crate) fn wake_sleeper(sched: &Sched) {
    let s = sched.timers.sleeper.load(Ordering::SeqCst);
    if !s.is_null() {
        // SAFETY: Ms live as long as the scheduler.
        unsafe { (*s).note.notify() };
        crate::netpoll::wake_poller(sched);
    }
}

/// Runs `p`'s due timers (Go: `checkTimers`). Cheap when none is due: one atomic load,
/// and no clock read when the P has no timers.
pub(crate) fn run_timers(sched: &Sched, p: &P) -> usize {
    if cfg!(loom) {
        return 0;
    }
    let w0 = p.timers.when0.load(Ordering::Acquire);
    if w0 == NONE {
        return 0;
    }
    let now = nanotime(sched);
    if w0 > now {
        return 0;
    }
    let mut n = 0;
    while let Some((when, fire)) = p.timers.pop_due(now) {
        match fire {
            Fire::Wake(parker) => parker.unpark(),
            Fire::Call(f, arg) => f.fire(arg),
            Fire::Send(t, seq) => {
                if let Some(next) = t.fire(seq, when, now) {
                    // A ticker: re-arm on the P that ran it.
                    p.timers.push(next, Fire::Send(t, seq));
                }
            }
        }
        n += 1;
    }
    n
}

/// Runs the due timers of every P (Go: stealing timers in `stealWork`'s last pass);
/// returns how many fired. Called by an M whose own queues are empty.
pub(crate) fn run_all_timers(sched: &Sched) -> usize {
    if cfg!(loom) {
        return 0;
    }
    let mut n = 0;
    let mut i = 0;
    while let Some(p) = sched.p(i) {
        n += run_timers(sched, p);
        i += 1;
    }
    n
}

/// The earliest timer of any P, or [`NONE`] (Go: `timeSleepUntil`).
pub(crate) fn sleep_until(sched: &Sched) -> u64 {
    let mut min = NONE;
    let mut i = 0;
    while let Some(p) = sched.p(i) {
        min = min.min(p.timers.next_when());
        i += 1;
    }
    min
}

/// An M with no P and no work: if there are timers or goroutines waiting on the
/// network, and no other M sleeps for them, sleep until the earliest timer (in
/// `epoll_wait` once the netpoller is in use, else futex with timeout), then take an
/// idle P to run what is due or ready (Go: `findRunnable`'s blocking `netpoll(delay)`).
/// Returns true with a P (or at shutdown); false when the M should `stopm` instead
/// (nothing to wait for, someone else sleeps for it, or every P is busy).
pub(crate) fn idle_until_timer(m: &M) -> bool {
    if cfg!(loom) {
        return false;
    }
    let sched = m.sched();
    let st = &sched.timers;
    let mut ready = Vec::new();
    loop {
        let next = sleep_until(sched);
        if next == NONE && !crate::netpoll::has_waiters(sched) {
            return false;
        }
        let me = ptr::from_ref(m).cast_mut();
        let Some(deadline) = st.become_sleeper(me, next, || sleep_until(sched)) else {
            // Someone sleeps for timers: make sure not past ours, then idle for good.
            if next != NONE {
                wake_for(sched, next);
            }
            return false;
        };
        let now = nanotime(sched);
        if deadline > now && !sched.is_shutdown() {
            let left = if deadline == NONE {
                NONE
            } else {
                deadline - now
            };
            if !crate::netpoll::block(sched, left, &mut ready) {
                m.note.wait_timeout(core::time::Duration::from_nanos(left));
            }
        }
        st.leave();
        if sched.is_shutdown() {
            for p in ready.drain(..) {
                p.unpark();
            }
            return true;
        }
        if !ready.is_empty() || sleep_until(sched) <= nanotime(sched) {
            let mut l = sched.lock();
            let p = sched.pidleget_locked(&mut l);
            drop(l);
            if let Some(p) = p {
                sched.acquirep(m, p);
            }
            // With our P they go to its run queue; without, to the global one.
            for p in ready.drain(..) {
                p.unpark();
            }
            // Without a P: every P is running and runs its own timers at its next
            // schedule.
            return !m.p.get().is_null();
        }
        // Woken early (a sooner timer, or a stale wakeup): recompute.
    }
}
