//! `Sched`: the scheduler instance — global run queue, idle Ps and Ms, spinning, the
//! schedule loop and `findRunnable` (Go: proc.go `schedt`, `schedule`, `findRunnable`,
//! `wakep`, `startm`, `stopm`). See the crate docs for the overview.

use core::ptr;
use gort_trace::Emit as _;
use std::collections::VecDeque;

use gort_stack::{Stack, StackInfo};

use crate::config::{Config, MAX_PROCS};
use crate::error::Error;
use crate::fatal::{fatal, throw};
use crate::g::{G, GPtr, GStatus, NOTIFIED};
use crate::m::{Action, M, current_m, set_current_m};
use crate::p::{GFREE_BATCH, GFREE_LOCAL_KEEP, GFREE_LOCAL_MAX, GOID_BATCH, P, PStatus};
use crate::sync::atomic::{
    AtomicBool, AtomicI64, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering, fence,
};
use crate::sync::{Arc, Mutex, MutexGuard, thread};

/// Slots in `allp` (shrunk under loom, whose atomics are costly to create).
#[cfg(not(loom))]
const ALLP_LEN: usize = MAX_PROCS;
/// Slots in `allp` (shrunk under loom).
#[cfg(loom)]
const ALLP_LEN: usize = 4;

/// Steal attempts over all Ps before giving up (Go: `stealTries`).
const STEAL_TRIES: u32 = 4;
/// Consecutive runs inherited through `runnext` before the ring's head gets a turn
/// (stands in for Go's 10 ms time slice until sysmon exists).
const RUNNEXT_STREAK_MAX: u32 = 61;
/// The global queue is checked first every this many schedule ticks (Go: 61).
const GLOBAL_RUNQ_TICK: u32 = 61;

/// State protected by `Sched::lock` (Go: the fields of `schedt` under `sched.lock`).
pub(crate) struct Locked {
    /// Global run queue (Go: `sched.runq`).
    pub(crate) runq: VecDeque<GPtr>,
    /// Idle Ps (Go: `sched.pidle`).
    pub(crate) pidle: Vec<*mut P>,
    /// Idle Ms waiting for work (Go: `sched.midle`).
    midle: Vec<*const M>,
    /// Ms created and not exited (Go: `mcount()`).
    pub(crate) mcount: u32,
    /// Ms sleeping because their locked goroutine is not runnable (Go: `nmidlelocked`).
    /// May be -1 for a moment: `startlockedm` can decrement before the locked M's
    /// `stoplockedm` increments (as in Go, which tolerates it the same way).
    pub(crate) nmidlelocked: i64,
    /// Every M ever created (freed when the scheduler drops).
    pub(crate) allm: Vec<*mut M>,
    /// Under loom: Ms that `newm` was asked to start, with their P and spinning flag.
    #[cfg(loom)]
    pub(crate) loom_newm: Vec<(*mut P, bool)>,
}

/// A scheduler: Ps, Ms, queues. Created by [`run`]; lives while any of its Ms runs.
pub(crate) struct Sched {
    /// Go: `sched.lock`.
    lock: Mutex<Locked>,
    /// Length of `Locked::runq`, readable without the lock. Written under the lock.
    runq_len: AtomicUsize,
    /// Number of idle Ps (Go: `sched.npidle`). Written under the lock; SeqCst.
    npidle: AtomicU32,
    /// Number of spinning Ms (Go: `sched.nmspinning`). SeqCst.
    pub(crate) nmspinning: AtomicU32,
    /// Number of idle Ms, for schedtrace. Written under the lock.
    nmidle: AtomicU32,
    /// GOMAXPROCS. Atomic.
    gomaxprocs: AtomicU32,
    /// All Ps, allocated on first use and freed on drop (Go: `allp`). A slot, once
    /// non-null, never changes.
    allp: Box<[AtomicPtr<P>]>,
    /// Free Gs (stackless) beyond what Ps keep (Go: `sched.gFree`). Own lock.
    gfree: Mutex<Vec<GPtr>>,
    /// Default-size stacks beyond what Ps keep. Own lock.
    stack_cache: Mutex<Vec<Stack>>,
    /// Length of `stack_cache`, readable without its lock.
    stack_cache_len: AtomicUsize,
    /// Length of `gfree`, readable without its lock.
    gfree_len: AtomicUsize,
    /// Every G ever allocated (Go: `allgs`). Own lock.
    pub(crate) allg: Mutex<Vec<GPtr>>,
    /// Live goroutines (Go: `gcount`). Decremented with Release at goroutine exit and
    /// read with Acquire by `run_with`'s teardown (see `external_wakers`).
    ngoroutine: AtomicI64,
    /// Threads that are not Ms of this scheduler (plain threads, another scheduler's
    /// goroutines) currently inside [`Sched::ready`]. Such a waker holds no strong
    /// reference, so `run_with` waits for this to reach 0 before dropping the scheduler.
    /// Incremented (SeqCst) before the waker's status CAS publishes the G, decremented
    /// (Release) as its last access to the scheduler.
    external_wakers: AtomicUsize,
    /// Next goroutine-id batch start (Go: `sched.goidgen`).
    goid_gen: AtomicU64,
    /// Next M id.
    mid_gen: AtomicU32,
    /// Set once the main goroutine has returned; every M then exits.
    shutdown: AtomicBool,
    /// The main goroutine.
    main_g: AtomicPtr<G>,
    /// Configuration. Immutable.
    pub(crate) config: Config,
    /// The M sleeping until the next timer (time/timers.rs).
    pub(crate) timers: crate::time::timers::SchedTimers,
    /// Compaction of long-parked goroutines' stacks (compact.rs).
    pub(crate) compactor: crate::compact::Compactor,
    /// The netpoller, started by the first socket (netpoll/).
    pub(crate) netpoll: crate::netpoll::Netpoll,
    /// When the scheduler started (schedtrace times are relative to it).
    pub(crate) start: std::time::Instant,
    /// A strong reference to itself while `run` runs, so that any thread (even one
    /// without an M) can start a new M. Cleared when `run` returns.
    me: Mutex<Option<Arc<Sched>>>,
}

// SAFETY: all shared state is behind `lock`, the other mutexes, or atomics; raw pointers
// in `Locked` are handles to Ps/Ms owned by the scheduler.
unsafe impl Send for Sched {}
// SAFETY: as above.
unsafe impl Sync for Sched {}

impl core::fmt::Debug for Sched {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Sched")
            .field("gomaxprocs", &self.gomaxprocs())
            .finish()
    }
}

/// Options for one spawn.
#[derive(Clone, Debug, Default)]
pub(crate) struct SpawnOpts {
    /// Goroutine name (diagnostics only).
    pub(crate) name: Option<String>,
    /// Stack size; `None` = the scheduler's default.
    pub(crate) stack_size: Option<usize>,
    /// This is the main goroutine: its exit ends the scheduler.
    pub(crate) main: bool,
}

