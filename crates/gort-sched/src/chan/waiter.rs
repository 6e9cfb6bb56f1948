//! `Waiter` and `WaitQueue`: a blocked party's record in a channel or semaphore wait queue
//! (Go's `sudog` and `waitq`). See the crate docs for the overview.
//!
//! A `Waiter` lives on the blocked party's own stack (the party cannot return while it is
//! parked), so blocking allocates nothing. Queues link waiters intrusively through raw
//! pointers; every link is read and written only under the lock of the queue that holds
//! the waiter.
//!
//! When a long-parked goroutine's stack is compacted (`crate::compact`), its waiter is
//! first replaced in the queue by an off-stack **proxy** ([`Proxy`]: a `Waiter` with the
//! same links and ticket, plus who to restore); the stack's pages are then released. A
//! queue operation that dequeues a proxy *faults it in*: restores the owner's stack (so
//! the real waiter is readable again), frees the proxy and goes on with the real waiter.
//! Neighbours' unlinks touch only the proxy's links, so nothing but the fault-in ever
//! reads a compacted stack.

use core::cell::Cell;
use core::ptr;

use crate::park::Parker;
use crate::sync::UnsafeCell;
use crate::sync::atomic::{AtomicBool, Ordering};

/// How a wait ended, written by the waker before it unparks the waiter (Go's
/// `sudog.success` and `sudog.ticket`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Still queued, or not woken yet. Legal transitions: to `Completed` or `Closed`,
    /// once, by the party that dequeued the waiter.
    Waiting,
    /// The operation was done by the waker: a value was handed over (channels), or a
    /// permit was handed off directly (semaphores, Go's `ticket = 1`), or the waiter was
    /// notified (condition variables).
    Completed,
    /// Woken without completing: the channel was closed (channels), or a permit was made
    /// available but not handed over (semaphores; the waiter competes for it again).
    Closed,
}

/// Shared by all waiters of one blocked `select` (Go's `g.selectDone` plus the `g`
/// itself): the first waker to win `done` owns the wakeup.
#[derive(Debug)]
pub(crate) struct SelectState {
    /// Set once, by the waker that completes one of the select's cases. Atomic, because
    /// wakers of different channels (holding different locks) race for it.
    done: AtomicBool,
    /// Who to wake. Taken once, by the waker that won `done`.
    parker: UnsafeCell<Option<Parker>>,
}

impl SelectState {
    /// A fresh state for the current party.
    pub(crate) fn new(parker: Parker) -> Self {
        Self {
            done: AtomicBool::new(false),
            parker: UnsafeCell::new(Some(parker)),
        }
    }
}

/// One blocked party's entry in a wait queue (Go's `sudog`).
///
/// Invariant: while a waiter is linked into a queue, it does not move and its owner is
/// blocked in (or about to enter) `park`; the owner unlinks it (or checks that it was
/// unlinked) under the queue's lock before the waiter goes out of scope.
#[derive(Debug)]
pub(crate) struct Waiter {
    /// Who to wake, unless the waiter belongs to a `select` (then the parker is in the
    /// `SelectState`). Taken once by the waker, under the queue's lock or after it has
    /// dequeued the waiter.
    parker: UnsafeCell<Option<Parker>>,
    /// The owner's value slot, an `UnsafeCell<Option<T>>` for the channel's element type
    /// `T` (Go's `sudog.elem`), or null. Immutable while queued; the pointee is written
    /// by the waker under the channel lock and read by the owner after `park` returns.
    elem: *const (),
    /// The `select` this waiter belongs to, or null. Immutable while queued.
    select: *const SelectState,
    /// How the wait ended. Written by the waker (once), read by the owner after `park`.
    outcome: UnsafeCell<Outcome>,
    /// Ticket number for notify lists (`Cond`). Protected by the queue's lock.
    ticket: Cell<u32>,
    /// Next waiter in the queue. Protected by the queue's lock.
    next: Cell<*const Waiter>,
    /// Previous waiter in the queue. Protected by the queue's lock.
    prev: Cell<*const Waiter>,
    /// For a [`Proxy`]: the real waiter it stands for (on a compacted stack); null for a
    /// real waiter. Immutable.
    origin: *const Waiter,
}

