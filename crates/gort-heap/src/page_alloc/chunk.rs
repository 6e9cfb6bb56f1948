//! `Chunk`: the allocation and scavenged bitmaps of 512 pages (4 MiB), and the bit
//! searches over them (Go: mpallocbits.go). See the crate docs for the overview.

use super::summary::Summary;

/// Pages per chunk (Go: `pallocChunkPages`).
pub(crate) const CHUNK_PAGES: usize = 512;
/// log2 of the bytes in a chunk (4 MiB).
pub(crate) const LOG_CHUNK_BYTES: usize = 22;
/// 64-bit words per bitmap.
const WORDS: usize = CHUNK_PAGES / 64;

/// The bitmaps of one chunk. Protected by the heap lock.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct Chunk {
    /// Bit `i` set: page `i` is allocated, or in flight to the scavenger, or not part of
    /// the heap.
    pub(crate) alloc: [u64; WORDS],
    /// Bit `i` set: page `i` is free and its memory was released to the OS (or never
    /// touched), so it reads as zero. Invariant: `scav & alloc == 0`.
    pub(crate) scav: [u64; WORDS],
}

/// Sets (`value`) or clears bits `i .. i + n` of `bits`.
pub(crate) fn set_range(bits: &mut [u64; WORDS], i: usize, n: usize, value: bool) {
    each_word(i, n, |w, mask| {
        if value {
            bits[w] |= mask;
        } else {
            bits[w] &= !mask;
        }
    });
}

/// Number of set bits in `i .. i + n` of `bits`.
pub(crate) fn count_range(bits: &[u64; WORDS], i: usize, n: usize) -> usize {
    let mut count = 0;
    each_word(i, n, |w, mask| {
        count += (bits[w] & mask).count_ones() as usize
    });
    count
}

/// Calls `f(word, mask)` for each word the bit range `i .. i + n` touches.
#[inline]
fn each_word(i: usize, n: usize, mut f: impl FnMut(usize, u64)) {
    debug_assert!(i + n <= CHUNK_PAGES);
    let mut i = i;
    let end = i + n;
    while i < end {
        let w = i / 64;
        let lo = i % 64;
        let hi = (end - w * 64).min(64);
        let mask = if hi - lo == 64 {
            !0
        } else {
            ((1u64 << (hi - lo)) - 1) << lo
        };
        f(w, mask);
        i = w * 64 + hi;
    }
}

impl Chunk {
    /// The free-run summary of the chunk (Go: `pallocBits.summarize`). O(words).
    pub(crate) fn summarize(&self) -> Summary {
        let mut start = 0;
        for &a in &self.alloc {
            let t = a.trailing_zeros() as usize;
            start += t;
            if t < 64 {
                break;
            }
        }
        if start == CHUNK_PAGES {
            return Summary::new(CHUNK_PAGES, CHUNK_PAGES, CHUNK_PAGES);
        }
        let mut end = 0;
        for &a in self.alloc.iter().rev() {
            let l = a.leading_zeros() as usize;
            end += l;
            if l < 64 {
                break;
            }
        }
        // Per word: extend the run carried from the previous word, then look for a run
        // inside the word longer than `max` with bit-parallel shifts (Go's approach):
        // O(words * log(max)) plus one step per unit `max` grows, at most 512 in all.
        let mut max = start.max(end);
        let mut run = 0;
        for &a in &self.alloc {
            let free = !a;
            if free == !0 {
                run += 64;
                continue;
            }
            run += free.trailing_ones() as usize;
            max = max.max(run);
            if free != 0 && max < 63 {
                // After this, bit i of g is set iff free bits i .. i + max + 1 all are.
                let k = max + 1;
                let mut g = free;
                let mut len = 1;
                while len < k {
                    let sh = (k - len).min(len);
                    g &= g >> sh;
                    len += sh;
                }
                while g != 0 {
                    max += 1;
                    g &= g >> 1;
                }
            }
            run = free.leading_ones() as usize;
        }
        max = max.max(run);
        Summary::new(start, max, end)
    }

    /// Index of the first run of `n` free pages (first fit), if any. `1 <= n <= 512`.
    pub(crate) fn find(&self, n: usize) -> Option<usize> {
        let mut run = 0;
        let mut start = 0;
        for (w, &a) in self.alloc.iter().enumerate() {
            if a == 0 {
                if run == 0 {
                    start = w * 64;
                }
                run += 64;
                if run >= n {
                    return Some(start);
                }
                continue;
            }
            if a == !0 {
                run = 0;
                continue;
            }
            let free = !a;
            let mut bit = 0;
            while bit < 64 {
                let f = free >> bit;
                if f == 0 {
                    run = 0;
                    break;
                }
                let skip = f.trailing_zeros() as usize;
                if skip > 0 {
                    run = 0;
                    bit += skip;
                }
                let ones = ((free >> bit).trailing_ones() as usize).min(64 - bit);
                if run == 0 {
                    start = w * 64 + bit;
                }
                run += ones;
                if run >= n {
                    return Some(start);
                }
                bit += ones;
                if bit < 64 {
                    run = 0;
                }
            }
        }
        None
    }

