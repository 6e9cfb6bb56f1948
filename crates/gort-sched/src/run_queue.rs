//! The per-P run queue: a 256-slot lock-free ring plus `runnext` (Go: proc.go, `runqput`,
//! `runqget`, `runqgrab`, `runqsteal`). See the crate docs for the overview.
//!
//! Single producer (the owning P), many consumers: the owner pushes at `tail`; the owner
//! and thieves take from `head` by CAS. Slots are `AtomicPtr`s accessed with Relaxed
//! loads and stores (Go reads them plainly and lets a failed CAS discard a torn read;
//! Rust needs the atomics to make that race defined). `head` is published with
//! Release/Acquire so a consumer that wins the CAS has read the slots the owner wrote
//! before its `tail` store.

use crate::sync::atomic::{AtomicPtr, AtomicU32, Ordering};
use core::ptr;

/// Slots in a local run queue (Go: `len(p.runq)` = 256; 4 under loom so models reach
/// the overflow and wrap-around edges quickly, as tokio does).
#[cfg(not(loom))]
pub(crate) const RUNQ_CAP: u32 = 256;
/// Slots in a local run queue (shrunk under loom).
#[cfg(loom)]
pub(crate) const RUNQ_CAP: u32 = 4;

/// A per-P run queue of `*mut T` (the scheduler uses `T = G`).
///
/// Invariant: `tail - head <= RUNQ_CAP` (wrapping u32 arithmetic) whenever both are
/// read consistently; slots `[head, tail)` hold non-null items.
pub(crate) struct RunQueue<T> {
    /// Index of the next item to take. Atomic; advanced by CAS by the owner and thieves.
    head: AtomicU32,
    /// Index of the next free slot. Atomic; written only by the owner (Release).
    tail: AtomicU32,
    /// The ring. Slot `i % RUNQ_CAP` is written only by the owner, only while it is
    /// outside `[head, tail)`; read by anyone, validated by a CAS on `head`.
    buf: Box<[AtomicPtr<T>]>,
    /// The next item to run, ahead of the ring (Go: `p.runnext`). Atomic; only the
    /// owner sets it non-null; anyone may CAS it to null to take it.
    runnext: AtomicPtr<T>,
}

// SAFETY: the queue only moves raw pointers between threads; ownership of what they
// point to is the scheduler's business (a G on a run queue is owned by the queue).
unsafe impl<T> Send for RunQueue<T> {}
// SAFETY: all shared access goes through atomics as described on the fields.
unsafe impl<T> Sync for RunQueue<T> {}

impl<T> core::fmt::Debug for RunQueue<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RunQueue")
            .field("len", &self.len())
            .field("runnext", &!self.runnext.load(Ordering::Relaxed).is_null())
            .finish()
    }
}

/// What `push` did with an item when the ring was full: the batch to put on the global
/// queue (half the ring plus the new item, oldest first).
pub(crate) type Overflow<T> = Vec<*mut T>;

impl<T> Default for RunQueue<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> RunQueue<T> {
    /// An empty queue.
    pub(crate) fn new() -> Self {
        let buf = (0..RUNQ_CAP)
            .map(|_| AtomicPtr::new(ptr::null_mut()))
            .collect();
        Self {
            head: AtomicU32::new(0),
            tail: AtomicU32::new(0),
            buf,
            runnext: AtomicPtr::new(ptr::null_mut()),
        }
    }

    fn slot(&self, i: u32) -> &AtomicPtr<T> {
        // RUNQ_CAP divides 2^32, so wrapping indices map consistently.
        &self.buf[(i % RUNQ_CAP) as usize]
    }

    /// Items in the ring (not counting `runnext`); a snapshot.
    pub(crate) fn len(&self) -> u32 {
        loop {
            let h = self.head.load(Ordering::Acquire);
            let t = self.tail.load(Ordering::Acquire);
            if self.head.load(Ordering::Acquire) == h {
                return t.wrapping_sub(h);
            }
        }
    }

    /// True if the ring and `runnext` are both empty; a snapshot (Go: `runqempty`).
    pub(crate) fn is_empty(&self) -> bool {
        loop {
            let h = self.head.load(Ordering::Acquire);
            let t = self.tail.load(Ordering::Acquire);
            let next = self.runnext.load(Ordering::Acquire);
            if self.tail.load(Ordering::Acquire) == t {
                return h == t && next.is_null();
            }
        }
    }

    /// Owner only: puts `item` on the queue (Go: `runqput`). With `next`, `item` goes to
    /// `runnext` and the previous `runnext` (if any) is kicked to the tail. If the ring
    /// is full, half of it plus the item are returned for the global queue.
    ///
    /// # Safety
    ///
    /// Only the owner of the queue may call this (one thread at a time).
    pub(crate) unsafe fn push(&self, item: *mut T, next: bool) -> Option<Overflow<T>> {
        let mut item = item;
        if next {
            let old = self.runnext.swap(item, Ordering::AcqRel);
            if old.is_null() {
                return None;
            }
            item = old;
        }
        loop {
            let h = self.head.load(Ordering::Acquire);
            let t = self.tail.load(Ordering::Relaxed);
            if t.wrapping_sub(h) < RUNQ_CAP {
                self.slot(t).store(item, Ordering::Relaxed);
                self.tail.store(t.wrapping_add(1), Ordering::Release);
                return None;
            }
            if let Some(batch) = self.push_slow(item, h, t) {
                return Some(batch);
            }
            // A consumer took something meanwhile; there is room now.
        }
    }