/// An off-stack stand-in for a waiter whose owner's stack is compacted. Allocated by the
/// compactor under the queue's lock, freed by whoever dequeues it (after the fault-in).
///
/// `#[repr(C)]` with the `Waiter` first, so a `*const Waiter` in a queue may point at a
/// proxy; `Waiter::origin` tells which.
#[repr(C)]
pub(crate) struct Proxy {
    /// Links, ticket and `origin` (non-null).
    waiter: Waiter,
    /// What `fault_in` restores (a `*const G` in the scheduler; a model object under
    /// loom). Immutable.
    owner: *const (),
    /// Restores `owner`'s stack so that `waiter.origin` is readable again.
    ///
    /// Safety contract: called once, under the queue's lock, while the proxy is no longer
    /// linked and the owner is still blocked.
    fault_in: unsafe fn(*const ()),
}

impl Waiter {
    /// A waiter for the current party with its own parker (not in a `select`).
    pub(crate) fn new(parker: Parker, elem: *const ()) -> Self {
        Self::build(Some(parker), elem, ptr::null())
    }

    /// A waiter for one case of a `select`.
    pub(crate) fn for_select(select: &SelectState, elem: *const ()) -> Self {
        Self::build(None, elem, select)
    }

    fn build(parker: Option<Parker>, elem: *const (), select: *const SelectState) -> Self {
        Self {
            parker: UnsafeCell::new(parker),
            elem,
            select,
            outcome: UnsafeCell::new(Outcome::Waiting),
            ticket: Cell::new(0),
            next: Cell::new(ptr::null()),
            prev: Cell::new(ptr::null()),
            origin: ptr::null(),
        }
    }

    /// Whether this is a [`Proxy`]'s waiter.
    #[inline]
    fn is_proxy(&self) -> bool {
        !self.origin.is_null()
    }

    /// The owner's value slot (see the field docs).
    pub(crate) fn elem(&self) -> *const () {
        self.elem
    }

    /// How the wait ended. Call as the owner after `park` returned, or as the waker.
    pub(crate) fn outcome(&self) -> Outcome {
        // SAFETY: the outcome is written only by the single waker that dequeued this
        // waiter, before it unparks the owner; the owner reads it after `park` returned
        // (the unpark orders the write before the read) or under the queue lock.
        self.outcome.with(|p| unsafe { *p })
    }

    /// Sets the ticket number before the waiter is queued.
    pub(crate) fn set_ticket(&self, t: u32) {
        self.ticket.set(t);
    }

    /// Records how the wait ended and takes the parker to wake; the caller unparks it
    /// (after releasing the queue's lock, as Go's `goready` after `unlock`).
    ///
    /// # Safety
    ///
    /// The caller has dequeued this waiter (and won its `select`, if any), so it is the
    /// only party that may finish it, and the owner is still blocked.
    pub(crate) unsafe fn finish(&self, outcome: Outcome) -> Option<Parker> {
        // SAFETY: by the contract the caller is the only writer, and the owner does not
        // read the outcome before it is unparked.
        self.outcome.with_mut(|p| unsafe { *p = outcome });
        let cell = if self.select.is_null() {
            &self.parker
        } else {
            // SAFETY: a queued waiter's select state lives on the owner's stack, which
            // stays valid while the owner is blocked (contract).
            unsafe { &(*self.select).parker }
        };
        // SAFETY: only the single finishing waker takes the parker.
        cell.with_mut(|p| unsafe { (*p).take() })
    }

    /// Claims this waiter for a wakeup: always succeeds for a plain waiter; for a
    /// `select` waiter only the first claim among all its cases succeeds (Go's
    /// `selectDone` CAS in `waitq.dequeue`).
    fn claim(&self) -> bool {
        if self.select.is_null() {
            return true;
        }
        // SAFETY: a queued waiter's select state outlives its queue membership, and the
        // caller holds the lock of the queue the waiter was in.
        let done = unsafe { &(*self.select).done };
        done.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }
}

