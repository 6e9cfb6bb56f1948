//! `select!`: wait on several channel operations at once (Go's `selectgo`). See the crate
//! docs for the overview.
//!
//! The macro turns each case into a [`RecvCase`] or [`SendCase`] on the caller's stack
//! and calls [`select_cases`] with type-erased views of them. `select_cases` follows Go's
//! `selectgo`:
//!
//! 1. Shuffle the poll order (fairness) and sort the lock order by channel address
//!    (deadlock freedom: every party takes channel locks in the same global order).
//! 2. Lock all channels; poll the cases in poll order; the first ready case completes
//!    and the locks are released. Otherwise, with a `default`, unlock and return.
//! 3. Otherwise put a waiter on every channel (all waiters share one [`SelectState`])
//!    and park; the unlock runs inside `park`.
//! 4. Once woken, lock all channels again, find the waiter a waker completed, and unlink
//!    the others.

use core::cell::Cell;

use super::channel::{Chan, Inner, RecvStep, SendStep, Slot, panic_send_on_closed};
use super::waiter::{Outcome, SelectState, Waiter};
use crate::fatal::throw;
use crate::park::{Parker, WaitReason, park};
use crate::sync::{MutexGuard, UnsafeCell};

/// What polling one case under its channel's lock did.
enum Poll {
    /// Not ready; nothing changed.
    NotReady,
    /// The case completed; wake this parker (if any) after unlocking.
    Ready(Option<Parker>),
    /// A send case found its channel closed: panic after unlocking.
    SendClosed,
}

/// The type-erased operations `select_cases` needs from a case.
trait CaseOps {
    /// The channel's address (lock order key), or `None` for a nil channel.
    fn key(&self) -> Option<usize>;
    /// Locks the case's channel. Only for non-nil cases.
    fn lock(&self) -> Option<MutexGuard<'_, ()>>;
    /// Attempts the operation.
    ///
    /// # Safety
    ///
    /// The channel's lock is held.
    unsafe fn poll(&self) -> Poll;
    /// The slot a waiter for this case points to.
    fn elem(&self) -> *const ();
    /// Queues `w` on the channel.
    ///
    /// # Safety
    ///
    /// The channel's lock is held; `w` satisfies `WaitQueue::push_back`.
    unsafe fn enqueue(&self, w: *const Waiter);
    /// Unlinks `w` from the channel if still queued.
    ///
    /// # Safety
    ///
    /// The channel's lock is held; `w` was queued with `enqueue`.
    unsafe fn remove(&self, w: *const Waiter);
    /// Records that this case was chosen; `completed` is false if it was chosen because
    /// its channel was closed.
    fn choose(&self, completed: bool);
    /// Without any lock: the operation would block now (nil channels always would).
    fn would_block(&self) -> bool;
}

/// A type-erased case, built by [`select!`](crate::select) (not for direct use).
#[doc(hidden)]
#[derive(Clone, Copy)]
pub struct ErasedCase<'a> {
    ops: &'a dyn CaseOps,
}

impl core::fmt::Debug for ErasedCase<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ErasedCase")
            .field("key", &self.ops.key())
            .finish()
    }
}

/// Something a `select!` case can name as its channel: `Chan<T>`, `&Chan<T>`,
/// `Option<Chan<T>>` or `Option<&Chan<T>>` (a `None` is Go's nil channel: never ready).
/// The macro borrows the operand, so these are implemented for references to them.
pub trait SelectChan<'a, T> {
    /// The channel, or `None` for a nil channel.
    fn select_chan(self) -> Option<&'a Chan<T>>;
}

impl<'a, T> SelectChan<'a, T> for &'a Chan<T> {
    fn select_chan(self) -> Option<&'a Chan<T>> {
        Some(self)
    }
}

impl<'a, T> SelectChan<'a, T> for &'a &Chan<T> {
    fn select_chan(self) -> Option<&'a Chan<T>> {
        Some(*self)
    }
}

impl<'a, T> SelectChan<'a, T> for &'a Option<Chan<T>> {
    fn select_chan(self) -> Option<&'a Chan<T>> {
        self.as_ref()
    }
}

impl<'a, T> SelectChan<'a, T> for &'a Option<&Chan<T>> {
    fn select_chan(self) -> Option<&'a Chan<T>> {
        *self
    }
}

/// A receive case of a `select!` (built by the macro; not for direct use).
#[doc(hidden)]
pub struct RecvCase<'a, T> {
    chan: Option<&'a Inner<T>>,
    /// Receives the value. Written by this thread in `poll`, or by a sender that
    /// finished our waiter (under the channel lock, before unparking us).
    slot: Slot<T>,
    /// Set once when chosen: `Some(true)` with a value, `Some(false)` if closed.
    chosen: Cell<Option<bool>>,
}