impl Sched {
    pub(crate) fn new(config: Config) -> Sched {
        let allp = (0..ALLP_LEN)
            .map(|_| AtomicPtr::new(ptr::null_mut()))
            .collect();
        Sched {
            lock: Mutex::new(Locked {
                runq: VecDeque::new(),
                pidle: Vec::new(),
                midle: Vec::new(),
                mcount: 0,
                nmidlelocked: 0,
                allm: Vec::new(),
                #[cfg(loom)]
                loom_newm: Vec::new(),
            }),
            runq_len: AtomicUsize::new(0),
            npidle: AtomicU32::new(0),
            nmspinning: AtomicU32::new(0),
            nmidle: AtomicU32::new(0),
            gomaxprocs: AtomicU32::new(0),
            allp,
            gfree: Mutex::new(Vec::new()),
            stack_cache: Mutex::new(Vec::new()),
            stack_cache_len: AtomicUsize::new(0),
            gfree_len: AtomicUsize::new(0),
            allg: Mutex::new(Vec::new()),
            ngoroutine: AtomicI64::new(0),
            external_wakers: AtomicUsize::new(0),
            goid_gen: AtomicU64::new(0),
            mid_gen: AtomicU32::new(0),
            shutdown: AtomicBool::new(false),
            main_g: AtomicPtr::new(ptr::null_mut()),
            compactor: crate::compact::Compactor::new(config.compact_parked_after),
            config,
            timers: crate::time::timers::SchedTimers::new(),
            netpoll: crate::netpoll::Netpoll::default(),
            start: std::time::Instant::now(),
            me: Mutex::new(None),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Locked> {
        self.lock.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// GOMAXPROCS.
    pub(crate) fn gomaxprocs(&self) -> u32 {
        self.gomaxprocs.load(Ordering::SeqCst)
    }

    pub(crate) fn npidle(&self) -> u32 {
        self.npidle.load(Ordering::SeqCst)
    }

    pub(crate) fn nmspinning(&self) -> u32 {
        self.nmspinning.load(Ordering::SeqCst)
    }

    pub(crate) fn nmidle(&self) -> u32 {
        self.nmidle.load(Ordering::Relaxed)
    }

    pub(crate) fn runq_len(&self) -> usize {
        self.runq_len.load(Ordering::SeqCst)
    }

    pub(crate) fn ngoroutine(&self) -> i64 {
        self.ngoroutine.load(Ordering::Relaxed)
    }

    pub(crate) fn is_shutdown(&self) -> bool {
        self.shutdown.load(Ordering::Acquire)
    }

    /// P number `i`, if allocated.
    pub(crate) fn p(&self, i: usize) -> Option<&P> {
        let p = self.allp.get(i)?.load(Ordering::Acquire);
        // SAFETY: Ps are freed only when the scheduler drops.
        unsafe { p.as_ref() }
    }

    /// Every G ever allocated (for dumps and schedtrace).
    pub(crate) fn allg(&self) -> Vec<GPtr> {
        self.allg.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Copies up to `out.len()` Gs of `allg` from index `from` into `out`; returns how
    /// many (0 past the end).
    pub(crate) fn allg_chunk(&self, from: usize, out: &mut [GPtr]) -> usize {
        let all = self.allg.lock().unwrap_or_else(|e| e.into_inner());
        let src = all.get(from..).unwrap_or(&[]);
        let n = src.len().min(out.len());
        out[..n].copy_from_slice(&src[..n]);
        n
    }

    // ---- global run queue (Go: globrunqput, globrunqget) ----

    pub(crate) fn globrunqput_locked(&self, l: &mut Locked, g: GPtr) {
        l.runq.push_back(g);
        self.runq_len.store(l.runq.len(), Ordering::SeqCst);
    }

    fn globrunqput_batch(&self, batch: &[*mut G]) {
        let mut l = self.lock();
        l.runq.extend(batch.iter().map(|&g| GPtr(g)));
        self.runq_len.store(l.runq.len(), Ordering::SeqCst);
    }

    /// Puts `g` on the global queue (Go: `globrunqput`, for a G readied by a thread
    /// without a P or yielded).
    pub(crate) fn globrunqput(&self, g: *mut G) {
        let mut l = self.lock();
        self.globrunqput_locked(&mut l, GPtr(g));
    }

    /// Takes a batch from the global queue for `p`: returns one G to run and moves up to
    /// `n/GOMAXPROCS + 1` (at most half a local queue) more to `p`'s queue (Go:
    /// `globrunqget`). `max` = 1 takes just one (the every-61-ticks fairness check).
    fn globrunqget_locked(&self, l: &mut Locked, p: &P, max: usize) -> Option<*mut G> {
        let size = l.runq.len();
        if size == 0 {
            return None;
        }
        let procs = self.gomaxprocs().max(1) as usize;
        let mut n = (size / procs + 1).min(size);
        if max > 0 {
            n = n.min(max);
        }
        n = n.min(crate::run_queue::RUNQ_CAP as usize / 2);
        let first = l.runq.pop_front().map(|g| g.0);
        for _ in 1..n {
            if let Some(g) = l.runq.pop_front() {
                // SAFETY: the caller owns `p`; the local queue has room for half its
                // capacity because it was empty or near-empty when we came here, and
                // overflow (impossible then) would go back to the global queue.
                if let Some(batch) = unsafe { p.runq.push(g.0, false) } {
                    l.runq.extend(batch.into_iter().map(GPtr));
                }
            }
        }
        self.runq_len.store(l.runq.len(), Ordering::SeqCst);
        first
    }

    // ---- idle Ps and Ms (Go: pidleput, pidleget, mput, mget) ----

    pub(crate) fn pidleput_locked(&self, l: &mut Locked, p: *mut P) {
        // SAFETY: Ps live as long as the scheduler.
        let pr = unsafe { &*p };
        pr.m_id.store(u32::MAX, Ordering::Relaxed);
        if pr.id >= self.gomaxprocs() {
            pr.set_status(PStatus::Dead);
            return;
        }
        debug_assert!(pr.runq.is_empty(), "pidleput: P with runnable Gs");
        pr.set_status(PStatus::Idle);
        l.pidle.push(p);
        self.npidle.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn pidleget_locked(&self, l: &mut Locked) -> Option<*mut P> {
        while let Some(p) = l.pidle.pop() {
            self.npidle.fetch_sub(1, Ordering::SeqCst);
            // SAFETY: Ps live as long as the scheduler.
            let pr = unsafe { &*p };
            if pr.id < self.gomaxprocs() {
                return Some(p);
            }
            pr.set_status(PStatus::Dead);
        }
        None
    }

    fn mput_locked(&self, l: &mut Locked, m: &M) {
        l.midle.push(m);
        self.nmidle.store(l.midle.len() as u32, Ordering::Relaxed);
    }

    fn mget_locked(&self, l: &mut Locked) -> Option<*const M> {
        let m = l.midle.pop();
        self.nmidle.store(l.midle.len() as u32, Ordering::Relaxed);
        m
    }

    // ---- P ownership ----

    pub(crate) fn acquirep(&self, m: &M, p: *mut P) {
        // SAFETY: Ps live as long as the scheduler.
        let pr = unsafe { &*p };
        debug_assert!(m.p.get().is_null(), "acquirep: M already has a P");
        pr.set_status(PStatus::Running);
        pr.m_id.store(m.id, Ordering::Relaxed);
        m.p.set(p);
        crate::trace::on_p(pr, |w| w.proc_start());
    }

    pub(crate) fn releasep(&self, m: &M) -> *mut P {
        let p = m.p.replace(ptr::null_mut());
        if p.is_null() {
            throw("releasep: M has no P");
        }
        // SAFETY: Ps live as long as the scheduler; we owned it until just now.
        crate::trace::on_p(unsafe { &*p }, |w| w.proc_stop());
        // SAFETY: Ps live as long as the scheduler. As in Go, a released P is Idle
        // until someone acquires it (directly handed over, or from the idle list).
        unsafe { (*p).set_status(PStatus::Idle) };
        p
    }

    // ---- waking Ms (Go: wakep, startm, newm, resetspinning) ----

    /// Wakes an M to run work just made runnable, if there is an idle P and nobody is
    /// already spinning (Go: `wakep`). The caller has published the work with a SeqCst
    /// operation, which orders it before these loads (the StoreLoad half of Go's
    /// "delicate dance").
    #[inline]
    pub(crate) fn wakep(&self) {
        if self.npidle.load(Ordering::SeqCst) == 0 || self.nmspinning.load(Ordering::SeqCst) != 0 {
            return;
        }
        if self
            .nmspinning
            .compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return;
        }
        self.startm(None, true);
    }

    /// Runs P `p` (or an idle P) on an idle or new M (Go: `startm`). With `spinning`, the
    /// caller has counted the M in `nmspinning`.
    pub(crate) fn startm(&self, p: Option<*mut P>, spinning: bool) {
        let mut l = self.lock();
        let p = match p.or_else(|| self.pidleget_locked(&mut l)) {
            Some(p) => p,
            None => {
                drop(l);
                if spinning {
                    self.nmspinning.fetch_sub(1, Ordering::SeqCst);
                }
                return;
            }
        };
        if self.is_shutdown() {
            self.pidleput_locked(&mut l, p);
            drop(l);
            if spinning {
                self.nmspinning.fetch_sub(1, Ordering::SeqCst);
            }
            return;
        }
        match self.mget_locked(&mut l) {
            Some(nm) => {
                drop(l);
                // SAFETY: Ms live as long as the scheduler.
                let nm = unsafe { &*nm };
                nm.spinning.store(spinning, Ordering::Relaxed);
                nm.nextp.store(p, Ordering::Release);
                nm.note.notify();
            }
            None => {
                l.mcount += 1;
                drop(l);
                self.newm(p, spinning);
            }
        }
    }

    /// Under loom, `newm` records the request instead of starting a thread; the model
    /// plays the new M itself.
    #[cfg(loom)]
    fn newm(&self, p: *mut P, spinning: bool) {
        let mut l = self.lock();
        l.loom_newm.push((p, spinning));
    }

    /// Starts a new OS thread as an M that will run `p` (Go: `newm`). The caller has
    /// counted it in `mcount`.
    #[cfg(not(loom))]
    fn newm(&self, p: *mut P, spinning: bool) {
        // `startm` checked `is_shutdown` under the lock, but `run_with` may have ended the
        // scheduler since: then give the P back quietly instead of starting an M.
        let Some(sched) = self.try_arc() else {
            let mut l = self.lock();
            l.mcount -= 1;
            self.pidleput_locked(&mut l, p);
            drop(l);
            if spinning {
                self.nmspinning.fetch_sub(1, Ordering::SeqCst);
            }
            return;
        };
        let id = self.mid_gen.fetch_add(1, Ordering::Relaxed) + 1;
        let pp = PPtr(p);
        let spawned = thread::Builder::new()
            .name(format!("gort-m{id}"))
            .spawn(move || {
                let pp = pp;
                let m = Box::into_raw(Box::new(M::new(id, &sched)));
                drop(sched);
                // SAFETY: just allocated; freed only when the scheduler drops.
                let mr = unsafe { &*m };
                mr.sched().lock().allm.push(m);
                mr.spinning.store(spinning, Ordering::Relaxed);
                mr.sched().acquirep(mr, pp.0);
                mstart(mr);
                // Take the strong count out before dropping it: the drop may free `mr`.
                // SAFETY: this thread owns `sched_arc`; `mr` is not touched afterwards.
                let last = unsafe { (*mr.sched_arc.get()).take() };
                drop(last);
            });
        if let Err(e) = spawned {
            let _ = e;
            throw("newm: failed to create new OS thread");
        }
    }

    /// A strong reference to this scheduler, or `None` once `run_with` has ended it.
    #[cfg(not(loom))]
    fn try_arc(&self) -> Option<Arc<Sched>> {
        let me = self.me.lock().unwrap_or_else(|e| e.into_inner());
        me.as_ref().map(Arc::clone)
    }

    /// A spinning M found work: stop spinning and maybe wake another spinner (Go:
    /// `resetspinning`).
    fn resetspinning(&self, m: &M) {
        m.spinning.store(false, Ordering::Relaxed);
        let prev = self.nmspinning.fetch_sub(1, Ordering::SeqCst);
        if prev == 0 {
            throw("resetspinning: negative nmspinning");
        }
        self.wakep();
    }

    // ---- goroutine creation and free lists (Go: newproc, gfget, gfput) ----

    /// Creates a goroutine running `f` on the current M's P (Go: `newproc`).
    ///
    /// # Safety
    /// Everything `f` borrows outlives the goroutine (callers pass `'static` closures,
    /// except `run`, which waits for its main goroutine).
    pub(crate) unsafe fn newproc<F: FnOnce() + Send>(
        &self,
        m: &M,
        f: F,
        opts: SpawnOpts,
    ) -> Result<(u64, *mut G), Error> {
        let p = m.p.get();
        if p.is_null() {
            return Err(Error::NoRuntime);
        }
        // SAFETY: the current M owns `p`.
        let pr = unsafe { &*p };
        // A goroutine with the default stack size gets its stack when it first runs,
        // from the running P's cache (hot in that CPU's cache); one with its own size
        // gets it now, so that failure is reported here.
        let own_stack = match opts.stack_size {
            Some(size) if !self.is_default_stack(size) => Some(Stack::new(size)?),
            _ => None,
        };
        let g = self.gfget(pr);
        // SAFETY: `gfget` hands out a stackless G we own (Idle or Dead).
        let gr = unsafe { &*g };
        let goid = self.next_goid(pr);
        gr.goid.store(goid, Ordering::Relaxed);
        // SAFETY: we own the G.
        unsafe {
            *gr.name.get() = opts.name.clone();
            gr.set_entry(f);
            if let Some(stack) = own_stack {
                *gr.ctx.get() = gort_stack::Context::new(&stack, g_entry, g as usize);
                *gr.stack.get() = Some(stack);
            }
        }
        if opts.main {
            // Before the G is queued: another M may run it to completion at once.
            self.main_g.store(g, Ordering::Relaxed);
        }
        let old = gr.status();
        gr.cas_status(old, GStatus::Runnable);
        self.ngoroutine.fetch_add(1, Ordering::Relaxed);
        // Before the G is queued, so its create precedes its start on any P.
        crate::trace::on_p(pr, |w| {
            let parent = m.curg.get();
            let parent = if parent.is_null() {
                0
            } else {
                // SAFETY: the current goroutine's G lives as long as its scheduler.
                unsafe { (*parent).goid() }
            };
            w.go_create(goid, parent);
        });
        // SAFETY: the current M owns `p`.
        if let Some(batch) = unsafe { pr.runq.push(g, true) } {
            self.globrunqput_batch(&batch);
        }
        self.wakep();
        Ok((goid, g))
    }

    fn next_goid(&self, p: &P) -> u64 {
        let (mut next, mut end) = p.goid_cache.get();
        if next == end {
            next = self.goid_gen.fetch_add(GOID_BATCH, Ordering::Relaxed) + 1;
            end = next + GOID_BATCH;
        }
        p.goid_cache.set((next + 1, end));
        next
    }

    /// Whether a stack of `size` bytes is the default kind (cached per P).
    fn is_default_stack(&self, size: usize) -> bool {
        let d = self.config.stack_size;
        size >= d && size < 2 * d
    }

    /// A stack for a goroutine about to run for the first time: from `p`'s cache, else a
    /// batch from the global cache, else a new one (Go: `gfget` re-allocating a stack).
    fn stackget(&self, p: &P) -> Stack {
        // SAFETY: the current M owns `p` and so its cache.
        let cache = unsafe { &mut *p.stack_cache.get() };
        if cache.is_empty() && self.stack_cache_len.load(Ordering::Relaxed) > 0 {
            let mut global = self.stack_cache.lock().unwrap_or_else(|e| e.into_inner());
            let take = global.len().min(GFREE_BATCH);
            let at = global.len() - take;
            cache.extend(global.drain(at..));
            self.stack_cache_len.store(global.len(), Ordering::Relaxed);
        }
        match cache.pop() {
            Some(s) => s,
            None => match Stack::new(self.config.stack_size) {
                Ok(s) => s,
                Err(e) => fatal(
                    &format!("runtime: cannot allocate a goroutine stack: {e}"),
                    "",
                ),
            },
        }
    }

    /// Keeps an exited goroutine's default-size stack in `p`'s cache (LIFO, so the next
    /// goroutine to start here runs on memory this CPU just touched); others go back
    /// to the stack pool.
    fn stackput(&self, p: &P, s: Stack) {
        if !self.is_default_stack(s.size()) {
            return;
        }
        // SAFETY: the current M owns `p` and so its cache.
        let cache = unsafe { &mut *p.stack_cache.get() };
        cache.push(s);
        if cache.len() >= GFREE_LOCAL_MAX {
            let mut global = self.stack_cache.lock().unwrap_or_else(|e| e.into_inner());
            // Give away the coldest (oldest) ones.
            let n = cache.len() - GFREE_LOCAL_KEEP;
            global.extend(cache.drain(..n));
            self.stack_cache_len.store(global.len(), Ordering::Relaxed);
        }
    }

    /// A dead, stackless G: from `p`'s free list, else a batch from the global list,
    /// else a new one (Go: `gfget`, `malg`).
    fn gfget(&self, p: &P) -> *mut G {
        // SAFETY: the current M owns `p` and so its free list.
        let list = unsafe { &mut *p.gfree.get() };
        if list.is_empty() && self.gfree_len.load(Ordering::Relaxed) > 0 {
            let mut global = self.gfree.lock().unwrap_or_else(|e| e.into_inner());
            let take = global.len().min(GFREE_BATCH);
            let at = global.len() - take;
            list.extend(global.drain(at..));
            self.gfree_len.store(global.len(), Ordering::Relaxed);
        }
        let g = match list.pop() {
            Some(g) => g.0,
            None => {
                let g = Box::into_raw(Box::new(G::new(self)));
                let mut all = self.allg.lock().unwrap_or_else(|e| e.into_inner());
                // SAFETY: just allocated; ours until published.
                unsafe { (*g).park_site.set_index(all.len()) };
                all.push(GPtr(g));
                g
            }
        };
        p.gfree_len.store(list.len() as u32, Ordering::Relaxed);
        g
    }

    /// Puts a dead G on `p`'s free list, moving a batch to the global list when the local
    /// one is long (Go: `gfput`).
    fn gfput(&self, p: &P, g: *mut G) {
        // SAFETY: the current M owns `p` and so its free list.
        let list = unsafe { &mut *p.gfree.get() };
        list.push(GPtr(g));
        if list.len() >= GFREE_LOCAL_MAX {
            let mut global = self.gfree.lock().unwrap_or_else(|e| e.into_inner());
            while list.len() > GFREE_LOCAL_KEEP {
                if let Some(g) = list.pop() {
                    global.push(g);
                }
            }
            self.gfree_len.store(global.len(), Ordering::Relaxed);
        }
        p.gfree_len.store(list.len() as u32, Ordering::Relaxed);
    }

    // ---- readying (Go: ready / goready) ----

    /// Makes waiting `g` runnable, or records an unpark that raced ahead of its park.
    ///
    /// A waker that is one of our Ms holds a strong reference to the scheduler (M0:
    /// `run_with`'s) until its loop ends, so the scheduler outlives this call. Any other
    /// waker holds none: once `g` is published it may run and exit, main may return, and
    /// the scheduler could be freed while the waker is still in `wakep`. Such a waker is
    /// counted in `external_wakers` from before its status CAS until its last access;
    /// `run_with` reads `ngoroutine == 0` (Acquire, so after `g`'s exit, which is after
    /// the CAS, which is after the increment) and then waits for the count to drain. If
    /// `g` never exits, `ngoroutine > 0` and the scheduler is never freed.
    pub(crate) fn ready(&self, g: *mut G) {
        // Queues on this M's P: no preemption in place meanwhile.
        let _np = crate::preempt::NoPreempt::new();
        let external = !current_m().is_some_and(|m| ptr::eq(m.sched, self));
        if external {
            self.external_wakers.fetch_add(1, Ordering::SeqCst);
        }
        self.ready_counted(g);
        if external {
            // The last access to `self` by an external waker.
            self.external_wakers.fetch_sub(1, Ordering::Release);
        }
    }

    /// [`Sched::ready`]'s body; the caller keeps the scheduler alive.
    fn ready_counted(&self, g: *mut G) {
        // SAFETY: G structs live as long as their scheduler.
        let gr = unsafe { &*g };
        loop {
            let s = gr.status.load(Ordering::Acquire);
            if s == GStatus::Waiting as u32 | crate::g::SCAN {
                // A compactor holds the G for a moment (compact.rs); it never waits for
                // us, so this spin is bounded by one compaction.
                crate::sync::spin_loop();
            } else if s == GStatus::Waiting as u32 {
                if gr
                    .status
                    .compare_exchange(
                        s,
                        GStatus::Runnable as u32,
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    )
                    .is_ok()
                {
                    crate::trace::here(self, |w| w.go_unblock(gr.goid()));
                    break;
                }
            } else if s == GStatus::Running as u32 {
                if gr
                    .status
                    .compare_exchange(s, s | NOTIFIED, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    return;
                }
            } else {
                throw("goready: g is not waiting (unpark without a park?)");
            }
        }
        gr.set_wait_reason(None);
        self.put_runnable(g);
    }

    /// Queues a runnable `g`: on the current P's `runnext` if this thread is one of our
    /// Ms with a P, else on the global queue; then wakes an M if useful.
    fn put_runnable(&self, g: *mut G) {
        match current_m() {
            Some(m) if ptr::eq(m.sched, self) && !m.p.get().is_null() => {
                // SAFETY: the current M owns its P.
                let pr = unsafe { &*m.p.get() };
                // SAFETY: as above.
                if let Some(batch) = unsafe { pr.runq.push(g, true) } {
                    self.globrunqput_batch(&batch);
                }
            }
            _ => {
                self.globrunqput(g);
                fence(Ordering::SeqCst);
            }
        }
        self.wakep();
    }

    // ---- GOMAXPROCS ----

    /// Makes sure Ps `0..n` exist, then sets GOMAXPROCS to `n` (Go: `procresize`, without
    /// stopping the world: a P beyond the new count is retired by its M at its next
    /// schedule point, and idle ones at once). Returns the previous value.
    pub(crate) fn set_maxprocs(&self, n: usize) -> usize {
        let n = n.clamp(1, ALLP_LEN) as u32;
        let mut l = self.lock();
        let old = self.gomaxprocs.load(Ordering::SeqCst);
        for i in 0..n as usize {
            if self.allp[i].load(Ordering::Acquire).is_null() {
                let p = Box::into_raw(Box::new(P::new(i as u32)));
                // Dead until below put on the idle list.
                // SAFETY: just allocated.
                unsafe { (*p).set_status(PStatus::Dead) };
                self.allp[i].store(p, Ordering::Release);
            }
        }
        self.gomaxprocs.store(n, Ordering::SeqCst);
        // Retire idle Ps beyond n.
        let mut kept = Vec::with_capacity(l.pidle.len());
        for &p in &l.pidle {
            // SAFETY: Ps live as long as the scheduler.
            let pr = unsafe { &*p };
            if pr.id >= n {
                pr.set_status(PStatus::Dead);
                self.npidle.fetch_sub(1, Ordering::SeqCst);
            } else {
                kept.push(p);
            }
        }
        l.pidle = kept;
        // Revive Ps below n that are dead (new, or retired earlier).
        for i in 0..n as usize {
            let p = self.allp[i].load(Ordering::Acquire);
            // SAFETY: allocated above; Ps live as long as the scheduler.
            let pr = unsafe { &*p };
            if pr.status() == PStatus::Dead {
                pr.set_status(PStatus::Idle);
                l.pidle.push(p);
                self.npidle.fetch_add(1, Ordering::SeqCst);
            }
        }
        drop(l);
        crate::trace::here(self, |w| w.gomaxprocs(n));
        if n > old && self.runq_len() > 0 {
            self.wakep();
        }
        old as usize
    }

    // ---- deadlock detection (Go: checkdead) ----

    /// Called with the lock held when an M goes idle: if no M is running and the main
    /// goroutine has not finished, every goroutine is blocked forever.
    fn checkdead(&self, l: &Locked) {
        // While the world is stopped every M parks, and a plain thread holding it is no M
        // (Go's stopping M counts as running): not a deadlock.
        if self.is_shutdown() {
            return;
        }
        #[cfg(not(loom))]
        if crate::stw::gcwaiting() {
            return;
        }
        // A pending timer will wake someone (Go's checkdead looks at every P's timers):
        // normally its M sleeps in `idle_until_timer`, but an M parked by stop-the-world
        // comes here directly, and sysmon's timer net starts one when it is due.
        #[cfg(not(loom))]
        if crate::time::timers::sleep_until(self) != crate::time::timers::NONE {
            return;
        }
        let run = i64::from(l.mcount) - l.midle.len() as i64 - l.nmidlelocked;
        if run > 0 {
            return;
        }
        if run < 0 {
            throw("checkdead: inconsistent counts");
        }
        if !l.runq.is_empty() {
            return;
        }
        // Only goroutines count as wakers, as in Go (which does not count non-Go
        // threads): a plain thread about to send to a waiting goroutine does not keep
        // this from reporting a deadlock. Workaround for such programs: wait with a
        // timeout (a pending timer keeps an M out of `stopm`) or inside `syscall`.
        if cfg!(loom) {
            // Loom models ready goroutines from plain threads, which a real program
            // cannot count on (Go counts only goroutines); do not end the model.
            return;
        }
        let mut dump = String::new();
        for g in self.allg() {
            // SAFETY: G structs live as long as their scheduler.
            let gr = unsafe { &*g.0 };
            if gr.status() == GStatus::Waiting {
                let reason = gr
                    .wait_reason()
                    .map_or(GStatus::Waiting.as_str(), |r| r.as_str());
                dump.push_str(&format!("\ngoroutine {} [{}]:\n", gr.goid(), reason));
            }
        }
        fatal("all goroutines are asleep - deadlock!", &dump);
    }

    /// Ends the scheduler: every M exits at its next schedule point.
    pub(crate) fn begin_shutdown(&self) {
        self.shutdown.store(true, Ordering::Release);
        let mut l = self.lock();
        let idle: Vec<*const M> = l.midle.drain(..).collect();
        self.nmidle.store(0, Ordering::Relaxed);
        let all: Vec<*mut M> = l.allm.clone();
        drop(l);
        for m in idle {
            // SAFETY: Ms live as long as the scheduler.
            unsafe { (*m).note.notify() };
        }
        crate::time::timers::wake_sleeper(self);
        // Ms sleeping for their locked goroutine.
        for m in all {
            // SAFETY: as above.
            let mr = unsafe { &*m };
            if !mr.lockedg.get().is_null() {
                mr.note.notify();
            }
        }
    }
}

impl Drop for Sched {
    fn drop(&mut self) {
        if self.external_wakers.load(Ordering::Acquire) != 0 {
            throw("sched: freed while a waker outside it is still readying a goroutine");
        }
        let allg = core::mem::take(self.allg.get_mut().unwrap_or_else(|e| e.into_inner()));
        for g in allg {
            // SAFETY: no M runs any more (each held a strong count); the Gs are ours.
            unsafe {
                (*g.0).drop_entry();
                drop(Box::from_raw(g.0));
            }
        }
        for p in self.allp.iter() {
            let p = p.load(Ordering::Acquire);
            if !p.is_null() {
                // SAFETY: as above.
                drop(unsafe { Box::from_raw(p) });
            }
        }
        let allm =
            core::mem::take(&mut self.lock.get_mut().unwrap_or_else(|e| e.into_inner()).allm);
        for m in allm {
            // SAFETY: as above; each M's thread has finished with its M.
            drop(unsafe { Box::from_raw(m) });
        }
    }
}

/// A `*mut P` that can move to a new M's thread.
struct PPtr(*mut P);
// SAFETY: the P is handed to exactly one new M.
unsafe impl Send for PPtr {}

// ---- the schedule loop (runs on g0: the M's own thread stack) ----

/// The M's scheduler loop (Go: `mstart` → `schedule`). Returns at shutdown.
pub(crate) fn mstart(m: &M) {
    set_current_m(m);
    let sched = m.sched();
    loop {
        if !m.lockedg.get().is_null() {
            if !stoplockedm(m) {
                break;
            }
            let g = m.lockedg.get();
            execute(m, g, false);
            continue;
        }
        let Some((g, inherit)) = find_runnable(m) else {
            break;
        };
        if m.is_spinning() {
            sched.resetspinning(m);
        }
        // SAFETY: G structs live as long as their scheduler.
        let lm = unsafe { (*g).locked_m.load(Ordering::Relaxed) };
        if !lm.is_null() && !ptr::eq(lm, m) {
            // Hand our P to the M this goroutine is locked to, and wait (Go: startlockedm).
            startlockedm(m, g);
            continue;
        }
        execute(m, g, inherit);
    }
    // Shutdown: give the P back and leave.
    if !m.p.get().is_null() {
        let p = sched.releasep(m);
        // SAFETY: Ps live as long as the scheduler; we still are its only user.
        crate::trace::on_p(unsafe { &*p }, |w| w.flush());
        // An M stopped in place by a preemption gets the P, so its goroutine can reach
        // its M's scheduler loop and end too (M0's ends `run_with`).
        let handed = crate::preempt::release_at_shutdown(sched, p);
        let mut l = sched.lock();
        if !handed {
            // SAFETY: Ps live as long as the scheduler.
            unsafe { (*p).set_status(PStatus::Dead) };
        }
        l.mcount -= 1;
    } else {
        sched.lock().mcount -= 1;
    }
    set_current_m(ptr::null());
}

/// Runs `g` on `m` until it switches back to g0, then carries out what it asked for
/// (Go: `execute` + the `mcall` targets `park_m`, `gosched_m`, `goexit0`).
fn execute(m: &M, g: *mut G, inherit: bool) {
    let sched = m.sched();
    // SAFETY: the M owns its P.
    let p = unsafe { &*m.p.get() };
    if !inherit {
        p.schedtick.store(
            p.schedtick.load(Ordering::Relaxed).wrapping_add(1),
            Ordering::Relaxed,
        );
    }
    // SAFETY: G structs live as long as their scheduler; we own this runnable G.
    let gr = unsafe { &*g };
    gr.cas_status(GStatus::Runnable, GStatus::Running);
    crate::trace::on_p(p, |w| w.go_start(gr.goid()));
    // SAFETY: we own the running G's stack slot and context.
    unsafe {
        let slot = &mut *gr.stack.get();
        if slot.is_none() {
            // First run: bind a stack from this P's cache.
            let stack = sched.stackget(p);
            *gr.ctx.get() = gort_stack::Context::new(&stack, g_entry, g as usize);
            *slot = Some(stack);
        }
    }
    if cfg!(debug_assertions) {
        gr.check_invariants();
    }
    m.curg.set(g);
    // For dumps and the dashboard; not modelled under loom (no reader there).
    #[cfg(not(loom))]
    p.cur_goid.store(gr.goid(), Ordering::Relaxed);
    // SAFETY: the running G's stack is ours while it runs.
    let info = unsafe {
        (*gr.stack.get())
            .as_ref()
            .map(|s| StackInfo::new(s, gr.goid(), "goroutine"))
    };
    gort_stack::set_current(info);
    // SAFETY: `g0` is this thread's save slot; `ctx` holds the G's saved (or initial)
    // context, valid to resume exactly once, and nobody else touches it while Running.
    unsafe { gort_stack::switch(m.g0.get(), gr.ctx.get()) };
    gort_stack::set_current(None);
    m.curg.set(ptr::null_mut());
    // SAFETY: the M owns the P it holds now (the G may have changed it in a syscall).
    #[cfg(not(loom))]
    if let Some(p) = unsafe { m.p.get().as_ref() } {
        p.cur_goid.store(0, Ordering::Relaxed);
    }
    match m.action.replace(Action::None) {
        Action::Park => {
            if let Some(f) = m.parkfn.take() {
                // SAFETY: `f` points at the unlock closure on the parked G's stack, which
                // stays intact until the G is resumed, which cannot happen before it is
                // made Waiting below (or found notified).
                unsafe { (*f)() };
            }
            park_commit(m, g);
        }
        Action::Yield => {
            // SAFETY: the M owns its P.
            crate::trace::on_p(unsafe { &*m.p.get() }, |w| {
                w.go_stop(gr.goid(), gort_trace::StopReason::Yield);
            });
            gr.cas_status(GStatus::Running, GStatus::Runnable);
            if m.lockedg.get() == g {
                // A locked goroutine keeps its M: run it again directly.
                m.lockedg_ready.set(true);
            } else {
                sched.globrunqput(g);
            }
        }
        Action::Exit => goexit0(m, g),
        Action::ExitSyscall => crate::syscall::exitsyscall0(m, g),
        Action::None => throw("execute: goroutine switched to g0 without an action"),
    }
}

/// After a parking G's unlock ran: make it Waiting, or runnable again at once if an
/// unpark already arrived.
fn park_commit(m: &M, g: *mut G) {
    // SAFETY: G structs live as long as their scheduler.
    let gr = unsafe { &*g };
    // Before the G is published as Waiting: a waker's unblock follows this block.
    // SAFETY: the M owns its P.
    crate::trace::on_p(unsafe { &*m.p.get() }, |w| {
        let reason = gr.wait_reason().unwrap_or(gort_trace::BlockReason::Other);
        w.go_block(gr.goid(), reason);
    });
    let running = GStatus::Running as u32;
    if gr
        .status
        .compare_exchange(
            running,
            GStatus::Waiting as u32,
            Ordering::AcqRel,
            Ordering::Acquire,
        )
        .is_ok()
    {
        return;
    }
    // Notified early: the unpark is ours to carry out.
    if gr
        .status
        .compare_exchange(
            running | NOTIFIED,
            GStatus::Runnable as u32,
            Ordering::AcqRel,
            Ordering::Acquire,
        )
        .is_err()
    {
        throw("park: g in a bad status");
    }
    // SAFETY: the M owns its P.
    crate::trace::on_p(unsafe { &*m.p.get() }, |w| w.go_unblock(gr.goid()));
    gr.set_wait_reason(None);
    if m.lockedg.get() == g {
        m.lockedg_ready.set(true);
        return;
    }
    // SAFETY: the M owns its P.
    let p = unsafe { &*m.p.get() };
    // SAFETY: as above.
    if let Some(batch) = unsafe { p.runq.push(g, true) } {
        m.sched().globrunqput_batch(&batch);
    }
}

/// Frees an exited G (Go: `goexit0`).
fn goexit0(m: &M, g: *mut G) {
    let sched = m.sched();
    // SAFETY: G structs live as long as their scheduler; the exited G is ours.
    let gr = unsafe { &*g };
    // SAFETY: the M owns its P.
    crate::trace::on_p(unsafe { &*m.p.get() }, |w| w.go_end(gr.goid()));
    gr.cas_status(GStatus::Running, GStatus::Dead);
    gr.locked_m.store(ptr::null_mut(), Ordering::Relaxed);
    if m.lockedg.get() == g {
        m.lockedg.set(ptr::null_mut());
    }
    gr.set_wait_reason(None);
    // SAFETY: we own the dead G.
    unsafe { *gr.name.get() = None };
    // Release: `run_with` reading 0 (Acquire) happens after every exit (`Sched::ready`).
    sched.ngoroutine.fetch_sub(1, Ordering::Release);
    // SAFETY: the M owns its P.
    let p = unsafe { &*m.p.get() };
    // SAFETY: the dead G's stack is ours; nothing runs on it any more.
    if let Some(stack) = unsafe { (*gr.stack.get()).take() } {
        sched.stackput(p, stack);
    }
    sched.gfput(p, g);
    if sched.main_g.load(Ordering::Relaxed) == g {
        sched.begin_shutdown();
    }
}

/// Finds a goroutine to run, in Go's order; parks the M when there is none. Returns
/// `None` at shutdown. The flag is true if the G inherits the time slice (runnext).
pub(crate) fn find_runnable(m: &M) -> Option<(*mut G, bool)> {
    let sched = m.sched();
    'top: loop {
        if sched.is_shutdown() {
            return None;
        }
        if crate::stw::gcwaiting() {
            // The world is stopping: park the P and this M (Go: `gcstopm`).
            if !crate::stw::gcstopm(m) {
                return None;
            }
            continue;
        }
        if m.p.get().is_null() {
            // No P (retired by set_maxprocs): wait for one.
            if !stopm(m) {
                return None;
            }
            continue;
        }
        // SAFETY: the M owns its P.
        let p = unsafe { &*m.p.get() };
        if p.id >= sched.gomaxprocs() {
            retire_p(m);
            continue;
        }
        if cfg!(debug_assertions) {
            p.check_invariants();
        }
        // 0. Due timers of this P (Go: `checkTimers`); what they ready lands in runnext.
        crate::time::timers::run_timers(sched, p);
        // 1. Fairness: every 61st tick, one G from the global queue first.
        if p.schedtick.load(Ordering::Relaxed) % GLOBAL_RUNQ_TICK == 0 && sched.runq_len() > 0 {
            let mut l = sched.lock();
            if let Some(g) = sched.globrunqget_locked(&mut l, p, 1) {
                return Some((g, false));
            }
        }
        // 2. Local run queue. Goroutines readied through runnext share one time slice;
        // Go ends a slice after 10 ms through sysmon, which gort does not have yet, so
        // a pair handing the slice back and forth would starve the ring. After
        // RUNNEXT_STREAK_MAX inherited runs in a row, take the ring's head instead.
        let streak = p.runnext_streak.get();
        let ring_first = if streak >= RUNNEXT_STREAK_MAX {
            // SAFETY: the M owns its P.
            unsafe { p.runq.pop_ring() }.map(|g| (g, false))
        } else {
            None
        };
        // SAFETY: the M owns its P.
        if let Some((g, inherit)) = ring_first.or_else(|| unsafe { p.runq.pop() }) {
            p.runnext_streak.set(if inherit { streak + 1 } else { 0 });
            return Some((g, inherit));
        }
        // 3. Global run queue.
        if sched.runq_len() > 0 {
            let mut l = sched.lock();
            if let Some(g) = sched.globrunqget_locked(&mut l, p, 0) {
                return Some((g, false));
            }
        }
        // 3b. The network, without blocking, if goroutines wait on it (Go: findRunnable's
        // `netpoll(0)`); what it readies lands in this P's queue.
        if crate::netpoll::find_runnable_poll(m) {
            continue 'top;
        }
        // 4. Steal, if few enough Ms are spinning (at most half the busy Ps).
        let procs = sched.gomaxprocs();
        if m.is_spinning() || 2 * sched.nmspinning() < procs.saturating_sub(sched.npidle()) {
            if !m.is_spinning() {
                m.spinning.store(true, Ordering::Relaxed);
                sched.nmspinning.fetch_add(1, Ordering::SeqCst);
            }
            if let Some(g) = steal_work(m, p) {
                return Some((g, false));
            }
        }
        // 5. Nothing: run other Ps' due timers (adopting those of idle, syscall-bound
        // and retired Ps), then give up the P, re-check, and sleep.
        if crate::time::timers::run_all_timers(sched) > 0 {
            continue 'top;
        }
        // 5b. Nothing to run: compact long-parked goroutines' stacks (compact.rs).
        if crate::compact::idle_pass(sched) {
            continue 'top;
        }
        let mut l = sched.lock();
        if let Some(g) = sched.globrunqget_locked(&mut l, p, 0) {
            return Some((g, false));
        }
        let pp = sched.releasep(m);
        sched.pidleput_locked(&mut l, pp);
        drop(l);
        if m.is_spinning() {
            m.spinning.store(false, Ordering::Relaxed);
            sched.nmspinning.fetch_sub(1, Ordering::SeqCst);
            // Decrement, then re-check every source: a submitter that saw us spinning
            // did not wake anyone (Go: the "delicate dance").
            fence(Ordering::SeqCst);
            for i in 0..sched.gomaxprocs() as usize {
                if let Some(vp) = sched.p(i)
                    && !vp.runq.is_empty()
                {
                    let mut l = sched.lock();
                    if let Some(np) = sched.pidleget_locked(&mut l) {
                        drop(l);
                        sched.acquirep(m, np);
                        m.spinning.store(true, Ordering::Relaxed);
                        sched.nmspinning.fetch_add(1, Ordering::SeqCst);
                        continue 'top;
                    }
                    break;
                }
            }
            if sched.runq_len() > 0 {
                let mut l = sched.lock();
                if let Some(np) = sched.pidleget_locked(&mut l) {
                    drop(l);
                    sched.acquirep(m, np);
                    continue 'top;
                }
            }
        }
        // The M sleeping for timers or the network (epoll_wait or futex with timeout)
        // comes back with a P.
        if crate::time::timers::idle_until_timer(m) {
            continue 'top;
        }
        if !stopm(m) {
            return None;
        }
    }
}

/// Moves a P beyond GOMAXPROCS off this M: its queue to the global queue, the P to
/// Dead. The M then waits for a P.
fn retire_p(m: &M) {
    let sched = m.sched();
    if m.is_spinning() {
        // An M without a P does not spin; the work drained below is announced to
        // the remaining spinners (or a new one) by the `wakep` at the end.
        m.spinning.store(false, Ordering::Relaxed);
        sched.nmspinning.fetch_sub(1, Ordering::SeqCst);
    }
    let p = sched.releasep(m);
    // SAFETY: we owned the P until just now; nobody else takes a Dead P.
    let pr = unsafe { &*p };
    crate::trace::on_p(pr, |w| w.flush());
    // SAFETY: we still are the queue's only owner.
    let gs = unsafe { pr.runq.drain() };
    let mut l = sched.lock();
    for g in gs {
        sched.globrunqput_locked(&mut l, GPtr(g));
    }
    pr.set_status(PStatus::Dead);
    pr.m_id.store(u32::MAX, Ordering::Relaxed);
    drop(l);
    sched.wakep();
}

/// Four passes over the other Ps in random order, stealing half of a victim's queue;
/// `runnext` only on the last pass (Go: `stealWork`).
fn steal_work(m: &M, p: &P) -> Option<*mut G> {
    let sched = m.sched();
    let n = sched.gomaxprocs() as usize;
    if n <= 1 {
        return None;
    }
    for pass in 0..STEAL_TRIES {
        let last = pass == STEAL_TRIES - 1;
        let start = m.fastrand() as usize % n;
        let stride = coprime_stride(m.fastrand() as usize, n);
        for k in 0..n {
            if sched.is_shutdown() {
                return None;
            }
            let i = (start + k * stride) % n;
            if i == p.id as usize {
                continue;
            }
            let Some(victim) = sched.p(i) else { continue };
            let st = victim.status();
            if st != PStatus::Running {
                continue;
            }
            // SAFETY: the M owns `p`, and `victim` is another P.
            if let Some(g) = unsafe { p.runq.steal_from(&victim.runq, last, true) } {
                crate::trace::on_p(p, |w| w.proc_steal(victim.id, p.runq.len() + 1));
                #[cfg(not(loom))]
                p.steals
                    .store(p.steals.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
                return Some(g);
            }
        }
    }
    None
}

/// A stride in `1..n` coprime with `n`, so `start + k*stride` visits every P once.
fn coprime_stride(r: usize, n: usize) -> usize {
    fn gcd(a: usize, b: usize) -> usize {
        if b == 0 { a } else { gcd(b, a % b) }
    }
    let mut s = r % n;
    loop {
        if s == 0 {
            s = 1;
        }
        if gcd(s, n) == 1 {
            return s;
        }
        s = (s + 1) % n;
    }
}

/// Parks an M without a P on the idle list until `startm` hands it one (Go: `stopm`).
/// Returns false at shutdown.
pub(crate) fn stopm(m: &M) -> bool {
    let sched = m.sched();
    debug_assert!(m.p.get().is_null(), "stopm: M holds a P");
    debug_assert!(
        !m.is_spinning(),
        "stopm: a spinning M (nmspinning would leak)"
    );
    {
        let mut l = sched.lock();
        if sched.is_shutdown() {
            return false;
        }
        sched.mput_locked(&mut l, m);
        sched.checkdead(&l);
    }
    loop {
        m.note.wait();
        let p = m.nextp.swap(ptr::null_mut(), Ordering::Acquire);
        if !p.is_null() {
            sched.acquirep(m, p);
            return true;
        }
        if sched.is_shutdown() {
            return false;
        }
    }
}

/// Another M found `g`, which is locked to M `g.locked_m`: give that M our P and wake it,
/// then sleep (Go: `startlockedm`).
fn startlockedm(m: &M, g: *mut G) {
    let sched = m.sched();
    // SAFETY: G structs live as long as their scheduler.
    let lm = unsafe { (*g).locked_m.load(Ordering::Relaxed) };
    // SAFETY: Ms live as long as the scheduler.
    let lmr = unsafe { &*lm };
    let p = sched.releasep(m);
    {
        let mut l = sched.lock();
        l.nmidlelocked -= 1;
    }
    lmr.nextp.store(p, Ordering::Release);
    lmr.note.notify();
    // If that M is stopped in place by a preemption, its handler waits on a futex.
    crate::preempt::wake(lmr);
    // The locked M runs `g` from its `lockedg` slot; `g` stays Runnable until then.
    let _ = stopm(m);
}

/// A locked M whose goroutine is not running: hand the P off and sleep until the
/// goroutine is runnable again and someone hands us a P (Go: `stoplockedm`). Returns
/// false at shutdown.
fn stoplockedm(m: &M) -> bool {
    let sched = m.sched();
    if m.lockedg_ready.replace(false) && !m.p.get().is_null() {
        // It yielded or was unparked while parking: it is on no queue; run it.
        return true;
    }
    if !m.p.get().is_null() {
        let p = sched.releasep(m);
        handoffp(sched, p);
    }
    {
        // Whoever finds our goroutine undoes this in `startlockedm`, possibly first.
        let mut l = sched.lock();
        l.nmidlelocked += 1;
        sched.checkdead(&l);
    }
    loop {
        m.note.wait();
        let p = m.nextp.swap(ptr::null_mut(), Ordering::Acquire);
        if !p.is_null() {
            sched.acquirep(m, p);
            return true;
        }
        if sched.is_shutdown() {
            return false;
        }
    }
}

/// Gives away a P whose M is about to block (Go: `handoffp`).
pub(crate) fn handoffp(sched: &Sched, p: *mut P) {
    // SAFETY: Ps live as long as the scheduler.
    let pr = unsafe { &*p };
    #[cfg(not(loom))]
    pr.handoffs.fetch_add(1, Ordering::Relaxed);
    if !pr.runq.is_empty() || sched.runq_len() > 0 {
        sched.startm(Some(p), false);
        return;
    }
    if sched.nmspinning() + sched.npidle() == 0
        && sched
            .nmspinning
            .compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    {
        sched.startm(Some(p), true);
        return;
    }
    let mut l = sched.lock();
    sched.pidleput_locked(&mut l, p);
}

// ---- on the goroutine's own stack ----

/// Rounds of dropping goroutine-locals at goroutine exit before the values that
/// destructors keep re-creating are leaked (POSIX: `PTHREAD_DESTRUCTOR_ITERATIONS`, 4).
const GLS_DROP_ROUNDS: usize = 4;

/// Every goroutine starts here on its own stack (Go: `goexit` frame + the fn).
///
/// # Safety
/// Called only by `switch` into a context made by `newproc`, with `arg` = the G.
unsafe extern "C" fn g_entry(arg: usize) -> ! {
    let g = arg as *mut G;
    // SAFETY: the running G owns its entry.
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| unsafe { (*g).run_entry() }));
    if let Err(payload) = r {
        crate::panicking::goroutine_panicked(g, &*payload);
    }
    // Drop goroutine-locals here, on the goroutine's stack, where they may block. A
    // destructor may touch a goroutine-local again and re-populate the map, which must
    // not reach the next goroutine to reuse this G: drop until empty, for a bounded
    // number of rounds (as POSIX's PTHREAD_DESTRUCTOR_ITERATIONS), then leak the rest.
    for round in 0.. {
        // SAFETY: only the running G touches its own map; no borrow of it is live here.
        let locals = unsafe { (*(*g).gls.get()).take() };
        if locals.is_empty() {
            break;
        }
        if round == GLS_DROP_ROUNDS {
            eprintln!(
                "runtime: goroutine-local destructors keep re-creating values; leaking {}",
                locals.len()
            );
            core::mem::forget(locals);
            break;
        }
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(locals)));
        if let Err(payload) = r {
            crate::panicking::goroutine_panicked(g, &*payload);
        }
    }
    let m = current_m().unwrap_or_else(|| throw("goexit: no M"));
    m.action.set(Action::Exit);
    // SAFETY: switching from this G (saving into its ctx, never resumed) to g0.
    unsafe { gort_stack::switch((*g).ctx.get(), m.g0.get()) };
    throw("goexit: dead goroutine resumed")
}

