//! Go's `throw`: print `fatal error: runtime: ...` without allocating and abort.

/// Prints `fatal error: runtime: <msg>` to stderr and aborts the process.
///
/// Used for broken runtime invariants (heap corruption, double frees, frees of pointers
/// this allocator never returned). It never allocates: the allocator may be the caller.
#[cold]
#[inline(never)]
pub fn fatal(msg: &str) -> ! {
    write_stderr(b"fatal error: runtime: ");
    write_stderr(msg.as_bytes());
    write_stderr(b"\n");
    // SAFETY: abort has no preconditions.
    unsafe { libc::abort() }
}

fn write_stderr(mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: `bytes` is a live slice; write reads at most `len` bytes from it.
        let n = unsafe { libc::write(2, bytes.as_ptr().cast(), bytes.len()) };
        if n <= 0 {
            return;
        }
        bytes = &bytes[n as usize..];
    }
}
