//! `FmtBuf`: a fixed-size text buffer for messages built where allocating is not allowed
//! (signal handlers, fatal paths). See the crate docs for the overview.

use core::fmt;

/// Up to 512 bytes of formatted text; anything longer is cut off.
pub(crate) struct FmtBuf {
    /// The bytes written so far; `len <= buf.len()`.
    buf: [u8; 512],
    /// How many bytes of `buf` are used.
    len: usize,
}

impl FmtBuf {
    /// An empty buffer.
    pub(crate) const fn new() -> FmtBuf {
        FmtBuf {
            buf: [0; 512],
            len: 0,
        }
    }

    /// The text written so far.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl fmt::Write for FmtBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let n = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}
