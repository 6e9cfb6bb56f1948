//! Per-architecture context switching: the only assembly in the crate. See the crate
//! docs for the overview.

#[cfg(target_arch = "x86_64")]
mod x86_64;
#[cfg(target_arch = "x86_64")]
pub(crate) use x86_64::*;

#[cfg(not(target_arch = "x86_64"))]
compile_error!(
    "gort-stack's context switch is implemented and tested only for x86_64 (System V ABI); \
     add src/arch/<arch>.rs (switch, initial frame, on_stack) with tests before enabling \
     this target"
);
