//! x86_64 System V context switch, initial frame and call-on-another-stack, in assembly.
//!
//! Only the callee-saved registers (rbx, rbp, r12–r15) and the stack pointer are saved:
//! `switch` is an ordinary function call to the compiler, which already keeps every
//! caller-saved register it needs across calls. The saved registers live on the
//! suspended stack itself, so a [`Context`] is one word. The MXCSR and x87 control
//! words are per thread, not per context (as in Go), and are not switched.

use crate::context::Context;

#[cfg(not(target_os = "linux"))]
compile_error!("gort-stack's x86_64 switch is written for the System V ABI (Linux)");

/// Saves rbx, rbp, r12–r15 on the current stack and the stack pointer in `*from`, then
/// loads the stack pointer from `*to`, pops its registers and returns into it.
///
/// The call's own return address is what the other side returns to when it switches
/// back, so the red zone of the caller (which made a call, so keeps nothing there) is
/// never touched, and the stack stays 16-byte aligned as at any call.
#[unsafe(naked)]
pub(crate) unsafe extern "C" fn switch_raw(from: *mut Context, to: *const Context) {
    core::arch::naked_asm!(
        "push rbp",
        "push rbx",
        "push r12",
        "push r13",
        "push r14",
        "push r15",
        "mov [rdi], rsp",
        "mov rsp, [rsi]",
        "pop r15",
        "pop r14",
        "pop r13",
        "pop r12",
        "pop rbx",
        "pop rbp",
        "ret",
    )
}

/// First code run on a new context: `switch_raw` popped `entry` into rbx and `arg` into
/// r12 and returned here with rsp ≡ 8 (mod 16) pointing at a zero return address, so
/// `entry(arg)` starts exactly as if called, and unwinders stop at the zero.
#[unsafe(naked)]
unsafe extern "C" fn start_trampoline() {
    core::arch::naked_asm!("mov rdi, r12", "jmp rbx")
}

/// Words of the initial frame below `top`.
const INITIAL_FRAME_WORDS: usize = 8;

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
        0,                                      // r15
        0,                                      // r14
        0,                                      // r13
        arg,                                    // r12: the argument
        entry as *const () as usize,            // rbx: the entry point
        0,                                      // rbp: ends frame-pointer chains
        start_trampoline as *const () as usize, // return address of switch_raw
        0,                                      // entry's return address: ends unwinding
    ];
    let sp = top - INITIAL_FRAME_WORDS * 8;
    // SAFETY: the caller guarantees the words below `top` are writable and ours.
    unsafe {
        core::ptr::copy_nonoverlapping(words.as_ptr(), sp as *mut usize, INITIAL_FRAME_WORDS)
    };
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
