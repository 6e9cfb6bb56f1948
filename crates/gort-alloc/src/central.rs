//! `Central`: the spans of one span class with free objects (partial) and without (full),
//! refilled from and flushed to by caches in batches (Go: mcentral.go). See the crate docs.

use crate::bitmap::{BITMAP_WORDS, valid_mask};
use crate::span_class::SpanClass;
use crate::span_meta::{ListId, MetaState, SWEPT, SpanMeta, UNSWEPT};
use crate::sync::atomic::Ordering;
use crate::sync::{Mutex, MutexGuard};

mod remote;

pub(crate) use remote::RemoteSpans;

/// Bytes of empty spans a central keeps at first before returning further ones to the
/// page heap (at least one span), so a class whose objects cycle through the central in
/// batches (a producer/consumer pair collecting remote frees, a thread freeing what it
/// allocated, a live count hovering around a span's worth) reuses its spans instead of
/// sending each one through the page heap and back. `Allocator::release_spare_spans`
/// returns them.
const KEEP_EMPTY_BYTES: usize = 64 << 10;

/// Most bytes of empty spans a central keeps after doubling its allowance: a central
/// that grows a span after having released one since its last growth is thrashing
/// (its objects come back in bursts larger than its spares, as when a consumer thread
/// frees many batches while the producer is descheduled), and doubles its allowance.
const KEEP_EMPTY_MAX_BYTES: usize = 1 << 20;

/// Empty spans a central of class `spc` keeps at first: [`KEEP_EMPTY_BYTES`] worth, at
/// least one (one in loom models).
pub(crate) fn keep_empty(spc: SpanClass) -> usize {
    spans_for(spc, KEEP_EMPTY_BYTES)
}

/// Spans of class `spc` in `bytes`, at least one (one in loom models).
fn spans_for(spc: SpanClass, bytes: usize) -> usize {
    if cfg!(loom) {
        return 1;
    }
    let span = spc.size_class().info().npages as usize * crate::size_class::PAGE_SIZE;
    (bytes / span.max(1)).max(1)
}

/// A doubly linked list of metas, linked through `Locked::{next, prev}`.
#[derive(Debug)]
pub(crate) struct SpanList {
    head: *mut SpanMeta,
    len: usize,
}

impl SpanList {
    const fn new() -> SpanList {
        SpanList {
            head: core::ptr::null_mut(),
            len: 0,
        }
    }

    /// Pushes `m` at the head and records `id` as its list.
    ///
    /// # Safety
    /// The caller holds the lock protecting this list and `m`'s `Locked` fields, and `m`
    /// is on no list.
    unsafe fn push(&mut self, m: *mut SpanMeta, id: ListId) {
        let old = self.head;
        // SAFETY: [Safety] the lock protects `m` and `old`, both live metas.
        unsafe {
            (*m).locked.with_mut(|l| {
                (*l).next = old;
                (*l).prev = core::ptr::null_mut();
                (*l).list = id;
            });
            if !old.is_null() {
                (*old).locked.with_mut(|l| (*l).prev = m);
            }
        }
        self.head = m;
        self.len += 1;
    }

    /// Unlinks `m`, which is on this list.
    ///
    /// # Safety
    /// As [`SpanList::push`], and `m` is on this list.
    unsafe fn remove(&mut self, m: *mut SpanMeta) {
        // SAFETY: [Safety] the lock protects `m` and its neighbours.
        unsafe {
            let (next, prev) = (*m).locked.with_mut(|l| {
                let np = ((*l).next, (*l).prev);
                (*l).next = core::ptr::null_mut();
                (*l).prev = core::ptr::null_mut();
                (*l).list = ListId::None;
                np
            });
            if !next.is_null() {
                (*next).locked.with_mut(|l| (*l).prev = prev);
            }
            if prev.is_null() {
                self.head = next;
            } else {
                (*prev).locked.with_mut(|l| (*l).next = next);
            }
        }
        self.len -= 1;
    }
}

