//! `Chan<T>`: Go's channel (`hchan`), unbuffered or buffered. See the crate docs for the
//! overview.

use std::collections::VecDeque;

use super::error::{CloseError, SendError, TryRecvError, TrySendError};
use super::waiter::{Outcome, WaitQueue, Waiter, WakeList};
use crate::compact::{self, Attempt};
use crate::fatal::throw;
use crate::park::{Parker, WaitReason, park};
use crate::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use crate::sync::{Arc, Mutex, MutexGuard, UnsafeCell};

/// A channel carrying values of type `T` between goroutines or threads, with Go's
/// semantics (Go: `chan T`, `runtime/chan.go`).
///
/// `Chan` is a cheap handle (an `Arc`): clone it to give another party access. Any handle
/// may send, receive and close. A channel with capacity 0 is unbuffered: a send waits
/// for a receiver and hands the value over directly. With capacity `n > 0`, up to `n`
/// values wait in a FIFO buffer.
///
/// Closing is explicit ([`Chan::close`]), never on drop. After a close, receivers drain
/// the buffered values and then see `None`; sending panics with Go's message
/// "send on closed channel" (or returns an error from [`Chan::send_checked`] and
/// [`Chan::try_send`]). A party blocked on a channel that no one will ever use again
/// stays blocked, as in Go.
///
/// Go's nil channel is `Option<Chan<T>>` = `None`: in [`select!`](crate::select) such a
/// case is never ready.
///
/// ```
/// use gort_sched::Chan;
///
/// let ch = Chan::new(2);
/// ch.send(1);
/// ch.send(2);
/// ch.close();
/// assert_eq!(ch.recv(), Some(1));
/// assert_eq!(ch.recv(), Some(2));
/// assert_eq!(ch.recv(), None);
/// ```
pub struct Chan<T> {
    inner: Arc<Inner<T>>,
}

/// The shared channel object (Go's `hchan`).
pub(crate) struct Inner<T> {
    /// Protects `state` (Go's `hchan.lock`). A waker never readies a party while holding
    /// it (it takes the parker and unparks after unlocking, as Go's `send`/`recv`).
    lock: Mutex<()>,
    /// Protected by `lock`.
    state: UnsafeCell<State<T>>,
    /// Buffer capacity (Go's `dataqsiz`). Immutable.
    cap: usize,
    /// Lock-free mirrors of `state` for Go's non-blocking fast paths and `len`.
    mirror: Mirror,
    /// Creation order, the lock-order key under loom (addresses differ between model
    /// executions, and loom needs every execution of a schedule to behave the same).
    /// Immutable.
    #[cfg(loom)]
    seq: usize,
}

/// Copies of a few facts about `State`, written (Release) under the channel lock at the
/// end of every locked step and read without the lock (Acquire), as Go reads
/// `c.closed`, `c.qcount` and `c.recvq.first` racily in `chansend`/`chanrecv` with
/// `block == false`. They only ever let an operation fail fast ("would block") or skip
/// the lock for `len`; anything that changes the channel takes the lock.
struct Mirror {
    /// `State::closed`.
    closed: AtomicBool,
    /// `State::buf.len()` (Go's `qcount`).
    len: AtomicUsize,
    /// `recvq` is non-empty (possibly only with select waiters that already lost).
    recv_waiting: AtomicBool,
    /// `sendq` is non-empty (ditto).
    send_waiting: AtomicBool,
}

/// The lock-protected part of a channel.
///
/// Invariants (Go's, up to `select` waiters that already lost and are not yet removed):
/// at most one of `recvq`/`sendq` holds live waiters; `buf.len() > 0` implies no live
/// receiver waits; `buf.len() < cap` implies no live sender waits; `buf.len() <= cap`.
struct State<T> {
    /// Buffered values, oldest first. Allocated once with capacity `cap`, never grows.
    buf: VecDeque<T>,
    /// Set once by `close`; never cleared (Go's `closed`).
    closed: bool,
    /// Blocked receivers (Go's `recvq`); their `elem` is an `UnsafeCell<Option<T>>`
    /// that a sender fills.
    recvq: WaitQueue,
    /// Blocked senders (Go's `sendq`); their `elem` is an `UnsafeCell<Option<T>>`
    /// holding the value, which a receiver takes.
    sendq: WaitQueue,
}

