//! `TimerHeap`: a 4-ary min-heap keyed by the firing time (Go: time.go's timer heap,
//! `timerHeapN = 4`, `siftUp`/`siftDown`).

/// A 4-ary min-heap of `(when, item)` pairs. Four children per node make the heap half
/// as deep as a binary one, so a push (sift up, the common operation: most timers are
/// added and fire in order) touches half the cache lines; a pop compares four children
/// per level, which sit in one or two cache lines.
#[derive(Debug)]
pub(crate) struct TimerHeap<T> {
    /// The heap array: `v[i].0 <= v[4i+1..=4i+4].0`.
    v: Vec<(u64, T)>,
}

impl<T> TimerHeap<T> {
    pub(crate) const fn new() -> Self {
        Self { v: Vec::new() }
    }

    pub(crate) fn len(&self) -> usize {
        self.v.len()
    }

    /// The earliest `when`, if any.
    pub(crate) fn peek_when(&self) -> Option<u64> {
        self.v.first().map(|e| e.0)
    }

    /// Adds `item` firing at `when`. O(log4 n).
    pub(crate) fn push(&mut self, when: u64, item: T) {
        self.v.push((when, item));
        self.sift_up(self.v.len() - 1);
    }

    /// Removes the earliest entry if it fires at or before `now`. O(log4 n).
    pub(crate) fn pop_due(&mut self, now: u64) -> Option<(u64, T)> {
        if self.v.first()?.0 > now {
            return None;
        }
        let e = self.v.swap_remove(0);
        if !self.v.is_empty() {
            self.sift_down(0);
        }
        Some(e)
    }

    /// Keeps only the entries `keep` accepts, then restores the heap order. O(n).
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        self.v.retain(|e| keep(&e.1));
        for i in (0..self.v.len().div_ceil(4)).rev() {
            self.sift_down(i);
        }
    }

    fn sift_up(&mut self, mut i: usize) {
        while i > 0 {
            let parent = (i - 1) / 4;
            if self.v[i].0 >= self.v[parent].0 {
                break;
            }
            self.v.swap(i, parent);
            i = parent;
        }
    }

    fn sift_down(&mut self, mut i: usize) {
        let n = self.v.len();
        loop {
            let first = 4 * i + 1;
            if first >= n {
                return;
            }
            let mut min = first;
            for c in first + 1..(first + 4).min(n) {
                if self.v[c].0 < self.v[min].0 {
                    min = c;
                }
            }
            if self.v[min].0 >= self.v[i].0 {
                return;
            }
            self.v.swap(i, min);
            i = min;
        }
    }

    /// Asserts the heap order.
    pub(crate) fn check_invariants(&self) {
        for i in 1..self.v.len() {
            debug_assert!(
                self.v[(i - 1) / 4].0 <= self.v[i].0,
                "timer heap out of order at {i}"
            );
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::TimerHeap;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn pops_in_order(whens in proptest::collection::vec(0u64..1000, 0..200), cut in 0u64..1000) {
            let mut h = TimerHeap::new();
            for (i, &w) in whens.iter().enumerate() {
                h.push(w, i);
                h.check_invariants();
            }
            h.retain(|&i| i % 3 != 0);
            h.check_invariants();
            let mut want: Vec<u64> = whens.iter().enumerate().filter(|(i, _)| i % 3 != 0).map(|(_, &w)| w).collect();
            want.sort_unstable();
            let mut got = Vec::new();
            while let Some((w, _)) = h.pop_due(cut) {
                got.push(w);
                h.check_invariants();
            }
            let due: Vec<u64> = want.iter().copied().filter(|&w| w <= cut).collect();
            prop_assert_eq!(&got, &due);
            prop_assert_eq!(h.len(), want.len() - due.len());
            prop_assert!(h.peek_when().is_none_or(|w| w > cut));
        }
    }
}
