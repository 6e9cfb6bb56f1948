//! The collector: allocation accounting, the cycle (sweep termination, stop-the-world mark, mark termination), sweeping (Go: mgc.go, mgcsweep.go).

use core::alloc::Layout;
use core::cell::Cell;

use gort_alloc::{Allocator, CacheHandle, SpanRef};
use gort_heap::Address;

use crate::env::Debug;
use crate::finalizer::FinQueue;
use crate::gc::{DEFERRED, DROPPED, FINALIZABLE, header, vtable};
use crate::host::{Event, Host, RootKind};
use crate::mark::{MarkStats, Tracer, WorkQueue};
use crate::pacer::Pacer;
use crate::raw::RawVec;
use crate::stats::{CycleRecord, GcStats};
use crate::sync::static_atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use crate::sync::static_sync::{Mutex, OnceLock};

/// Span flag: the span may hold objects awaiting finalization (`SpanRef::gc_flags`).
const SPAN_FINALIZERS: u8 = 1;

/// Bytes a thread allocates before it adds them to the shared count (and checks the
/// trigger): keeps the allocation fast path free of shared atomics.
const LOCAL_FLUSH: usize = 64 << 10;

/// Spans an allocating thread sweeps per `LOCAL_FLUSH` bytes while a sweep is pending
/// (up to 256 KiB of 8 KiB spans per 64 KiB allocated: the sweep outruns allocation).
const SWEEP_PER_FLUSH: usize = 32;

/// Why a cycle runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Trigger {
    /// The heap reached its goal (Go `gcTriggerHeap`).
    Heap,
    /// `gc()` was called (Go `gcTriggerCycle`, "(forced)").
    Forced,
    /// No cycle for two minutes (Go `gcTriggerTime`).
    Periodic,
}

/// Prints Go's `fatal error: runtime: ...` and aborts.
#[cold]
pub(crate) fn fatal_gc(msg: &str) -> ! {
    gort_heap::fatal(msg)
}

/// The process-wide collector state.
pub(crate) struct Collector {
    /// The runtime we run in; set once by [`crate::install`]. Without one no cycle runs.
    host: OnceLock<&'static dyn Host>,
    /// Atomic; true while a cycle runs (its runner owns every field marked "runner").
    running: AtomicBool,
    /// Atomic; completed cycles (Go `NumGC`).
    cycles_done: AtomicU64,
    /// Atomic; bytes of collected objects: live after the last mark plus allocated since
    /// (Go `heapLive`). Threads add in `LOCAL_FLUSH` batches.
    heap_live: AtomicU64,
    /// Atomic; `heap_live` at which the next cycle starts (`u64::MAX`: never).
    trigger: AtomicU64,
    /// Atomic; a collected object was ever allocated (no periodic GC before).
    used: AtomicBool,
    /// Atomic; sweeping is closed (a cycle is about to stop the world). Only the runner
    /// sweeps while it is set.
    sweep_gate: AtomicBool,
    /// Atomic; sweeps in progress outside the runner.
    sweepers: AtomicUsize,
    /// Atomic; spans may be unswept (the background sweeper has work).
    sweep_pending: AtomicBool,
    /// The spans mark termination flagged unswept (Go's unswept span sets): start of
    /// the runner's `Scratch::sweep` list, published with the world stopped. Sweepers
    /// read it only inside the sweep gate, and the runner rewrites it only after
    /// closing the gate and waiting for them.
    sweep_list: AtomicPtr<SpanRef>,
    /// Atomic; entries in `sweep_list`.
    sweep_len: AtomicUsize,
    /// Atomic; next entry of `sweep_list` to claim (entries below were taken).
    sweep_next: AtomicUsize,
    /// Atomic; the background goroutine was spawned.
    bg_started: AtomicBool,
    /// Objects awaiting their `Drop`.
    pub(crate) fin: FinQueue,
    /// The pacer. Protected by its lock (taken by the runner outside the stopped world,
    /// and by `set_gc_percent` / `set_memory_limit`).
    pub(crate) pacer: Mutex<Pacer>,
    /// Cycle statistics. Protected by its lock (runner, outside the stopped world).
    pub(crate) stats: Mutex<GcStats>,
    /// GORT_DEBUG flags, read on first use.
    debug: OnceLock<Debug>,
    /// Atomic; checkmark's test hook: an object base the next normal mark skips.
    hidden: AtomicUsize,
    /// The runner's scratch lists (roots, marks), kept between cycles. Protected by
    /// `running`.
    scratch: Mutex<Scratch>,
}

