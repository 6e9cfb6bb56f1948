//! Marking: the `Tracer` handed to `Trace::trace`, work lists, conservative scanning, parallel workers (Go: mgcmark.go, mgcwork.go).

use gort_alloc::Allocator;

use crate::gc::{DROPPED, FINALIZABLE, header, vtable};
use crate::raw::RawVec;
use crate::sync::static_atomic::{AtomicBool, AtomicUsize, Ordering};
use crate::sync::static_sync::Mutex;

/// Work-list entry tag: the entry is a collected object (traced through its vtable);
/// without it, a manual object (scanned conservatively).
const TAG_GC: usize = 1;

/// Entries a worker moves to the shared list at once.
const SHARE_BATCH: usize = 256;

/// The shared work list of one mark (Go's `work.full`), and the termination protocol.
#[derive(Debug)]
pub(crate) struct WorkQueue {
    /// Shared entries. Protected by its lock; only mark workers take it, never while a
    /// mutator could hold it (the world is stopped).
    items: Mutex<RawVec<usize>>,
    /// Atomic; true when `items` may be non-empty (a hint for idle workers).
    nonempty: AtomicBool,
    /// Atomic; workers that found no work. When it reaches `nworkers` marking is done.
    idle: AtomicUsize,
    /// Workers taking part. Immutable during a mark.
    nworkers: usize,
}

impl WorkQueue {
    /// An empty queue for `nworkers` workers.
    pub(crate) fn new(nworkers: usize) -> WorkQueue {
        WorkQueue {
            items: Mutex::new(RawVec::new()),
            nonempty: AtomicBool::new(false),
            idle: AtomicUsize::new(0),
            nworkers: nworkers.max(1),
        }
    }

    /// Moves the older half of `local` (at most `SHARE_BATCH`) to the shared list.
    fn share(&self, local: &mut RawVec<usize>) {
        let n = (local.len() / 2).min(SHARE_BATCH);
        let mut g = self.items.lock().unwrap_or_else(|e| e.into_inner());
        for _ in 0..n {
            if let Some(x) = local.pop() {
                g.push(x);
            }
        }
        self.nonempty.store(true, Ordering::SeqCst);
    }

    /// Takes up to `SHARE_BATCH` shared entries into `local`; false if there were none.
    fn take(&self, local: &mut RawVec<usize>) -> bool {
        if !self.nonempty.load(Ordering::SeqCst) {
            return false;
        }
        let mut g = self.items.lock().unwrap_or_else(|e| e.into_inner());
        let mut got = false;
        for _ in 0..SHARE_BATCH {
            match g.pop() {
                Some(x) => {
                    local.push(x);
                    got = true;
                }
                None => break,
            }
        }
        if g.is_empty() {
            self.nonempty.store(false, Ordering::SeqCst);
        }
        got
    }
}

/// What one worker's marking saw.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct MarkStats {
    /// Bytes of collected objects this worker marked.
    pub(crate) gc_bytes: u64,
    /// Bytes of manual objects this worker marked (and scanned, unless noscan).
    pub(crate) manual_bytes: u64,
    /// Bytes scanned conservatively (roots and manual objects).
    pub(crate) scanned_bytes: u64,
}

/// The marker's handle passed to [`Trace::trace`](crate::Trace::trace): reports the
/// pointers a value holds.
#[derive(Debug)]
pub struct Tracer<'a> {
    /// The heap.
    alloc: &'static Allocator,
    /// This worker's entries (Go's `gcWork`).
    local: &'a mut RawVec<usize>,
    /// The shared list, if other workers run.
    queue: Option<&'a WorkQueue>,
    /// What this worker marked.
    pub(crate) stats: MarkStats,
    /// A base address this mark must not mark (checkmark's test hook; 0 = none).
    hidden: usize,
    /// True while [`Tracer::probe_owned`] runs: nothing is marked, and
    /// [`Tracer::owned`] checks whether the mark reached the buffer. Worker-local.
    probe: bool,
    /// Set by [`Tracer::owned`] during a probe when the buffer was marked. Worker-local.
    hit: bool,
}

