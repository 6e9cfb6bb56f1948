//! `WaitGroup`: Go's `sync.WaitGroup`, a counter that parties wait to reach zero. See the
//! crate docs for the overview.

use super::semaphore::Semaphore;
use crate::park::WaitReason;
use crate::sync::atomic::{AtomicU64, Ordering};

/// Waits for a collection of goroutines (or threads) to finish (Go's `sync.WaitGroup`).
///
/// The spawner calls [`WaitGroup::add`] with the number of parties to wait for, each
/// party calls [`WaitGroup::done`] when finished, and [`WaitGroup::wait`] blocks until
/// the counter is zero. Share it by reference or in an `Arc`.
///
/// Misuse panics with Go's messages: a negative counter ("sync: negative WaitGroup
/// counter"), an `add` from zero racing a `wait` ("sync: WaitGroup misuse: Add called
/// concurrently with Wait"), and reuse before a `wait` returned ("sync: WaitGroup is
/// reused before previous Wait has returned").
///
/// ```
/// use gort_sched::gosync::WaitGroup;
/// use std::sync::Arc;
///
/// let wg = Arc::new(WaitGroup::new());
/// wg.add(2);
/// for _ in 0..2 {
///     let wg = Arc::clone(&wg);
///     std::thread::spawn(move || wg.done());
/// }
/// wg.wait();
/// ```
pub struct WaitGroup {
    /// High 32 bits: the counter (an `i32`); low 32 bits: the number of waiters (Go's
    /// `state`). Atomic.
    state: AtomicU64,
    /// Waiters park here (Go's `sema`).
    sema: Semaphore,
}

impl WaitGroup {
    /// A group with counter zero.
    pub fn new() -> Self {
        Self {
            state: AtomicU64::new(0),
            sema: Semaphore::new(0),
        }
    }

    /// Adds `delta` (which may be negative) to the counter; at zero, releases every
    /// waiter (Go's `Add`). Calls with a positive delta that start from zero must happen
    /// before the `wait`.
    ///
    /// # Panics
    ///
    /// If the counter goes negative, or on the misuse described on the type.
    pub fn add(&self, delta: i32) {
        let state = self
            .state
            .fetch_add((i64::from(delta) as u64) << 32, Ordering::AcqRel)
            .wrapping_add((i64::from(delta) as u64) << 32);
        let v = (state >> 32) as i32;
        let w = state as u32;
        if v < 0 {
            misuse("sync: negative WaitGroup counter");
        }
        if w != 0 && delta > 0 && v == delta {
            misuse("sync: WaitGroup misuse: Add called concurrently with Wait");
        }
        if v > 0 || w == 0 {
            return;
        }
        // The counter is 0 and there are waiters. No new waiter can arrive and the
        // state cannot change now (else it is misuse): reset the waiter count and
        // release them all.
        if self.state.load(Ordering::Acquire) != state {
            misuse("sync: WaitGroup misuse: Add called concurrently with Wait");
        }
        self.state.store(0, Ordering::Release);
        for _ in 0..w {
            self.sema.release_as(false);
        }
    }

    /// Decrements the counter by one (Go's `Done`).
    ///
    /// # Panics
    ///
    /// If the counter goes negative.
    pub fn done(&self) {
        self.add(-1);
    }

    /// Blocks until the counter is zero (Go's `Wait`).
    ///
    /// # Panics
    ///
    /// If the group is reused (a new `add`) before this wait has returned.
    pub fn wait(&self) {
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            if (state >> 32) as i32 == 0 {
                return;
            }
            // Count ourselves as a waiter.
            match self.state.compare_exchange_weak(
                state,
                state + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    self.sema.acquire_as(false, WaitReason::SyncWaitGroupWait);
                    if self.state.load(Ordering::Acquire) != 0 {
                        misuse("sync: WaitGroup is reused before previous Wait has returned");
                    }
                    return;
                }
                Err(now) => state = now,
            }
        }
    }

    /// The counter now (racy; diagnostics and tests).
    pub fn count(&self) -> i32 {
        (self.state.load(Ordering::Relaxed) >> 32) as i32
    }
}

impl Default for WaitGroup {
    fn default() -> Self {
        Self::new()
    }
}

impl core::fmt::Debug for WaitGroup {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let s = self.state.load(Ordering::Relaxed);
        f.debug_struct("WaitGroup")
            .field("counter", &((s >> 32) as i32))
            .field("waiters", &(s as u32))
            .finish()
    }
}

/// Go's `panic` for WaitGroup misuse.
#[cold]
#[inline(never)]
#[allow(
    clippy::panic,
    reason = "Go semantics: WaitGroup misuse panics with Go's message"
)]
fn misuse(msg: &'static str) -> ! {
    panic!("{msg}")
}