impl<'a, T> RecvCase<'a, T> {
    /// A case receiving from `chan`.
    pub fn new(chan: impl SelectChan<'a, T>) -> Self {
        Self {
            chan: chan.select_chan().map(Chan::inner),
            slot: UnsafeCell::new(None),
            chosen: Cell::new(None),
        }
    }

    /// The type-erased view for [`select_cases`].
    pub fn erase(&self) -> ErasedCase<'_> {
        ErasedCase { ops: self }
    }

    /// True if this case was chosen.
    pub fn chosen(&self) -> bool {
        self.chosen.get().is_some()
    }

    /// The received value, or `None` if the channel was closed (after being chosen).
    pub fn take(&self) -> Option<T> {
        // SAFETY: after `select_cases` returned no other party touches the slot.
        self.slot.with_mut(|p| unsafe { (*p).take() })
    }
}

impl<T> core::fmt::Debug for RecvCase<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RecvCase")
            .field("chosen", &self.chosen.get())
            .finish()
    }
}

impl<T> CaseOps for RecvCase<'_, T> {
    fn key(&self) -> Option<usize> {
        self.chan.map(Inner::addr)
    }

    fn lock(&self) -> Option<MutexGuard<'_, ()>> {
        self.chan.map(Inner::lock)
    }

    unsafe fn poll(&self) -> Poll {
        let Some(c) = self.chan else {
            return Poll::NotReady;
        };
        // SAFETY: the caller holds the lock.
        match unsafe { c.try_recv_locked() } {
            RecvStep::Got(v, parker) => {
                // SAFETY: our slot; no waiter of ours is queued during polling.
                self.slot.with_mut(|p| unsafe { *p = Some(v) });
                self.chosen.set(Some(true));
                Poll::Ready(parker)
            }
            RecvStep::Closed => {
                self.chosen.set(Some(false));
                Poll::Ready(None)
            }
            RecvStep::Empty => Poll::NotReady,
        }
    }

    fn elem(&self) -> *const () {
        core::ptr::from_ref(&self.slot).cast()
    }

    unsafe fn enqueue(&self, w: *const Waiter) {
        if let Some(c) = self.chan {
            // SAFETY: by the contract; our slot holds `None`.
            unsafe { c.enqueue_recv(w) };
        }
    }

    unsafe fn remove(&self, w: *const Waiter) {
        if let Some(c) = self.chan {
            // SAFETY: by the contract.
            unsafe { c.remove_recv(w) };
        }
    }

    fn choose(&self, completed: bool) {
        self.chosen.set(Some(completed));
    }

    fn would_block(&self) -> bool {
        self.chan.is_none_or(Inner::recv_would_block)
    }
}

/// A send case of a `select!` (built by the macro; not for direct use).
#[doc(hidden)]
pub struct SendCase<'a, T> {
    chan: Option<&'a Inner<T>>,
    /// The value to send until a receiver takes it. Taken by this thread in `poll`, or
    /// by a receiver that finished our waiter (under the channel lock).
    slot: Slot<T>,
    /// Set once when chosen.
    chosen: Cell<bool>,
}

impl<'a, T> SendCase<'a, T> {
    /// A case sending `value` on `chan`. The value is dropped if another case is chosen.
    pub fn new(chan: impl SelectChan<'a, T>, value: T) -> Self {
        Self {
            chan: chan.select_chan().map(Chan::inner),
            slot: UnsafeCell::new(Some(value)),
            chosen: Cell::new(false),
        }
    }

    /// The type-erased view for [`select_cases`].
    pub fn erase(&self) -> ErasedCase<'_> {
        ErasedCase { ops: self }
    }

    /// True if this case was chosen (its value was sent).
    pub fn chosen(&self) -> bool {
        self.chosen.get()
    }
}

impl<T> core::fmt::Debug for SendCase<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SendCase")
            .field("chosen", &self.chosen.get())
            .finish()
    }
}

