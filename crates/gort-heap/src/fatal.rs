//! `fatal`: Go's `throw` for broken runtime invariants. See the crate docs for the overview.

/// Prints `fatal error: runtime: <msg>` to standard error and aborts the process, without
/// allocating (Go: `throw`). For broken runtime invariants only: conditions a caller can
/// handle are [`crate::Error`]s.
#[cold]
#[inline(never)]
pub fn fatal(msg: &str) -> ! {
    write_stderr(b"fatal error: runtime: ");
    write_stderr(msg.as_bytes());
    write_stderr(b"\n");
    std::process::abort()
}

/// Writes all of `bytes` to file descriptor 2, ignoring errors (there is nowhere left to
/// report them).
fn write_stderr(mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: `bytes` is a valid, initialised buffer of `bytes.len()` bytes for the
        // duration of the call; `write` only reads it.
        let n = unsafe { libc::write(2, bytes.as_ptr().cast(), bytes.len()) };
        if n <= 0 {
            return;
        }
        bytes = &bytes[n.unsigned_abs()..];
    }
}
