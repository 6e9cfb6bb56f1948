//! `JsonWriter`: a small hand-written JSON emitter (no serde) with correct string
//! escaping. See the crate docs for the overview.

use std::io::{self, Write};

/// Writes JSON tokens to `W`, inserting commas between the members of the innermost
/// object or array. The caller keeps the nesting balanced.
#[derive(Debug)]
pub(crate) struct JsonWriter<W: Write> {
    out: W,
    /// Per open container: whether it already has a member (so the next needs a comma).
    stack: Vec<bool>,
    /// Set right after a key, so the value that follows takes no comma.
    after_key: bool,
}

impl<W: Write> JsonWriter<W> {
    pub(crate) fn new(out: W) -> Self {
        Self {
            out,
            stack: Vec::new(),
            after_key: false,
        }
    }

    /// Writes the comma a new member needs, if any.
    fn sep(&mut self) -> io::Result<()> {
        if self.after_key {
            self.after_key = false;
            return Ok(());
        }
        if let Some(has) = self.stack.last_mut() {
            if *has {
                self.out.write_all(b",")?;
            }
            *has = true;
        }
        Ok(())
    }

    pub(crate) fn begin_object(&mut self) -> io::Result<()> {
        self.sep()?;
        self.stack.push(false);
        self.out.write_all(b"{")
    }

    pub(crate) fn end_object(&mut self) -> io::Result<()> {
        self.stack.pop();
        self.out.write_all(b"}")
    }

    pub(crate) fn begin_array(&mut self) -> io::Result<()> {
        self.sep()?;
        self.stack.push(false);
        self.out.write_all(b"[")
    }

    /// Ends an array.
    pub(crate) fn end_array(&mut self) -> io::Result<()> {
        self.stack.pop();
        self.out.write_all(b"]")
    }

    /// Writes `"key":`.
    pub(crate) fn key(&mut self, k: &str) -> io::Result<()> {
        self.sep()?;
        write_escaped(&mut self.out, k)?;
        self.out.write_all(b":")?;
        self.after_key = true;
        Ok(())
    }

    pub(crate) fn string(&mut self, s: &str) -> io::Result<()> {
        self.sep()?;
        write_escaped(&mut self.out, s)
    }

    pub(crate) fn uint(&mut self, v: u64) -> io::Result<()> {
        self.sep()?;
        write!(self.out, "{v}")
    }

    pub(crate) fn boolean(&mut self, v: bool) -> io::Result<()> {
        self.sep()?;
        self.out.write_all(if v { b"true" } else { b"false" })
    }

    /// Writes nanoseconds as microseconds with three decimals (exact, no float).
    pub(crate) fn micros(&mut self, ns: u64) -> io::Result<()> {
        self.sep()?;
        write!(self.out, "{}.{:03}", ns / 1000, ns % 1000)
    }

    /// A newline between top-level array members (whitespace is legal JSON).
    pub(crate) fn newline(&mut self) -> io::Result<()> {
        self.out.write_all(b"\n")
    }

    pub(crate) fn into_inner(self) -> W {
        self.out
    }
}

/// Writes `s` as a JSON string literal: `"` and `\` escaped, control characters as
/// `\n`, `\t`, ... or `\u00XX`; everything else (all of Unicode) as UTF-8.
pub(crate) fn write_escaped<W: Write>(out: &mut W, s: &str) -> io::Result<()> {
    out.write_all(b"\"")?;
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &c) in bytes.iter().enumerate() {
        let esc: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f | 0x7f => b"",
            _ => continue,
        };
        out.write_all(&bytes[start..i])?;
        if esc.is_empty() {
            write!(out, "\\u{c:04x}")?;
        } else {
            out.write_all(esc)?;
        }
        start = i + 1;
    }
    out.write_all(&bytes[start..])?;
    out.write_all(b"\"")
}
