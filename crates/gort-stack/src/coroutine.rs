//! `Coroutine` and `Yielder`: a safe stackful coroutine on a pooled, guarded stack.
//! See the crate docs for the overview.

use core::cell::{Cell, UnsafeCell};
use core::marker::PhantomData;
use core::mem::{ManuallyDrop, align_of, size_of};
use core::ops::Range;
use core::ptr;
use std::panic::{self, AssertUnwindSafe};

use crate::compact::CompactCopy;
use crate::context::{Context, coroutine_context, resume_coroutine, suspend_coroutine};
use crate::current::{self, StackInfo};
use crate::error::Error;
use crate::fatal::{fatal, fatal_error};
use crate::grow::StackChain;
use crate::guard::GuardKind;
use crate::stack::{Stack, StackUsage};
use crate::sync::static_atomic::{AtomicU64, Ordering};

/// Usable stack size of [`Coroutine::new`]: 64 KiB (twice may's default), committed by
/// touch, so a coroutine that uses 3 KiB costs one page of memory.
pub const DEFAULT_STACK_SIZE: usize = 64 * 1024;

/// Stack bytes a coroutine keeps below its header for its initial frame and the
/// closure's frames: at least a page, or [`Coroutine::with_stack`] refuses the stack
/// with [`Error::TooLarge`].
const MIN_USABLE: usize = 4096;

/// What [`Coroutine::resume`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CoroutineResult<Y, R> {
    /// The coroutine suspended with this value.
    Yield(Y),
    /// The coroutine finished and returned this value.
    Return(R),
}

impl<Y, R> CoroutineResult<Y, R> {
    /// The yielded value, if any.
    pub fn into_yield(self) -> Option<Y> {
        match self {
            CoroutineResult::Yield(y) => Some(y),
            CoroutineResult::Return(_) => None,
        }
    }

    /// The returned value, if any.
    pub fn into_return(self) -> Option<R> {
        match self {
            CoroutineResult::Yield(_) => None,
            CoroutineResult::Return(r) => Some(r),
        }
    }
}

/// The payload a suspended coroutine unwinds with when it is dropped.
struct ForcedUnwind;

/// The coroutine's handle on its resumer, passed to its closure: [`Yielder::suspend`]
/// switches back to whoever called [`Coroutine::resume`].
///
/// Lives at the top of the coroutine's own stack. Every field is touched by one side at a
/// time: the resumer while the coroutine is suspended, the coroutine while it runs.
pub struct Yielder<I, Y> {
    /// The resumer's stack pointer (the link), saved each time the coroutine is resumed.
    caller: UnsafeCell<Context>,
    /// The values in flight travel in registers: `resume` passes the address of its `I`
    /// (0 = unwind), `suspend` the address of its `Y` (0 = finished); each side moves
    /// the value out before the other runs again.
    _values: PhantomData<fn(I) -> Y>,
    /// The coroutine's root stack for `grow` and reports.
    info: StackInfo,
    /// The segments `grow` linked to this stack.
    chain: StackChain,
    /// The root segment's guard, to tell an overflow of a canary-guarded stack from a
    /// call on another stack in [`Yielder::suspend`]'s check.
    guard: GuardKind,
    /// A `Yielder` is tied to its coroutine's thread.
    _not_send: PhantomData<*mut ()>,
}

