//! Timers: `sleep`, `after`, `tick`, [`Timer`] and [`Ticker`] on per-P 4-ary heaps run
//! by the scheduler loop (Go: `time.Sleep`, `time.After`, `time.Tick`, `time.Timer`,
//! `time.Ticker`; runtime/time.go).
//!
//! Timer channels have capacity 1 and a send that finds the channel full is dropped
//! (Go before 1.23); [`Timer::stop`] and [`Timer::reset`] also drain a value already
//! delivered, so no stale value is received after them (Go 1.23's guarantee). Off a
//! scheduler (a plain thread, or inside [`crate::syscall`]) `sleep` sleeps the thread
//! and timers run on a helper thread.

mod heap;
pub(crate) mod timers;

use core::time::Duration;
use std::time::Instant;

use crate::chan::Chan;
use crate::m::{M, current_g, current_m};
use crate::park::{Parker, WaitReason, park};
use crate::sync::atomic::{AtomicUsize, Ordering};
use crate::sync::{Arc, Mutex};
use timers::{Fire, NONE};

/// Pauses the current goroutine for at least `d` (Go: `time.Sleep`); the thread runs
/// other goroutines meanwhile. Off a goroutine, sleeps the thread. A zero `d` returns at
/// once.
pub fn sleep(d: Duration) {
    if d.is_zero() {
        return;
    }
    let Some(m) = on_scheduler() else {
        std::thread::sleep(d);
        return;
    };
    let when = timers::when_after(m.sched(), d);
    let me = Parker::current();
    park(WaitReason::Sleep, move || {
        // On g0 of this goroutine's M, after it can no longer miss the wakeup.
        if let Some(m) = current_m() {
            timers::add(m, when, Fire::Wake(me));
        }
    });
}

/// A channel that receives the time once, after `d` (Go: `time.After`). The timer lives
/// until it fires; use [`Timer`] to stop one early.
pub fn after(d: Duration) -> Chan<Instant> {
    let t = TimerShared::new(Duration::ZERO);
    TimerShared::arm(&t, d);
    t.chan.clone()
}

/// A channel that receives the time every `d` (Go: `time.Tick`). The ticker is never
/// stopped; use [`Ticker`] for one that can be. A zero `d` gives a channel that never
/// receives (Go returns nil).
pub fn tick(d: Duration) -> Chan<Instant> {
    let t = TimerShared::new(d);
    if !d.is_zero() {
        TimerShared::arm(&t, d);
    }
    t.chan.clone()
}

/// This thread's M, if it is running a goroutine.
fn on_scheduler() -> Option<&'static M> {
    current_g()?;
    current_m()
}

/// The state shared by a timer's handle, its heap entries and its helper thread.
pub(crate) struct TimerShared {
    /// Generation and whether it is armed. Own lock, never held while taking a heap's.
    state: Mutex<TimerState>,
    /// The channel fired values go to (capacity 1).
    chan: Chan<Instant>,
}

/// A timer's mutable state.
struct TimerState {
    /// Bumped by every stop and reset; heap entries of older generations are stale.
    seq: u64,
    /// Armed and not yet fired (a ticker stays armed).
    active: bool,
    /// Ticker period in ns; 0 for a one-shot timer.
    period: u64,
    /// The stale count of the P whose heap holds the current entry, or `None`. Shared
    /// ownership, not a pointer to the P: a `Timer` is `Send + 'static` and may be
    /// stopped or dropped after its scheduler, and with it the P, has been freed.
    heap_stale: Option<Arc<AtomicUsize>>,
}