impl core::fmt::Debug for Collector {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Collector")
            .field("cycles_done", &self.cycles_done)
            .field("heap_live", &self.heap_live)
            .field("trigger", &self.trigger)
            .finish_non_exhaustive()
    }
}

/// Lists the runner reuses between cycles; mmap memory (no allocator with the world stopped).
#[derive(Debug)]
struct Scratch {
    /// Root ranges of this cycle: start, end, kind.
    roots: RawVec<(usize, usize, RootKind)>,
    /// One work list per worker.
    locals: [RawVec<usize>; MAX_WORKERS],
    /// Objects found awaiting finalization this cycle.
    found: RawVec<usize>,
    /// Mark bits saved by checkmark.
    saved_marks: RawVec<u64>,
    /// Spans to sweep after this cycle (see `Collector::sweep_list`).
    sweep: RawVec<SpanRef>,
}

/// Most mark workers.
const MAX_WORKERS: usize = 64;

static COLLECTOR: Collector = Collector {
    host: OnceLock::new(),
    running: AtomicBool::new(false),
    cycles_done: AtomicU64::new(0),
    heap_live: AtomicU64::new(0),
    trigger: AtomicU64::new(crate::pacer::HEAP_MINIMUM),
    used: AtomicBool::new(false),
    sweep_gate: AtomicBool::new(false),
    sweepers: AtomicUsize::new(0),
    sweep_pending: AtomicBool::new(false),
    sweep_list: AtomicPtr::new(core::ptr::null_mut()),
    sweep_len: AtomicUsize::new(0),
    sweep_next: AtomicUsize::new(0),
    bg_started: AtomicBool::new(false),
    fin: FinQueue::new(),
    pacer: Mutex::new(Pacer::new()),
    stats: Mutex::new(GcStats::new()),
    debug: OnceLock::new(),
    hidden: AtomicUsize::new(0),
    scratch: Mutex::new(Scratch {
        roots: RawVec::new(),
        locals: [const { RawVec::new() }; MAX_WORKERS],
        found: RawVec::new(),
        saved_marks: RawVec::new(),
        sweep: RawVec::new(),
    }),
};

thread_local! {
    /// Bytes this thread allocated not yet added to `heap_live`.
    static LOCAL_BYTES: Cell<usize> = const { Cell::new(0) };
    /// This thread's cache for noscan objects (`GortAlloc` only serves scan classes to
    /// pointer-aligned requests).
    static NOSCAN: core::cell::RefCell<Option<CacheHandle>> = const { core::cell::RefCell::new(None) };
}

