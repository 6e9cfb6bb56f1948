//! x86_64 System V context switch, initial frame and call-on-another-stack, in assembly.
//!
//! Only callee-saved state is kept: the compiler saves the r12–r15 and caller-saved
//! registers it has live around the inlined `asm!` (they are declared clobbered), and the
//! asm pushes rbx, rbp and the resume address. All of it lives on the suspended stack
//! itself, so a [`Context`] is one word. The MXCSR and x87 control
//! words are per thread, not per context (as in Go), and are not switched.

use crate::context::Context;

#[cfg(not(target_os = "linux"))]
compile_error!("gort-stack's x86_64 switch is written for the System V ABI (Linux)");

/// Saves the resume address, rbp and rbx on the current stack and the stack pointer in
/// `*from`, then loads the stack pointer from `*to`, pops its rbx and rbp and jumps to
/// its resume address.
///
/// Inlined at every call site as `asm!`: r12–r15 and every caller-saved register are
/// declared clobbered, so the compiler saves only those it has live (rbx and rbp cannot
/// be declared, so they are pushed). The jump back is a `jmp`, not a `ret`: a `ret` to
/// another context's address would miss the return-stack predictor on every switch,
/// while each inlined `jmp` site keeps going to the same partner site and is predicted.
/// The asm does not use `nostack`, so the compiler keeps nothing in the red zone across
/// it and enters it with the stack 16-byte aligned.
///
/// # Safety
/// As [`crate::switch`].
#[inline(always)]
pub(crate) unsafe fn switch_raw(from: *mut Context, to: *const Context) {
    // SAFETY: forwarded from the caller: `from` is writable, `to` holds a frame laid out
    // as [rbx, rbp, resume address] at its stack pointer on a live stack.
    unsafe {
        core::arch::asm!(
            "lea rax, [rip + 2f]",
            "push rax",
            "push rbp",
            "push rbx",
            "mov [rdi], rsp",
            "mov rsp, [rsi]",
            "pop rbx",
            "pop rbp",
            "pop rax",
            "jmp rax",
            "2:",
            inout("rdi") from => _,
            inout("rsi") to => _,
            lateout("r12") _,
            lateout("r13") _,
            lateout("r14") _,
            lateout("r15") _,
            clobber_abi("sysv64"),
        );
    }
}

/// First code run on a new context: `switch_raw` popped `arg` into rbx and `entry` into
/// rbp and jumped here with rsp ≡ 8 (mod 16) pointing at a zero return address, so
/// `entry(arg)` starts exactly as if called, with rbp = 0 ending frame-pointer chains and
/// the zero return address ending unwinding.
#[unsafe(naked)]
unsafe extern "C" fn start_trampoline() {
    core::arch::naked_asm!("mov rdi, rbx", "mov rax, rbp", "xor ebp, ebp", "jmp rax")
}

/// Words of the initial frame below `top`.
const INITIAL_FRAME_WORDS: usize = 4;

/// Writes the initial frame of a context that calls `entry(arg)` and returns its stack
/// pointer.
///
/// # Safety
/// `top` is 16-byte aligned and the `INITIAL_FRAME_WORDS` words below it are writable
/// memory owned by the caller.
pub(crate) unsafe fn init_frame(
    top: usize,
    entry: unsafe extern "C" fn(usize) -> !,
    arg: usize,
) -> usize {
    debug_assert!(
        top.is_multiple_of(16),
        "context top must be 16-byte aligned"
    );
    let words: [usize; INITIAL_FRAME_WORDS] = [
        arg,                                    // rbx: the argument
        entry as *const () as usize,            // rbp: the entry point
        start_trampoline as *const () as usize, // resume address
        0,                                      // entry's return address: ends unwinding
    ];
    let sp = top - INITIAL_FRAME_WORDS * 8;
    // SAFETY: the caller guarantees the words below `top` are writable and ours.
    unsafe {
        core::ptr::copy_nonoverlapping(words.as_ptr(), sp as *mut usize, INITIAL_FRAME_WORDS)
    };
    sp
}

/// Resumes a coroutine (the asymmetric pair used by [`crate::Coroutine`], after
/// corosensei): pushes rbx, then `call`s the resume address at the top of the coroutine's
/// saved stack `sp`, passing `link` (where the coroutine stores this side's stack
/// pointer) in rsi and `arg` in rdi. Returns the coroutine's new saved stack pointer and
/// the word it passed to [`suspend_raw`] when it suspends.
///
/// The `call` here is matched by the `ret` in [`suspend_raw`], so the return-stack
/// predictor stays right in both directions.
///
/// # Safety
/// `sp` was returned by [`init_coroutine_frame`] or by the previous `resume_raw` on the
/// same coroutine, whose stack is alive; `link` is writable and is the slot the
/// coroutine's [`suspend_raw`] reads.
#[inline(always)]
pub(crate) unsafe fn resume_raw(sp: usize, link: *mut Context, arg: usize) -> (usize, usize) {
    let new_sp: usize;
    let ret: usize;
    // SAFETY: forwarded from the caller; the coroutine side restores rbp and returns to
    // the instruction after the call with this stack exactly as it was after the call.
    unsafe {
        core::arch::asm!(
            "push rbx",
            "call [rdx]",
            "pop rbx",
            inout("rdi") arg => ret,
            inout("rdx") sp => _,
            inout("rsi") link => new_sp,
            lateout("r12") _,
            lateout("r13") _,
            lateout("r14") _,
            lateout("r15") _,
            clobber_abi("sysv64"),
        );
    }
    (new_sp, ret)
}

