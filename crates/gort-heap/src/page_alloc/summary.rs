//! `Summary`: the packed (start, max, end) free-run summary of a range of pages
//! (Go: mpagealloc.go, `pallocSum`). See the crate docs for the overview.

/// The largest value a summary field holds: the pages under one level-0 entry (16 GiB).
pub(crate) const MAX_PACKED: usize = 1 << 21;
const FIELD_BITS: u32 = 21;
const FIELD_MASK: u64 = (1 << FIELD_BITS) - 1;
/// Set when the whole level-0 entry is free (start = max = end = `MAX_PACKED`, which does
/// not fit in 21 bits).
const ALL_FREE: u64 = 1 << 63;

/// For a range of pages: `start`, the free pages at its beginning; `max`, the longest free
/// run anywhere in it; `end`, the free pages at its end. Zero means "nothing free" (and is
/// also what unmapped, never-grown address space reads as).
#[derive(Copy, Clone, PartialEq, Eq, Default)]
#[repr(transparent)]
pub(crate) struct Summary(u64);

impl core::fmt::Debug for Summary {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "Summary({}, {}, {})",
            self.start(),
            self.max(),
            self.end()
        )
    }
}

impl Summary {
    /// Packs a summary. Invariant: `start, end <= max <= MAX_PACKED`, and `max ==
    /// MAX_PACKED` only when all three are.
    #[inline]
    pub(crate) fn new(start: usize, max: usize, end: usize) -> Summary {
        debug_assert!(
            start <= max && end <= max && max <= MAX_PACKED,
            "{start} {max} {end}"
        );
        if max == MAX_PACKED {
            return Summary(ALL_FREE);
        }
        Summary(start as u64 | (max as u64) << FIELD_BITS | (end as u64) << (2 * FIELD_BITS))
    }

    /// Free pages at the start of the range.
    #[inline]
    pub(crate) fn start(self) -> usize {
        if self.0 & ALL_FREE != 0 {
            MAX_PACKED
        } else {
            (self.0 & FIELD_MASK) as usize
        }
    }

    /// The longest free run in the range.
    #[inline]
    pub(crate) fn max(self) -> usize {
        if self.0 & ALL_FREE != 0 {
            MAX_PACKED
        } else {
            ((self.0 >> FIELD_BITS) & FIELD_MASK) as usize
        }
    }

    /// Free pages at the end of the range.
    #[inline]
    pub(crate) fn end(self) -> usize {
        if self.0 & ALL_FREE != 0 {
            MAX_PACKED
        } else {
            ((self.0 >> (2 * FIELD_BITS)) & FIELD_MASK) as usize
        }
    }

    /// Whether nothing in the range is free.
    #[inline]
    pub(crate) fn is_full(self) -> bool {
        self.0 == 0
    }

    /// The summary of the concatenation of `children`, each covering `child_pages` pages
    /// (Go: `mergeSummaries`). O(children).
    ///
    /// Children are never level-0 entries, so none has the `ALL_FREE` encoding and the
    /// fields unpack without branches.
    pub(crate) fn merge(children: &[Summary], child_pages: usize) -> Summary {
        debug_assert!(child_pages < MAX_PACKED);
        let mut start = 0;
        let mut start_open = true;
        let mut max = 0;
        let mut run = 0;
        for c in children {
            debug_assert!(c.0 & ALL_FREE == 0);
            let s = (c.0 & FIELD_MASK) as usize;
            let m = ((c.0 >> FIELD_BITS) & FIELD_MASK) as usize;
            let e = ((c.0 >> (2 * FIELD_BITS)) & FIELD_MASK) as usize;
            if start_open {
                start += s;
                start_open = s == child_pages;
            }
            max = max.max(m).max(run + s);
            run = if s == child_pages {
                run + child_pages
            } else {
                e
            };
        }
        Summary::new(start, max, run)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_roundtrip_and_all_free() {
        for (s, m, e) in [(0, 0, 0), (1, 5, 2), (MAX_PACKED - 1, MAX_PACKED - 1, 7)] {
            let x = Summary::new(s, m, e);
            assert_eq!((x.start(), x.max(), x.end()), (s, m, e));
        }
        let all = Summary::new(MAX_PACKED, MAX_PACKED, MAX_PACKED);
        assert_eq!(
            (all.start(), all.max(), all.end()),
            (MAX_PACKED, MAX_PACKED, MAX_PACKED)
        );
        assert!(Summary::new(0, 0, 0).is_full());
    }

    #[test]
    fn merge_runs_across_children() {
        let full = Summary::new(4, 4, 4);
        let none = Summary::new(0, 0, 0);
        let tail = Summary::new(0, 1, 1);
        let head = Summary::new(2, 2, 0);
        let m = Summary::merge(&[tail, full, head, none], 4);
        assert_eq!((m.start(), m.max(), m.end()), (0, 7, 0));
        let m = Summary::merge(&[full, full, tail], 4);
        assert_eq!((m.start(), m.max(), m.end()), (8, 8, 1));
        let m = Summary::merge(&[full, full], 4);
        assert_eq!((m.start(), m.max(), m.end()), (8, 8, 8));
    }
}