    /// The highest run of free, unscavenged pages made of whole `unit`-page groups
    /// (aligned to `unit`), at most `max` pages long (rounded down to units, at least one
    /// unit): `(first page, pages)`. `unit` is a power of two up to 64.
    pub(crate) fn highest_scavengeable(&self, unit: usize, max: usize) -> Option<(usize, usize)> {
        let mut cand = [0u64; WORDS];
        let mut any = false;
        for (w, c) in cand.iter_mut().enumerate() {
            *c = fold_units(!self.alloc[w] & !self.scav[w], unit);
            any |= *c != 0;
        }
        if !any {
            return None;
        }
        let limit = (max / unit * unit).max(unit);
        let w = (0..WORDS).rev().find(|&w| cand[w] != 0)?;
        let top = w * 64 + 63 - cand[w].leading_zeros() as usize;
        let mut first = top;
        let mut len = 1;
        while len < limit && first > 0 && cand[(first - 1) / 64] >> ((first - 1) % 64) & 1 == 1 {
            first -= 1;
            len += 1;
        }
        Some((first, len))
    }
}

/// Keeps only the `unit`-aligned groups of `unit` bits of `x` that are all set.
#[inline]
fn fold_units(x: u64, unit: usize) -> u64 {
    if unit <= 1 {
        return x;
    }
    let mut m = x;
    let mut k = 1;
    while k < unit {
        m &= m >> k;
        k <<= 1;
    }
    // Bits at multiples of `unit`.
    let mut pattern = 0u64;
    let mut i = 0;
    while i < 64 {
        pattern |= 1 << i;
        i += unit;
    }
    m &= pattern;
    let mut e = m;
    let mut k = 1;
    while k < unit {
        e |= e << k;
        k <<= 1;
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk_with(allocated: &[(usize, usize)]) -> Chunk {
        let mut c = Chunk {
            alloc: [0; WORDS],
            scav: [0; WORDS],
        };
        for &(i, n) in allocated {
            set_range(&mut c.alloc, i, n, true);
        }
        c
    }

    /// Reference implementations over a bool vector.
    fn naive(c: &Chunk) -> (usize, usize, usize) {
        let free: Vec<bool> = (0..CHUNK_PAGES)
            .map(|i| c.alloc[i / 64] >> (i % 64) & 1 == 0)
            .collect();
        let start = free.iter().take_while(|&&f| f).count();
        let end = free.iter().rev().take_while(|&&f| f).count();
        let (mut max, mut run) = (0, 0);
        for &f in &free {
            run = if f { run + 1 } else { 0 };
            max = max.max(run);
        }
        (start, max, end)
    }

    fn naive_find(c: &Chunk, n: usize) -> Option<usize> {
        (0..=CHUNK_PAGES - n).find(|&i| count_range(&c.alloc, i, n) == 0)
    }

    #[test]
    fn summarize_and_find_match_naive() {
        let cases: &[&[(usize, usize)]] = &[
            &[],
            &[(0, 512)],
            &[(0, 1)],
            &[(511, 1)],
            &[(3, 5), (70, 100), (200, 1), (300, 212)],
            &[(0, 63), (64, 64), (130, 1)],
            &[(1, 62), (65, 62), (129, 300)],
        ];
        for alloc in cases {
            let c = chunk_with(alloc);
            let s = c.summarize();
            assert_eq!((s.start(), s.max(), s.end()), naive(&c), "{alloc:?}");
            for n in [1, 2, 3, 63, 64, 65, 100, 128, 200, 511, 512] {
                assert_eq!(c.find(n), naive_find(&c, n), "{alloc:?} n={n}");
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn summarize_and_find_match_naive_on_random_bitmaps(
            words in proptest::array::uniform8(proptest::prelude::any::<u64>()),
            sparse in proptest::array::uniform8(proptest::prelude::any::<u64>()),
            n in 1usize..=512,
        ) {
            // AND-ing two random words makes long free runs likely.
            let mut c = chunk_with(&[]);
            for w in 0..WORDS {
                c.alloc[w] = words[w] & sparse[w];
            }
            let s = c.summarize();
            proptest::prop_assert_eq!((s.start(), s.max(), s.end()), naive(&c));
            proptest::prop_assert_eq!(c.find(n), naive_find(&c, n));
        }
    }

    #[test]
    fn ranges_and_counts() {
        let mut bits = [0u64; WORDS];
        set_range(&mut bits, 60, 10, true);
        assert_eq!(count_range(&bits, 0, 512), 10);
        assert_eq!(count_range(&bits, 64, 6), 6);
        set_range(&mut bits, 0, 512, true);
        assert_eq!(count_range(&bits, 0, 512), 512);
        set_range(&mut bits, 1, 510, false);
        assert_eq!(count_range(&bits, 0, 512), 2);
    }

    #[test]
    fn scavengeable_respects_units_and_limits() {
        let mut c = chunk_with(&[(0, 500)]);
        assert_eq!(c.highest_scavengeable(1, 100), Some((500, 12)));
        assert_eq!(c.highest_scavengeable(1, 5), Some((507, 5)));
        assert_eq!(c.highest_scavengeable(8, 100), Some((504, 8)));
        set_range(&mut c.scav, 504, 8, true);
        assert_eq!(c.highest_scavengeable(8, 100), None);
        assert_eq!(c.highest_scavengeable(1, 100), Some((500, 4)));
    }
}
