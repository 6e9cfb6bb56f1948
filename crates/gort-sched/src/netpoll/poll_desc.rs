//! A descriptor's readiness slots and the park handshake that never loses a wakeup
//! (Go: netpoll.go `pollDesc`, `netpollblock`, `netpollblockcommit`, `netpollunblock`).

use crate::park::{Parker, WaitReason, park};
use crate::sync::UnsafeCell;
use crate::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering, fence};

/// Slot state: nobody waits and no readiness is pending (Go: `pdNil`).
const NIL: usize = 0;
/// Readiness arrived and no waiter has consumed it yet (Go: `pdReady`).
const READY: usize = 1;
/// A party is about to park; it has not published its parker yet (Go: `pdWait`).
const WAIT: usize = 2;
/// A party is parked; its parker is in [`Slot::waiter`] (Go: a `*g` in the slot).
const PARKED: usize = 3;

/// One direction's readiness slot (Go: `pollDesc.rg` / `wg`).
///
/// States and legal transitions:
/// - `NIL → READY` (an event), `READY → NIL` (a waiter consumes it);
/// - `NIL → WAIT` (a waiter begins), `WAIT → PARKED` (it published its parker);
/// - `WAIT → READY` / `WAIT → NIL` (an event / an error wake arrives before the waiter
///   published its parker: its publish CAS fails and it unparks itself);
/// - `PARKED → READY` / `PARKED → NIL` (an event / an error wake takes the parker out and
///   unparks it);
/// - the woken waiter swaps the slot back to `NIL`.
///
/// At most one party waits on a slot at a time (callers serialise readers and
/// writers); two would be a runtime bug and throw.
pub(crate) struct Slot {
    /// The state above. SeqCst: its CASes pair with the error flags' stores (Dekker).
    state: AtomicUsize,
    /// The parked party. Written by the waiter before its `WAIT → PARKED` CAS
    /// (Release); taken by whoever CASes `PARKED` away (Acquire), or by the waiter
    /// itself when its CAS fails. Never touched by two parties at once.
    waiter: UnsafeCell<Option<Parker>>,
}

// SAFETY: `waiter` is accessed by one party at a time, handed over by `state`'s CASes
// (see the field docs); everything else is atomic.
unsafe impl Sync for Slot {}
// SAFETY: as above; a `Parker` is `Send`.
unsafe impl Send for Slot {}