/// What a send attempt under the lock did.
pub(crate) enum SendStep<T> {
    /// The value went to a waiting receiver (whose parker is returned, to unpark after
    /// unlocking) or into the buffer (`None`).
    Sent(Option<Parker>),
    /// No receiver and no room: the value comes back.
    Full(T),
    /// The channel is closed: the value comes back.
    Closed(T),
}

/// What a receive attempt under the lock did.
pub(crate) enum RecvStep<T> {
    /// A value, and the parker of a sender whose value entered the buffer or was
    /// taken directly (to unpark after unlocking).
    Got(T, Option<Parker>),
    /// Nothing to receive yet.
    Empty,
    /// Closed and drained.
    Closed,
}

/// The element slot a waiter's `elem` points to.
pub(crate) type Slot<T> = UnsafeCell<Option<T>>;

// SAFETY: `Inner` hands values of `T` between threads (so `T: Send` is needed) and
// never gives out `&T`; its state is accessed only under `lock`, and the raw waiter
// pointers in the queues refer to parties blocked until a waker finishes them.
unsafe impl<T: Send> Send for Inner<T> {}
// SAFETY: as above; every shared access goes through `lock`.
unsafe impl<T: Send> Sync for Inner<T> {}

/// Reads the slot behind a waiter's `elem`.
///
/// # Safety
///
/// `w` is a dequeued, claimed waiter of a `Chan<T>` (so its `elem` is a `Slot<T>` on a
/// blocked party's stack) and the caller holds that channel's lock.
unsafe fn slot_of<'w, T>(w: *const Waiter) -> &'w Slot<T> {
    // SAFETY: by the contract.
    unsafe { &*(*w).elem().cast::<Slot<T>>() }
}

impl<T> Inner<T> {
    /// Takes the channel lock (poisoning is ignored: no user code runs under it).
    pub(crate) fn lock(&self) -> MutexGuard<'_, ()> {
        self.lock.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs one step on the state, then publishes the mirrors and checks invariants.
    ///
    /// # Safety
    ///
    /// The caller holds `self.lock`.
    unsafe fn locked<R>(&self, f: impl FnOnce(&mut State<T>) -> R) -> R {
        self.state.with_mut(|st| {
            // SAFETY: the caller holds the lock, so we have exclusive access.
            let st = unsafe { &mut *st };
            let r = f(st);
            st.check_invariants(self.cap);
            let m = &self.mirror;
            m.closed.store(st.closed, Ordering::Release);
            m.len.store(st.buf.len(), Ordering::Release);
            m.recv_waiting
                .store(!st.recvq.is_empty(), Ordering::Release);
            m.send_waiting
                .store(!st.sendq.is_empty(), Ordering::Release);
            r
        })
    }

    /// Go's `empty(c)` without the lock: nothing to receive right now.
    fn looks_empty(&self) -> bool {
        if self.cap == 0 {
            !self.mirror.send_waiting.load(Ordering::Acquire)
        } else {
            self.mirror.len.load(Ordering::Acquire) == 0
        }
    }

    /// Without the lock: a non-blocking send would fail now (open and full; the first
    /// half of Go's `chansend` fast path, see `send`).
    pub(crate) fn send_would_block(&self) -> bool {
        !self.mirror.closed.load(Ordering::Acquire) && self.looks_full()
    }

    /// Without the lock: a non-blocking receive would fail now (empty and open; see
    /// `recv`).
    pub(crate) fn recv_would_block(&self) -> bool {
        self.looks_empty() && !self.mirror.closed.load(Ordering::Acquire)
    }

    /// Go's `full(c)` without the lock: a send would block right now.
    fn looks_full(&self) -> bool {
        if self.cap == 0 {
            !self.mirror.recv_waiting.load(Ordering::Acquire)
        } else {
            self.mirror.len.load(Ordering::Acquire) == self.cap
        }
    }

    /// Tries to send `value` (Go's `chansend` up to blocking).
    ///
    /// # Safety
    ///
    /// The caller holds `self.lock`.
    pub(crate) unsafe fn try_send_locked(&self, value: T) -> SendStep<T> {
        let step = |st: &mut State<T>| {
            if st.closed {
                return SendStep::Closed(value);
            }
            // SAFETY: we hold the lock.
            if let Some(w) = unsafe { st.recvq.dequeue() } {
                // Found a waiting receiver: hand the value over directly, bypassing the
                // buffer (Go's `send`). SAFETY: `w` is a claimed receiver of this
                // channel, blocked until we finish it.
                let parker = unsafe {
                    slot_of::<T>(w).with_mut(|p| *p = Some(value));
                    (*w).finish(Outcome::Completed)
                };
                return SendStep::Sent(parker);
            }
            if st.buf.len() < self.cap {
                st.buf.push_back(value);
                return SendStep::Sent(None);
            }
            SendStep::Full(value)
        };
        // SAFETY: the caller holds the lock.
        unsafe { self.locked(step) }
    }