impl<I, Y> core::fmt::Debug for Yielder<I, Y> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Yielder")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl<I, Y> Yielder<I, Y> {
    /// Suspends the coroutine, handing `value` to the resumer; returns the input of the
    /// next `resume`.
    ///
    /// If the coroutine is dropped while suspended, this returns by unwinding (so the
    /// coroutine's stack frames are dropped); do not stop that unwind with `catch_unwind`
    /// for good, or every later `suspend` unwinds again.
    ///
    /// Calling it anywhere but on this coroutine's own stack (its root segment or the
    /// segment `grow` runs it on) is a fatal error: the types allow it, since a coroutine
    /// may hand its `&Yielder` to a nested coroutine as that one's input (the `'static`
    /// bound on closures covers what they capture, not their argument types), but the
    /// saved stack pointer would then lie on the other coroutine's stack.
    #[inline]
    pub fn suspend(&self, value: Y) -> I {
        self.check_on_own_stack();
        let value = ManuallyDrop::new(value);
        // SAFETY: [1] we run on the coroutine's stack, entered by the `resume` that saved
        // its stack pointer in `caller` (the link); [2] nothing unwinds across: panics
        // are caught in `entry`; [3] `resume` moves `value` out before we run again.
        let input = unsafe { suspend_coroutine(self.caller.get(), &*value as *const Y as usize) };
        if input == 0 {
            panic::resume_unwind(Box::new(ForcedUnwind));
        }
        // SAFETY: a non-zero word is the address of the resumer's `I`, which it gave up
        // (ManuallyDrop) and which stays alive until it runs again.
        unsafe { ptr::read(input as *const I) }
    }

    /// The id of the coroutine, as shown in overflow reports.
    pub fn id(&self) -> u64 {
        self.info.id()
    }

    /// Aborts (Go-style) unless the caller runs on the segment of this coroutine's stack
    /// that is in use: the root while `grow` has linked none, else the deepest linked.
    /// One range check on the fast path.
    #[inline(always)]
    fn check_on_own_stack(&self) {
        let sp = crate::arch::stack_pointer();
        let (limit, base, guard) = match self.chain.deepest_in_use() {
            None => (self.info.limit(), self.info.base(), self.guard),
            Some(segment) => segment,
        };
        if sp < limit || sp >= base {
            suspend_off_stack(self.info.id(), sp, limit, base, guard);
        }
    }
}

/// The failed check of [`Yielder::suspend`]. Below the limit of a canary-guarded
/// segment (a guard page would have faulted first), and not on another coroutine's or
/// `grow`'s segment (which have footers), it is this coroutine overflowing its stack:
/// reported as an overflow (exit 2). Anything else is a call on a foreign stack (fatal).
#[cold]
#[inline(never)]
fn suspend_off_stack(id: u64, sp: usize, limit: usize, base: usize, guard: GuardKind) -> ! {
    if guard == GuardKind::Canary && sp < limit {
        // SAFETY: the canary word is the first usable word of this coroutine's segment in
        // use, which is mapped while the coroutine lives (the caller holds its `Yielder`).
        if unsafe { (limit as *const usize).read_volatile() } != crate::guard::CANARY {
            crate::overflow::report_canary(limit, base);
        }
        if current::footer_of(sp).is_none() {
            crate::overflow::report_below_limit("coroutine", id, sp, limit, base);
        }
    }
    fatal_error(format_args!(
        "runtime: Yielder::suspend called off its coroutine's stack (coroutine {id}, \
         sp {sp:#x}, stack segment [{limit:#x}, {base:#x}))"
    ))
}

/// The start of a coroutine's stack: the `Yielder` and the result slot at fixed offsets,
/// then the closure.
#[repr(C)]
struct Header<I, Y, R, F> {
    /// Shared with the closure.
    yielder: Yielder<I, Y>,
    /// The outcome, written once when the closure returns or panics.
    result: Cell<Option<std::thread::Result<R>>>,
    /// The closure, taken by `entry` when the coroutine starts.
    f: Cell<Option<F>>,
}

/// The part of a header whose layout does not depend on the closure.
#[repr(C)]
struct HeaderPrefix<I, Y, R> {
    yielder: Yielder<I, Y>,
    result: Cell<Option<std::thread::Result<R>>>,
}

/// Lifecycle of a coroutine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Created; the closure has not run. → `Suspended`, `SuspendedChecked` or `Done` by
    /// `resume`.
    Fresh,
    /// Suspended in `Yielder::suspend`, on a stack with a guard page: `resume`'s fast
    /// path. → `Suspended` or `Done` by `resume`.
    Suspended,
    /// Suspended, on a canary-guarded stack whose canary `resume` checks after every
    /// switch (the slow path). → `SuspendedChecked` or `Done` by `resume`.
    SuspendedChecked,
    /// Suspended and compacted ([`Coroutine::compact`]): the stack's live part waits in
    /// a compact buffer. → `Suspended` or `SuspendedChecked` by [`Coroutine::restore`]
    /// (which `resume` and `Drop` call first).
    Compacted,
    /// Finished (returned or panicked); the stack holds no frames. Final.
    Done,
}

