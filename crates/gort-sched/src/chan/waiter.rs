//! `Waiter` and `WaitQueue`: a blocked party's record in a channel or semaphore wait queue
//! (Go's `sudog` and `waitq`). See the crate docs for the overview.
//!
//! A `Waiter` lives on the blocked party's own stack (the party cannot return while it is
//! parked), so blocking allocates nothing. Queues link waiters intrusively through raw
//! pointers; every link is read and written only under the lock of the queue that holds
//! the waiter.

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
        }
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
            // SAFETY: queued waiters are valid (invariant), and we hold the lock.
            let claimed = unsafe {
                let next = (*w).next.get();
                self.first = next;
                if next.is_null() {
                    self.last = ptr::null();
                } else {
                    (*next).prev.set(ptr::null());
                }
                (*w).next.set(ptr::null());
                (*w).prev.set(ptr::null());
                (*w).claim()
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
                    self.remove(w);
                    return Some(w);
                }
                w = (*w).next.get();
            }
        }
        None
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