    /// Tries to receive (Go's `chanrecv` up to blocking).
    ///
    /// # Safety
    ///
    /// The caller holds `self.lock`.
    pub(crate) unsafe fn try_recv_locked(&self) -> RecvStep<T> {
        let step = |st: &mut State<T>| {
            // SAFETY: we hold the lock.
            if let Some(w) = unsafe { st.sendq.dequeue() } {
                // Found a waiting sender. Unbuffered: take its value directly. Buffered
                // (then full): take the head and put the sender's value at the tail
                // (Go's `recv`). SAFETY: `w` is a claimed sender of this channel,
                // blocked until we finish it, whose slot holds its value.
                let (sent, parker) = unsafe {
                    let sent = slot_of::<T>(w).with_mut(|p| (*p).take());
                    (sent, (*w).finish(Outcome::Completed))
                };
                let Some(sent) = sent else {
                    throw("chanrecv: sender without a value")
                };
                let v = if self.cap == 0 {
                    sent
                } else {
                    let Some(head) = st.buf.pop_front() else {
                        throw("chanrecv: sender waiting on a buffered channel that is not full")
                    };
                    st.buf.push_back(sent);
                    head
                };
                return RecvStep::Got(v, parker);
            }
            if let Some(v) = st.buf.pop_front() {
                return RecvStep::Got(v, None);
            }
            if st.closed {
                RecvStep::Closed
            } else {
                RecvStep::Empty
            }
        };
        // SAFETY: the caller holds the lock.
        unsafe { self.locked(step) }
    }

    /// Queues `w` as a receiver.
    ///
    /// # Safety
    ///
    /// The caller holds `self.lock`; `w` satisfies [`WaitQueue::push_back`] and its
    /// `elem` is a `Slot<T>` holding `None`.
    pub(crate) unsafe fn enqueue_recv(&self, w: *const Waiter) {
        // SAFETY: by the contract (the lock is held; `w` is valid and stays put).
        unsafe { self.locked(|st| st.recvq.push_back(w)) };
    }

    /// Queues `w` as a sender.
    ///
    /// # Safety
    ///
    /// The caller holds `self.lock`; `w` satisfies [`WaitQueue::push_back`] and its
    /// `elem` is a `Slot<T>` holding the value to send.
    pub(crate) unsafe fn enqueue_send(&self, w: *const Waiter) {
        // SAFETY: by the contract (the lock is held; `w` is valid and stays put).
        unsafe { self.locked(|st| st.sendq.push_back(w)) };
    }

    /// Unlinks a receiver waiter if still queued.
    ///
    /// # Safety
    ///
    /// The caller holds `self.lock`; `w` was queued with `enqueue_recv`.
    pub(crate) unsafe fn remove_recv(&self, w: *const Waiter) {
        // SAFETY: by the contract (the lock is held; `w` was queued here).
        unsafe { self.locked(|st| st.recvq.remove(w)) };
    }

    /// Unlinks a sender waiter if still queued.
    ///
    /// # Safety
    ///
    /// The caller holds `self.lock`; `w` was queued with `enqueue_send`.
    pub(crate) unsafe fn remove_send(&self, w: *const Waiter) {
        // SAFETY: by the contract (the lock is held; `w` was queued here).
        unsafe { self.locked(|st| st.sendq.remove(w)) };
    }

    /// The channel's address, Go's lock order key for `select` (under loom, the
    /// creation order instead; see `seq`).
    pub(crate) fn addr(&self) -> usize {
        #[cfg(loom)]
        return self.seq;
        #[cfg(not(loom))]
        core::ptr::from_ref(self).addr()
    }