    /// Moves half the ring plus `item` out as one batch (Go: `runqputslow`).
    #[cold]
    fn push_slow(&self, item: *mut T, h: u32, t: u32) -> Option<Overflow<T>> {
        let n = t.wrapping_sub(h) / 2;
        debug_assert_eq!(n, RUNQ_CAP / 2, "runqputslow: queue is not full");
        let mut batch = Vec::with_capacity(n as usize + 1);
        for i in 0..n {
            batch.push(self.slot(h.wrapping_add(i)).load(Ordering::Relaxed));
        }
        if self
            .head
            .compare_exchange(h, h.wrapping_add(n), Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            return None;
        }
        batch.push(item);
        Some(batch)
    }

    /// Owner only: takes the next item (Go: `runqget`): `runnext` first, then the head
    /// of the ring. The flag is true if the item came from `runnext` (it inherits the
    /// current time slice).
    ///
    /// # Safety
    ///
    /// Only the owner of the queue may call this.
    pub(crate) unsafe fn pop(&self) -> Option<(*mut T, bool)> {
        let next = self.runnext.load(Ordering::Acquire);
        if !next.is_null()
            && self
                .runnext
                .compare_exchange(next, ptr::null_mut(), Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            return Some((next, true));
        }
        // SAFETY: forwarded from the caller.
        unsafe { self.pop_ring() }.map(|g| (g, false))
    }

    /// Owner only: takes the head of the ring, skipping `runnext` (used to break a
    /// pair of goroutines handing the time slice back and forth through `runnext`).
    ///
    /// # Safety
    ///
    /// Only the owner of the queue may call this.
    pub(crate) unsafe fn pop_ring(&self) -> Option<*mut T> {
        loop {
            let h = self.head.load(Ordering::Acquire);
            let t = self.tail.load(Ordering::Relaxed);
            if t == h {
                return None;
            }
            let item = self.slot(h).load(Ordering::Relaxed);
            if self
                .head
                .compare_exchange(h, h.wrapping_add(1), Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                return Some(item);
            }
        }
    }

    /// Owner only: takes every item (ring and `runnext`), oldest first; used when a P is
    /// destroyed (Go: `procresize` moving a dead P's runq to the global queue).
    ///
    /// # Safety
    ///
    /// Only the owner of the queue may call this.
    pub(crate) unsafe fn drain(&self) -> Vec<*mut T> {
        let mut out = Vec::new();
        // SAFETY: forwarded from the caller: we are the owner.
        while let Some((item, _)) = unsafe { self.pop() } {
            out.push(item);
        }
        out
    }

    /// Grabs half (rounded up) of this queue's items into `dst`'s ring starting at
    /// `dst_tail`, without publishing them (Go: `runqgrab`). Returns how many.
    /// `steal_runnext` allows taking `runnext` when the ring is empty; `victim_running`
    /// makes the thief first give the victim ~3 µs to run it itself.
    fn grab(
        &self,
        dst: &RunQueue<T>,
        dst_tail: u32,
        steal_runnext: bool,
        victim_running: bool,
    ) -> u32 {
        loop {
            let h = self.head.load(Ordering::Acquire);
            let t = self.tail.load(Ordering::Acquire);
            let n = t.wrapping_sub(h);
            let n = n - n / 2;
            if n == 0 {
                if steal_runnext {
                    let next = self.runnext.load(Ordering::Acquire);
                    if !next.is_null() {
                        if victim_running {
                            // Go: a goroutine readying another and then blocking is
                            // common; let the victim schedule its runnext itself
                            // rather than bouncing it between Ps (proc.go, runqgrab).
                            backoff_before_runnext_steal();
                        }
                        if self
                            .runnext
                            .compare_exchange(
                                next,
                                ptr::null_mut(),
                                Ordering::AcqRel,
                                Ordering::Relaxed,
                            )
                            .is_err()
                        {
                            continue;
                        }
                        dst.slot(dst_tail).store(next, Ordering::Relaxed);
                        return 1;
                    }
                }
                return 0;
            }
            if n > RUNQ_CAP / 2 {
                // Read h and t inconsistently; retry.
                continue;
            }
            for i in 0..n {
                let item = self.slot(h.wrapping_add(i)).load(Ordering::Relaxed);
                dst.slot(dst_tail.wrapping_add(i))
                    .store(item, Ordering::Relaxed);
            }
            if self
                .head
                .compare_exchange(h, h.wrapping_add(n), Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                return n;
            }
        }
    }