impl Collector {
    /// The collector.
    #[inline]
    pub(crate) fn get() -> &'static Collector {
        &COLLECTOR
    }

    /// The heap (the global allocator's).
    #[inline]
    pub(crate) fn heap(&self) -> &'static Allocator {
        Allocator::global()
    }

    /// GORT_DEBUG flags.
    pub(crate) fn debug(&self) -> &Debug {
        self.debug.get_or_init(Debug::from_env)
    }

    /// Installs the host; false if one was installed already.
    pub(crate) fn install(&self, host: &'static dyn Host) -> bool {
        let ok = self.host.set(host).is_ok();
        if ok {
            let p = self.pacer.lock().unwrap_or_else(|e| e.into_inner());
            self.trigger.store(p.trigger(), Ordering::Relaxed);
        }
        ok
    }

    /// The installed host.
    pub(crate) fn host(&self) -> Option<&'static dyn Host> {
        self.host.get().copied()
    }

    /// True once a collected object was allocated.
    pub(crate) fn used(&self) -> bool {
        self.used.load(Ordering::Relaxed)
    }

    /// Completed cycles.
    pub(crate) fn cycles(&self) -> u64 {
        self.cycles_done.load(Ordering::Acquire)
    }

    /// Bytes of collected objects live or allocated since the last mark.
    pub(crate) fn heap_live(&self) -> u64 {
        self.heap_live.load(Ordering::Relaxed) + LOCAL_BYTES.with(|c| c.get()) as u64
    }

    /// Sets the trigger from the pacer.
    pub(crate) fn set_trigger(&self, t: u64) {
        self.trigger.store(t, Ordering::Relaxed);
    }

    /// Test hook: the next normal mark skips the object at `base`.
    #[cfg(any(test, feature = "testing"))]
    pub(crate) fn hide(&self, base: usize) {
        self.hidden.store(base, Ordering::Relaxed);
    }

    // ---- allocation ------------------------------------------------------------------

    /// Allocates memory for a collected object; may run a cycle first.
    #[inline]
    pub(crate) fn alloc_object(&'static self, layout: Layout, noscan: bool) -> usize {
        let local = LOCAL_BYTES.with(|c| {
            let v = c.get() + layout.size();
            c.set(v);
            v
        });
        if local >= LOCAL_FLUSH {
            self.flush_local();
        }
        let p = if noscan {
            alloc_noscan(layout)
        } else {
            // SAFETY: the layout has a non-zero size (it holds a header word).
            unsafe { std::alloc::alloc(layout) }
        };
        if p.is_null() {
            match self.host() {
                Some(h) => h.out_of_memory(layout.size()),
                None => std::alloc::handle_alloc_error(layout),
            }
        }
        p as usize
    }

    /// Adds this thread's allocation count to `heap_live`; starts a cycle at the trigger.
    #[cold]
    fn flush_local(&'static self) {
        let n = LOCAL_BYTES.with(|c| c.replace(0)) as u64;
        // Proportional sweep (Go's sweep credit): every 64 KiB allocated sweeps a few
        // spans, so the last cycle's garbage is reused before the heap grows.
        if self.sweep_pending.load(Ordering::Relaxed) {
            self.sweep_some(SWEEP_PER_FLUSH, false);
        }
        self.used.store(true, Ordering::Relaxed);
        let live = self.heap_live.fetch_add(n, Ordering::Relaxed) + n;
        if live >= self.trigger.load(Ordering::Relaxed) {
            // Start a cycle, or wait (parked) for the running one: an allocator past
            // the goal must not outrun the collector, and parking is also a safe point
            // for the stop the cycle needs.
            self.collect(Trigger::Heap);
        }
    }

    /// Makes the allocated, initialised object at `base` a collected object: sweeps its
    /// span first if the last cycle's marks are still on it.
    ///
    /// # Safety
    /// `base` is a fresh allocation from the global allocator, initialised as a `Gc`
    /// object (header and value), owned by the caller.
    #[inline]
    pub(crate) unsafe fn publish_object(&self, base: usize, finalizable: bool) {
        let heap = self.heap();
        let Some(span) = heap.span_ref_of(Address::new(base)) else {
            fatal_gc("Gc needs gort's allocator (GortAlloc) as the global allocator");
        };
        let Some(i) = span.index_of(base) else {
            fatal_gc("Gc object outside its span's slots");
        };
        while span.is_unswept() {
            if !self.sweep_span(span, false) {
                // The sweep gate is closed: a cycle is finishing the sweep and will
                // stop the world. Park until it reopens instead of spinning on our P
                // (the runner may need it); meanwhile our object, still without its
                // gc bit, is found through our stack and kept as a manual object.
                match self.host() {
                    Some(h) => h.block_until(Event::CycleDone, &|| {
                        !self.sweep_gate.load(Ordering::SeqCst)
                    }),
                    None => std::thread::yield_now(),
                }
            }
        }
        // SAFETY: [Safety]: allocated and ours; the span is swept for this cycle.
        unsafe { span.set_gc(i) };
        if !self.used.load(Ordering::Relaxed) {
            self.used.store(true, Ordering::Relaxed);
        }
        if finalizable {
            span.set_gc_flags(SPAN_FINALIZERS);
        }
    }

    // ---- sweeping ---------------------------------------------------------------------

    /// Sweeps `span` if it is unswept and sweeping is open (or `runner`); false when the
    /// gate was closed (the caller retries).
    fn sweep_span(&self, span: SpanRef, runner: bool) -> bool {
        if runner {
            // SAFETY: the marks are those of the last complete mark.
            unsafe { self.heap().sweep(span) };
            return true;
        }
        self.sweepers.fetch_add(1, Ordering::SeqCst);
        let open = !self.sweep_gate.load(Ordering::SeqCst);
        if open {
            // SAFETY: the marks are those of the last complete mark: a new mark only
            // starts after the gate closed and every sweeper left.
            unsafe { self.heap().sweep(span) };
        }
        self.sweepers.fetch_sub(1, Ordering::SeqCst);
        open
    }

    /// Sweeps every span left on the sweep list (the background sweeper, or a cycle's
    /// sweep termination).
    pub(crate) fn sweep_all(&self, runner: bool) {
        while self.sweep_some(usize::MAX, runner) != 0 {}
    }

    /// Claims and sweeps up to `max` spans of the sweep list; returns how many it
    /// claimed (0: the list is done, or the gate is closed for a non-runner).
    pub(crate) fn sweep_some(&self, max: usize, runner: bool) -> usize {
        if !runner {
            self.sweepers.fetch_add(1, Ordering::SeqCst);
            if self.sweep_gate.load(Ordering::SeqCst) {
                self.sweepers.fetch_sub(1, Ordering::SeqCst);
                return 0;
            }
        }
        let list = self.sweep_list.load(Ordering::Acquire);
        let len = self.sweep_len.load(Ordering::Acquire);
        let mut n = 0;
        while n < max {
            let i = self.sweep_next.fetch_add(1, Ordering::AcqRel);
            if i >= len {
                break;
            }
            // SAFETY: `list[..len]` was written with the world stopped and stays until
            // the runner closes the gate and waits for us (we are counted in
            // `sweepers`, or are the runner).
            let span = unsafe { list.add(i).read() };
            // SAFETY: the marks are those of the last complete mark: a new mark only
            // starts after the gate closed and every sweeper left. A span recycled
            // since the list was made is not unswept and is skipped.
            unsafe { self.heap().sweep(span) };
            n += 1;
        }
        if !runner {
            self.sweepers.fetch_sub(1, Ordering::SeqCst);
        }
        n
    }

    /// True while some span may be unswept.
    pub(crate) fn sweep_pending(&self) -> bool {
        self.sweep_pending.load(Ordering::Acquire)
    }

    /// The background sweeper's pass.
    pub(crate) fn background_sweep(&self) {
        if self.sweep_pending.swap(false, Ordering::AcqRel) {
            gort_trace::gc::sweep_begin();
            self.sweep_all(false);
            gort_trace::gc::sweep_end();
        }
    }

    // ---- cycles -----------------------------------------------------------------------

    /// Runs a cycle for `why`, or waits for the one running. With no host installed,
    /// does nothing.
    pub(crate) fn collect(&'static self, why: Trigger) {
        let Some(host) = self.host() else { return };
        loop {
            let seen = self.cycles_done.load(Ordering::Acquire);
            if self
                .running
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                self.run_cycle(host, why);
                self.cycles_done.fetch_add(1, Ordering::AcqRel);
                self.running.store(false, Ordering::Release);
                host.wake_all(Event::CycleDone);
                return;
            }
            host.block_until(Event::CycleDone, &|| {
                self.cycles_done.load(Ordering::Acquire) > seen
            });
            if why != Trigger::Forced {
                return;
            }
            // A forced cycle must start after the call: run our own.
        }
    }

    /// One cycle; the caller is the runner.
    fn run_cycle(&'static self, host: &'static dyn Host, why: Trigger) {
        let debug = *self.debug();
        if why == Trigger::Periodic && debug.gctrace {
            eprintln!("GC forced");
        }
        let mut scratch = self.scratch.lock().unwrap_or_else(|e| e.into_inner());
        let t_start = crate::stats::now_ns();
        // Sweep termination: finish the last cycle's sweep, close the gate, wait for
        // sweepers in flight, and sweep what they left.
        self.sweep_all(true);
        self.sweep_gate.store(true, Ordering::SeqCst);
        while self.sweepers.load(Ordering::SeqCst) != 0 {
            std::thread::yield_now();
        }
        self.sweep_all(true);
        // Flush our own count; other threads' stay local (at most LOCAL_FLUSH each).
        let n = LOCAL_BYTES.with(|c| c.replace(0)) as u64;
        let heap0 = self.heap_live.fetch_add(n, Ordering::Relaxed) + n;
        let nworkers = host.num_workers().clamp(1, MAX_WORKERS);

        // Trace events are emitted outside the stopped world (the tracer's off-P writer
        // takes a lock a stopped thread may hold): the pause's own events are written
        // just before the stop and just after the start.
        let seq = self.cycles_done.load(Ordering::Relaxed) + 1;
        gort_trace::gc::cycle_begin(seq);
        gort_trace::gc::stw_begin(gort_trace::StwKind::GcSweepTermination);
        gort_trace::gc::mark_begin();
        host.stop_the_world();
        let t_stw = crate::stats::now_ns();
        let hidden = self.hidden.swap(0, Ordering::Relaxed);
        let mut out = MarkOutcome::default();
        with_registers_spilled(&mut || {
            out = self.mark(host, &mut scratch, nworkers, hidden, debug.gccheckmark);
        });
        let t_mark = crate::stats::now_ns();
        let live = self.mark_termination(&mut scratch);
        host.start_the_world();
        let t_end = crate::stats::now_ns();
        // Reopen sweeping now and wake allocators parked on the closed gate.
        self.sweep_gate.store(false, Ordering::SeqCst);
        host.wake_all(Event::CycleDone);
        gort_trace::gc::mark_end();
        gort_trace::gc::stw_end();

        // After the pause: pacing, statistics, the background goroutine.
        self.sweep_pending.store(true, Ordering::Release);
        let (goal, trigger, gc_percent) = {
            let mut p = self.pacer.lock().unwrap_or_else(|e| e.into_inner());
            p.end_cycle(
                live.gc_bytes,
                out.stack_bytes,
                out.global_bytes,
                live.manual_bytes,
            );
            let sys = self.heap().page_heap().stats().heap_sys as u64;
            let goal = p.goal(sys, live.gc_bytes);
            (goal, p.trigger_for(goal), p.gc_percent())
        };
        self.heap_live.store(live.gc_bytes, Ordering::Relaxed);
        self.set_trigger(if gc_percent < 0 && goal == u64::MAX {
            u64::MAX
        } else {
            trigger
        });
        let rec = CycleRecord {
            start_ns: t_start,
            stw_ns: t_stw,
            mark_done_ns: t_mark,
            end_ns: t_end,
            heap0,
            heap1: heap0,
            heap_marked: live.gc_bytes,
            goal,
            stack_bytes: out.stack_bytes,
            global_bytes: out.global_bytes,
            nworkers,
            forced: why == Trigger::Forced,
        };
        let line = {
            let mut st = self.stats.lock().unwrap_or_else(|e| e.into_inner());
            st.record(&rec);
            debug.gctrace.then(|| st.gctrace_line(&rec))
        };
        drop(scratch);
        gort_trace::gc::heap(live.gc_bytes, goal);
        gort_trace::gc::cycle_end(seq);
        if let Some(l) = line {
            eprintln!("{l}");
        }
        self.start_background(host);
        host.wake_all(Event::FinalizersQueued);
    }

    /// Spawns the background goroutine (sweeper and finalizer) once.
    fn start_background(&'static self, host: &'static dyn Host) {
        if self.bg_started.swap(true, Ordering::AcqRel) {
            return;
        }
        host.spawn_finalizer_goroutine(Box::new(move || {
            crate::finalizer::background_loop(self, host)
        }));
    }

    /// The mark, with the world stopped: roots, the finalizer queue, then the objects
    /// awaiting finalization and everything they reach.
    fn mark(
        &self,
        host: &dyn Host,
        scratch: &mut Scratch,
        nworkers: usize,
        hidden: usize,
        checkmark: bool,
    ) -> MarkOutcome {
        let heap = self.heap();
        let mut out = MarkOutcome::default();
        scratch.roots.clear();
        {
            let roots = &mut scratch.roots;
            host.for_each_root_range(&mut |s, e, k| {
                if e > s {
                    roots.push((s, e, k));
                }
            });
        }
        for &(s, e, k) in scratch.roots.as_slice() {
            match k {
                RootKind::Stack | RootKind::Registers => out.stack_bytes += (e - s) as u64,
                RootKind::Data | RootKind::Tls => out.global_bytes += (e - s) as u64,
                _ => {}
            }
        }
        // Phase 1: roots and the finalizer queue, in parallel.
        let stats = self.mark_parallel(scratch, nworkers, hidden, true);
        out.add(stats);
        if checkmark {
            self.checkmark(scratch);
        }
        // Phase 2: objects that became unreachable and await finalization survive this
        // cycle with everything they reach; they go to the finalizer queue.
        scratch.found.clear();
        heap.for_each_span(|s| {
            if s.gc_flags() & SPAN_FINALIZERS == 0 {
                return;
            }
            let n = s.nelems();
            for w in 0..n.div_ceil(64) {
                let mut cand = s.alloc_word(w) & s.gc_word(w) & !s.mark_word(w);
                while cand != 0 {
                    let i = w * 64 + cand.trailing_zeros() as usize;
                    cand &= cand - 1;
                    if i >= n {
                        break;
                    }
                    let base = s.object(i).as_usize();
                    // SAFETY: allocated with its gc bit set: a published Gc object.
                    let h = unsafe { header(base) };
                    if h.load(Ordering::Relaxed) & (FINALIZABLE | DROPPED) == FINALIZABLE {
                        scratch.found.push(base);
                    }
                }
            }
        });
        if !scratch.found.is_empty() {
            let found = core::mem::replace(&mut scratch.found, RawVec::new());
            let mut local = core::mem::replace(&mut scratch.locals[0], RawVec::new());
            let mut queue = RawVec::new();
            {
                let mut t = Tracer::new(heap, &mut local, None, 0);
                // Borrows through a dead handle: an object one of whose owned buffers
                // the mark from the roots reached is still borrowed (`g.v.as_slice()`
                // in use after `g`'s last use); it is kept like a reachable one, with
                // what it reaches. Probe all first (probing marks nothing), then mark.
                let mut kept = RawVec::new();
                for &base in found.as_slice() {
                    if t.probe_owned(base) {
                        kept.push(base);
                    }
                }
                for &base in kept.as_slice() {
                    t.mark_gc(base);
                }
                t.drain();
                // What the kept objects reach is live too: only the unmarked rest are
                // candidates.
                let mut cands = RawVec::new();
                for &base in found.as_slice() {
                    if !is_marked(heap, base) {
                        cands.push(base);
                    }
                }
                // Go's ordering rule: mark what each reaches, not the object itself; an
                // object reached from another one waits for a later cycle.
                for &base in cands.as_slice() {
                    t.trace_children(base);
                }
                t.drain();
                let mut forced = RawVec::new();
                for &base in cands.as_slice() {
                    // SAFETY: found objects are published Gc objects.
                    let h = unsafe { header(base) };
                    if !is_marked(heap, base) {
                        queue.push(base);
                    } else if h.load(Ordering::Relaxed) & DEFERRED != 0 {
                        // Deferred before: a cycle among finalizable objects, or a
                        // chain; queued after the objects that reach it.
                        forced.push(base);
                    } else {
                        h.fetch_or(DEFERRED, Ordering::Relaxed);
                    }
                }
                for &base in forced.as_slice() {
                    queue.push(base);
                }
                for &base in queue.as_slice() {
                    t.mark_gc(base);
                }
                t.drain();
                out.add(t.stats);
            }
            scratch.locals[0] = local;
            if !queue.is_empty() {
                self.fin.push_batch(queue.as_slice());
            }
            scratch.found = found;
        }
        out
    }

    /// Marks from the roots in `scratch.roots` (and the finalizer queue when `with_queue`)
    /// on `nworkers` workers.
    fn mark_parallel(
        &self,
        scratch: &mut Scratch,
        nworkers: usize,
        hidden: usize,
        with_queue: bool,
    ) -> MarkStats {
        let heap = self.heap();
        let host = match self.host() {
            Some(h) => h,
            None => fatal_gc("mark without a host"),
        };
        let queue = WorkQueue::new(nworkers);
        let roots = scratch.roots.as_slice();
        // Root ranges are cut in 64 KiB pieces handed out through `next`.
        const PIECE: usize = 64 << 10;
        let total: usize = roots.iter().map(|&(s, e, _)| (e - s).div_ceil(PIECE)).sum();
        let next = AtomicUsize::new(0);
        let locals_ptr = scratch.locals.as_mut_ptr() as usize;
        let totals = Mutex::new(MarkStats::default());
        let fin = &self.fin;
        let work = |id: usize| {
            // SAFETY: each worker id is used by exactly one call, so each takes a
            // distinct element of `scratch.locals`, which outlives `run_workers`.
            let local = unsafe { &mut *(locals_ptr as *mut RawVec<usize>).add(id) };
            local.clear();
            let mut t = Tracer::new(
                heap,
                local,
                if nworkers > 1 { Some(&queue) } else { None },
                hidden,
            );
            if id == 0 && with_queue {
                fin.mark_roots(&mut t);
            }
            loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= total {
                    break;
                }
                // Find piece k.
                let mut k2 = k;
                for &(s, e, _) in roots {
                    let n = (e - s).div_ceil(PIECE);
                    if k2 < n {
                        let ps = s + k2 * PIECE;
                        t.scan_range(ps, (ps + PIECE).min(e));
                        break;
                    }
                    k2 -= n;
                }
                t.drain_local();
            }
            t.drain();
            let mut g = totals.lock().unwrap_or_else(|e| e.into_inner());
            g.gc_bytes += t.stats.gc_bytes;
            g.manual_bytes += t.stats.manual_bytes;
            g.scanned_bytes += t.stats.scanned_bytes;
        };
        if nworkers == 1 {
            work(0);
        } else {
            host.run_workers(nworkers, &work);
        }
        totals.into_inner().unwrap_or_else(|e| e.into_inner())
    }

    /// Checkmark (GORT_DEBUG=gccheckmark=1): after the mark from the roots (before
    /// finalization marks anything), with the world still stopped, saves the marks,
    /// marks again from scratch on one worker, and aborts naming any object the second
    /// mark reached that the first did not.
    fn checkmark(&self, scratch: &mut Scratch) {
        let heap = self.heap();
        let mut saved = core::mem::replace(&mut scratch.saved_marks, RawVec::new());
        saved.clear();
        heap.for_each_span(|s| {
            for w in 0..s.nelems().div_ceil(64) {
                saved.push(s.mark_word(w));
                s.set_mark_word(w, 0);
            }
        });
        self.mark_parallel(scratch, 1, 0, true);
        let mut k = 0;
        let mut missed = 0usize;
        heap.for_each_span(|s| {
            let n = s.nelems();
            for w in 0..n.div_ceil(64) {
                let old = saved.as_slice().get(k).copied().unwrap_or(0);
                let new = s.mark_word(w);
                let extra = new & !old;
                if extra != 0 && missed == 0 {
                    let i = w * 64 + extra.trailing_zeros() as usize;
                    missed = s.object(i.min(n - 1)).as_usize();
                }
                s.set_mark_word(w, old | new);
                k += 1;
            }
        });
        scratch.saved_marks = saved;
        if missed != 0 {
            let what = heap
                .find_object(Address::new(missed))
                .map(|o| o.size)
                .unwrap_or(0);
            let is_gc = heap
                .span_ref_of(Address::new(missed))
                .and_then(|s| s.index_of(missed).map(|i| s.is_gc(i)))
                .unwrap_or(false);
            let name = if is_gc {
                // SAFETY: a gc-bit object is a published Gc object.
                let h = unsafe { header(missed) }.load(Ordering::Relaxed);
                // SAFETY: as above.
                (unsafe { vtable(h) }.name)()
            } else {
                "manual allocation"
            };
            crate::stats::fatal_checkmark(missed, what, name);
        }
    }

    /// Mark termination: counts the live bytes and marks every span that needs a sweep
    /// unswept. The world is stopped.
    fn mark_termination(&self, scratch: &mut Scratch) -> LiveBytes {
        let mut live = LiveBytes::default();
        let list = &mut scratch.sweep;
        list.clear();
        self.heap().for_each_span(|s| {
            let n = s.nelems();
            let size = s.elem_size() as u64;
            let mut any = false;
            for w in 0..n.div_ceil(64) {
                let (m, g) = (s.mark_word(w), s.gc_word(w));
                live.gc_bytes += u64::from((m & g).count_ones()) * size;
                live.manual_bytes += u64::from((m & !g).count_ones()) * size;
                any |= m != 0 || g != 0;
            }
            if any {
                s.set_unswept();
                list.push(s);
            }
        });
        self.sweep_list
            .store(list.as_slice().as_ptr().cast_mut(), Ordering::Release);
        self.sweep_len.store(list.len(), Ordering::Release);
        self.sweep_next.store(0, Ordering::Release);
        live
    }
}