    /// Blocking or non-blocking send (Go's `chansend`).
    fn send(&self, value: T, block: bool) -> Result<(), TrySendError<T>> {
        // A cooperative preemption point (sysmon flags slices over 10 ms).
        crate::sysmon::preempt_check();
        // Fast path: a failed non-blocking send without the lock (Go's `chansend`).
        // Having seen "not closed" and then "not ready for sending", and since a closed
        // channel cannot go from ready to not ready for sending, there was a moment
        // between the two reads when the channel was open and full: report that.
        if !block && self.send_would_block() {
            return Err(TrySendError::Full(value));
        }
        let guard = self.lock();
        // SAFETY: we hold the lock.
        let value = match unsafe { self.try_send_locked(value) } {
            SendStep::Sent(parker) => {
                drop(guard);
                if let Some(p) = parker {
                    p.unpark();
                }
                return Ok(());
            }
            SendStep::Closed(v) => return Err(TrySendError::Closed(v)),
            SendStep::Full(v) => v,
        };
        if !block {
            return Err(TrySendError::Full(value));
        }
        // Block: some receiver (or close) will finish our waiter.
        let slot: Slot<T> = UnsafeCell::new(Some(value));
        let w = Waiter::new(Parker::current(), core::ptr::from_ref(&slot).cast());
        // SAFETY: we hold the lock; `w` stays on this stack, unmoved, until a waker
        // dequeues it, because we park until then (no spurious wakeups).
        unsafe { self.enqueue_send(&w) };
        // SAFETY: `self` and `w` outlive the park; `try_compact` is this channel's.
        let token = unsafe { compact::register(self.site(), &w, Self::try_compact) };
        park(WaitReason::ChanSend, move || drop(guard));
        compact::unregister(token);
        match w.outcome() {
            Outcome::Completed => Ok(()),
            // SAFETY: the waker finished us before unparking; no one else touches
            // `slot` any more.
            Outcome::Closed => match slot.with_mut(|p| unsafe { (*p).take() }) {
                Some(v) => Err(TrySendError::Closed(v)),
                None => throw("chansend: closed wakeup without the value"),
            },
            Outcome::Waiting => throw("chansend: spurious wakeup"),
        }
    }

    /// Blocking or non-blocking receive (Go's `chanrecv`). `Ok(None)` means closed.
    fn recv(&self, block: bool) -> Result<Option<T>, TryRecvError> {
        // A cooperative preemption point (sysmon flags slices over 10 ms).
        crate::sysmon::preempt_check();
        // Fast path: a failed non-blocking receive without the lock (Go's `chanrecv`).
        // Empty and then not closed: it was empty while open (channels never reopen).
        // Empty, closed, and still empty: closed and drained for good.
        if !block && self.looks_empty() {
            if !self.mirror.closed.load(Ordering::Acquire) {
                return Err(TryRecvError::Empty);
            }
            if self.looks_empty() {
                return Ok(None);
            }
        }
        let guard = self.lock();
        // SAFETY: we hold the lock.
        match unsafe { self.try_recv_locked() } {
            RecvStep::Got(v, parker) => {
                drop(guard);
                if let Some(p) = parker {
                    p.unpark();
                }
                return Ok(Some(v));
            }
            RecvStep::Closed => return Ok(None),
            RecvStep::Empty => {}
        }
        if !block {
            return Err(TryRecvError::Empty);
        }
        let slot: Slot<T> = UnsafeCell::new(None);
        let w = Waiter::new(Parker::current(), core::ptr::from_ref(&slot).cast());
        // SAFETY: as in `send`.
        unsafe { self.enqueue_recv(&w) };
        // SAFETY: as in `send`.
        let token = unsafe { compact::register(self.site(), &w, Self::try_compact) };
        park(WaitReason::ChanReceive, move || drop(guard));
        compact::unregister(token);
        match w.outcome() {
            // SAFETY: the sender finished us before unparking; no one else touches
            // `slot` any more.
            Outcome::Completed => match slot.with_mut(|p| unsafe { (*p).take() }) {
                Some(v) => Ok(Some(v)),
                None => throw("chanrecv: completed wakeup without a value"),
            },
            Outcome::Closed => Ok(None),
            Outcome::Waiting => throw("chanrecv: spurious wakeup"),
        }
    }

    /// The channel as a compaction site (see `compact.rs`).
    fn site(&self) -> *const () {
        core::ptr::from_ref(self).cast()
    }

