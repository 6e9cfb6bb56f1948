//! The finalizer queue and the background goroutine that sweeps and runs `Drop` (Go: mfinal.go, bgsweep).

use crate::collector::{Collector, fatal_gc};
use crate::gc::{DROPPED, FINALIZABLE, header, vtable};
use crate::host::{Event, Host};
use crate::mark::Tracer;
use crate::raw::RawVec;
use crate::sync::static_atomic::{AtomicPtr, AtomicUsize, Ordering};

/// One cycle's objects awaiting `Drop`, in mmap memory (made with the world stopped).
#[derive(Debug)]
pub(crate) struct Batch {
    /// The next (younger) batch; null while none, or [`sealed`] once the finalizer
    /// goroutine retires this batch (then the runner links no batch behind it). Atomic;
    /// the runner CASes null -> batch (world stopped), the finalizer goroutine CASes
    /// null -> sealed. Never changes after it is non-null.
    next: AtomicPtr<Batch>,
    /// Object bases. Immutable once the batch is linked.
    items: RawVec<usize>,
    /// Items below this were taken by the finalizer goroutine. Atomic; written by it.
    started: AtomicUsize,
    /// Items below this have been dropped. Atomic; written by the finalizer goroutine.
    finished: AtomicUsize,
}

/// The `next` of a retired batch: no batch may be linked behind it.
fn sealed() -> *mut Batch {
    core::ptr::dangling_mut::<Batch>()
}

/// A FIFO of batches: the runner appends (world stopped), the finalizer goroutine
/// consumes from the head. Because the runner only runs while the finalizer goroutine
/// is stopped, every state the runner sees is one between two of the goroutine's
/// atomic steps, and each such state keeps every queued object marked (see
/// [`FinQueue::mark_roots`]).
///
/// Retiring the finished head batch `b` is two steps, so that a batch the runner
/// appends between them is never lost: (1) CAS `b.next` null -> sealed (if a batch was
/// linked there instead, `head` moves to it); (2) CAS `head` b -> null. A runner that
/// finds the tail sealed (the goroutine is stopped between the steps) sets `head` to
/// its new batch itself, which makes step 2 fail; either way the goroutine then frees
/// `b`, which is no longer on the list.
#[derive(Debug)]
pub(crate) struct FinQueue {
    /// Oldest batch (null: empty). Atomic; the runner sets it when empty, the finalizer
    /// goroutine advances it.
    head: AtomicPtr<Batch>,
    /// Youngest batch; meaningful only while `head` is non-null. Runner only.
    tail: AtomicPtr<Batch>,
    /// Objects queued and not yet dropped (for tests and statistics). Atomic.
    pending: AtomicUsize,
}

impl FinQueue {
    /// An empty queue.
    pub(crate) const fn new() -> FinQueue {
        FinQueue {
            head: AtomicPtr::new(core::ptr::null_mut()),
            tail: AtomicPtr::new(core::ptr::null_mut()),
            pending: AtomicUsize::new(0),
        }
    }

    /// Objects queued and not yet dropped.
    pub(crate) fn pending(&self) -> usize {
        self.pending.load(Ordering::Acquire)
    }

    /// Appends a batch; the world is stopped.
    pub(crate) fn push_batch(&self, bases: &[usize]) {
        let mut items = RawVec::new();
        for &b in bases {
            items.push(b);
        }
        let b = mmap_new(Batch {
            next: AtomicPtr::new(core::ptr::null_mut()),
            items,
            started: AtomicUsize::new(0),
            finished: AtomicUsize::new(0),
        });
        self.pending.fetch_add(bases.len(), Ordering::AcqRel);
        let t = self.tail.load(Ordering::Relaxed);
        self.tail.store(b, Ordering::Relaxed);
        if self.head.load(Ordering::Acquire).is_null() {
            self.head.store(b, Ordering::Release);
        } else {
            // SAFETY: with `head` non-null, `tail` is the youngest batch still on the
            // list (the finalizer goroutine frees a batch only after unlinking it, and
            // it is stopped).
            let linked = unsafe { &(*t).next }.compare_exchange(
                core::ptr::null_mut(),
                b,
                Ordering::AcqRel,
                Ordering::Acquire,
            );
            if linked.is_err() {
                // Sealed: `t` is the head being retired, stopped between its two
                // steps. The new batch becomes the head; the goroutine's CAS of
                // `head` from `t` to null then fails and it just frees `t`.
                self.head.store(b, Ordering::Release);
            }
        }
    }

    /// Marks every queued object: those not yet started precisely (with what they
    /// reach), the one being dropped by scanning its bytes (its value is half dropped,
    /// but what its `Drop` may still read must live). The world is stopped.
    pub(crate) fn mark_roots(&self, t: &mut Tracer<'_>) {
        let mut b = self.head.load(Ordering::Acquire);
        while !b.is_null() {
            // SAFETY: batches on the list are live until the finalizer goroutine
            // unlinks them, and it is stopped.
            let batch = unsafe { &*b };
            let items = batch.items.as_slice();
            let started = batch.started.load(Ordering::Acquire).min(items.len());
            let finished = batch.finished.load(Ordering::Acquire).min(started);
            for &base in &items[finished..started] {
                // Marked via its address; `process` scans a DROPPED object's bytes.
                t.mark_address(base);
            }
            for &base in &items[started..] {
                t.mark_gc(base);
            }
            b = batch.next.load(Ordering::Acquire);
            if b == sealed() {
                break;
            }
        }
    }