/// The lists of one central. Protected by `Central::lists`.
#[derive(Debug)]
pub(crate) struct Lists {
    /// Spans with at least one free object (Go `partial`).
    partial: SpanList,
    /// Spans with no free object (Go `full`).
    full: SpanList,
    /// Empty spans on `partial`. At most `keep` once every freshly added span has been
    /// carved from (two threads may grow the class at once).
    nempty: usize,
    /// Empty spans to keep rather than release: [`keep_empty`] at first, doubled (up to
    /// [`KEEP_EMPTY_MAX_BYTES`] worth) when the central grows after a release.
    keep: usize,
    /// True when a span was released since the central last grew.
    released: bool,
}

// SAFETY: the raw pointers are metas in persistent memory, reached only under the lock.
unsafe impl Send for Lists {}

/// One span class's central free lists (Go `mcentral`).
#[derive(Debug)]
pub struct Central {
    /// This central's span class. Immutable.
    spc: SpanClass,
    /// The partial and full lists, and every `Locked` field of the metas on them.
    lists: Mutex<Lists>,
    /// Spans of this central with remote frees not yet collected (lock-free pushes by
    /// freers of other shards; taken under `lists`' lock). See `central/remote.rs`.
    remote: RemoteSpans,
}

/// Spans a central call unlinked because they became empty beyond the spares kept: off
/// every list, for the caller to return to the page heap (outside the lock).
#[derive(Debug)]
pub(crate) struct GiveBack {
    /// The spans' metas (addresses).
    pub(crate) release: [usize; RELEASE_MAX],
    /// Entries used in `release`.
    pub(crate) nrelease: usize,
}

impl GiveBack {
    /// No span to release.
    pub(crate) const fn new() -> GiveBack {
        GiveBack {
            release: [0; RELEASE_MAX],
            nrelease: 0,
        }
    }

    /// The spans to release.
    pub(crate) fn spans(&self) -> &[usize] {
        &self.release[..self.nrelease]
    }
}

/// Most objects handed to [`Central::give_back`] at once, and most spans one call
/// releases (an emptied span beyond that stays listed as a spare).
pub(crate) const RELEASE_MAX: usize = 128;

impl Central {
    /// An empty central for `spc`.
    pub(crate) fn new(spc: SpanClass) -> Central {
        Central {
            spc,
            lists: Mutex::new(Lists {
                partial: SpanList::new(),
                full: SpanList::new(),
                nempty: 0,
                keep: keep_empty(spc),
                released: false,
            }),
            remote: RemoteSpans::new(),
        }
    }

    /// This central's span class.
    pub fn span_class(&self) -> SpanClass {
        self.spc
    }

    fn lock(&self) -> MutexGuard<'_, Lists> {
        // A panic never happens while the lock is held; poisoning carries no meaning.
        self.lists.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a fresh span (every object free) to the partial list. A growth right after
    /// a release doubles the spares kept (see [`KEEP_EMPTY_MAX_BYTES`]).
    ///
    /// # Safety
    /// `m` is an initialised `Small` meta of this class, on no list, not shared yet.
    pub(crate) unsafe fn add_span(&self, m: &'static SpanMeta) {
        let mut lists = self.lock();
        if lists.released {
            lists.released = false;
            lists.keep = (lists.keep * 2).min(spans_for(self.spc, KEEP_EMPTY_MAX_BYTES));
        }
        // SAFETY: we hold the lock; `m` is on no list ([Safety]).
        unsafe {
            lists
                .partial
                .push(core::ptr::from_ref(m).cast_mut(), ListId::Partial)
        };
        lists.nempty += 1;
    }