    /// The channel's [`compact::TryCompactFn`]: under the channel lock (taken with
    /// `try_lock`, at most `tries` times), for each `(waiter, g)` whose waiter is still in
    /// one of the queues, puts a proxy in its place and compacts `g`'s stack (undoing the
    /// swap if that is refused).
    ///
    /// # Safety
    ///
    /// [`compact::TryCompactFn`]'s contract, with `site` from [`Inner::site`] on a
    /// channel of `T`.
    unsafe fn try_compact(
        site: *const (),
        items: &[(*const Waiter, *const crate::g::G)],
        out: &mut [Attempt],
        tries: u32,
    ) {
        // SAFETY: `site` is this channel, borrowed by the parked Gs (contract).
        let this = unsafe { &*site.cast::<Inner<T>>() };
        let mut left = tries;
        let guard = loop {
            if let Ok(guard) = this.lock.try_lock() {
                break guard;
            }
            left = left.saturating_sub(1);
            if left == 0 {
                out.fill(Attempt::Busy);
                return;
            }
            crate::sync::spin_loop();
        };
        let step = |st: &mut State<T>| {
            let mut queues = [&mut st.recvq, &mut st.sendq];
            for (&(w, g), o) in items.iter().zip(out.iter_mut()) {
                // SAFETY: we hold the lock; `w` is `g`'s real waiter (its stack is not
                // compacted while its waiter is linked), in one of these queues if
                // anywhere; `restore_owner` of `g` is the fault-in the compaction needs.
                *o = unsafe {
                    match WaitQueue::replace_with_proxy(
                        &mut queues,
                        w,
                        g.cast(),
                        compact::restore_owner,
                    ) {
                        None => Attempt::Gone,
                        Some(p) => {
                            if compact::compact_stack(g) {
                                Attempt::Compacted
                            } else {
                                WaitQueue::unreplace_proxy(&mut queues, p);
                                Attempt::Refused
                            }
                        }
                    }
                };
            }
        };
        // SAFETY: we hold the lock.
        unsafe { this.locked(step) };
        drop(guard);
    }

    /// Go's `closechan`: marks the channel closed and wakes every waiter (receivers see
    /// "closed", senders will panic).
    fn close(&self) -> Result<(), CloseError> {
        let guard = self.lock();
        let step = |st: &mut State<T>| {
            if st.closed {
                return None;
            }
            st.closed = true;
            let mut wake = WakeList::new();
            // SAFETY: we hold the lock; dequeued waiters are claimed and stay blocked
            // until `wake_all` below.
            unsafe {
                while let Some(w) = st.recvq.dequeue() {
                    wake.push(w);
                }
                while let Some(w) = st.sendq.dequeue() {
                    wake.push(w);
                }
            }
            Some(wake)
        };
        // SAFETY: we hold the lock.
        let wake = unsafe { self.locked(step) };
        drop(guard);
        let Some(wake) = wake else {
            return Err(CloseError);
        };
        // SAFETY: every waiter in `wake` was dequeued and claimed by us above.
        unsafe { wake.wake_all(Outcome::Closed) };
        Ok(())
    }
}

impl<T> State<T> {
    /// Checks the cheap invariants (debug builds; the queue walks only under
    /// `--cfg gort_expensive_checks`, since a queue may hold a million waiters).
    fn check_invariants(&self, cap: usize) {
        debug_assert!(self.buf.len() <= cap, "chan: buffer over capacity");
        #[cfg(gort_expensive_checks)]
        // SAFETY: called under the channel lock.
        unsafe {
            self.recvq.check_invariants();
            self.sendq.check_invariants();
        }
    }
}