/// Switches from the running goroutine `g` to its M's g0, asking for `action`; returns
/// when `g` runs again (perhaps on another M).
///
/// # Safety
/// `g` is the goroutine running on this thread's M.
pub(crate) unsafe fn mcall(g: *mut G, action: Action) {
    let m = current_m().unwrap_or_else(|| throw("mcall: no M"));
    m.action.set(action);
    // SAFETY: `g` is running here; its ctx is its own save slot and g0's context was
    // saved when g0 switched to `g`.
    unsafe { gort_stack::switch((*g).ctx.get(), m.g0.get()) };
}

/// Parks the running goroutine `g` (Go: `gopark`).
///
/// # Safety
/// `g` is the goroutine running on this thread's M.
pub(crate) unsafe fn gopark(g: *mut G, reason: crate::park::WaitReason, unlock: &mut dyn FnMut()) {
    let m = current_m().unwrap_or_else(|| throw("gopark: no M"));
    // SAFETY: G structs live as long as their scheduler.
    unsafe { (*g).set_wait_reason(Some(reason)) };
    // SAFETY: erase the closure's lifetime: it lives on this goroutine's stack, which
    // stays intact until the goroutine resumes, and g0 calls it before that (`execute`).
    let f: *mut (dyn FnMut() + 'static) =
        unsafe { core::mem::transmute(unlock as *mut dyn FnMut()) };
    m.parkfn.set(Some(f));
    // SAFETY: forwarded from the caller.
    unsafe { mcall(g, Action::Park) };
}

// ---- entry points used by the public API ----

/// The scheduler of the current goroutine/M, if any.
pub(crate) fn current_sched() -> Option<&'static Sched> {
    current_m().map(|m| {
        // SAFETY: an M's scheduler outlives the M's thread's use of it.
        unsafe { &*m.sched }
    })
}