/// A FIFO of waiters linked through their `next`/`prev` fields (Go's `waitq`).
///
/// Protected by the lock of the structure that owns it (a channel's or a semaphore's).
#[derive(Debug)]
pub(crate) struct WaitQueue {
    /// Oldest waiter, or null.
    first: *const Waiter,
    /// Newest waiter, or null. Invariant: null exactly when `first` is.
    last: *const Waiter,
}

impl WaitQueue {
    /// An empty queue.
    pub(crate) const fn new() -> Self {
        Self {
            first: ptr::null(),
            last: ptr::null(),
        }
    }

    /// True if no waiter is queued (`select` waiters that already lost count as
    /// queued until unlinked).
    pub(crate) fn is_empty(&self) -> bool {
        self.first.is_null()
    }

    /// Appends `w` at the back.
    ///
    /// # Safety
    ///
    /// `w` is valid, not in any queue, and stays valid and unmoved until it is dequeued
    /// or removed; the caller holds the queue's lock.
    pub(crate) unsafe fn push_back(&mut self, w: *const Waiter) {
        // SAFETY: `w` and every queued waiter are valid (contract and invariant).
        unsafe {
            (*w).next.set(ptr::null());
            (*w).prev.set(self.last);
            if self.last.is_null() {
                self.first = w;
            } else {
                (*self.last).next.set(w);
            }
        }
        self.last = w;
    }

    /// Puts `w` at the front (Go's LIFO semaphore queueing for waiters that already
    /// waited once).
    ///
    /// # Safety
    ///
    /// As for [`WaitQueue::push_back`].
    pub(crate) unsafe fn push_front(&mut self, w: *const Waiter) {
        // SAFETY: `w` and every queued waiter are valid (contract and invariant).
        unsafe {
            (*w).prev.set(ptr::null());
            (*w).next.set(self.first);
            if self.first.is_null() {
                self.last = w;
            } else {
                (*self.first).prev.set(w);
            }
        }
        self.first = w;
    }

    /// Unlinks and returns the oldest waiter that can be woken, skipping (and unlinking)
    /// `select` waiters whose select was already won through another case (Go's
    /// `waitq.dequeue`). The returned waiter is claimed: the caller must finish it.
    ///
    /// # Safety
    ///
    /// The caller holds the queue's lock.
    pub(crate) unsafe fn dequeue(&mut self) -> Option<*const Waiter> {
        loop {
            let w = self.first;
            if w.is_null() {
                return None;
            }
            // SAFETY: queued waiters are valid (invariant), and we hold the lock; a proxy
            // is unlinked before its fault-in (its contract).
            let (claimed, w) = unsafe {
                let next = (*w).next.get();
                self.first = next;
                if next.is_null() {
                    self.last = ptr::null();
                } else {
                    (*next).prev.set(ptr::null());
                }
                (*w).next.set(ptr::null());
                (*w).prev.set(ptr::null());
                let w = if (*w).is_proxy() { fault_in(w) } else { w };
                ((*w).claim(), w)
            };
            if claimed {
                return Some(w);
            }
        }
    }

    /// Unlinks `w` if it is still queued; a no-op if a waker already dequeued it (Go's
    /// `waitq.dequeueSudoG`).
    ///
    /// # Safety
    ///
    /// `w` is valid and was pushed onto this queue (it may have been dequeued since);
    /// the caller holds the queue's lock.
    pub(crate) unsafe fn remove(&mut self, w: *const Waiter) {
        // SAFETY: `w` and its queued neighbours are valid (contract and invariant).
        unsafe {
            // Only `select` and `Cond` waiters are removed by their owners, and their
            // parks register no compaction site, so they are never proxied.
            debug_assert!(!(*w).is_proxy(), "waitq: removing a proxy");
            let prev = (*w).prev.get();
            let next = (*w).next.get();
            if !prev.is_null() {
                (*prev).next.set(next);
            } else if self.first == w {
                self.first = next;
            } else {
                // Not first and no predecessor: already dequeued.
                return;
            }
            if !next.is_null() {
                (*next).prev.set(prev);
            } else {
                self.last = prev;
            }
            (*w).next.set(ptr::null());
            (*w).prev.set(ptr::null());
        }
    }