impl<T> Chan<T> {
    /// A channel with room for `cap` buffered values (Go's `make(chan T, cap)`);
    /// `cap == 0` makes an unbuffered channel (Go's `make(chan T)`).
    pub fn new(cap: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                lock: Mutex::new(()),
                state: UnsafeCell::new(State {
                    buf: VecDeque::with_capacity(cap),
                    closed: false,
                    recvq: WaitQueue::new(),
                    sendq: WaitQueue::new(),
                }),
                cap,
                mirror: Mirror {
                    closed: AtomicBool::new(false),
                    len: AtomicUsize::new(0),
                    recv_waiting: AtomicBool::new(false),
                    send_waiting: AtomicBool::new(false),
                },
                #[cfg(loom)]
                seq: {
                    use crate::sync::static_atomic::{AtomicUsize, Ordering};
                    static SEQ: AtomicUsize = AtomicUsize::new(1);
                    SEQ.fetch_add(1, Ordering::Relaxed)
                },
            }),
        }
    }

    /// Sends `value`, blocking until a receiver takes it or there is room in the buffer
    /// (Go's `ch <- value`).
    ///
    /// # Panics
    ///
    /// With "send on closed channel" if the channel is closed, or is closed while this
    /// send waits (Go's behaviour). [`Chan::send_checked`] returns an error instead.
    pub fn send(&self, value: T) {
        if self.inner.send(value, true).is_err() {
            panic_send_on_closed();
        }
    }

    /// Sends `value`, blocking like [`Chan::send`], but gives the value back in an error
    /// instead of panicking if the channel is or becomes closed.
    pub fn send_checked(&self, value: T) -> Result<(), SendError<T>> {
        self.inner
            .send(value, true)
            .map_err(|e| SendError(e.into_inner()))
    }

    /// Sends without blocking (Go's `select { case ch <- v: default: }`, but a closed
    /// channel is an error rather than a panic).
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        self.inner.send(value, false)
    }

    /// Receives a value, blocking until one is available; `None` once the channel is
    /// closed and drained (Go's `v, ok := <-ch` with `ok == false`).
    pub fn recv(&self) -> Option<T> {
        match self.inner.recv(true) {
            Ok(v) => v,
            Err(TryRecvError::Empty | TryRecvError::Closed) => {
                throw("chanrecv: blocking receive returned empty")
            }
        }
    }

    /// Go's two-value receive `v, ok := <-ch`: the value and `true`, or `T::default()`
    /// (Go's zero value) and `false` once the channel is closed and drained.
    pub fn recv_ok(&self) -> (T, bool)
    where
        T: Default,
    {
        match self.recv() {
            Some(v) => (v, true),
            None => (T::default(), false),
        }
    }

    /// Receives without blocking.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        match self.inner.recv(false) {
            Ok(Some(v)) => Ok(v),
            Ok(None) => Err(TryRecvError::Closed),
            Err(e) => Err(e),
        }
    }

    /// Closes the channel (Go's `close(ch)`): blocked and future receivers drain the
    /// buffer and then get `None`; blocked and future senders panic.
    ///
    /// # Panics
    ///
    /// With "close of closed channel" if it is already closed. [`Chan::try_close`]
    /// returns an error instead.
    pub fn close(&self) {
        if self.inner.close().is_err() {
            panic_close_of_closed();
        }
    }

    /// Closes the channel, or reports that it was already closed.
    pub fn try_close(&self) -> Result<(), CloseError> {
        self.inner.close()
    }

    /// The number of buffered values (Go's `len(ch)`).
    pub fn len(&self) -> usize {
        // Racy by nature, as in Go: read the mirror without locking.
        self.inner.mirror.len.load(Ordering::Acquire)
    }

    /// True if no value is buffered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The buffer capacity (Go's `cap(ch)`); 0 for an unbuffered channel.
    pub fn cap(&self) -> usize {
        self.inner.cap
    }

    /// True once the channel has been closed (values may still be buffered).
    pub fn is_closed(&self) -> bool {
        self.inner.mirror.closed.load(Ordering::Acquire)
    }

    /// An iterator receiving until the channel is closed and drained (Go's
    /// `for v := range ch`).
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { chan: self }
    }

    /// The shared channel object.
    pub(crate) fn inner(&self) -> &Inner<T> {
        &self.inner
    }
}

impl<T> Clone for Chan<T> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

/// Two handles are equal when they refer to the same channel (Go's `==` on channels).
impl<T> PartialEq for Chan<T> {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl<T> Eq for Chan<T> {}

impl<T> core::fmt::Debug for Chan<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Chan")
            .field("addr", &format_args!("{:#x}", self.inner.addr()))
            .field("len", &self.len())
            .field("cap", &self.cap())
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// Receives until the channel is closed and drained; from [`Chan::iter`].
#[derive(Debug)]
pub struct Iter<'a, T> {
    chan: &'a Chan<T>,
}

impl<T> Iterator for Iter<'_, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.chan.recv()
    }
}

impl<'a, T> IntoIterator for &'a Chan<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;

    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

/// Go's panic for a send on a closed channel.
#[cold]
#[inline(never)]
#[allow(
    clippy::panic,
    reason = "Go semantics: send on a closed channel panics"
)]
pub(crate) fn panic_send_on_closed() -> ! {
    panic!("send on closed channel")
}

/// Go's panic for closing a closed channel.
#[cold]
#[inline(never)]
#[allow(
    clippy::panic,
    reason = "Go semantics: close of a closed channel panics"
)]
fn panic_close_of_closed() -> ! {
    panic!("close of closed channel")
}