    /// Owner of `self` only: steals half of `victim`'s items into this queue and returns
    /// one of them to run (Go: `runqsteal`).
    ///
    /// # Safety
    ///
    /// Only the owner of `self` may call this, and `self` and `victim` must differ.
    pub(crate) unsafe fn steal_from(
        &self,
        victim: &RunQueue<T>,
        steal_runnext: bool,
        victim_running: bool,
    ) -> Option<*mut T> {
        let t = self.tail.load(Ordering::Relaxed);
        let n = victim.grab(self, t, steal_runnext, victim_running);
        if n == 0 {
            return None;
        }
        let n = n - 1;
        let item = self.slot(t.wrapping_add(n)).load(Ordering::Relaxed);
        if n == 0 {
            return Some(item);
        }
        let h = self.head.load(Ordering::Acquire);
        debug_assert!(
            t.wrapping_sub(h).wrapping_add(n) < RUNQ_CAP,
            "runqsteal: runq overflow"
        );
        self.tail.store(t.wrapping_add(n), Ordering::Release);
        Some(item)
    }

    /// Asserts the queue's invariants (owner only, or when quiescent).
    pub(crate) fn check_invariants(&self) {
        let h = self.head.load(Ordering::Acquire);
        let t = self.tail.load(Ordering::Acquire);
        debug_assert!(t.wrapping_sub(h) <= RUNQ_CAP, "runq: tail-head > cap");
        for i in h..t {
            debug_assert!(
                !self.slot(i).load(Ordering::Relaxed).is_null(),
                "runq: null slot in [head, tail)"
            );
        }
    }
}

#[cfg(not(loom))]
fn backoff_before_runnext_steal() {
    std::thread::sleep(std::time::Duration::from_micros(3));
}

#[cfg(loom)]
fn backoff_before_runnext_steal() {
    crate::sync::thread::yield_now();
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn items(n: usize) -> Vec<u32> {
        (0..n as u32).collect()
    }

    fn p(b: &mut u32) -> *mut u32 {
        b
    }

    #[test]
    fn fifo_with_runnext_first() {
        let q = RunQueue::<u32>::new();
        let mut v = items(3);
        // SAFETY: this thread owns q.
        unsafe {
            assert!(q.push(p(&mut v[0]), false).is_none());
            assert!(q.push(p(&mut v[1]), false).is_none());
            assert!(q.push(p(&mut v[2]), true).is_none());
            assert_eq!(q.pop(), Some((p(&mut v[2]), true)));
            assert_eq!(q.pop(), Some((p(&mut v[0]), false)));
            assert_eq!(q.pop(), Some((p(&mut v[1]), false)));
            assert_eq!(q.pop(), None);
        }
    }

    #[test]
    fn runnext_kicks_old_to_tail() {
        let q = RunQueue::<u32>::new();
        let mut v = items(2);
        // SAFETY: this thread owns q.
        unsafe {
            q.push(p(&mut v[0]), true);
            q.push(p(&mut v[1]), true);
            assert_eq!(q.len(), 1);
            assert_eq!(q.pop(), Some((p(&mut v[1]), true)));
            assert_eq!(q.pop(), Some((p(&mut v[0]), false)));
        }
    }

    #[test]
    fn overflow_moves_half_plus_new() {
        let q = RunQueue::<u32>::new();
        let mut v = items(RUNQ_CAP as usize + 1);
        // SAFETY: this thread owns q.
        unsafe {
            for x in v.iter_mut().take(RUNQ_CAP as usize) {
                assert!(q.push(p(x), false).is_none());
            }
            let batch = q.push(p(&mut v[RUNQ_CAP as usize]), false).unwrap();
            assert_eq!(batch.len(), RUNQ_CAP as usize / 2 + 1);
            assert_eq!(batch[0], p(&mut v[0]));
            assert_eq!(*batch.last().unwrap(), p(&mut v[RUNQ_CAP as usize]));
            assert_eq!(q.len(), RUNQ_CAP / 2);
            q.check_invariants();
        }
    }

    #[test]
    fn steal_takes_half_rounded_up() {
        let a = RunQueue::<u32>::new();
        let b = RunQueue::<u32>::new();
        let mut v = items(5);
        // SAFETY: this thread owns both queues.
        unsafe {
            for x in v.iter_mut() {
                a.push(p(x), false);
            }
            let got = b.steal_from(&a, false, false).unwrap();
            assert_eq!(got, p(&mut v[2]));
            assert_eq!(b.len(), 2);
            assert_eq!(a.len(), 2);
            assert_eq!(a.pop(), Some((p(&mut v[3]), false)));
        }
    }

    #[test]
    fn runnext_stolen_only_when_allowed() {
        let a = RunQueue::<u32>::new();
        let b = RunQueue::<u32>::new();
        let mut v = items(1);
        // SAFETY: this thread owns both queues.
        unsafe {
            a.push(p(&mut v[0]), true);
            assert_eq!(b.steal_from(&a, false, false), None);
            assert_eq!(b.steal_from(&a, true, false), Some(p(&mut v[0])));
            assert!(a.is_empty());
        }
    }
}
