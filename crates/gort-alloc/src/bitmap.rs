//! Per-span object bitmaps (allocation and mark), one bit per object (Go: mbitmap.go, `gcBits`).

use crate::sync::atomic::{AtomicU64, Ordering};

/// Words in one bitmap: enough for the densest class (1024 objects), fewer under loom.
#[cfg(not(loom))]
pub(crate) const BITMAP_WORDS: usize = crate::size_class::MAX_OBJS_PER_SPAN / 64;
/// Words in one bitmap: loom models use spans of at most 64 objects.
#[cfg(loom)]
pub(crate) const BITMAP_WORDS: usize = 1;

/// A fixed-size bitmap of atomic words.
///
/// Writers either hold the lock that protects the bitmap's span (allocation bits, written
/// with plain load/store pairs) or set bits with `fetch_or` (mark bits, set by markers
/// concurrently). Readers may read at any time; a racing read sees either value of a bit.
#[derive(Debug)]
pub struct Bitmap {
    /// The bits; bit `i % 64` of word `i / 64` is object `i`.
    words: [AtomicU64; BITMAP_WORDS],
}

impl Bitmap {
    /// An all-zero bitmap.
    pub(crate) fn new() -> Bitmap {
        Bitmap {
            words: core::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    /// Object capacity.
    pub const CAPACITY: usize = BITMAP_WORDS * 64;

    /// Bit `i`.
    #[inline]
    pub fn get(&self, i: usize) -> bool {
        self.words[i / 64].load(Ordering::Relaxed) & (1 << (i % 64)) != 0
    }

    /// Sets bit `i` atomically; returns its previous value (mark bits).
    #[inline]
    pub fn set_atomic(&self, i: usize) -> bool {
        let bit = 1 << (i % 64);
        self.words[i / 64].fetch_or(bit, Ordering::Relaxed) & bit != 0
    }

    /// Word `w` (relaxed).
    #[inline]
    pub(crate) fn word(&self, w: usize) -> u64 {
        self.words[w].load(Ordering::Relaxed)
    }

    /// Stores word `w` (relaxed); callers hold the span's lock or the world is stopped.
    #[inline]
    pub(crate) fn set_word(&self, w: usize, v: u64) {
        self.words[w].store(v, Ordering::Relaxed);
    }

    /// ORs `bits` into word `w` and returns the word's previous value (Release: a remote
    /// free publishes the objects, whose last uses happen before it).
    #[inline]
    pub(crate) fn fetch_or_word(&self, w: usize, bits: u64) -> u64 {
        self.words[w].fetch_or(bits, Ordering::Release)
    }

    /// Takes word `w`, leaving it zero (Acquire: pairs with [`Bitmap::fetch_or_word`]).
    #[inline]
    pub(crate) fn take_word(&self, w: usize) -> u64 {
        self.words[w].swap(0, Ordering::Acquire)
    }

    /// Clears every bit; callers own the bitmap exclusively or hold its span's lock.
    pub(crate) fn clear(&self) {
        for w in &self.words {
            w.store(0, Ordering::Relaxed);
        }
    }

    /// Number of set bits among the first `n`.
    pub fn count(&self, n: usize) -> usize {
        let mut total = 0;
        for w in 0..n.div_ceil(64) {
            total += (self.word(w) & valid_mask(w, n)).count_ones() as usize;
        }
        total
    }
}

/// The bits of word `w` that stand for objects below `n`.
#[inline(always)]
pub(crate) const fn valid_mask(w: usize, n: usize) -> u64 {
    let lo = w * 64;
    if n >= lo + 64 {
        u64::MAX
    } else if n <= lo {
        0
    } else {
        (1u64 << (n - lo)) - 1
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn bits_and_counts() {
        let b = Bitmap::new();
        assert!(!b.set_atomic(3));
        assert!(b.set_atomic(3));
        assert!(!b.set_atomic(700));
        assert!(b.get(3) && b.get(700) && !b.get(4));
        assert_eq!(b.count(1024), 2);
        assert_eq!(b.count(700), 1);
        assert_eq!(valid_mask(0, 3), 0b111);
        assert_eq!(valid_mask(1, 64), 0);
        assert_eq!(valid_mask(1, 200), u64::MAX);
        b.clear();
        assert_eq!(b.count(1024), 0);
    }
}