/// A stackful coroutine: a closure running on its own guarded stack, resumed with an
/// `I`, suspending with a `Y`, finishing with an `R`.
///
/// ```
/// use gort_stack::{Coroutine, CoroutineResult};
///
/// let mut co = Coroutine::new(|y, first: u32| {
///     let second = y.suspend(first + 1);
///     first + second
/// });
/// assert_eq!(co.resume(10), CoroutineResult::Yield(11));
/// assert_eq!(co.resume(5), CoroutineResult::Return(15));
/// ```
///
/// A panic in the closure is caught on the coroutine's stack and resumed in the caller of
/// `resume`. Dropping a suspended coroutine unwinds its stack (running destructors).
/// A `Coroutine` is not `Send`: values on its stack may be tied to this thread.
pub struct Coroutine<I, Y, R> {
    /// The coroutine's context, saved when it suspends (kept here, next to the resumer,
    /// rather than in the header, so resuming does not load through the header first).
    callee: Context,
    /// The header at the top of `stack`.
    header: *const HeaderPrefix<I, Y, R>,
    /// Drops the closure of a coroutine that never ran.
    drop_f: unsafe fn(*const HeaderPrefix<I, Y, R>),
    /// The lifecycle state.
    state: State,
    /// The root segment; holds the header, so it is dropped last.
    stack: Stack,
}

impl<I, Y, R> core::fmt::Debug for Coroutine<I, Y, R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Coroutine")
            .field("state", &self.state)
            .field("stack", &self.stack)
            .finish()
    }
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Ids are taken from `NEXT_ID` in blocks of this many per thread.
const ID_BLOCK: u64 = 1024;