/// Live bytes counted at mark termination.
#[derive(Clone, Copy, Debug, Default)]
struct LiveBytes {
    /// Marked collected objects.
    gc_bytes: u64,
    /// Marked manual objects.
    manual_bytes: u64,
}

/// What a mark measured.
#[derive(Clone, Copy, Debug, Default)]
struct MarkOutcome {
    /// Stack and register root bytes.
    stack_bytes: u64,
    /// Data segment and TLS root bytes.
    global_bytes: u64,
    /// Marking totals.
    mark: MarkStats,
}

impl MarkOutcome {
    fn add(&mut self, s: MarkStats) {
        self.mark.gc_bytes += s.gc_bytes;
        self.mark.manual_bytes += s.manual_bytes;
        self.mark.scanned_bytes += s.scanned_bytes;
    }
}

/// Whether the object at `base` is marked.
fn is_marked(heap: &Allocator, base: usize) -> bool {
    heap.span_ref_of(Address::new(base))
        .and_then(|s| s.index_of(base).map(|i| s.is_marked(i)))
        .unwrap_or(false)
}

/// Allocates a noscan object from this thread's noscan cache.
fn alloc_noscan(layout: Layout) -> *mut u8 {
    let r = NOSCAN.try_with(|c| {
        let mut c = c.borrow_mut();
        if c.is_none() {
            *c = Allocator::global().new_cache().ok();
        }
        c.as_mut().map(|h| h.alloc_noscan(layout))
    });
    match r {
        Ok(Some(Ok(p))) => p.as_ptr(),
        // During thread exit (or without a cache), a scan object serves as well.
        // SAFETY: the layout has a non-zero size.
        _ => unsafe { std::alloc::alloc(layout) },
    }
}

