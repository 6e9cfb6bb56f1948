//! `Context` and `switch`: the saved state of a suspended stack and the jump between two
//! of them. See the crate docs for the overview.

use crate::arch;
use crate::stack::Stack;

/// Saved execution context of a suspended stack: its stack pointer. The callee-saved
/// registers live on the suspended stack itself, below that pointer.
///
/// Invariant: a non-empty `Context` either points at an initial frame written by
/// [`Context::new`] or at the frame `switch` saved; it is valid to switch to exactly
/// once (switching away saves a fresh one).
#[repr(C)]
#[derive(Debug)]
pub struct Context {
    /// The saved stack pointer; 0 for an empty context.
    sp: usize,
}

impl Context {
    /// A context that, when switched to, calls `entry(arg)` on `stack`. `entry` must
    /// never return (it ends by switching away for the last time).
    ///
    /// # Safety
    /// `stack` stays alive and unused by anything else until `entry` has switched away
    /// for the last time; the top 64 bytes of `stack` are overwritten now.
    pub unsafe fn new(
        stack: &Stack,
        entry: unsafe extern "C" fn(arg: usize) -> !,
        arg: usize,
    ) -> Context {
        // SAFETY: `base` is page-aligned (so 16-byte aligned) and the caller lends us the
        // segment, whose top words are writable.
        unsafe { Context::new_at(stack.base(), entry, arg) }
    }

    /// Like [`Context::new`] with the stack starting at `top` instead of a segment's base
    /// (for callers that keep data at the top of the segment).
    ///
    /// # Safety
    /// `top` is 16-byte aligned, and the memory below it is a stack (with room for
    /// whatever `entry` does) that stays alive and otherwise unused until `entry` has
    /// switched away for the last time. The 64 bytes below `top` are overwritten now.
    pub unsafe fn new_at(
        top: usize,
        entry: unsafe extern "C" fn(arg: usize) -> !,
        arg: usize,
    ) -> Context {
        // SAFETY: forwarded from the caller.
        let sp = unsafe { arch::init_frame(top, entry, arg) };
        Context { sp }
    }

    /// A slot to save into (switching to it is undefined behaviour).
    pub const fn empty() -> Context {
        Context { sp: 0 }
    }

    /// The saved stack pointer (0 if empty). Everything live on a suspended stack is in
    /// `[sp, base)`, including the saved callee-saved registers, so a conservative
    /// collector scans exactly that range.
    #[inline]
    pub fn sp(&self) -> usize {
        self.sp
    }

    /// Whether nothing was saved here.
    pub fn is_empty(&self) -> bool {
        self.sp == 0
    }
}

/// Save the current callee-saved registers and stack pointer into `*from`, then resume
/// `*to`. Returns when someone switches back to `from`.
///
/// # Safety
/// `from` is valid for writes; `*to` holds a context made by [`Context::new`] that was
/// never switched to, or one saved by `switch` that was not resumed since, whose stack is
/// still alive. Nothing may unwind across the switch: code running on the other side
/// catches its panics before switching back.
#[inline(always)]
pub unsafe fn switch(from: *mut Context, to: *const Context) {
    // SAFETY: forwarded from the caller.
    unsafe { arch::switch_raw(from, to) }
}

/// A coroutine's initial context (the asymmetric protocol of `resume_coroutine` /
/// `suspend_coroutine`, not `switch`).
///
/// # Safety
/// As [`Context::new_at`].
pub(crate) unsafe fn coroutine_context(
    top: usize,
    entry: unsafe extern "C" fn(usize, usize) -> !,
    arg: usize,
) -> Context {
    // SAFETY: forwarded from the caller.
    let sp = unsafe { arch::init_coroutine_frame(top, entry, arg) };
    Context { sp }
}

/// Runs the coroutine saved in `*callee` until it suspends, handing it `arg`; it finds the
/// way back through `*link`. Saves its new context in `*callee` and returns the word it
/// suspended with.
///
/// # Safety
/// `*callee` holds a context made by `coroutine_context` or saved here, on a live stack;
/// both pointers are valid; nothing unwinds across.
#[inline(always)]
pub(crate) unsafe fn resume_coroutine(
    callee: *mut Context,
    link: *mut Context,
    arg: usize,
) -> usize {
    // SAFETY: forwarded from the caller.
    unsafe {
        let (sp, ret) = arch::resume_raw((*callee).sp, link, arg);
        (*callee).sp = sp;
        ret
    }
}

/// Suspends the running coroutine back to its resumer, whose context is in `*link`,
/// handing it `arg`; returns the word of the next resume.
///
/// # Safety
/// Called on a coroutine's stack entered through `resume_coroutine` with this `link`.
#[inline(always)]
pub(crate) unsafe fn suspend_coroutine(link: *const Context, arg: usize) -> usize {
    // SAFETY: forwarded from the caller.
    unsafe { arch::suspend_raw(link, arg) }
}

/// The current stack pointer (of the calling frame, approximately).
#[inline(always)]
pub fn stack_pointer() -> usize {
    arch::stack_pointer()
}
