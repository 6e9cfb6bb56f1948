//! Go's two ways to die: `throw` (a broken runtime invariant: print and abort) and
//! `fatal` (a user-caused unrecoverable condition: print Go-style and exit 2).

use std::io::Write;

/// A broken runtime invariant (Go: `throw`): prints `fatal error: runtime: <msg>` and
/// aborts the process.
#[cold]
#[inline(never)]
pub(crate) fn throw(msg: &str) -> ! {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "fatal error: runtime: {msg}");
    let _ = err.flush();
    std::process::abort()
}

/// A user-caused unrecoverable condition (Go: `fatal`): prints `fatal error: <msg>`,
/// then `extra` (e.g. a goroutine dump) and exits with status 2.
#[cold]
#[inline(never)]
pub(crate) fn fatal(msg: &str, extra: &str) -> ! {
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "fatal error: {msg}\n{extra}");
    let _ = err.flush();
    exit2()
}

/// Exits the process with status 2 without running destructors or `atexit` handlers
/// that could touch goroutine state (Go exits with 2 after a fatal error or panic).
pub(crate) fn exit2() -> ! {
    // SAFETY: `_exit` is always safe to call; it ends the process at once.
    unsafe { libc::_exit(2) }
}
