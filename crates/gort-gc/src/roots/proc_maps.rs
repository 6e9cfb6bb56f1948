//! `/proc/self/maps` read with raw system calls into a buffer sized beforehand, so the
//! stopped window can find the mapping around an address without allocating. See
//! `roots/mod.rs` for the overview.

use core::ops::Range;

use super::raw;

/// Slack added to the measured size of `/proc/self/maps` when sizing the buffer: room for
/// the mappings (thread stacks, arenas) made between sizing and the stopped window.
const SLACK: usize = 64 * 1024;

/// A snapshot of `/proc/self/maps` in a preallocated buffer.
///
/// Invariant: `len <= buf.len()`; `buf[..len]` is the text of the last successful
/// [`Maps::read_raw`] (empty before the first).
#[derive(Debug, Default)]
pub(crate) struct Maps {
    /// The text. Sized by [`Maps::reserve`] (which allocates), filled by
    /// [`Maps::read_raw`] (which does not).
    buf: Vec<u8>,
    /// Bytes of `buf` holding the last read.
    len: usize,
}

/// One line of `/proc/self/maps`: the address range and whether it can be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Mapping {
    /// First byte.
    pub(crate) start: usize,
    /// One past the last byte.
    pub(crate) end: usize,
    /// `r` in the permissions column.
    pub(crate) readable: bool,
}

impl Maps {
    /// Sizes the buffer for the current mappings plus slack. Allocates: call it before
    /// stopping threads.
    pub(crate) fn reserve(&mut self) -> Result<(), i32> {
        let now = raw::file_len(c"/proc/self/maps".as_ptr())?;
        let want = now * 2 + SLACK;
        if self.buf.len() < want {
            self.buf.resize(want, 0);
        }
        Ok(())
    }

    /// Reads `/proc/self/maps` into the buffer with raw system calls (no allocation, no
    /// lock). `Err(None)` when the buffer was too small (call [`Maps::reserve`] again),
    /// `Err(Some(errno))` when the file could not be read.
    pub(crate) fn read_raw(&mut self) -> Result<(), Option<i32>> {
        self.len = 0;
        let n = raw::read_file(c"/proc/self/maps".as_ptr(), &mut self.buf).map_err(Some)?;
        if n == self.buf.len() {
            return Err(None);
        }
        self.len = n;
        Ok(())
    }

    /// The mapping that contains `addr`, if any (a linear walk of the text).
    pub(crate) fn mapping_of(&self, addr: usize) -> Option<Mapping> {
        self.lines().find(|m| m.start <= addr && addr < m.end)
    }

    /// The readable mapping that contains `addr`, as a range.
    pub(crate) fn readable_range_of(&self, addr: usize) -> Option<Range<usize>> {
        self.mapping_of(addr)
            .filter(|m| m.readable)
            .map(|m| m.start..m.end)
    }

    /// Calls `f(start, end)` for each part of `range` that lies in a readable mapping of
    /// the last read (adjacent mappings give adjacent parts; gaps and unreadable
    /// mappings are left out). Allocates nothing.
    pub(crate) fn for_each_readable_part(
        &self,
        range: Range<usize>,
        mut f: impl FnMut(usize, usize),
    ) {
        for m in self.lines().filter(|m| m.readable) {
            let (lo, hi) = (m.start.max(range.start), m.end.min(range.end));
            if lo < hi {
                f(lo, hi);
            }
        }
    }

    /// The parsed lines of the last read.
    fn lines(&self) -> impl Iterator<Item = Mapping> + '_ {
        self.buf[..self.len]
            .split(|&b| b == b'\n')
            .filter_map(parse_line)
    }
}

/// Parses `start-end perms ...`; `None` for a malformed line.
fn parse_line(line: &[u8]) -> Option<Mapping> {
    let dash = line.iter().position(|&b| b == b'-')?;
    let space = line.iter().position(|&b| b == b' ')?;
    if space <= dash {
        return None;
    }
    let start = parse_hex(&line[..dash])?;
    let end = parse_hex(&line[dash + 1..space])?;
    let readable = line.get(space + 1) == Some(&b'r');
    Some(Mapping {
        start,
        end,
        readable,
    })
}

/// Parses lower-case or upper-case hexadecimal digits; `None` if empty or not hex.
fn parse_hex(digits: &[u8]) -> Option<usize> {
    if digits.is_empty() || digits.len() > 16 {
        return None;
    }
    let mut v = 0usize;
    for &d in digits {
        let x = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            b'A'..=b'F' => d - b'A' + 10,
            _ => return None,
        };
        v = (v << 4) | usize::from(x);
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_maps_line() {
        let l = b"7ffd1c2e3000-7ffd1c304000 rw-p 00000000 00:00 0                          [stack]";
        assert_eq!(
            parse_line(l),
            Some(Mapping {
                start: 0x7ffd_1c2e_3000,
                end: 0x7ffd_1c30_4000,
                readable: true
            })
        );
        assert_eq!(parse_line(b"zz-10 r--p"), None);
        assert_eq!(parse_line(b""), None);
        let l = b"1000-2000 ---p 00000000 00:00 0";
        assert!(!parse_line(l).is_some_and(|m| m.readable));
    }

    #[test]
    fn clamps_a_range_to_the_readable_mappings() {
        let text = b"1000-3000 rw-p 00000000 00:00 0\n3000-4000 rw-p 00000000 00:00 0\n\
                     5000-6000 ---p 00000000 00:00 0\n6000-8000 r--p 00000000 00:00 0\n";
        let maps = Maps {
            buf: text.to_vec(),
            len: text.len(),
        };
        let mut parts = Vec::new();
        maps.for_each_readable_part(0x800..0x7000, |lo, hi| parts.push((lo, hi)));
        assert_eq!(
            parts,
            [(0x1000, 0x3000), (0x3000, 0x4000), (0x6000, 0x7000)]
        );
        parts.clear();
        maps.for_each_readable_part(0x4000..0x6000, |lo, hi| parts.push((lo, hi)));
        assert!(parts.is_empty(), "{parts:x?}");
    }

    #[test]
    fn finds_the_mapping_of_a_local() {
        let mut maps = Maps::default();
        maps.reserve().unwrap();
        maps.read_raw().unwrap();
        let local = 7u64;
        let addr = &raw const local as usize;
        let r = maps.readable_range_of(addr).unwrap();
        assert!(r.contains(&addr));
        assert!(maps.mapping_of(0).is_none());
    }
}