impl<T> CaseOps for SendCase<'_, T> {
    fn key(&self) -> Option<usize> {
        self.chan.map(Inner::addr)
    }

    fn lock(&self) -> Option<MutexGuard<'_, ()>> {
        self.chan.map(Inner::lock)
    }

    unsafe fn poll(&self) -> Poll {
        let Some(c) = self.chan else {
            return Poll::NotReady;
        };
        // SAFETY: our slot; no waiter of ours is queued during polling.
        let Some(value) = self.slot.with_mut(|p| unsafe { (*p).take() }) else {
            return Poll::NotReady;
        };
        // SAFETY: the caller holds the lock.
        match unsafe { c.try_send_locked(value) } {
            SendStep::Sent(parker) => {
                self.chosen.set(true);
                Poll::Ready(parker)
            }
            SendStep::Full(v) => {
                // SAFETY: as above.
                self.slot.with_mut(|p| unsafe { *p = Some(v) });
                Poll::NotReady
            }
            SendStep::Closed(v) => {
                // SAFETY: as above.
                self.slot.with_mut(|p| unsafe { *p = Some(v) });
                Poll::SendClosed
            }
        }
    }

    fn elem(&self) -> *const () {
        core::ptr::from_ref(&self.slot).cast()
    }

    unsafe fn enqueue(&self, w: *const Waiter) {
        if let Some(c) = self.chan {
            // SAFETY: by the contract; our slot holds the value.
            unsafe { c.enqueue_send(w) };
        }
    }

    unsafe fn remove(&self, w: *const Waiter) {
        if let Some(c) = self.chan {
            // SAFETY: by the contract.
            unsafe { c.remove_send(w) };
        }
    }

    fn choose(&self, completed: bool) {
        if !completed {
            panic_send_on_closed();
        }
        self.chosen.set(true);
    }

    fn would_block(&self) -> bool {
        self.chan.is_none_or(Inner::send_would_block)
    }
}

/// A small per-thread random source for the poll order (Go's `cheaprand`, wyrand).
#[cfg(not(loom))]
fn cheaprand_n(n: usize) -> usize {
    use std::cell::Cell as StdCell;
    use std::hash::{BuildHasher, Hasher};
    std::thread_local! {
        static STATE: StdCell<u64> = StdCell::new(
            std::collections::hash_map::RandomState::new().build_hasher().finish() | 1,
        );
    }
    let r = STATE.with(|s| {
        let x = s.get().wrapping_add(0xa076_1d64_78bd_642f);
        s.set(x);
        let t = u128::from(x) * u128::from(x ^ 0xe703_7ed1_a0b4_28db);
        ((t >> 64) as u64) ^ (t as u64)
    });
    // Lemire's multiply-shift reduction to [0, n).
    ((u128::from(r) * n as u128) >> 64) as usize
}

/// Under loom the poll order is fixed: models must be deterministic, and loom explores
/// the interleavings that matter anyway.
#[cfg(loom)]
fn cheaprand_n(_n: usize) -> usize {
    0
}