    /// Fills `out` with free objects from partial spans (Go `cacheSpan`, batched as
    /// tcmalloc's transfer cache) and returns how many it took, after collecting the
    /// remote frees pending on this central (spans that collection empties beyond
    /// the spares kept go to `rel` for the caller to release). Returns 0 when no partial
    /// span has a free object: the caller grows the class by one span and calls again.
    /// Object memory is not touched.
    pub(crate) fn carve(&self, out: &mut [usize], rel: &mut GiveBack) -> usize {
        let mut n = 0;
        let mut lists = self.lock();
        self.collect_remote(&mut lists, rel);
        while n < out.len() {
            let m = lists.partial.head;
            if m.is_null() {
                break;
            }
            // SAFETY: `m` is on our partial list, so a live meta of this class, and we
            // hold the lock that protects its `Locked` fields and allocation bits.
            let (taken, was_empty, now_full) = unsafe { carve_span(&*m, &mut out[n..]) };
            n += taken;
            if was_empty {
                lists.nempty -= 1;
            }
            if now_full {
                // SAFETY: under the lock; `m` is on `partial`.
                unsafe {
                    lists.partial.remove(m);
                    lists.full.push(m, ListId::Full);
                }
            }
        }
        drop(lists);
        #[cfg(gort_expensive_checks)]
        self.check_invariants();
        n
    }