    /// Removes the first waiter whose ticket is `t` (Go's `notifyListNotifyOne` scan).
    ///
    /// # Safety
    ///
    /// The caller holds the queue's lock. Only for queues without `select` waiters.
    pub(crate) unsafe fn remove_ticket(&mut self, t: u32) -> Option<*const Waiter> {
        let mut w = self.first;
        while !w.is_null() {
            // SAFETY: queued waiters are valid (invariant), and we hold the lock.
            unsafe {
                if (*w).ticket.get() == t {
                    debug_assert!(!(*w).is_proxy(), "notify list holds a proxy");
                    self.remove(w);
                    return Some(w);
                }
                w = (*w).next.get();
            }
        }
        None
    }

    /// Puts a new [`Proxy`] for `w` into `w`'s place in whichever of `queues` holds it
    /// and returns it, or returns `None` (allocating nothing) if `w` is not linked. `w`'s
    /// own fields are left as they are (they are what the owner's stack is restored
    /// with).
    ///
    /// # Safety
    ///
    /// `w` is valid and not a proxy, `queues` are all the queues it may be in, and the
    /// caller holds their lock. `fault_in(owner)` satisfies [`Proxy::fault_in`]'s
    /// contract for `w`'s owner.
    pub(crate) unsafe fn replace_with_proxy(
        queues: &mut [&mut WaitQueue],
        w: *const Waiter,
        owner: *const (),
        fault_in: unsafe fn(*const ()),
    ) -> Option<*const Waiter> {
        // SAFETY: `w` is valid and we hold the locks (contract).
        let (prev, next) = unsafe { ((*w).prev.get(), (*w).next.get()) };
        let first_of = queues.iter().position(|q| q.first == w);
        let last_of = queues.iter().position(|q| q.last == w);
        if (prev.is_null() && first_of.is_none()) || (next.is_null() && last_of.is_none()) {
            return None;
        }
        // SAFETY: as above.
        let ticket = unsafe { (*w).ticket.get() };
        let proxy = Box::new(Proxy {
            waiter: Waiter {
                parker: UnsafeCell::new(None),
                elem: ptr::null(),
                select: ptr::null(),
                outcome: UnsafeCell::new(Outcome::Waiting),
                ticket: Cell::new(ticket),
                next: Cell::new(next),
                prev: Cell::new(prev),
                origin: w,
            },
            owner,
            fault_in,
        });
        let p = Box::into_raw(proxy).cast_const().cast::<Waiter>();
        // SAFETY: the neighbours are queued, hence valid (invariant); we hold the lock.
        unsafe {
            match (prev.is_null(), first_of) {
                (false, _) => (*prev).next.set(p),
                (true, Some(i)) => queues[i].first = p,
                (true, None) => {}
            }
            match (next.is_null(), last_of) {
                (false, _) => (*next).prev.set(p),
                (true, Some(i)) => queues[i].last = p,
                (true, None) => {}
            }
        }
        Some(p)
    }

    /// Undoes [`WaitQueue::replace_with_proxy`] (the compaction was refused): the real
    /// waiter takes the proxy's place again and the proxy is freed.
    ///
    /// # Safety
    ///
    /// `p` was returned by `replace_with_proxy` with these `queues`, is still linked, and
    /// the caller holds the lock; the owner's stack was not compacted.
    pub(crate) unsafe fn unreplace_proxy(queues: &mut [&mut WaitQueue], p: *const Waiter) {
        // SAFETY: `p` is a linked proxy (contract); its origin is readable (not compacted).
        unsafe {
            let w = (*p).origin;
            let (prev, next) = ((*p).prev.get(), (*p).next.get());
            (*w).prev.set(prev);
            (*w).next.set(next);
            if prev.is_null() {
                if let Some(q) = queues.iter_mut().find(|q| q.first == p) {
                    q.first = w;
                }
            } else {
                (*prev).next.set(w);
            }
            if next.is_null() {
                if let Some(q) = queues.iter_mut().find(|q| q.last == p) {
                    q.last = w;
                }
            } else {
                (*next).prev.set(w);
            }
            drop(Box::from_raw(p.cast_mut().cast::<Proxy>()));
        }
    }