/// Locks the cases' channels in `lockorder`, each distinct channel once.
fn lock_all<'a, const N: usize>(
    cases: &[ErasedCase<'a>; N],
    lockorder: &[usize],
) -> [Option<MutexGuard<'a, ()>>; N] {
    let mut guards: [Option<MutexGuard<'a, ()>>; N] = core::array::from_fn(|_| None);
    let mut last = None;
    for &i in lockorder {
        let key = cases[i].ops.key();
        if key != last {
            guards[i] = cases[i].ops.lock();
            last = key;
        }
    }
    guards
}

/// Unlocks in reverse lock order (Go's `selunlock`).
fn unlock_all<const N: usize>(lockorder: &[usize], mut guards: [Option<MutexGuard<'_, ()>>; N]) {
    for &i in lockorder.iter().rev() {
        drop(guards[i].take());
    }
}

/// Runs a `select` over `cases` (Go's `selectgo`). Returns `true` when a case was
/// chosen (the case records it), `false` when no case was ready and `has_default`.
/// Without a default and with no non-nil case it blocks forever, as Go does.
///
/// # Panics
///
/// With "send on closed channel" when a chosen send case's channel is closed.
#[doc(hidden)]
pub fn select_cases<const N: usize>(cases: [ErasedCase<'_>; N], has_default: bool) -> bool {
    // Poll order: a uniform random permutation (inside-out Fisher–Yates).
    let mut pollorder = [0usize; N];
    for i in 0..N {
        let j = cheaprand_n(i + 1);
        pollorder[i] = pollorder[j];
        pollorder[j] = i;
    }
    // Lock order: non-nil cases sorted by channel address (insertion sort; N is small).
    let mut lockorder = [0usize; N];
    let mut nlock = 0;
    for i in 0..N {
        if let Some(key) = cases[i].ops.key() {
            let mut j = nlock;
            while j > 0 && cases[lockorder[j - 1]].ops.key() > Some(key) {
                lockorder[j] = lockorder[j - 1];
                j -= 1;
            }
            lockorder[j] = i;
            nlock += 1;
        }
    }
    let lockorder = &lockorder[..nlock];

    if nlock == 0 {
        if has_default {
            return false;
        }
        // Only nil channels (or none): block forever (Go's `block()`).
        let reason = if N == 0 {
            WaitReason::SelectNoCases
        } else {
            WaitReason::Select
        };
        park(reason, || {});
        throw("select: woken with no cases");
    }

    // One case and a default is Go's `selectnbsend`/`selectnbrecv`: fail fast without
    // the lock when the channel's mirrors show the case blocked (see `Chan::try_send`).
    // With several cases Go locks them all; so do we (separate lock-free looks would
    // not see one moment at which every case was blocked).
    if has_default && N == 1 && cases[0].ops.would_block() {
        return false;
    }

    // Pass 1: look for a case that can proceed now.
    let guards = lock_all(&cases, lockorder);
    for &i in &pollorder {
        // SAFETY: every non-nil channel is locked; nil cases poll as not ready.
        match unsafe { cases[i].ops.poll() } {
            Poll::NotReady => {}
            Poll::Ready(parker) => {
                unlock_all(lockorder, guards);
                if let Some(p) = parker {
                    p.unpark();
                }
                return true;
            }
            Poll::SendClosed => {
                unlock_all(lockorder, guards);
                panic_send_on_closed();
            }
        }
    }
    if has_default {
        unlock_all(lockorder, guards);
        return false;
    }

    // Pass 2: queue a waiter on every channel, in lock order, and park.
    let state = SelectState::new(Parker::current());
    let waiters: [Waiter; N] =
        core::array::from_fn(|i| Waiter::for_select(&state, cases[i].ops.elem()));
    for &i in lockorder {
        // SAFETY: the channel is locked; `waiters` stays on this stack, unmoved, until
        // pass 3 has unlinked every waiter a waker did not dequeue.
        unsafe { cases[i].ops.enqueue(&waiters[i]) };
    }
    park(WaitReason::Select, move || unlock_all(lockorder, guards));

    // Pass 3: find the winner, unlink the losers.
    let guards = lock_all(&cases, lockorder);
    let mut winner = None;
    for &i in lockorder {
        match waiters[i].outcome() {
            // SAFETY: the channel is locked and the waiter was queued on it.
            Outcome::Waiting => unsafe { cases[i].ops.remove(&waiters[i]) },
            outcome => winner = Some((i, outcome)),
        }
    }
    unlock_all(lockorder, guards);
    let Some((i, outcome)) = winner else {
        throw("selectgo: bad wakeup")
    };
    cases[i].ops.choose(outcome == Outcome::Completed);
    true
}

/// Blocks forever (Go's `select {}`).
#[doc(hidden)]
pub fn select_block() -> ! {
    park(WaitReason::SelectNoCases, || {});
    throw("select: woken with no cases")
}

/// Reached only if `select_cases` returned without a default and no case was chosen.
#[doc(hidden)]
#[cold]
pub fn select_unreachable() -> ! {
    throw("select: no case chosen")
}

/// Waits until one of several channel operations can proceed and runs its arm (Go's
/// `select` statement).
///
/// ```text
/// select! {
///     recv(ch) -> v => ...,          // v: Option<T>; None once ch is closed and drained
///     send(ch, value) => ...,
///     default => ...,                // optional: taken if no case is ready now
/// }
/// ```
///
/// A channel operand is a place (a variable, field or index expression) of type
/// `Chan<T>`, `&Chan<T>`, `Option<Chan<T>>` or `Option<&Chan<T>>`; a `None` is Go's nil
/// channel, never ready. All operands and send values are evaluated first, in source
/// order. If several cases are ready, one is chosen uniformly at random. A send case
/// whose channel is closed panics with "send on closed channel". Arms are expressions
/// (blocks need no comma). `select! {}` blocks forever.
///
/// ```
/// use gort_sched::{Chan, select};
///
/// let a = Chan::new(1);
/// let b: Chan<&str> = Chan::new(1);
/// let nil: Option<Chan<u8>> = None;
/// a.send(7);
/// let got = select! {
///     recv(a) -> v => v,
///     recv(nil) -> _v => unreachable!(),
///     send(b, "hello") => Some(0),
/// };
/// assert!(got == Some(7) || (got == Some(0) && b.recv() == Some("hello")));
/// let idle = select! {
///     recv(nil) -> _v => false,
///     default => true,
/// };
/// assert!(idle);
/// ```
#[macro_export]
macro_rules! select {
    // Parsing: accumulates [let statements] [erased cases] [arms] [default arm].
    (@parse [$($decl:tt)*] [$($erase:tt)*] [$($arm:tt)*] [$($default:tt)*] , $($rest:tt)*) => {
        $crate::select!(@parse [$($decl)*] [$($erase)*] [$($arm)*] [$($default)*] $($rest)*)
    };
    (@parse [$($decl:tt)*] [$($erase:tt)*] [$($arm:tt)*] [$($default:tt)*]
        recv($ch:expr) -> $pat:pat => $body:block $($rest:tt)*) => {
        $crate::select!(@parse
            [$($decl)* let __select_case = $crate::chan::RecvCase::new(&$ch);]
            [$($erase)* __select_case.erase(),]
            [$($arm)* (__select_case { let $pat = __select_case.take(); $body })]
            [$($default)*]
            $($rest)*)
    };
    (@parse [$($decl:tt)*] [$($erase:tt)*] [$($arm:tt)*] [$($default:tt)*]
        recv($ch:expr) -> $pat:pat => $body:expr $(, $($rest:tt)*)?) => {
        $crate::select!(@parse
            [$($decl)* let __select_case = $crate::chan::RecvCase::new(&$ch);]
            [$($erase)* __select_case.erase(),]
            [$($arm)* (__select_case { let $pat = __select_case.take(); $body })]
            [$($default)*]
            $($($rest)*)?)
    };
    (@parse [$($decl:tt)*] [$($erase:tt)*] [$($arm:tt)*] [$($default:tt)*]
        send($ch:expr, $value:expr) => $body:block $($rest:tt)*) => {
        $crate::select!(@parse
            [$($decl)* let __select_case = $crate::chan::SendCase::new(&$ch, $value);]
            [$($erase)* __select_case.erase(),]
            [$($arm)* (__select_case $body)]
            [$($default)*]
            $($rest)*)
    };
    (@parse [$($decl:tt)*] [$($erase:tt)*] [$($arm:tt)*] [$($default:tt)*]
        send($ch:expr, $value:expr) => $body:expr $(, $($rest:tt)*)?) => {
        $crate::select!(@parse
            [$($decl)* let __select_case = $crate::chan::SendCase::new(&$ch, $value);]
            [$($erase)* __select_case.erase(),]
            [$($arm)* (__select_case { $body })]
            [$($default)*]
            $($($rest)*)?)
    };
    (@parse [$($decl:tt)*] [$($erase:tt)*] [$($arm:tt)*] []
        default => $body:block $($rest:tt)*) => {
        $crate::select!(@parse [$($decl)*] [$($erase)*] [$($arm)*] [$body] $($rest)*)
    };
    (@parse [$($decl:tt)*] [$($erase:tt)*] [$($arm:tt)*] []
        default => $body:expr $(, $($rest:tt)*)?) => {
        $crate::select!(@parse [$($decl)*] [$($erase)*] [$($arm)*] [{ $body }] $($($rest)*)?)
    };
    (@parse [$($decl:tt)*] [$($erase:tt)*] [$($arm:tt)*] [$($default:tt)+]
        default $($rest:tt)*) => {
        ::core::compile_error!("select!: more than one `default` arm")
    };

    // Done parsing.
    (@parse [] [] [] [$default:block]) => {
        $default
    };
    (@parse [$($decl:tt)*] [$($erase:tt)*] [$(($case:ident $arm:block))+] [$default:block]) => {{
        $($decl)*
        if $crate::chan::select_cases([$($erase)*], true) {
            $(if $case.chosen() $arm else)+ { $crate::chan::select_unreachable() }
        } else $default
    }};
    (@parse [$($decl:tt)*] [$($erase:tt)*] [$(($case:ident $arm:block))+] []) => {{
        $($decl)*
        $crate::chan::select_cases([$($erase)*], false);
        $(if $case.chosen() $arm else)+ { $crate::chan::select_unreachable() }
    }};
    (@parse $decl:tt $erase:tt $arm:tt $default:tt $($rest:tt)+) => {
        ::core::compile_error!(::core::concat!(
            "select!: expected `recv(ch) -> pat => arm`, `send(ch, value) => arm` or ",
            "`default => arm`, found: ",
            ::core::stringify!($($rest)+)
        ))
    };

    // Entry points (after the internal rules, which also start with tokens).
    () => {
        $crate::chan::select_block()
    };
    ($($tokens:tt)+) => {
        $crate::select!(@parse [] [] [] [] $($tokens)+)
    };
}