/// Runs `f` as the main goroutine of a new scheduler on this thread (which becomes M0),
/// and returns its result when it finishes (Go: `runtime.main`). Other goroutines still
/// alive then are abandoned, as a Go program's are when `main` returns.
pub fn run_with<F, R>(config: Config, f: F) -> Result<R, Error>
where
    F: FnOnce() -> R + Send,
    R: Send,
{
    if current_m().is_some() {
        return Err(Error::NestedRun);
    }
    crate::panicking::install_hook();
    // A goroutine overflowing into its guard page is reported as Go does
    // ("goroutine N overflowed its stack ... fatal error: stack overflow", exit 2).
    gort_stack::install_overflow_handler();
    crate::preempt::install();
    let maxprocs = config.maxprocs;
    let trace = (config.schedtrace_ms > 0).then_some((config.schedtrace_ms, config.scheddetail));
    let sched = Arc::new(Sched::new(config));
    *sched.me.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::clone(&sched));
    let stw_registration = crate::stw::register(&sched);
    #[cfg(not(loom))]
    let debug_registration = crate::debug::register(&sched);
    sched.set_maxprocs(maxprocs);
    let m0 = Box::into_raw(Box::new(M::new(0, &sched)));
    // SAFETY: just allocated; freed when the scheduler drops.
    let m0r = unsafe { &*m0 };
    {
        let mut l = sched.lock();
        l.allm.push(m0);
        l.mcount = 1;
        let p = sched
            .pidleget_locked(&mut l)
            .unwrap_or_else(|| throw("run: no P"));
        drop(l);
        sched.acquirep(m0r, p);
    }
    set_current_m(m0r);
    let mut result: Option<R> = None;
    let slot = SendPtr(&mut result as *mut Option<R>);
    let main = move || {
        let slot = slot;
        let r = f();
        // SAFETY: `result` lives in `run_with`'s frame, which returns only after the
        // main goroutine has exited (shutdown begins in its `goexit0`).
        unsafe { *slot.0 = Some(r) };
    };
    let opts = SpawnOpts {
        main: true,
        ..SpawnOpts::default()
    };
    // SAFETY: `main` borrows only what outlives this call (see above).
    let spawned = unsafe { sched.newproc(m0r, main, opts) };
    match spawned {
        Ok(_) => {}
        Err(e) => {
            set_current_m(ptr::null());
            *sched.me.lock().unwrap_or_else(|e| e.into_inner()) = None;
            return Err(e);
        }
    }
    let monitor =
        trace.map(|(ms, detail)| crate::schedtrace::start(Arc::clone(&sched), ms, detail));
    #[cfg(not(loom))]
    let sysmon = crate::sysmon::start(Arc::clone(&sched));
    mstart(m0r);
    #[cfg(not(loom))]
    sysmon.stop();
    if let Some(h) = monitor {
        h.stop();
    }
    crate::trace::flush_idle_ps(&sched);
    *sched.me.lock().unwrap_or_else(|e| e.into_inner()) = None;
    drop(stw_registration);
    #[cfg(not(loom))]
    drop(debug_registration);
    // SAFETY: this thread owns M0's `sched_arc`; M0's loop has ended. Take it out before
    // dropping (the drop may free M0).
    let m0_arc = unsafe { (*m0r.sched_arc.get()).take() };
    drop(m0_arc);
    if sched.ngoroutine.load(Ordering::Acquire) > 0 {
        // Abandoned goroutines may still be unparked through stale handles; keep their
        // scheduler (and its G structs) alive for the rest of the process.
        core::mem::forget(Arc::clone(&sched));
    } else {
        // Every goroutine has exited; a waker outside the scheduler that readied one of
        // them may still be in `ready` (see `Sched::ready`). None can start any more.
        while sched.external_wakers.load(Ordering::Acquire) != 0 {
            crate::sync::thread::yield_now();
        }
    }
    drop(sched);
    result
        .ok_or(Error::NoRuntime)
        .or_else(|_| throw("run: main goroutine ended without a result"))
}