/// Suspends the running coroutine, handing `arg` to [`resume_raw`] (in rdi): saves rbp,
/// rbx and the resume address on its stack, hands its stack pointer over (in rsi), loads the resumer's stack pointer
/// from `link`, restores the resumer's rbp and `ret`urns into `resume_raw`. When resumed
/// it starts at `2:` on the resumer's stack (just after its `call`), saves the resumer's
/// rbp there and the stack pointer in the link, moves back to its own stack and returns
/// the word the resumer passed.
///
/// # Safety
/// Runs on a coroutine stack entered through [`resume_raw`], whose resumer's stack
/// pointer is in `*link`.
#[inline(always)]
pub(crate) unsafe fn suspend_raw(link: *const Context, arg: usize) -> usize {
    let ret: usize;
    // SAFETY: forwarded from the caller; see the protocol above.
    unsafe {
        core::arch::asm!(
            "push rbp",
            "push rbx",
            "lea rax, [rip + 2f]",
            "push rax",
            "mov rsi, rsp",
            "mov rsp, [rdx]",
            "pop rbp",
            "ret",
            "2:",
            "push rbp",
            "mov [rsi], rsp",
            "lea rsp, [rdx + 8]",
            "pop rbx",
            "pop rbp",
            inout("rdi") arg => ret,
            inout("rdx") link => _,
            lateout("rsi") _,
            lateout("r12") _,
            lateout("r13") _,
            lateout("r14") _,
            lateout("r15") _,
            clobber_abi("sysv64"),
        );
    }
    ret
}

/// First code of a coroutine, reached by `resume_raw`'s `call` with rdx = the initial
/// frame, rsi = the link and rdi = the resumer's word: saves the resumer's rbp and stack
/// pointer like `suspend_raw` does at `2:`, moves to the coroutine stack, pops `entry`
/// and `arg`, and jumps to `entry(arg, word)` with rsp ≡ 8 (mod 16) over a zero return
/// address and rbp = 0.
#[unsafe(naked)]
unsafe extern "C" fn coroutine_trampoline() {
    core::arch::naked_asm!(
        "push rbp",
        "mov [rsi], rsp",
        "lea rsp, [rdx + 8]",
        "mov rsi, rdi",
        "pop rax",
        "pop rdi",
        "xor ebp, ebp",
        "jmp rax",
    )
}

/// Writes the initial frame of a coroutine that runs `entry(arg)` when first resumed by
/// [`resume_raw`] and returns its stack pointer.
///
/// # Safety
/// As [`init_frame`].
pub(crate) unsafe fn init_coroutine_frame(
    top: usize,
    entry: unsafe extern "C" fn(usize, usize) -> !,
    arg: usize,
) -> usize {
    debug_assert!(
        top.is_multiple_of(16),
        "coroutine top must be 16-byte aligned"
    );
    let words: [usize; 4] = [
        coroutine_trampoline as *const () as usize, // called by resume_raw
        entry as *const () as usize,                // popped into rax
        arg,                                        // popped into rdi
        0,                                          // entry's return address
    ];
    let sp = top - 32;
    // SAFETY: the caller guarantees the words below `top` are writable and ours.
    unsafe { core::ptr::copy_nonoverlapping(words.as_ptr(), sp as *mut usize, 4) };
    sp
}

/// Calls `f(arg)` with the stack pointer set to `top`, then restores the stack pointer
/// and returns. rbp keeps the old stack pointer across the call (it is callee-saved).
///
/// # Safety
/// `top` is 16-byte aligned, the top of memory usable as a stack until `f` returns; `f`
/// does not unwind.
#[unsafe(naked)]
pub(crate) unsafe extern "C" fn on_stack_raw(
    arg: usize,
    f: unsafe extern "C" fn(usize),
    top: usize,
) {
    core::arch::naked_asm!(
        "push rbp",
        "mov rbp, rsp",
        "mov rsp, rdx",
        "call rsi",
        "mov rsp, rbp",
        "pop rbp",
        "ret",
    )
}

/// The current stack pointer (approximately: of the caller's frame).
#[inline(always)]
pub(crate) fn stack_pointer() -> usize {
    let sp: usize;
    // SAFETY: reads a register; no memory access.
    unsafe {
        core::arch::asm!("mov {}, rsp", out(reg) sp, options(nomem, nostack, preserves_flags))
    };
    sp
}
