//! Fatal errors in Go's style: a broken runtime invariant prints `fatal error: runtime:
//! ...` and aborts. See the crate docs for the overview.

use core::fmt::Write as _;

use crate::fmt_buf::FmtBuf;
use crate::os;

/// Prints `fatal error: runtime: <msg>` and aborts (Go's `throw`), without allocating.
#[cold]
#[inline(never)]
pub(crate) fn fatal(msg: &str) -> ! {
    fatal_error(format_args!("runtime: {msg}"))
}

/// Prints `fatal error: <args>` and aborts, without allocating.
#[cold]
#[inline(never)]
pub(crate) fn fatal_error(args: core::fmt::Arguments<'_>) -> ! {
    let mut b = FmtBuf::new();
    let _ = b.write_str("fatal error: ");
    let _ = b.write_fmt(args);
    let _ = b.write_str("\n");
    os::write_stderr(b.as_bytes());
    std::process::abort()
}