impl<'a> Tracer<'a> {
    /// A tracer over `local`, sharing through `queue`.
    pub(crate) fn new(
        alloc: &'static Allocator,
        local: &'a mut RawVec<usize>,
        queue: Option<&'a WorkQueue>,
        hidden: usize,
    ) -> Tracer<'a> {
        Tracer {
            alloc,
            local,
            queue,
            stats: MarkStats::default(),
            hidden,
            probe: false,
            hit: false,
        }
    }

    /// Reports a manual allocation that the value being traced owns (frees in its
    /// `Drop`): a `Vec`'s, `String`'s or `Box`'s buffer, a collection's node (any
    /// address inside it will do). Trace impls of owning containers must call it, and
    /// descend into their elements while [`Tracer::reports_owned`] is true even when
    /// the elements hold no `Gc`: an object awaiting `Drop` whose owned buffer the mark
    /// reached (a borrow taken through a `Gc` that is itself dead, still in use on a
    /// stack) is kept for this cycle instead of being dropped under the borrow. In
    /// ordinary marking this does nothing.
    #[inline]
    pub fn owned(&mut self, ptr: *const u8) {
        if self.probe {
            self.owned_slow(ptr as usize);
        }
    }

    /// True while the tracer asks for owned buffers ([`Tracer::owned`]): a container
    /// whose elements are `NO_TRACE` but have drop glue must then visit them too.
    #[inline]
    pub fn reports_owned(&self) -> bool {
        self.probe
    }

    #[cold]
    fn owned_slow(&mut self, addr: usize) {
        if self.hit || addr < 4096 {
            return;
        }
        if let Some(o) = self.alloc.find_object(gort_heap::Address::new(addr)) {
            let base = o.base.as_usize();
            if self
                .alloc
                .span_ref_of(o.base)
                .and_then(|s| s.index_of(base).map(|i| s.is_marked(i)))
                .unwrap_or(false)
            {
                self.hit = true;
            }
        }
    }

    /// True when the collected object at `base` (unmarked, awaiting `Drop`, not
    /// dropped) owns a manual allocation the mark already reached: its value is still
    /// borrowed from a live place. Marks nothing.
    pub(crate) fn probe_owned(&mut self, base: usize) -> bool {
        // SAFETY: the caller passes a published Gc object.
        let h = unsafe { header(base) }.load(Ordering::Acquire);
        if h & DROPPED != 0 {
            return false;
        }
        // SAFETY: as above.
        let vt = unsafe { vtable(h) };
        self.probe = true;
        self.hit = false;
        // SAFETY: not dropped, so its value is initialised; the world is stopped.
        unsafe { (vt.trace)(base + vt.value_offset, self) };
        self.probe = false;
        self.hit
    }

    /// Marks the collected object at `base` (a `Gc`'s object): precise.
    #[inline]
    pub(crate) fn mark_gc(&mut self, base: usize) {
        self.mark_word(base);
    }

    /// Traces what the collected object at `base` reaches, without marking the object
    /// itself (Go's rule for objects awaiting finalization).
    pub(crate) fn trace_children(&mut self, base: usize) {
        self.process(base | TAG_GC);
    }

    /// Treats `addr` as a possible pointer: marks the allocated object containing it, if
    /// any, and queues it for scanning.
    #[inline]
    pub fn mark_address(&mut self, addr: usize) {
        if addr < 4096 {
            return;
        }
        self.mark_word(addr);
    }

    #[inline]
    fn mark_word(&mut self, addr: usize) {
        if self.probe || (self.hidden != 0 && self.is_hidden(addr)) {
            return;
        }
        let Some(m) = self.alloc.mark_containing(addr) else {
            return;
        };
        if !m.newly {
            return;
        }
        if m.gc {
            self.stats.gc_bytes += m.size as u64;
        } else {
            self.stats.manual_bytes += m.size as u64;
        }
        if !m.noscan {
            self.local.push(if m.gc { m.base | TAG_GC } else { m.base });
            if self.local.len() > 4 * SHARE_BATCH
                && let Some(q) = self.queue
                && !q.nonempty.load(Ordering::Relaxed)
            {
                q.share(self.local);
            }
        }
    }

    #[cold]
    fn is_hidden(&self, addr: usize) -> bool {
        self.alloc
            .find_object(gort_heap::Address::new(addr))
            .is_some_and(|o| o.base.as_usize() == self.hidden)
    }

    /// Scans the bytes of `value` conservatively: every aligned word that points into
    /// an allocated object marks it.
    pub fn scan_conservative<T: ?Sized>(&mut self, value: &T) {
        self.scan_conservative_ptr(
            core::ptr::from_ref(value).cast::<u8>(),
            core::mem::size_of_val(value),
        );
    }

    /// Scans `len` bytes at `p` conservatively.
    pub(crate) fn scan_conservative_ptr(&mut self, p: *const u8, len: usize) {
        self.scan_range(p as usize, p as usize + len);
    }

    /// Scans the aligned words of `[start, end)`.
    pub(crate) fn scan_range(&mut self, start: usize, end: usize) {
        if self.probe {
            return;
        }
        let mut a = (start + 7) & !7;
        self.stats.scanned_bytes += end.saturating_sub(a) as u64;
        while a + 8 <= end {
            // SAFETY: the caller passes memory that is mapped and readable (a root range
            // from the host, or an allocated object); the world is stopped, and a racy
            // or uninitialised word only makes us keep more.
            let w = unsafe { core::ptr::read_volatile(a as *const usize) };
            self.mark_address(w);
            a += 8;
        }
    }

    /// Processes one work entry.
    #[inline]
    fn process(&mut self, e: usize) {
        if e & TAG_GC != 0 {
            let base = e & !TAG_GC;
            // SAFETY: only published collected objects carry TAG_GC (their gc bit was
            // set after their header was written).
            let h = unsafe { header(base) }.load(Ordering::Acquire);
            // SAFETY: as above.
            let vt = unsafe { vtable(h) };
            if h & DROPPED == 0 {
                // SAFETY: a live (marked, allocated) Gc object holds an initialised
                // value unless it was dropped (its flag says so).
                unsafe { (vt.trace)(base + vt.value_offset, self) };
            } else if h & FINALIZABLE != 0 {
                // Its Drop is running: what it may still read must live, but the value
                // is half dropped, so its bytes are scanned instead of traced.
                self.scan_range(
                    base + vt.value_offset,
                    base + vt.value_offset + vt.value_size,
                );
            }
            // Dropped and done: its bytes are garbage, and it reaches nothing.
        } else if let Some(info) = self.alloc.find_object(gort_heap::Address::new(e))
            && info.size >= 8
        {
            self.scan_range(e, e + info.size);
        }
    }

    /// Processes this worker's own entries until its list is empty.
    pub(crate) fn drain_local(&mut self) {
        while let Some(e) = self.local.pop() {
            self.process(e);
        }
    }

    /// Marks until this worker's and the shared lists are empty (and, with a queue, all
    /// workers are idle).
    pub(crate) fn drain(&mut self) {
        loop {
            while let Some(e) = self.local.pop() {
                self.process(e);
            }
            let Some(q) = self.queue else { return };
            if q.take(self.local) {
                continue;
            }
            q.idle.fetch_add(1, Ordering::SeqCst);
            loop {
                if q.nonempty.load(Ordering::SeqCst) {
                    q.idle.fetch_sub(1, Ordering::SeqCst);
                    break;
                }
                if q.idle.load(Ordering::SeqCst) == q.nworkers {
                    return;
                }
                crate::sync::spin_loop();
            }
        }
    }
}