    /// Checks the link structure (debug builds; O(n), so only under
    /// `--cfg gort_expensive_checks`).
    ///
    /// # Safety
    ///
    /// The caller holds the queue's lock.
    #[cfg(gort_expensive_checks)]
    pub(crate) unsafe fn check_invariants(&self) {
        if cfg!(debug_assertions) {
            assert_eq!(
                self.first.is_null(),
                self.last.is_null(),
                "waitq ends disagree"
            );
            let mut prev: *const Waiter = ptr::null();
            let mut w = self.first;
            while !w.is_null() {
                // SAFETY: queued waiters are valid (invariant), and we hold the lock.
                unsafe {
                    assert_eq!((*w).prev.get(), prev, "waitq back link broken");
                    prev = w;
                    w = (*w).next.get();
                }
            }
            assert_eq!(prev, self.last, "waitq last is not the tail");
        }
    }
}

/// Faults a dequeued proxy in: restores its owner's stack, frees the proxy and returns
/// the real waiter, unlinked.
///
/// # Safety
///
/// `p` is a proxy just unlinked by the caller, who holds the queue's lock.
#[cold]
#[inline(never)]
unsafe fn fault_in(p: *const Waiter) -> *const Waiter {
    // SAFETY: proxies are boxed `Proxy`s (`replace_with_proxy`); this one was unlinked,
    // so nobody else reaches it; its `fault_in` contract holds (lock held, unlinked, the
    // owner blocked until its real waiter is finished).
    unsafe {
        let proxy = Box::from_raw(p.cast_mut().cast::<Proxy>());
        (proxy.fault_in)(proxy.owner);
        let w = proxy.waiter.origin;
        // The restored links are those of the moment of compaction: stale.
        (*w).next.set(ptr::null());
        (*w).prev.set(ptr::null());
        w
    }
}

/// Waiters dequeued under a lock, to be woken after it is released (Go's `glist` in
/// `closechan`). Chains through the waiters' `next` links, which are free once dequeued.
#[derive(Debug)]
pub(crate) struct WakeList {
    head: *const Waiter,
    tail: *const Waiter,
}

impl WakeList {
    /// An empty list.
    pub(crate) const fn new() -> Self {
        Self {
            head: ptr::null(),
            tail: ptr::null(),
        }
    }

    /// Appends a dequeued, claimed waiter.
    ///
    /// # Safety
    ///
    /// `w` was just dequeued by the caller (so its links are free) and its owner stays
    /// blocked until the caller wakes it.
    pub(crate) unsafe fn push(&mut self, w: *const Waiter) {
        // SAFETY: by the contract the caller owns `w`'s links.
        unsafe {
            (*w).next.set(ptr::null());
            if self.tail.is_null() {
                self.head = w;
            } else {
                (*self.tail).next.set(w);
            }
        }
        self.tail = w;
    }

    /// Finishes every waiter with `outcome` and unparks it, oldest first. Call after
    /// releasing the lock the waiters were queued under.
    ///
    /// # Safety
    ///
    /// Every waiter in the list was pushed per [`WakeList::push`] and not yet finished.
    pub(crate) unsafe fn wake_all(self, outcome: Outcome) {
        let mut w = self.head;
        while !w.is_null() {
            // SAFETY: the owner of `w` is still blocked, so `w` is valid; read the link
            // before the unpark lets the owner return and pop `w` off its stack.
            unsafe {
                let next = (*w).next.get();
                if let Some(p) = (*w).finish(outcome) {
                    p.unpark();
                }
                w = next;
            }
        }
    }
}