thread_local! {
    /// This thread's block of coroutine ids: `(next, end)`.
    static IDS: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

/// A process-unique coroutine id, without an atomic operation on most calls.
fn next_id() -> u64 {
    IDS.with(|c| {
        let (mut next, mut end) = c.get();
        if next == end {
            next = NEXT_ID.fetch_add(ID_BLOCK, Ordering::Relaxed);
            end = next + ID_BLOCK;
        }
        c.set((next + 1, end));
        next
    })
}

impl<I, Y, R> Coroutine<I, Y, R> {
    /// A coroutine running `f` on a [`DEFAULT_STACK_SIZE`] stack from the global pool.
    ///
    /// Running out of address space here is fatal (as in Go); use [`Coroutine::try_new`]
    /// to handle it.
    pub fn new<F>(f: F) -> Coroutine<I, Y, R>
    where
        F: FnOnce(&Yielder<I, Y>, I) -> R + 'static,
    {
        match Coroutine::try_new(f) {
            Ok(c) => c,
            Err(e) => new_failed(e),
        }
    }

    /// Like [`Coroutine::new`], returning the error instead.
    pub fn try_new<F>(f: F) -> Result<Coroutine<I, Y, R>, Error>
    where
        F: FnOnce(&Yielder<I, Y>, I) -> R + 'static,
    {
        Coroutine::with_stack(Stack::new(DEFAULT_STACK_SIZE)?, f)
    }

    /// A coroutine running `f` on a stack of at least `size` bytes.
    pub fn with_stack_size<F>(size: usize, f: F) -> Result<Coroutine<I, Y, R>, Error>
    where
        F: FnOnce(&Yielder<I, Y>, I) -> R + 'static,
    {
        Coroutine::with_stack(Stack::new(size)?, f)
    }

    /// A coroutine running `f` on `stack`.
    ///
    /// The closure (with the coroutine's header) is stored at the top of `stack`, aligned
    /// as its type requires; [`Error::TooLarge`] if that leaves less than a page of stack
    /// below it. The closure is moved onto the stack below when the coroutine starts
    /// (perhaps more than once, in unoptimized builds), so a large capture needs that much
    /// stack too; running short there is reported as a stack overflow, as for any frame.
    pub fn with_stack<F>(stack: Stack, f: F) -> Result<Coroutine<I, Y, R>, Error>
    where
        F: FnOnce(&Yielder<I, Y>, I) -> R + 'static,
    {
        let align = align_of::<Header<I, Y, R, F>>().max(16);
        let size = size_of::<Header<I, Y, R, F>>() + current::FOOTER_SIZE;
        // The header's address, rounded down to its alignment: an over-aligned closure
        // can cost up to `align - 1` bytes more than `size`, so the room left below is
        // checked on `at` itself, not on `size`.
        let at = stack.base().checked_sub(size).map(|a| a & !(align - 1));
        let at = match at {
            Some(at) if at >= stack.limit() && at - stack.limit() >= MIN_USABLE => at,
            _ => {
                return Err(Error::TooLarge {
                    // What this stack would need: the header, footer and alignment slack
                    // above `at`, `MIN_USABLE` under it.
                    requested: at
                        .map_or(size.saturating_add(align - 1), |at| stack.base() - at)
                        .saturating_add(MIN_USABLE),
                    max: stack.size(),
                });
            }
        };
        crate::overflow::install_overflow_handler();
        let id = next_id();
        let header = at as *mut Header<I, Y, R, F>;
        // SAFETY: [1] `[at, base)` (header, then footer) lies in `stack` with
        // `MIN_USABLE` bytes under it for the initial frame (checked above), is aligned
        // for the header, and is owned by this coroutine alone; [2] the chain's and the
        // info's addresses are stable (the header never moves) and live as long as the
        // coroutine, which is the only stack using them; the footer is cleared in `Drop`
        // before they die.
        unsafe {
            header.write(Header {
                yielder: Yielder {
                    caller: UnsafeCell::new(Context::empty()),
                    _values: PhantomData,
                    info: StackInfo::new(&stack, id, "coroutine"),
                    chain: StackChain::new(),
                    guard: stack.guard_kind(),
                    _not_send: PhantomData,
                },
                result: Cell::new(None),
                f: Cell::new(Some(f)),
            });
            let y = &mut (*header).yielder;
            y.info = y.info.with_chain(&*ptr::addr_of!(y.chain));
            current::write_footer(stack.base(), &y.info);
        }
        // SAFETY: the context starts below the header, 16-byte aligned, on our stack.
        let callee = unsafe { coroutine_context(at & !15, entry::<I, Y, R, F>, at) };
        Ok(Coroutine {
            callee,
            header: header as *const HeaderPrefix<I, Y, R>,
            drop_f: drop_closure::<I, Y, R, F>,
            state: State::Fresh,
            stack,
        })
    }

    /// The header, read from the compact buffer while the coroutine is compacted (the
    /// buffer is the authoritative copy until it is restored).
    fn prefix(&self) -> &HeaderPrefix<I, Y, R> {
        let at = match self.stack.compacted() {
            // The header lies in the live part, so in the copy.
            Some(copy) => copy.translate(self.header as usize) as *const HeaderPrefix<I, Y, R>,
            None => self.header,
        };
        // SAFETY: the header lives at the top of `self.stack` until the coroutine drops;
        // while compacted, its bytes (moved as they are: nothing in it points into
        // itself) live in the copy, which stays put until `restore`, which needs
        // `&mut self`. The copy is granule-aligned and the header's offset in it equals
        // its offset from the COMPACT_ALIGN-aligned copy start, so its alignment (at most
        // COMPACT_ALIGN, checked by `compact`) is kept.
        unsafe { &*at }
    }

    /// Runs the coroutine until it suspends or finishes, passing `input` (the closure's
    /// second argument on the first call, `suspend`'s return value later).
    ///
    /// # Panics
    /// Resumes the coroutine's panic if it panicked; panics if it had already finished.
    #[inline]
    pub fn resume(&mut self, input: I) -> CoroutineResult<Y, R> {
        let input = ManuallyDrop::new(input);
        let arg = &*input as *const I as usize;
        // Fast path: suspended on a guard-page stack. The state stays `Suspended`.
        let out = if self.state == State::Suspended {
            self.switch_raw(arg)
        } else {
            self.resume_slow(arg)
        };
        if out != 0 {
            // SAFETY: a non-zero word is the address of the coroutine's `Y` in its
            // suspended `suspend` frame, which gave it up (ManuallyDrop).
            return CoroutineResult::Yield(unsafe { ptr::read(out as *const Y) });
        }
        self.state = State::Done;
        match self.prefix().result.take() {
            Some(Ok(r)) => CoroutineResult::Return(r),
            Some(Err(payload)) => panic::resume_unwind(payload),
            None => fatal("coroutine finished without a result"),
        }
    }

    /// `resume` from `Fresh` or `SuspendedChecked` (or, misused, `Done`): switches in,
    /// checks the canary of a canary-guarded stack, and records the new state.
    fn resume_slow(&mut self, arg: usize) -> usize {
        if self.state == State::Done {
            resume_finished();
        }
        if self.state == State::Compacted {
            self.restore();
        }
        let out = self.switch_in(arg);
        if out != 0 {
            self.state = match self.stack.guard_kind() {
                GuardKind::Canary => State::SuspendedChecked,
                _ => State::Suspended,
            };
        }
        out
    }

    /// Switches to the coroutine with `arg` (the address of an `I`, or 0 to unwind it)
    /// and back; returns the address of its `Y`, or 0 if it finished.
    #[inline(always)]
    fn switch_raw(&mut self, arg: usize) -> usize {
        debug_assert!(
            self.state != State::Compacted,
            "switching to a compacted stack"
        );
        // SAFETY: the header lives at the top of `self.stack`, which is not compacted
        // (callers restore first).
        let link = unsafe { (*self.header).yielder.caller.get() };
        // SAFETY: [1] `caller` (the link) is ours to write: the coroutine is not running;
        // [2] `callee` holds the initial frame or the context saved by its last
        // `suspend`, on our live stack; [3] the coroutine catches its panics in `entry`.
        unsafe { resume_coroutine(&mut self.callee, link, arg) }
    }

    /// [`Coroutine::switch_raw`], then the canary check of a canary-guarded stack.
    fn switch_in(&mut self, arg: usize) -> usize {
        let out = self.switch_raw(arg);
        if self.stack.guard_kind() == GuardKind::Canary && !self.stack.canary_intact() {
            crate::overflow::report_canary(self.stack.limit(), self.stack.base());
        }
        out
    }

    /// Whether the coroutine has finished (returned or panicked).
    pub fn done(&self) -> bool {
        self.state == State::Done
    }

    /// Whether the coroutine has started and not finished.
    pub fn started(&self) -> bool {
        matches!(
            self.state,
            State::Suspended | State::SuspendedChecked | State::Compacted
        )
    }

    /// Compacts the suspended coroutine's stack ([`Stack::compact`] with its saved stack
    /// pointer): its live part (frames and the header) moves to a compact buffer and the
    /// stack's pages are released. [`Coroutine::resume`] (and drop) restore it first, so
    /// the coroutine never notices. Returns the copy's location.
    ///
    /// Errors: [`Error::NotSuspended`] (fresh, finished or already compacted),
    /// [`Error::OverAligned`] (a value type aligned to more than
    /// [`crate::COMPACT_ALIGN`]), and
    /// those of [`Stack::compact`] (a live part over [`crate::MAX_COMPACT_BYTES`], a
    /// coroutine suspended on a segment linked by `grow`).
    ///
    /// # Safety
    /// Until the coroutine is restored, nothing reads or writes its stack: safe Rust can
    /// lend a coroutine's locals to other threads across a suspension (a
    /// `std::thread::scope` around `suspend`), and those threads would see zeroes and
    /// lose their writes.
    pub unsafe fn compact(&mut self) -> Result<CompactCopy, Error> {
        if !matches!(self.state, State::Suspended | State::SuspendedChecked) {
            return Err(Error::NotSuspended);
        }
        if align_of::<HeaderPrefix<I, Y, R>>() > crate::compact::COMPACT_ALIGN {
            // `prefix` reads the header from the copy, which keeps alignments up to
            // COMPACT_ALIGN only.
            return Err(Error::OverAligned {
                align: align_of::<HeaderPrefix<I, Y, R>>(),
                max: crate::compact::COMPACT_ALIGN,
            });
        }
        // SAFETY: [1] the coroutine is suspended: nothing runs on its stack and `callee`
        // holds its saved stack pointer (the suspend frame saves everything at or above
        // it); [2] we ran it on this thread, so its writes are ours; [3] exclusion of
        // other users of the stack is the caller's contract.
        let copy = unsafe { self.stack.compact(self.callee.sp())? };
        self.state = State::Compacted;
        Ok(copy)
    }

    /// Copies a compacted coroutine's stack back (see [`Stack::restore`]); returns
    /// whether it was compacted. `resume` and drop do this themselves.
    pub fn restore(&mut self) -> bool {
        if self.state != State::Compacted {
            return false;
        }
        self.stack.restore();
        self.state = match self.stack.guard_kind() {
            GuardKind::Canary => State::SuspendedChecked,
            _ => State::Suspended,
        };
        true
    }

    /// Whether the coroutine's stack is compacted now.
    pub fn is_compacted(&self) -> bool {
        self.state == State::Compacted
    }

    /// The coroutine's id (as shown in overflow reports).
    pub fn id(&self) -> u64 {
        self.prefix().yielder.info.id()
    }

    /// The root stack segment.
    pub fn stack(&self) -> &Stack {
        &self.stack
    }

    /// The root segment's resident bytes and high-water mark.
    pub fn stack_usage(&self) -> StackUsage {
        self.stack.usage()
    }

    /// The segments `grow` linked to this coroutine's stack.
    pub fn chain(&self) -> &StackChain {
        &self.prefix().yielder.chain
    }

    /// Calls `f` with the live address range of every segment of the coroutine's stack
    /// (for a conservative collector): for a suspended coroutine, from its saved stack
    /// pointer to each segment's top (the root's range includes the header); nothing for a fresh or finished one. The values in flight
    /// live in the suspended frames, inside these ranges.
    ///
    /// While the coroutine is compacted, the one range is the compact buffer
    /// ([`CompactCopy::buffer`]): the values in it are the stack's, unchanged.
    pub fn for_each_live_range(&self, mut f: impl FnMut(Range<usize>)) {
        if !self.started() {
            return;
        }
        if let Some(copy) = self.stack.compacted() {
            // A compacted coroutine was suspended on its root segment (`compact`
            // refuses otherwise), so no `grow` segment holds live frames.
            f(copy.buffer());
            return;
        }
        let sp = self.callee.sp();
        self.prefix()
            .yielder
            .chain
            .for_each_live_range(self.stack.base(), sp, f);
    }
}

impl<I, Y, R> Drop for Coroutine<I, Y, R> {
    fn drop(&mut self) {
        match self.state {
            // SAFETY: the closure never ran, so it is still in the header.
            State::Fresh => unsafe { (self.drop_f)(self.header) },
            State::Suspended | State::SuspendedChecked | State::Compacted => {
                self.restore();
                // Unwind the coroutine's frames: every `suspend` now returns by unwinding,
                // until the closure has finished.
                while self.state != State::Done {
                    let out = self.switch_in(0);
                    if out == 0 {
                        drop(self.prefix().result.take());
                        self.state = State::Done;
                    } else {
                        // It caught the unwind and suspended again: drop that value.
                        // SAFETY: as in `resume`.
                        drop(unsafe { ptr::read(out as *const Y) });
                    }
                }
            }
            State::Done => {}
        }
        // SAFETY: the footer was written in `with_stack` and the stack is still ours.
        unsafe { current::clear_footer(self.stack.base()) };
        // SAFETY: the coroutine has finished or never ran, so no `grow` frame uses the
        // chain; it is dropped once, here (the rest of the header holds nothing to drop:
        // the closure, the values in flight and the result were taken).
        unsafe { ptr::drop_in_place(ptr::addr_of!((*self.header).yielder.chain).cast_mut()) };
    }
}

/// Drops the closure of a never-started coroutine.
///
/// # Safety
/// `p` is the header of a `Header<I, Y, R, F>` whose closure was not taken.
unsafe fn drop_closure<I, Y, R, F>(p: *const HeaderPrefix<I, Y, R>) {
    // SAFETY: forwarded from the caller.
    let h = unsafe { &*(p as *const Header<I, Y, R, F>) };
    drop(h.f.take());
}

/// The coroutine's first frame: runs the closure, catches its panic, stores the outcome
/// and switches back for the last time.
unsafe extern "C" fn entry<I, Y, R, F>(arg: usize, input: usize) -> !
where
    F: FnOnce(&Yielder<I, Y>, I) -> R,
{
    // SAFETY: `arg` is the header `with_stack` wrote at the top of this stack; it lives
    // until the coroutine is dropped, which cannot happen while it runs.
    let h = unsafe { &*(arg as *const Header<I, Y, R, F>) };
    // The first resume always passes an input (only a suspended coroutine is unwound).
    let outcome = match h.f.take() {
        Some(f) if input != 0 => {
            // SAFETY: the address of the resumer's `I`, given up by it (see `suspend`).
            let input = unsafe { ptr::read(input as *const I) };
            panic::catch_unwind(AssertUnwindSafe(|| f(&h.yielder, input)))
        }
        _ => fatal("coroutine started without its closure or input"),
    };
    h.result.set(Some(outcome));
    // SAFETY: the final switch back; `caller` was saved by the running `resume`. Every
    // local of this frame has been moved out or is trivially droppable, and this stack
    // is never resumed again.
    unsafe { suspend_coroutine(h.yielder.caller.get(), 0) };
    fatal_error(format_args!("runtime: a finished coroutine was resumed"))
}

#[cold]
#[inline(never)]
#[track_caller]
#[allow(
    clippy::panic,
    reason = "documented misuse (`# Panics` of `resume`), as in corosensei"
)]
fn resume_finished() -> ! {
    std::panic::panic_any("gort_stack::Coroutine::resume: the coroutine has already finished")
}

#[cold]
#[inline(never)]
fn new_failed(e: Error) -> ! {
    fatal_error(format_args!(
        "runtime: cannot allocate a coroutine stack: {e}"
    ))
}