/// Runs `f` with the callee-saved registers stored in this frame, so a conservative
/// scan of the stack from below this frame sees every pointer the caller kept in them.
#[inline(never)]
fn with_registers_spilled(f: &mut dyn FnMut()) {
    let mut regs = [0usize; 8];
    #[cfg(target_arch = "x86_64")]
    // SAFETY: only stores registers into our own array.
    unsafe {
        core::arch::asm!(
            "mov [{0}], rbx",
            "mov [{0} + 8], rbp",
            "mov [{0} + 16], r12",
            "mov [{0} + 24], r13",
            "mov [{0} + 32], r14",
            "mov [{0} + 40], r15",
            in(reg) regs.as_mut_ptr(),
            options(nostack, preserves_flags),
        );
    }
    #[cfg(target_arch = "aarch64")]
    // SAFETY: only stores registers into our own array.
    unsafe {
        core::arch::asm!(
            "stp x19, x20, [{0}]",
            "stp x21, x22, [{0}, #16]",
            "stp x23, x24, [{0}, #32]",
            "stp x25, x26, [{0}, #48]",
            in(reg) regs.as_mut_ptr(),
            options(nostack, preserves_flags),
        );
    }
    core::hint::black_box(&mut regs);
    f();
    core::hint::black_box(&regs);
}