/// A raw pointer that may cross into the main goroutine.
struct SendPtr<T>(*mut T);
// SAFETY: used only for the result slot, written once by the main goroutine and read by
// `run_with` after the hand-off through the scheduler's Release/Acquire shutdown flag.
unsafe impl<T: Send> Send for SendPtr<T> {}

/// Current GOMAXPROCS, or 0 outside a scheduler.
pub(crate) fn gomaxprocs() -> usize {
    current_sched().map_or(0, |s| s.gomaxprocs() as usize)
}

#[cfg(all(test, not(loom)))]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        reason = "test code"
    )]

    use super::*;

    /// Regression: `startm` passed its `is_shutdown` check, then `run_with` ended the
    /// scheduler (cleared `me`) before `newm`: the P goes back quietly, no fatal error.
    #[test]
    fn startm_after_the_scheduler_ended_gives_the_p_back() {
        // `me` is `None`, as after `run_with` has ended; `shutdown` is not yet seen.
        let sched = Sched::new(Config::default());
        sched.set_maxprocs(1);
        assert_eq!(sched.npidle(), 1);
        sched.startm(None, false);
        assert_eq!(sched.npidle(), 1);
        assert_eq!(sched.lock().mcount, 0);
        sched.nmspinning.fetch_add(1, Ordering::SeqCst);
        sched.startm(None, true);
        assert_eq!(sched.npidle(), 1);
        assert_eq!(sched.nmspinning(), 0);
        assert_eq!(sched.lock().mcount, 0);
    }
}