impl core::fmt::Debug for Slot {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Slot")
            .field("state", &self.state.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Slot {
    pub(crate) fn new() -> Slot {
        Slot {
            state: AtomicUsize::new(NIL),
            waiter: UnsafeCell::new(None),
        }
    }

    /// Waits for readiness (Go: `netpollblock`). Returns true if readiness was
    /// consumed, false if woken by an error (`err()` true: closing or deadline) without
    /// it. `err` is re-checked after the slot is claimed, so an error flag set (SeqCst,
    /// then [`Slot::unblock`]) before or during the wait is never missed. `waiters`
    /// counts parked parties (Go: `netpollWaiters`).
    pub(crate) fn wait(&self, waiters: &AtomicUsize, err: impl Fn() -> bool) -> bool {
        loop {
            match self
                .state
                .compare_exchange(NIL, WAIT, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => break,
                Err(READY) => {
                    if self
                        .state
                        .compare_exchange(READY, NIL, Ordering::SeqCst, Ordering::SeqCst)
                        .is_ok()
                    {
                        return true;
                    }
                }
                Err(_) => crate::fatal::throw("netpoll: double wait on one descriptor"),
            }
        }
        // Store-fence-load against the error side's store-fence-CAS (Dekker).
        fence(Ordering::SeqCst);
        if !err() {
            waiters.fetch_add(1, Ordering::SeqCst);
            let me = Parker::current();
            park(WaitReason::IoWait, move || {
                // SAFETY: the slot is WAIT, so nobody else touches `waiter` until the
                // CAS below publishes it.
                self.waiter.with_mut(|w| unsafe { *w = Some(me) });
                if self
                    .state
                    .compare_exchange(WAIT, PARKED, Ordering::SeqCst, Ordering::SeqCst)
                    .is_err()
                {
                    // An event or error wake came first (WAIT → READY / NIL): the park
                    // is ours to end. SAFETY: the CAS failed, so we still own `waiter`.
                    if let Some(me) = self.waiter.with_mut(|w| unsafe { (*w).take() }) {
                        me.unpark();
                    }
                }
            });
            waiters.fetch_sub(1, Ordering::SeqCst);
        }
        match self.state.swap(NIL, Ordering::SeqCst) {
            READY => true,
            // NIL: an error wake took the slot; WAIT: `err()` held, we never parked.
            NIL | WAIT => false,
            _ => crate::fatal::throw("netpoll: slot left WAIT or PARKED after a wait"),
        }
    }

    /// Marks the slot ready (`ioready`, an event) or just wakes a waiter (an error
    /// wake: the caller stored the error flag first) and returns the parker to unpark,
    /// if a party was parked (Go: `netpollunblock`). The caller unparks it.
    #[must_use]
    pub(crate) fn unblock(&self, ioready: bool) -> Option<Parker> {
        if !ioready {
            fence(Ordering::SeqCst);
        }
        let mut old = self.state.load(Ordering::SeqCst);
        loop {
            if old == READY || (old == NIL && !ioready) {
                return None;
            }
            let new = if ioready { READY } else { NIL };
            match self
                .state
                .compare_exchange(old, new, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => break,
                Err(now) => old = now,
            }
        }
        if old != PARKED {
            return None;
        }
        // SAFETY: we moved the slot off PARKED, so the parked party's `waiter` is ours.
        self.waiter.with_mut(|w| unsafe { (*w).take() })
    }
}

/// Which direction of a descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Reading (and accepting).
    Read,
    /// Writing (and connecting).
    Write,
}

/// The runtime side of one direction: its slot, and its deadline bookkeeping.
#[derive(Debug)]
#[cfg_attr(loom, allow(dead_code, reason = "loom models only the slot"))]
pub(crate) struct Dir {
    /// Readiness and the waiter.
    pub(crate) slot: Slot,
    /// Generation of the current wait; bumped by each wait that arms a deadline.
    /// Atomic; written by the (single) waiter.
    pub(crate) seq: AtomicU64,
    /// The generation whose deadline fired. Stored (SeqCst) by the deadline timer
    /// before its error wake.
    pub(crate) expired: AtomicU64,
    /// Bumped (SeqCst) when the owner changes the deadline, before an error wake: a
    /// blocked wait re-reads its deadline (Go: `poll_runtime_pollSetDeadline` waking
    /// blocked readers).
    pub(crate) kick: AtomicU64,
}

/// Per-descriptor poll state (Go: `pollDesc`). Shared (`Arc`) by the descriptor's
/// owner, the registry, and armed deadline timers.
#[derive(Debug)]
#[cfg_attr(loom, allow(dead_code, reason = "loom models only the slot"))]
pub(crate) struct PollDesc {
    /// The registration key (registry index and generation). Immutable.
    pub(crate) key: u64,
    /// Reading.
    pub(crate) rd: Dir,
    /// Writing.
    pub(crate) wr: Dir,
    /// Set (SeqCst) when the descriptor is being closed: waits fail from then on.
    pub(crate) closing: AtomicBool,
}

#[cfg_attr(loom, allow(dead_code, reason = "loom models only the slot"))]
impl PollDesc {
    pub(crate) fn new(key: u64) -> PollDesc {
        let dir = || Dir {
            slot: Slot::new(),
            seq: AtomicU64::new(0),
            expired: AtomicU64::new(0),
            kick: AtomicU64::new(0),
        };
        PollDesc {
            key,
            rd: dir(),
            wr: dir(),
            closing: AtomicBool::new(false),
        }
    }

    pub(crate) fn dir(&self, mode: Mode) -> &Dir {
        match mode {
            Mode::Read => &self.rd,
            Mode::Write => &self.wr,
        }
    }

    /// A deadline of generation `seq` on `mode` passed: flag it and wake the waiter
    /// (Go: `netpolldeadlineimpl`). Stale generations do nothing.
    pub(crate) fn deadline_fired(&self, mode: Mode, seq: u64) -> Option<Parker> {
        let d = self.dir(mode);
        if d.seq.load(Ordering::SeqCst) != seq {
            return None;
        }
        d.expired.store(seq, Ordering::SeqCst);
        d.slot.unblock(false)
    }

    /// Marks the descriptor closing and returns the parked parties to wake (Go:
    /// `poll_runtime_pollUnblock`).
    pub(crate) fn evict(&self) -> [Option<Parker>; 2] {
        self.closing.store(true, Ordering::SeqCst);
        [self.rd.slot.unblock(false), self.wr.slot.unblock(false)]
    }
}