    /// Frees objects back into their spans under the lock (a cache's flush of objects of
    /// its own shard), then collects the remote frees pending on this central.
    /// `objs[i] = (meta, index)`; every meta is a `Small` meta of this class. Spans that
    /// become empty beyond the spares kept ([`keep_empty`]) are unlinked and returned in the result for
    /// the caller to release (outside the lock).
    ///
    /// A bit that is already clear means a double free or a bad pointer: fatal.
    pub(crate) fn give_back(&self, objs: &[(&'static SpanMeta, usize)]) -> GiveBack {
        debug_assert!(objs.len() <= RELEASE_MAX);
        let mut out = GiveBack::new();
        let mut lists = self.lock();
        let mut i = 0;
        while i < objs.len() {
            // A run of objects of one span: clear their bits, then fix the counts once.
            let m = objs[i].0;
            let mut freed = 0u32;
            let mut lowest = u32::MAX;
            // Bits to clear in word `cur_w`, applied when the word changes.
            let mut cur_w = usize::MAX;
            let mut clear = 0u64;
            while i < objs.len() && core::ptr::eq(objs[i].0, m) {
                let idx = objs[i].1;
                let w = idx / 64;
                if w != cur_w {
                    clear_bits(m, cur_w, clear);
                    (cur_w, clear) = (w, 0);
                }
                let bit = 1u64 << (idx % 64);
                if clear & bit != 0 {
                    gort_heap::fatal("free of an object twice in one batch (double free)");
                }
                clear |= bit;
                freed += 1;
                lowest = lowest.min(w as u32);
                i += 1;
            }
            clear_bits(m, cur_w, clear);
            // SAFETY: `m` is a meta of this class (caller's contract) and we hold the lock.
            unsafe { freed_in_span(&mut lists, m, freed, lowest, &mut out) };
        }
        self.collect_remote(&mut lists, &mut out);
        drop(lists);
        #[cfg(gort_expensive_checks)]
        self.check_invariants();
        out
    }

    /// Sweeps one span: frees every collected object (gc bit set) whose mark bit is clear,
    /// clears the marks, and reports how many objects were freed and whether the span is now empty
    /// and off the lists (the caller then releases it).
    ///
    /// Returns `None` (and does nothing) unless `m` is still an unswept `Small` meta of
    /// this central (`shard`): the check and the switch to swept happen under the lock.
    ///
    /// # Safety
    /// Every collected object of `m` that is unmarked is dead (see `Allocator::sweep`).
    pub(crate) unsafe fn sweep(&self, m: &'static SpanMeta, shard: u8) -> Option<(usize, bool)> {
        let mut lists = self.lock();
        // Claim the sweep under the lock: the meta may have been swept by someone else,
        // or released and recycled for another class or shard since the caller read it.
        if m.state() != MetaState::Small
            || m.span_class() != self.spc
            || m.shard() != shard
            || m.sweep_state.load(Ordering::Acquire) != UNSWEPT
        {
            return None;
        }
        m.sweep_state.store(SWEPT, Ordering::Release);
        let n = m.nelems();
        let mut freed = 0;
        let mut lowest_freed = BITMAP_WORDS as u32;
        for w in 0..n.div_ceil(64) {
            let alloc = m.alloc_bits.word(w);
            let gc = m.gc_bits.word(w);
            // Only collected objects die; manual objects (gc bit clear) stay allocated.
            let dead_bits = alloc & gc & !m.mark_bits.word(w) & valid_mask(w, n);
            if dead_bits != 0 {
                lowest_freed = lowest_freed.min(w as u32);
                freed += dead_bits.count_ones() as usize;
                m.alloc_bits.set_word(w, alloc & !dead_bits);
                m.gc_bits.set_word(w, gc & !dead_bits);
            }
            m.mark_bits.set_word(w, 0);
        }
        let mp = core::ptr::from_ref(m).cast_mut();
        // SAFETY: we hold the lock protecting `m`'s `Locked` fields.
        let (list, was_empty, now_empty) = m.locked.with_mut(|l| unsafe {
            let l = &mut *l;
            let was_empty = l.alloc_count == 0;
            l.alloc_count -= freed as u32;
            l.search_word = l.search_word.min(lowest_freed);
            (l.list, was_empty, l.alloc_count == 0)
        });
        if freed > 0 && list == ListId::Full {
            // SAFETY: under the lock; `m` is on `full`.
            unsafe {
                lists.full.remove(mp);
                lists.partial.push(mp, ListId::Partial);
            }
        }
        let mut release = false;
        if now_empty && !was_empty {
            lists.nempty += 1;
            if lists.nempty > lists.keep {
                lists.nempty -= 1;
                // SAFETY: under the lock; `m` is on `partial`.
                unsafe { lists.partial.remove(mp) };
                release = true;
            }
        }
        m.check_invariants();
        Some((freed, release))
    }

    /// Collects pending remote frees, then unlinks every empty span beyond `keep` and
    /// returns up to [`RELEASE_MAX`] of them for the caller to release (the scavenger's
    /// and tests' way to give back spares).
    pub(crate) fn take_empty(&self, keep: usize) -> GiveBack {
        let mut out = GiveBack::new();
        let mut lists = self.lock();
        self.collect_remote(&mut lists, &mut out);
        let mut m = lists.partial.head;
        while !m.is_null() && lists.nempty > keep && out.nrelease < RELEASE_MAX {
            // SAFETY: `m` is on our partial list and we hold the lock.
            let (next, empty) = unsafe { (*m).locked.with(|l| ((*l).next, (*l).alloc_count == 0)) };
            if empty {
                // SAFETY: under the lock; `m` is on `partial`.
                unsafe { lists.partial.remove(m) };
                lists.nempty -= 1;
                out.release[out.nrelease] = m as usize;
                out.nrelease += 1;
            }
            m = next;
        }
        out
    }

    /// Walks both lists and checks every span against its list: list ids, back links,
    /// lengths, fullness, the empty-span count. O(spans); tests call it, and
    /// `--cfg gort_expensive_checks` builds call it after every refill and flush.
    pub fn check_invariants(&self) {
        let lists = self.lock();
        let mut nempty = 0;
        for (list, id) in [
            (&lists.partial, ListId::Partial),
            (&lists.full, ListId::Full),
        ] {
            let mut prev: *mut SpanMeta = core::ptr::null_mut();
            let mut m = list.head;
            let mut len = 0;
            while !m.is_null() {
                // SAFETY: `m` is on one of our lists and we hold the lock.
                let (next, back, on, count) = unsafe {
                    (*m).locked
                        .with(|l| ((*l).next, (*l).prev, (*l).list, (*l).alloc_count))
                };
                // SAFETY: as above.
                let meta = unsafe { &*m };
                if on != id {
                    gort_heap::fatal("span on a central list records another list");
                }
                if back != prev {
                    gort_heap::fatal("span on a central list has a wrong back link");
                }
                if meta.span_class() != self.spc {
                    gort_heap::fatal("span on a central list has another span class");
                }
                if count == 0 {
                    nempty += 1;
                }
                meta.check_invariants();
                prev = m;
                m = next;
                len += 1;
            }
            if len != list.len {
                gort_heap::fatal("central list length is wrong");
            }
        }
        if nempty != lists.nempty {
            gort_heap::fatal("central empty-span count is wrong");
        }
    }

    /// Spans on the partial and full lists.
    pub fn span_counts(&self) -> (usize, usize) {
        let lists = self.lock();
        (lists.partial.len, lists.full.len)
    }
}

/// Accounts for `freed` objects whose allocation bits were just cleared in `m` (the
/// lowest in word `lowest`): fixes the count and search hint, moves a span that was full
/// to `partial`, and unlinks a span that became empty beyond the spares kept ([`keep_empty`]) into `out`
/// (while `out` has room; otherwise it stays as a spare).
///
/// # Safety
/// The caller holds the lock of `m`'s central, whose lists `lists` are; `m` is a `Small`
/// meta of that central, on one of its lists.
unsafe fn freed_in_span(
    lists: &mut Lists,
    m: &'static SpanMeta,
    freed: u32,
    lowest: u32,
    out: &mut GiveBack,
) {
    let mp = core::ptr::from_ref(m).cast_mut();
    // SAFETY: [Safety] we hold the lock protecting `m`'s `Locked` fields.
    let (was_full, now_empty) = m.locked.with_mut(|l| unsafe {
        let l = &mut *l;
        let was_full = l.alloc_count as usize == m.nelems();
        l.alloc_count -= freed;
        l.search_word = l.search_word.min(lowest);
        (was_full, l.alloc_count == 0)
    });
    if was_full {
        // SAFETY: under the lock; a full span is on `full`.
        unsafe {
            lists.full.remove(mp);
            lists.partial.push(mp, ListId::Partial);
        }
    }
    if now_empty {
        lists.nempty += 1;
        if lists.nempty > lists.keep && out.nrelease < RELEASE_MAX {
            lists.nempty -= 1;
            lists.released = true;
            // SAFETY: under the lock; an empty span is on `partial`.
            unsafe { lists.partial.remove(mp) };
            out.release[out.nrelease] = mp as usize;
            out.nrelease += 1;
        }
    }
    m.check_invariants();
}

/// Clears the allocation bits `clear` of word `w` of `m` (no-op for `w == usize::MAX`);
/// a bit already clear means a double free or a bad pointer: fatal. The caller holds the
/// lock of `m`'s central.
#[inline]
fn clear_bits(m: &SpanMeta, w: usize, clear: u64) {
    if w == usize::MAX {
        return;
    }
    let word = m.alloc_bits.word(w);
    if word & clear != clear {
        gort_heap::fatal("free of an object that is not allocated (double free?)");
    }
    m.alloc_bits.set_word(w, word & !clear);
}

/// Carves free objects from `m` into `out`. Returns how many, whether the span was
/// empty before and whether it is full after.
///
/// # Safety
/// The caller holds the lock of `m`'s central; `m` is a `Small` meta on its partial list.
unsafe fn carve_span(m: &SpanMeta, out: &mut [usize]) -> (usize, bool, bool) {
    let n = m.nelems();
    let start = m.start();
    let size = m.elem_size();
    let max = out.len();
    // SAFETY: the caller holds the lock protecting `Locked`.
    m.locked.with_mut(|l| unsafe {
        let l = &mut *l;
        let was_empty = l.alloc_count == 0;
        let mut taken = 0usize;
        let mut w = l.search_word as usize;
        let words = n.div_ceil(64);
        while w < words && taken < max {
            let word = m.alloc_bits.word(w);
            let mut free = !word & valid_mask(w, n);
            let mut set = 0u64;
            while free != 0 && taken < max {
                let b = free.trailing_zeros() as usize;
                free &= free - 1;
                set |= 1 << b;
                // Object `w*64+b` is free in `m`'s bitmap, so no one else owns it;
                // setting its bit below hands it to the caller.
                *out.get_unchecked_mut(taken) = start + (w * 64 + b) * size;
                taken += 1;
            }
            m.alloc_bits.set_word(w, word | set);
            if free == 0 {
                w += 1;
            }
        }
        l.search_word = w as u32;
        l.alloc_count += taken as u32;
        (taken, was_empty && taken > 0, l.alloc_count as usize == n)
    })
}
