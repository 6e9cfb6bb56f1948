//! The caller's own registers and stack pointer, spilled where a conservative scan sees
//! them (Boehm's `GC_with_callee_saves_pushed`). See `roots/mod.rs` for the overview.

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
compile_error!("gort-gc's root scanning supports x86_64 Linux only");

/// Callee-saved registers of the x86-64 System V ABI: rbx, rbp, r12, r13, r14, r15.
pub const CALLEE_SAVED: usize = 6;

/// Bytes below the stack pointer that a leaf function may use without moving it (the
/// x86-64 System V red zone); a stack scan starts this far below the saved SP.
pub const RED_ZONE: usize = 128;

/// Runs `f(registers, sp)` with the caller's callee-saved registers stored in
/// `registers` (on this frame) and `sp` the stack pointer of this frame.
///
/// A value the caller keeps in a caller-saved register across this call is on the stack
/// already (the compiler spilled it before the call), and one in a callee-saved register
/// is in `registers`; so scanning `registers` and the stack from `sp` up to its top while
/// `f` runs sees every pointer the caller's frames hold.
#[inline(never)]
pub fn with_spilled_registers<R>(f: impl FnOnce(&[usize; CALLEE_SAVED], usize) -> R) -> R {
    let mut regs = [0usize; CALLEE_SAVED];
    let sp: usize;
    // SAFETY: stores six registers into `regs` (48 writable bytes on this frame) and
    // reads rsp; no other memory, stack or flag is touched.
    unsafe {
        core::arch::asm!(
            "mov [{r}], rbx",
            "mov [{r} + 8], rbp",
            "mov [{r} + 16], r12",
            "mov [{r} + 24], r13",
            "mov [{r} + 32], r14",
            "mov [{r} + 40], r15",
            "mov {sp}, rsp",
            r = in(reg) regs.as_mut_ptr(),
            sp = out(reg) sp,
            options(nostack, preserves_flags),
        );
    }
    let out = f(&regs, sp);
    // Keep the spill alive until `f` has run, so it is not optimised away.
    core::hint::black_box(&regs);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spills_a_stack_pointer_below_the_callers_locals() {
        let local = 3u64;
        let here = &raw const local as usize;
        with_spilled_registers(|regs, sp| {
            assert!(sp < here, "sp {sp:#x} local {here:#x}");
            assert!(here - sp < 1 << 20);
            assert_eq!(regs.len(), CALLEE_SAVED);
        });
    }
}