    /// Drops queued objects until the queue is empty; the finalizer goroutine only.
    pub(crate) fn run(&self) {
        loop {
            let b = self.head.load(Ordering::Acquire);
            if b.is_null() {
                return;
            }
            // SAFETY: only this goroutine unlinks batches.
            let batch = unsafe { &*b };
            let items = batch.items.as_slice();
            let i = batch.started.load(Ordering::Relaxed);
            if i < items.len() {
                let base = items[i];
                // SAFETY: a queued object is a published Gc object, kept alive by the
                // queue until `finished` passes it.
                let h = unsafe { header(base) };
                // Flag first: from here a mark scans its bytes instead of tracing it
                // (DROPPED with FINALIZABLE: dropping), and a resurrected Gc to it
                // aborts on use.
                let old = h.fetch_or(DROPPED, Ordering::AcqRel);
                batch.started.store(i + 1, Ordering::Release);
                if old & DROPPED == 0 {
                    // SAFETY: as above.
                    let vt = unsafe { vtable(old) };
                    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        // SAFETY: the value is initialised and unreachable (found
                        // unmarked), and nothing drops it again (DROPPED is set).
                        unsafe { (vt.drop)(base + vt.value_offset) }
                    }));
                    if r.is_err() {
                        fatal_gc("panic in the Drop of a Gc object (on the finalizer goroutine)");
                    }
                }
                // Done: the object is now a leaf for the marker (DROPPED alone).
                h.fetch_and(!FINALIZABLE, Ordering::AcqRel);
                batch.finished.store(i + 1, Ordering::Release);
                self.pending.fetch_sub(1, Ordering::AcqRel);
                continue;
            }
            self.retire(b, || {});
        }
    }

    /// The oldest batch (null: empty).
    #[cfg(test)]
    pub(crate) fn head_for_test(&self) -> *mut Batch {
        self.head.load(Ordering::Acquire)
    }

    /// Batches on the list (the caller stands in for the stopped finalizer goroutine).
    #[cfg(test)]
    pub(crate) fn len_for_test(&self) -> usize {
        let mut n = 0;
        let mut b = self.head.load(Ordering::Acquire);
        while !b.is_null() && b != sealed() {
            n += 1;
            // SAFETY: batches on the list are live; the test is the only user.
            b = unsafe { &(*b).next }.load(Ordering::Acquire);
        }
        n
    }

    /// Unlinks the finished head batch `b` and frees it (see the type's docs);
    /// `between` runs between the two steps (tests put a push there).
    pub(crate) fn retire(&self, b: *mut Batch, between: impl FnOnce()) {
        // SAFETY: `b` is the head, live until this goroutine frees it below.
        let next = unsafe { &(*b).next };
        match next.compare_exchange(
            core::ptr::null_mut(),
            sealed(),
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Err(n) => self.head.store(n, Ordering::Release),
            Ok(_) => {
                between();
                // Failing means a runner found `b` sealed and made its batch the head.
                let _ = self.head.compare_exchange(
                    b,
                    core::ptr::null_mut(),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                );
            }
        }
        // SAFETY: unlinked (`head` moved past it and no batch links to it); the runner
        // reads only batches on the list, and nothing else holds it.
        unsafe { mmap_free(b) };
    }
}

/// The background goroutine: sweeps after each cycle, then runs queued `Drop`s.
pub(crate) fn background_loop(c: &'static Collector, host: &'static dyn Host) {
    loop {
        host.block_until(Event::FinalizersQueued, &|| {
            c.sweep_pending() || c.fin.pending() != 0
        });
        c.background_sweep();
        c.fin.run();
    }
}

/// Moves `v` into its own anonymous mapping.
fn mmap_new<T>(v: T) -> *mut T {
    let size = core::mem::size_of::<T>().max(1);
    let p = match gort_heap::os::map_zeroed(size) {
        Ok(a) => a.as_usize() as *mut u8,
        Err(_) => fatal_gc("out of memory for the finalizer queue"),
    };
    let p = p.cast::<T>();
    // SAFETY: fresh, page-aligned, large enough.
    unsafe { p.write(v) };
    p
}

/// Drops and unmaps what `mmap_new` made.
///
/// # Safety
/// `p` came from `mmap_new` and is not used again.
unsafe fn mmap_free<T>(p: *mut T) {
    // SAFETY: [Safety].
    unsafe {
        core::ptr::drop_in_place(p);
        gort_heap::os::release(
            gort_heap::Address::new(p as usize),
            core::mem::size_of::<T>().max(1),
        );
    }
}