impl TimerShared {
    fn new(period: Duration) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(TimerState {
                seq: 0,
                active: false,
                period: u64::try_from(period.as_nanos()).unwrap_or(NONE - 1),
                heap_stale: None,
            }),
            chan: Chan::new(1),
        })
    }

    fn lock(&self) -> crate::sync::MutexGuard<'_, TimerState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `seq` is the current armed generation.
    pub(crate) fn is_current(&self, seq: u64) -> bool {
        let s = self.lock();
        s.active && s.seq == seq
    }

    /// Deactivates the current generation; returns whether it was armed.
    fn disarm(&self) -> bool {
        let mut s = self.lock();
        let was = s.active;
        s.active = false;
        s.seq += 1;
        let stale = s.heap_stale.take();
        drop(s);
        if was && let Some(stale) = stale {
            // A hint for cleaning the heap; a live counter even if the P is gone.
            stale.fetch_add(1, Ordering::Relaxed);
        }
        // Go 1.23: no value from before a stop/reset is received after it.
        let _ = self.chan.try_recv();
        was
    }

    /// Arms a new generation firing after `d`.
    fn arm(this: &Arc<Self>, d: Duration) {
        let m = on_scheduler();
        let mut s = this.lock();
        s.seq += 1;
        s.active = true;
        let seq = s.seq;
        match m {
            Some(m) => {
                let sched = m.sched();
                let when = timers::when_after(sched, d);
                // The P `timers::add` pushes on. SAFETY: an M's P, and every P, lives as
                // long as the scheduler, which runs this goroutine.
                let p = unsafe { m.p.get().as_ref() }.or_else(|| sched.p(0));
                s.heap_stale = p.map(|p| p.timers.stale_counter());
                drop(s);
                timers::add(m, when, Fire::Send(Arc::clone(this), seq));
            }
            None => {
                s.heap_stale = None;
                drop(s);
                Self::spawn_helper(this, seq, Instant::now() + d);
            }
        }
    }

    /// Off the scheduler: a thread that sleeps and fires this generation.
    fn spawn_helper(this: &Arc<Self>, seq: u64, first: Instant) {
        let t = Arc::clone(this);
        let spawned = std::thread::Builder::new()
            .name("gort-timer".into())
            .spawn(move || {
                let mut when = first;
                loop {
                    let now = Instant::now();
                    if when > now {
                        std::thread::sleep(when - now);
                    }
                    let period = {
                        let s = t.lock();
                        if !s.active || s.seq != seq {
                            return;
                        }
                        s.period
                    };
                    let _ = t.chan.try_send(Instant::now());
                    if period == 0 {
                        t.lock().active = false;
                        return;
                    }
                    when += Duration::from_nanos(period);
                }
            });
        if spawned.is_err() {
            crate::fatal::throw("timer: cannot start a timer thread");
        }
    }

    /// A heap entry of generation `seq` due at `when` fired at `now`: send the time if it
    /// is current. Returns the next `when` for a ticker.
    pub(crate) fn fire(&self, seq: u64, when: u64, now: u64) -> Option<u64> {
        let mut s = self.lock();
        if !s.active || s.seq != seq {
            return None;
        }
        let next = if s.period > 0 {
            // Skip missed ticks (Go: `when + period*(1+(now-when)/period)`).
            Some(when.saturating_add(s.period.saturating_mul(1 + (now - when) / s.period)))
        } else {
            s.active = false;
            s.heap_stale = None;
            None
        };
        drop(s);
        let _ = self.chan.try_send(Instant::now());
        next
    }
}

/// A single event (Go: `time.Timer`): its channel receives the time once, after the
/// duration, unless stopped first. Dropping the handle stops it.
///
/// ```
/// use std::time::Duration;
/// use gort_sched::{Config, run_with, time::Timer};
///
/// run_with(Config::default(), || {
///     let t = Timer::new(Duration::from_secs(3600));
///     assert!(t.stop());
///     t.reset(Duration::from_millis(1));
///     assert!(t.c().recv().is_some());
/// }).unwrap();
/// ```
pub struct Timer {
    shared: Arc<TimerShared>,
}

impl core::fmt::Debug for Timer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Timer").finish_non_exhaustive()
    }
}

impl Timer {
    /// A timer firing after `d` (Go: `time.NewTimer`).
    pub fn new(d: Duration) -> Timer {
        let shared = TimerShared::new(Duration::ZERO);
        TimerShared::arm(&shared, d);
        Timer { shared }
    }

    /// The channel the time is sent on (Go: `t.C`).
    pub fn c(&self) -> &Chan<Instant> {
        &self.shared.chan
    }

    /// Stops the timer; returns true if it was armed (had not fired). A value it already
    /// sent is drained.
    pub fn stop(&self) -> bool {
        self.shared.disarm()
    }

    /// Re-arms the timer to fire after `d`; returns true if it was armed before.
    pub fn reset(&self, d: Duration) -> bool {
        let was = self.shared.disarm();
        TimerShared::arm(&self.shared, d);
        was
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        self.shared.disarm();
    }
}

/// A periodic event (Go: `time.Ticker`): its channel receives the time every period;
/// ticks a slow receiver misses are dropped. Dropping the handle stops it.
pub struct Ticker {
    shared: Arc<TimerShared>,
}

impl core::fmt::Debug for Ticker {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Ticker").finish_non_exhaustive()
    }
}

impl Ticker {
    /// A ticker with period `d` (Go: `time.NewTicker`). A zero `d` is raised to 1 ns
    /// (Go panics).
    pub fn new(d: Duration) -> Ticker {
        let d = d.max(Duration::from_nanos(1));
        let shared = TimerShared::new(d);
        TimerShared::arm(&shared, d);
        Ticker { shared }
    }

    /// The channel ticks are sent on (Go: `t.C`).
    pub fn c(&self) -> &Chan<Instant> {
        &self.shared.chan
    }

    /// Stops the ticker (Go: `Ticker.Stop`).
    pub fn stop(&self) {
        self.shared.disarm();
    }

    /// Restarts the ticker with period `d` (Go: `Ticker.Reset`).
    pub fn reset(&self, d: Duration) {
        let d = d.max(Duration::from_nanos(1));
        self.shared.disarm();
        self.shared.lock().period = u64::try_from(d.as_nanos()).unwrap_or(NONE - 1);
        TimerShared::arm(&self.shared, d);
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.shared.disarm();
    }
}
