//! Lock-free frees into spans of another shard (mimalloc's thread-free list, kept as a
//! per-span bitmap) and their collection by the span's central under its lock.
//!
//! Protocol, for a run of `k` objects of span `m` freed by a thread of another shard:
//!
//! 1. `m.remote_pending.fetch_add(k)`; if it was 0, push `m` on the central's
//!    [`RemoteSpans`] stack (one CAS; the span is on the stack exactly while its pending
//!    count is non-zero, so exactly one thread pushes it).
//! 2. `m.remote_bits.fetch_or(bits)` per bitmap word of the run (Release): the objects
//!    are now free for the collector to take. A bit already set is a double free.
//!
//! The central collects under its lock, at its next refill or flush: it takes the whole
//! stack (one swap), and per span takes every remote word (swap to 0, Acquire), clears
//! those allocation bits, then subtracts what it took from `remote_pending`. A non-zero
//! rest means a freer has counted but not yet published its bits: the collector pushes
//! the span back for the next collection.
//!
//! Why the count goes first: a span can be released (and its meta recycled) only when it
//! is empty, and while a freer is between steps 1 and 2 its objects are still allocated,
//! so the span cannot be empty; after step 2 the freer does not touch the meta again.
//! Counting after publishing would let a collector take the bits, empty and release the
//! span, and then see the freer push a recycled meta.

use super::{Central, GiveBack, Lists, clear_bits, freed_in_span};
use crate::span_meta::SpanMeta;
use crate::sync::atomic::{AtomicPtr, Ordering};

/// A central's stack of spans holding remote frees not yet collected (mimalloc's delayed
/// free list, per central). Freers push; the collector takes the whole stack at once, so
/// no meta is ever popped alone and a push/take-all stack has no ABA problem.
#[derive(Debug)]
pub(crate) struct RemoteSpans {
    /// Newest span first, linked through `SpanMeta::remote_next`. Atomic: pushed with a
    /// CAS (AcqRel) by freers and by the collector, taken with a swap (Acquire) by the
    /// collector under the central lock.
    head: AtomicPtr<SpanMeta>,
}

impl RemoteSpans {
    /// An empty stack.
    pub(crate) fn new() -> RemoteSpans {
        RemoteSpans {
            head: AtomicPtr::new(core::ptr::null_mut()),
        }
    }

    /// Pushes `m`, whose pending count the caller just raised from 0 (or which a
    /// collector found still pending).
    fn push(&self, m: &'static SpanMeta) {
        let mp = core::ptr::from_ref(m).cast_mut();
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            m.remote_next.store(head, Ordering::Relaxed);
            match self
                .head
                .compare_exchange_weak(head, mp, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(h) => head = h,
            }
        }
    }

    /// True when no span waits (a hint read without ordering; a push racing with it is
    /// seen by the next collection). Always false in loom models: loom 0.7 does not
    /// explore a plain load against a racing compare-exchange (measured: a model of a
    /// load racing a CAS runs one execution), so the models always take the stack.
    fn is_empty(&self) -> bool {
        !cfg!(loom) && self.head.load(Ordering::Relaxed).is_null()
    }

    /// Takes every span on the stack.
    fn take_all(&self) -> *mut SpanMeta {
        self.head.swap(core::ptr::null_mut(), Ordering::Acquire)
    }
}

impl Central {
    /// Frees `objs` (objects of this central's spans, `(meta, index)`) without taking its
    /// lock: the free of a thread whose cache belongs to another shard. The objects become
    /// allocatable when the central next collects (at its next refill or flush).
    ///
    /// A bit already set (an object freed twice) is fatal.
    pub(crate) fn free_remote(&self, objs: &[(&'static SpanMeta, usize)]) {
        let mut i = 0;
        while i < objs.len() {
            let m = objs[i].0;
            let run = objs[i..]
                .iter()
                .take_while(|e| core::ptr::eq(e.0, m))
                .count();
            // Step 1: announce (see the module docs for why this comes first).
            if m.remote_pending.fetch_add(run as u32, Ordering::AcqRel) == 0 {
                self.remote.push(m);
            }
            // Step 2: publish, one `fetch_or` per bitmap word of the run.
            let mut cur_w = usize::MAX;
            let mut bits = 0u64;
            for &(_, idx) in &objs[i..i + run] {
                let w = idx / 64;
                if w != cur_w {
                    publish(m, cur_w, bits);
                    (cur_w, bits) = (w, 0);
                }
                let bit = 1u64 << (idx % 64);
                if bits & bit != 0 {
                    gort_heap::fatal("free of an object twice in one batch (double free)");
                }
                bits |= bit;
            }
            publish(m, cur_w, bits);
            i += run;
        }
    }

    /// Collects the remote frees of every span on the remote stack (the caller holds the
    /// lock; `lists` are this central's). Spans emptied beyond the spares kept go to `out`.
    pub(super) fn collect_remote(&self, lists: &mut Lists, out: &mut GiveBack) {
        if self.remote.is_empty() {
            return;
        }
        let mut p = self.remote.take_all();
        while !p.is_null() {
            // SAFETY: the stack holds metas of this central with pending remote frees;
            // such a span cannot be released (see the module docs), and metas are never
            // freed.
            let m: &'static SpanMeta = unsafe { &*p };
            // Read the link first: once its count drops to 0, a freer may push `m` again.
            p = m.remote_next.load(Ordering::Relaxed);
            let n = m.nelems();
            let mut taken = 0u32;
            let mut lowest = u32::MAX;
            for w in 0..n.div_ceil(64) {
                // A plain load first: most words of a span have no remote free, and a
                // swap of each would cost an atomic read-modify-write (and the line)
                // per word. Bits the load misses are counted in `remote_pending`, so
                // the span is pushed back below and collected next time.
                if m.remote_bits.word(w) == 0 {
                    continue;
                }
                let bits = m.remote_bits.take_word(w);
                if bits != 0 {
                    clear_bits(m, w, bits);
                    taken += bits.count_ones();
                    lowest = lowest.min(w as u32);
                }
            }
            let before = m.remote_pending.fetch_sub(taken, Ordering::AcqRel);
            if before < taken {
                gort_heap::fatal("remote frees collected that no freer announced");
            }
            if before != taken {
                // A freer has announced objects whose bits are not visible yet.
                self.remote.push(m);
            }
            if taken != 0 {
                // SAFETY: we hold the lock (caller's contract); `m` is a Small meta of
                // this central, listed (a span with allocated objects is on a list).
                unsafe { freed_in_span(lists, m, taken, lowest, out) };
            }
        }
    }

    /// Collects the pending remote frees now, returning the spans to release (tests).
    #[cfg(all(test, loom))]
    pub(crate) fn collect(&self) -> GiveBack {
        let mut out = GiveBack::new();
        let mut lists = self.lock();
        self.collect_remote(&mut lists, &mut out);
        out
    }

    /// True when a span waits on the remote stack (tests).
    #[cfg(all(test, loom))]
    pub(crate) fn has_remote(&self) -> bool {
        !self.remote.head.load(Ordering::Acquire).is_null()
    }
}

/// Publishes the remote frees `bits` of word `w` of `m` (no-op for `w == usize::MAX`).
#[inline]
fn publish(m: &SpanMeta, w: usize, bits: u64) {
    if w == usize::MAX {
        return;
    }
    if m.remote_bits.fetch_or_word(w, bits) & bits != 0 {
        gort_heap::fatal("free of an object that is already freed (double free)");
    }
}
