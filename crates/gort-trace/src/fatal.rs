//! `fatal!`: Go's `throw` for broken runtime invariants, without allocating. See the
//! crate docs for the overview.

use core::fmt::{self, Write as _};

/// Prints `fatal error: <message>` to standard error and aborts (Go: `throw`). For
/// broken runtime invariants only; the message is formatted into a stack buffer
/// (cut at 480 bytes), so this never calls the global allocator and is safe to use
/// while an allocator lock is held. Conditions a caller can handle are
/// [`Error`](crate::Error)s.
///
/// ```no_run
/// gort_trace::fatal!("runtime: trace buffer {} has length {}", 3, 9999);
/// ```
#[macro_export]
macro_rules! fatal {
    ($($arg:tt)*) => {
        $crate::fatal_args(::core::format_args!($($arg)*))
    };
}

/// The function behind [`fatal!`](crate::fatal!).
#[cold]
#[inline(never)]
pub fn fatal_args(args: fmt::Arguments<'_>) -> ! {
    let mut buf = StackBuf {
        bytes: [0; 480],
        len: 0,
    };
    // A formatting error only means the message was cut; print what fitted.
    let _ = buf.write_fmt(args);
    write_stderr(b"fatal error: ");
    write_stderr(&buf.bytes[..buf.len]);
    write_stderr(b"\n");
    std::process::abort()
}

/// A fixed-size `fmt::Write` sink that keeps the first bytes and drops the rest.
struct StackBuf {
    bytes: [u8; 480],
    len: usize,
}

impl fmt::Write for StackBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.bytes.len() - self.len;
        let n = s.len().min(room);
        self.bytes[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        if n < s.len() { Err(fmt::Error) } else { Ok(()) }
    }
}

/// Writes all of `bytes` to file descriptor 2, ignoring errors (there is nowhere left
/// to report them).
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
