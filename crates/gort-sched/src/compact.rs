//! Compaction of long-parked goroutines' stacks: an idle P copies a parked goroutine's
//! live stack into a small buffer and releases its pages (gort-stack's
//! `Stack::compact`); the stack comes back when a waker dequeues the goroutine's waiter.
//! Opt-in ([`Config::compact_parked_after`](crate::Config)). See docs/design/gort-sched.md
//! ("Compaction of parked stacks").
//!
//! Protocol, for one goroutine G parked at a *site* (a channel's send or receive):
//!
//! 1. Before parking, G registers the site ([`register`]): the site's address, its
//!    waiter, and a compaction function; and stamps the compaction epoch. After `park`
//!    returns it unregisters ([`unregister`]).
//! 2. A compactor (an idle P in `find_runnable`) looking at G claims it: CAS
//!    `Waiting → Waiting|SCAN` ([`try_claim`]). While SCAN is set `ready` spins, so G
//!    cannot run, so its parked frame (and the site it borrows) stays alive.
//! 3. The site's compaction function `try_lock`s the site (never blocking; on failure the
//!    claim is dropped at once, so a waker spinning on SCAN never waits on a lock), and,
//!    if G's waiter is still queued, swaps in an off-stack proxy and calls
//!    [`compact_stack`]; then unlocks. The compactor clears SCAN ([`release_claim`]).
//! 4. A waker that dequeues the proxy (under the site's lock) faults it in:
//!    [`restore_owner`] copies the stack back before the real waiter is touched. So the
//!    site's lock, held by both, orders every compaction before the restore, and a G is
//!    readied only after its waiter was dequeued, hence restored.

use core::cell::UnsafeCell;
use core::ops::Range;

use crate::chan::waiter::Waiter;
use crate::g::{G, GPtr, GStatus, SCAN};
use crate::sched::Sched;
use crate::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use crate::sync::static_atomic;

/// Whether any scheduler of the process was created with compaction on, so that
/// [`register`] costs one load of a static on the blocking path of programs that never
/// turn it on.
static ANY_ENABLED: static_atomic::AtomicBool = static_atomic::AtomicBool::new(false);

/// Gs looked at per pass (one `allg` lock, then at most this many compactions of about
/// 3 µs each, so an idle P re-checks its run queues at least every ~100 µs).
const PASS_VISIT: usize = 32;

/// How a compaction attempt at a site ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Attempt {
    /// The stack is compacted; the waiter is a proxy in the queue.
    Compacted,
    /// The site's lock was held: try again later.
    Busy,
    /// The waiter is no longer queued (a waker took it): nothing to do.
    Gone,
    /// `Stack::compact` refused (too deep, on a grown segment, out of memory): the G is
    /// not tried again until it parks again.
    Refused,
}

/// A site's compaction function: `(site, items, out, tries)` with `items` the
/// `(waiter, g)` pairs of Gs parked there; writes one [`Attempt`] per item into `out`.
///
/// Safety contract: the caller holds SCAN on every `g`, each parked at `site` with its
/// registered `waiter`; `out` is as long as `items`; the function `try_lock`s the site
/// (at most `tries` times, never blocking; on failure every item is `Busy`) and, for each
/// item whose `waiter` is queued, swaps in a proxy whose fault-in is [`restore_owner`] of
/// its `g` and calls [`compact_stack`], all under the site's lock.
pub(crate) type TryCompactFn =
    unsafe fn(*const (), &[(*const Waiter, *const G)], &mut [Attempt], u32);

/// `try_lock` attempts on a site's lock (the holder is usually another compactor or a
/// waker, for well under a microsecond); once a pass met a busy site, 1.
const LOCK_TRIES: u32 = 4;

/// Where a G is parked: set by the G itself before parking.
#[derive(Clone, Copy)]
struct SiteRef {
    /// The site (a channel's `Inner<T>`), borrowed by the parked frame.
    site: *const (),
    /// The G's waiter on its own stack.
    waiter: *const Waiter,
    /// The site's compaction function.
    try_compact: TryCompactFn,
}

/// A G's compaction registration (a field of [`G`]).
pub(crate) struct ParkSite {
    /// 0: not compactable (not parked at a registered site, or restored); [`REFUSED`]:
    /// refused once in this park; [`COMPACTED`]: compacted now; else the compaction
    /// epoch at registration + 1. Atomic; written by the
    /// G itself while running (register/unregister) and by a compactor holding SCAN
    /// (refusal); read racily by compactors as a filter and again under SCAN.
    stamp: AtomicU64,
    /// The site. Written by the G itself while running, before parking; read by a
    /// compactor holding SCAN (the G's `Running → Waiting` CAS publishes it).
    site: UnsafeCell<Option<SiteRef>>,
    /// The G's index in `Sched::allg`. Written once, before the G is published there.
    index: AtomicUsize,
}

/// `ParkSite::stamp` of a G whose compaction was refused in its current park.
const REFUSED: u64 = u64::MAX;

/// `ParkSite::stamp` of a G whose stack is compacted (set under its claim; the fault-in
/// sets 0: its waiter is dequeued, so it is no longer compactable in this park). Passes
/// skip such Gs without claiming them, and never read a compacted G's waiter.
const COMPACTED: u64 = u64::MAX - 1;

impl ParkSite {
    /// Not registered.
    pub(crate) fn new() -> ParkSite {
        ParkSite {
            stamp: AtomicU64::new(0),
            site: UnsafeCell::new(None),
            index: AtomicUsize::new(0),
        }
    }

    /// Records the G's index in `allg` (called as it is pushed there).
    pub(crate) fn set_index(&self, i: usize) {
        self.index.store(i, Ordering::Relaxed);
    }
}

/// Per-scheduler compaction state (a field of `Sched`).
pub(crate) struct Compactor {
    /// Compact Gs parked at least this long (nanoseconds); 0 = off. Immutable.
    after_ns: u64,
    /// The epoch, advanced by sysmon every `after_ns`. A G stamped in epoch `e` is
    /// eligible from epoch `e + 2` on. Atomic.
    epoch: AtomicU64,
    /// sysmon's time of the last epoch bump. Written only by sysmon.
    last_bump: AtomicU64,
    /// Next `allg` index a pass looks at. Written by the pass holding `active`.
    cursor: AtomicUsize,
    /// A pass is running (one at a time: passes over one channel would only take turns
    /// at its lock, and a pass that finds a lock busy makes the next sweep start over
    /// there). Taken with a CAS by `idle_pass`; other idle Ps go to sleep instead.
    active: AtomicBool,
    /// A cycle over `allg` is worth running. Set by sysmon's epoch bump when something
    /// was registered or seen young since; cleared by a cycle that found nothing to do.
    wanted: AtomicBool,
    /// A G registered since the last epoch bump. Set by `register` (when clear).
    fresh: AtomicBool,
    /// The current sweep found a site busy: sweep again (from `retry_from`) at once.
    cycle_busy: AtomicBool,
    /// The lowest `allg` index the current sweep left to a later one (a busy site or a
    /// G too young); `usize::MAX` if none. The next sweep starts there, not at 0, so the
    /// Gs compacted before it (typically the oldest, first in `allg`) are not read again.
    retry_from: AtomicUsize,
    /// The lowest `allg` index of a G registered since the current sweep started
    /// (`G::park_site`'s index); `usize::MAX` if none.
    fresh_min: AtomicUsize,
    /// The epoch in which the current sweep started (or the last one stopped).
    sweep_epoch: AtomicU64,
    /// The last sweep stopped with work left for a later epoch (young Gs).
    young_seen: AtomicBool,
    /// Stacks compacted so far. Statistics.
    compacted: AtomicU64,
    /// Stacks restored so far. Statistics.
    restored: AtomicU64,
}

impl Compactor {
    /// The state for a scheduler compacting Gs parked longer than `after` (`None`: off).
    pub(crate) fn new(after: Option<core::time::Duration>) -> Compactor {
        let after_ns = after.map_or(0, |d| {
            u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1)
        });
        if after_ns != 0 {
            ANY_ENABLED.store(true, static_atomic::Ordering::Relaxed);
        }
        Compactor {
            after_ns,
            epoch: AtomicU64::new(1),
            last_bump: AtomicU64::new(0),
            cursor: AtomicUsize::new(0),
            active: AtomicBool::new(false),
            wanted: AtomicBool::new(false),
            fresh: AtomicBool::new(false),
            cycle_busy: AtomicBool::new(false),
            retry_from: AtomicUsize::new(usize::MAX),
            fresh_min: AtomicUsize::new(usize::MAX),
            sweep_epoch: AtomicU64::new(0),
            young_seen: AtomicBool::new(false),
            compacted: AtomicU64::new(0),
            restored: AtomicU64::new(0),
        }
    }

    /// Whether compaction is on.
    #[inline]
    pub(crate) fn enabled(&self) -> bool {
        self.after_ns != 0
    }

    /// The counters so far.
    fn stats(&self) -> CompactStats {
        CompactStats {
            compacted: self.compacted.load(Ordering::Relaxed),
            restored: self.restored.load(Ordering::Relaxed),
        }
    }
}

/// Counters of parked-stack compaction in one scheduler
/// ([`Config::compact_parked_after`](crate::Config)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CompactStats {
    /// Stacks compacted so far.
    pub compacted: u64,
    /// Stacks restored so far; `compacted - restored` are compacted now.
    pub restored: u64,
}

/// The current scheduler's compaction counters (zeros outside a scheduler or with
/// compaction off).
pub fn compact_stats() -> CompactStats {
    crate::sched::current_sched().map_or_else(CompactStats::default, |s| s.compactor.stats())
}

/// Registers the current goroutine as parking at `site` with `waiter` (call with the
/// site's lock held, just before `park`). Returns the token for [`unregister`]; `None`
/// (nothing recorded) on a plain thread or when compaction is off.
///
/// # Safety
///
/// `site` and `waiter` stay valid and unmoved until `unregister` (the caller's frame
/// owns them and is parked in between); `try_compact` satisfies [`TryCompactFn`] for
/// them; nothing of the caller's stack is lent to anyone but the site's wakers (the
/// opt-in contract of `Config::compact_parked_after`).
#[inline]
pub(crate) unsafe fn register(
    site: *const (),
    waiter: *const Waiter,
    try_compact: TryCompactFn,
) -> Option<GPtr> {
    if !ANY_ENABLED.load(static_atomic::Ordering::Relaxed) {
        return None;
    }
    let g = crate::m::current_g()?;
    // SAFETY: the running G and its scheduler are alive.
    let gr = unsafe { &*g };
    // SAFETY: as above (a G's scheduler outlives it).
    let c = unsafe { &(*gr.sched).compactor };
    if !c.enabled() {
        return None;
    }
    // SAFETY: only the running G writes its site; compactors read it only while the G
    // is Waiting and claimed (after the park below).
    unsafe {
        *gr.park_site.site.get() = Some(SiteRef {
            site,
            waiter,
            try_compact,
        });
    }
    let epoch = c.epoch.load(Ordering::Relaxed);
    gr.park_site.stamp.store(epoch + 1, Ordering::Relaxed);
    if !c.fresh.load(Ordering::Relaxed) {
        c.fresh.store(true, Ordering::Relaxed);
    }
    let idx = gr.park_site.index.load(Ordering::Relaxed);
    if idx < c.fresh_min.load(Ordering::Relaxed) {
        c.fresh_min.fetch_min(idx, Ordering::Relaxed);
    }
    Some(GPtr(g))
}

/// Ends a registration once `park` returned (the G runs again, not compacted).
#[inline]
pub(crate) fn unregister(token: Option<GPtr>) {
    if let Some(g) = token {
        // SAFETY: the running G is alive; only it writes its stamp while running.
        unsafe { (*g.0).park_site.stamp.store(0, Ordering::Relaxed) };
    }
}

/// Claims a Waiting G for compaction: `Waiting → Waiting|SCAN` (Go's `_Gscan`). While
/// claimed the G cannot be readied (`ready` spins) nor claimed again.
#[inline]
pub(crate) fn try_claim(status: &AtomicU32) -> bool {
    let w = GStatus::Waiting as u32;
    status
        .compare_exchange(w, w | SCAN, Ordering::Acquire, Ordering::Relaxed)
        .is_ok()
}

/// Drops a claim taken by [`try_claim`]; Release, so a `ready` that sees the bit clear
/// also sees the compaction done under it.
#[inline]
pub(crate) fn release_claim(status: &AtomicU32) {
    status.fetch_and(!SCAN, Ordering::Release);
}

/// Compacts a claimed G's stack, leaving its pages for the pass to release in a batch
/// (`Stack::compact_keep_pages`).
///
/// # Safety
///
/// Called by a site's [`TryCompactFn`]: the caller holds SCAN on `g` and the lock of the
/// site where `g` is parked, and has replaced `g`'s waiter in the queue by a proxy. So
/// nothing else reads or writes the G's stack until the proxy is faulted in, and the
/// fault-in waits for SCAN, which the pass clears only after releasing the pages.
pub(crate) unsafe fn compact_stack(g: *const G) -> bool {
    // SAFETY: the G is Waiting and claimed; its stack slot and context are touched only
    // by the holder of its site's lock while its waiter is queued (us).
    let (slot, sp) = unsafe { (&mut *(*g).stack.get(), (*(*g).ctx.get()).sp()) };
    let Some(stack) = slot.as_mut() else {
        return false;
    };
    // SAFETY: the G is parked: nothing runs on its stack, `sp` is its saved stack
    // pointer, and its last run happened-before the claim (its `Running → Waiting` CAS,
    // read by our Acquire CAS). Nothing touches the stack until `restore_owner`: the
    // waiter is replaced by a proxy, the G cannot run before a waker dequeues that
    // proxy, and its frames are lent to nobody else (the opt-in contract).
    match unsafe { stack.compact_keep_pages(sp) } {
        Ok(_) => {
            // SAFETY: G structs' schedulers outlive them.
            unsafe { &(*(*g).sched).compactor }
                .compacted
                .fetch_add(1, Ordering::Relaxed);
            true
        }
        Err(_) => false,
    }
}

/// A proxy's fault-in for goroutines: copies `owner`'s (a `*const G`) compacted stack
/// back. Satisfies `Proxy::fault_in`'s contract.
///
/// Waits first for the compactor's claim to end: it holds SCAN until the stack's pages
/// are released (it needs no lock meanwhile, so the wait is short and cannot deadlock).
///
/// # Safety
///
/// `owner` is a G whose proxy the caller just unlinked, under the site's lock; the G is
/// Waiting and cannot be readied before its real waiter is finished.
pub(crate) unsafe fn restore_owner(owner: *const ()) {
    let g = owner.cast::<G>();
    // SAFETY: G structs live as long as their scheduler.
    let status = unsafe { &(*g).status };
    // Acquire: the compactor's page release happens-before our restore.
    while status.load(Ordering::Acquire) & SCAN != 0 {
        crate::sync::spin_loop();
    }
    // SAFETY: by the contract and the wait above nobody else touches the G's stack slot:
    // compactors need the site's lock or hold SCAN, and the G cannot run.
    let slot = unsafe { &mut *(*g).stack.get() };
    // SAFETY: as above.
    unsafe { &(*g).park_site }.stamp.store(0, Ordering::Relaxed);
    if slot.as_mut().is_some_and(gort_stack::Stack::restore) {
        // SAFETY: G structs' schedulers outlive them.
        unsafe { &(*(*g).sched).compactor }
            .restored
            .fetch_add(1, Ordering::Relaxed);
    }
}

/// Checks one G found in `allg` in `epoch` and claims it if it is worth compacting;
/// returns its registration (the claim is then held).
fn claim_candidate(c: &Compactor, g: GPtr, idx: usize, epoch: u64) -> Option<SiteRef> {
    // SAFETY: G structs live as long as their scheduler.
    let gr = unsafe { &*g.0 };
    let ps = &gr.park_site;
    let eligible = |s: u64| s != 0 && s < epoch;
    let stamp = ps.stamp.load(Ordering::Relaxed);
    if stamp == 0 || stamp >= COMPACTED {
        return None;
    }
    if !eligible(stamp) {
        c.retry_from.fetch_min(idx, Ordering::Relaxed);
        return None;
    }
    if gr.status.load(Ordering::Relaxed) != GStatus::Waiting as u32 || !try_claim(&gr.status) {
        return None;
    }
    // Claimed: the G cannot run, so its registration is stable and its site alive.
    if eligible(ps.stamp.load(Ordering::Relaxed)) {
        // SAFETY: the site is written by the G before its `Running → Waiting` CAS, which
        // our claim read.
        if let Some(s) = unsafe { *ps.site.get() } {
            return Some(s);
        }
    }
    release_claim(&gr.status);
    None
}

/// One bounded compaction pass, run by an idle P before it gives its P up: claims the
/// eligible Gs among the next [`PASS_VISIT`] of `allg`, compacts them site by site (one
/// lock hold per run of Gs parked at the same site), releases all their pages in one
/// batch, then drops the claims. Returns whether it did anything (the caller then
/// re-checks for work and comes back).
pub(crate) fn idle_pass(sched: &Sched) -> bool {
    let c = &sched.compactor;
    if !c.enabled() || !c.wanted.load(Ordering::Relaxed) {
        return false;
    }
    if c.active
        .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        return false;
    }
    let did = pass(sched, c);
    c.active.store(false, Ordering::Release);
    did
}

/// [`idle_pass`]'s body, run by the holder of `Compactor::active`.
fn pass(sched: &Sched, c: &Compactor) -> bool {
    let epoch = c.epoch.load(Ordering::Acquire);
    let start = c.cursor.fetch_add(PASS_VISIT, Ordering::Relaxed);
    let mut batch = [GPtr(core::ptr::null_mut()); PASS_VISIT];
    let n = sched.allg_chunk(start, &mut batch);
    if n == 0 {
        // Past the end: the sweep is over. The next starts where this one (or a
        // registration since) left work, at once if a site was busy or the epoch moved
        // (young Gs may be eligible now), else when sysmon asks at the next epoch.
        let retry = c.retry_from.swap(usize::MAX, Ordering::Relaxed);
        let fresh = c.fresh_min.swap(usize::MAX, Ordering::Relaxed);
        let next = retry.min(fresh);
        let busy = c.cycle_busy.swap(false, Ordering::Relaxed);
        let moved = epoch > c.sweep_epoch.swap(epoch, Ordering::Relaxed);
        if next == usize::MAX {
            c.cursor.store(usize::MAX / 2, Ordering::Relaxed);
            c.young_seen.store(false, Ordering::Relaxed);
            c.wanted.store(false, Ordering::Relaxed);
            return false;
        }
        c.cursor.store(next, Ordering::Relaxed);
        if busy || moved {
            return true;
        }
        c.young_seen.store(true, Ordering::Relaxed);
        c.wanted.store(false, Ordering::Relaxed);
        return false;
    }
    // 1. Claim the candidates.
    let mut sites: [Option<SiteRef>; PASS_VISIT] = [None; PASS_VISIT];
    let mut gs = [GPtr(core::ptr::null_mut()); PASS_VISIT];
    let mut idxs = [0usize; PASS_VISIT];
    let mut k = 0;
    for (t, &g) in batch[..n].iter().enumerate() {
        if let Some(s) = claim_candidate(c, g, start + t, epoch) {
            sites[k] = Some(s);
            gs[k] = g;
            idxs[k] = start + t;
            k += 1;
        }
    }
    // 2. Compact them, one site (run of equal sites) at a time.
    let mut results = [Attempt::Gone; PASS_VISIT];
    let mut items = [(core::ptr::null::<Waiter>(), core::ptr::null::<G>()); PASS_VISIT];
    let mut busy = false;
    let mut i = 0;
    while i < k {
        let Some(site) = sites[i] else { break };
        let mut j = i;
        while j < k && sites[j].is_some_and(|s| core::ptr::eq(s.site, site.site)) {
            if let Some(s) = sites[j] {
                items[j] = (s.waiter, gs[j].0.cast_const());
            }
            j += 1;
        }
        let tries = if busy { 1 } else { LOCK_TRIES };
        // SAFETY: we hold SCAN on every G of `i..j`, each parked at `site` with its
        // registered waiter (its stamp is set only while so registered).
        unsafe { (site.try_compact)(site.site, &items[i..j], &mut results[i..j], tries) };
        busy |= results[i..j].contains(&Attempt::Busy);
        i = j;
    }
    // 3. Drop the claims of the Gs not compacted; release the others' pages in one
    // batch, then drop their claims.
    let mut ranges: [Range<usize>; PASS_VISIT] = core::array::from_fn(|_| 0..0);
    let mut compacted = [GPtr(core::ptr::null_mut()); PASS_VISIT];
    let mut m = 0;
    for t in 0..k {
        // SAFETY: G structs live as long as their scheduler.
        let gr = unsafe { &*gs[t].0 };
        match results[t] {
            Attempt::Compacted => {
                gr.park_site.stamp.store(COMPACTED, Ordering::Relaxed);
                // SAFETY: we hold SCAN and a fault-in waits for it, so the stack slot is
                // ours; it holds a stack (it was just compacted).
                ranges[m] = unsafe { (*gr.stack.get()).as_ref() }
                    .map_or(0..0, gort_stack::Stack::release_range);
                compacted[m] = gs[t];
                m += 1;
            }
            Attempt::Refused => {
                gr.park_site.stamp.store(REFUSED, Ordering::Relaxed);
                release_claim(&gr.status);
            }
            Attempt::Busy => {
                c.retry_from.fetch_min(idxs[t], Ordering::Relaxed);
                release_claim(&gr.status);
            }
            Attempt::Gone => release_claim(&gr.status),
        }
    }
    if busy {
        c.cycle_busy.store(true, Ordering::Relaxed);
    }
    if m > 0 {
        // SAFETY: each range is that of a stack just compacted with `compact_keep_pages`
        // whose G we still hold (SCAN): nobody restores it (the fault-in waits for
        // SCAN) nor drops it (the G cannot run or exit) before the claims end below.
        unsafe { gort_stack::release_compacted(&mut ranges[..m]) };
        for g in &compacted[..m] {
            // SAFETY: G structs live as long as their scheduler.
            release_claim(unsafe { &(*g.0).status });
        }
    }
    true
}

/// sysmon's tick: advances the epoch every `after` and, when a cycle is worth running,
/// wakes an idle P to run it.
pub(crate) fn sysmon_tick(sched: &Sched, now: u64) {
    let c = &sched.compactor;
    if !c.enabled()
        || now
            < c.last_bump
                .load(Ordering::Relaxed)
                .saturating_add(c.after_ns)
    {
        return;
    }
    c.last_bump.store(now, Ordering::Relaxed);
    c.epoch.fetch_add(1, Ordering::Release);
    let fresh = c.fresh.swap(false, Ordering::Relaxed);
    if fresh || c.young_seen.load(Ordering::Relaxed) {
        c.wanted.store(true, Ordering::Relaxed);
    }
    if c.wanted.load(Ordering::Relaxed) {
        sched.wakep();
    }
}

/// Where a parked goroutine's live stack is, for a collector scanning it (gc-host).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum LiveStack {
    /// On its own pages: `[sp, base)`.
    OnStack(Range<usize>),
    /// Compacted: the bytes of `original` wait in `buffer` (same length and layout;
    /// pointers in it are to the original addresses, where the stack comes back).
    Compacted {
        /// The buffer to scan instead.
        buffer: Range<usize>,
        /// The stack addresses the copy stands for.
        original: Range<usize>,
    },
}

/// The live stack of a G that is not running.
///
/// # Safety
///
/// The caller excludes compaction and restore of `g` for as long as it uses the answer
/// (the world is stopped, or it holds SCAN on `g` and `g` is parked at no site).
#[allow(dead_code, reason = "the collector's stack scan (gc-host) is its user")]
pub(crate) unsafe fn live_stack(g: &G) -> Option<LiveStack> {
    // SAFETY: by the contract the stack slot and context are stable.
    let (slot, sp) = unsafe { (&*g.stack.get(), (*g.ctx.get()).sp()) };
    let s = slot.as_ref()?;
    Some(match s.compacted() {
        Some(copy) => LiveStack::Compacted {
            buffer: copy.buffer(),
            original: copy.original(),
        },
        None => LiveStack::OnStack(sp.clamp(s.limit(), s.base())..s.base()),
    })
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::time::{Duration, Instant};

    use crate::sync::Arc;
    use crate::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

    use crate::gosync::WaitGroup;
    use crate::{Chan, Config, compact_stats, run_with, spawn};

    fn config(procs: usize) -> Config {
        Config {
            maxprocs: procs,
            compact_parked_after: Some(Duration::from_millis(1)),
            ..Config::default()
        }
    }

    /// Sleeps until at least `n` stacks are compacted now (or 10 s pass).
    fn wait_compacted(n: u64) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let s = compact_stats();
            let now = s.compacted - s.restored;
            if now >= n || Instant::now() > deadline {
                return now;
            }
            crate::time::sleep(Duration::from_millis(2));
        }
    }

    /// Receivers parked long enough are compacted; values sent to them arrive intact
    /// (the sender writes into a restored stack), and every stack comes back.
    #[test]
    fn compacted_receivers_get_their_values() {
        for procs in [1, 2] {
            let n = 500u64;
            let (sum, stats) = run_with(config(procs), move || {
                let ch = Chan::<u64>::new(0);
                let total = Arc::new(AtomicU64::new(0));
                let wg = Arc::new(WaitGroup::new());
                wg.add(n as i32);
                for i in 0..n {
                    let (ch, total, wg) = (ch.clone(), Arc::clone(&total), Arc::clone(&wg));
                    spawn(move || {
                        // A live local below the waiter: it must survive the round trip.
                        let mine = std::hint::black_box([i; 8]);
                        let v = ch.recv().unwrap();
                        assert_eq!(mine, [i; 8]);
                        total.fetch_add(v * 1000 + i, Ordering::Relaxed);
                        wg.done();
                    })
                    .unwrap();
                }
                assert_eq!(wait_compacted(n), n, "not every receiver was compacted");
                for i in 0..n {
                    ch.send(i);
                }
                wg.wait();
                (total.load(Ordering::Relaxed), compact_stats())
            })
            .unwrap();
            let expect: u64 = (0..n).map(|i| i * 1000 + i).sum();
            assert_eq!(sum, expect);
            assert!(stats.compacted >= n);
            assert_eq!(stats.compacted, stats.restored);
        }
    }

    /// Compacted senders' values (on their stacks) reach the receiver; close wakes
    /// compacted receivers with `None`.
    #[test]
    fn compacted_senders_and_close() {
        let n = 300u64;
        let (got, closed) = run_with(config(2), move || {
            let ch = Chan::<[u64; 6]>::new(0);
            for i in 0..n {
                let ch = ch.clone();
                spawn(move || ch.send([i, i + 1, i + 2, i + 3, i + 4, i + 5])).unwrap();
            }
            assert_eq!(wait_compacted(n), n);
            let mut got: Vec<u64> = (0..n)
                .map(|_| {
                    let v = ch.recv().unwrap();
                    assert_eq!(v, core::array::from_fn(|k| v[0] + k as u64));
                    v[0]
                })
                .collect();
            got.sort_unstable();
            // Now receivers, woken by close.
            let gate = Chan::<u64>::new(0);
            let closed = Arc::new(AtomicUsize::new(0));
            let wg = Arc::new(WaitGroup::new());
            wg.add(n as i32);
            for _ in 0..n {
                let (gate, closed, wg) = (gate.clone(), Arc::clone(&closed), Arc::clone(&wg));
                spawn(move || {
                    if gate.recv().is_none() {
                        closed.fetch_add(1, Ordering::Relaxed);
                    }
                    wg.done();
                })
                .unwrap();
            }
            assert_eq!(wait_compacted(n), n);
            gate.close();
            wg.wait();
            (got, closed.load(Ordering::Relaxed))
        })
        .unwrap();
        assert_eq!(got, (0..n).collect::<Vec<_>>());
        assert_eq!(closed, n as usize);
    }

    /// A goroutine whose parked stack is too deep to compact is refused and left alone;
    /// the others are compacted around it and everything still works.
    #[test]
    fn deep_stacks_are_refused() {
        let out = run_with(config(2), || {
            let ch = Chan::<u64>::new(0);
            let deep = {
                let ch = ch.clone();
                let done = Chan::<u64>::new(1);
                let d2 = done.clone();
                spawn(move || {
                    let big = std::hint::black_box([7u64; 2048]); // 16 KiB live
                    let v = ch.recv().unwrap();
                    d2.send(v + big.iter().sum::<u64>());
                })
                .unwrap();
                done
            };
            let shallow = {
                let ch = ch.clone();
                let done = Chan::<u64>::new(1);
                let d2 = done.clone();
                spawn(move || d2.send(ch.recv().unwrap())).unwrap();
                done
            };
            assert_eq!(wait_compacted(1), 1);
            crate::time::sleep(Duration::from_millis(20));
            let s = compact_stats();
            assert_eq!(s.compacted - s.restored, 1, "the deep stack was compacted");
            ch.send(1);
            ch.send(1);
            let mut r = [deep.recv().unwrap(), shallow.recv().unwrap()];
            r.sort_unstable();
            r
        })
        .unwrap();
        assert_eq!(out, [1, 1 + 7 * 2048]);
    }

    /// Goroutines blocked in `WaitGroup::wait` and `Mutex::lock` (semaphore waiters)
    /// are compacted too, and all wake correctly.
    #[test]
    fn compacted_semaphore_waiters() {
        let n = 200u64;
        let total = run_with(config(2), move || {
            let gate = Arc::new(WaitGroup::new());
            gate.add(1);
            let lock = Arc::new(crate::gosync::Mutex::new(0u64));
            let guard = lock.lock();
            let done = Arc::new(WaitGroup::new());
            done.add(2 * n as i32);
            for i in 0..n {
                let (gate, d1, d2) = (Arc::clone(&gate), Arc::clone(&done), Arc::clone(&done));
                let lock2 = Arc::clone(&lock);
                spawn(move || {
                    let mine = std::hint::black_box([i; 4]);
                    gate.wait();
                    assert_eq!(mine, [i; 4]);
                    d1.done();
                })
                .unwrap();
                spawn(move || {
                    *lock2.lock() += i;
                    d2.done();
                })
                .unwrap();
            }
            assert_eq!(
                wait_compacted(2 * n),
                2 * n,
                "not every waiter was compacted"
            );
            gate.done();
            drop(guard);
            done.wait();
            let s = compact_stats();
            assert_eq!(s.compacted, s.restored);
            *lock.lock()
        })
        .unwrap();
        assert_eq!(total, (0..n).sum::<u64>());
    }

    /// With compaction off (the default) nothing is registered or compacted.
    #[test]
    fn off_by_default() {
        let s = run_with(Config::default(), || {
            let ch = Chan::<u8>::new(0);
            let c2 = ch.clone();
            spawn(move || c2.send(1)).unwrap();
            crate::time::sleep(Duration::from_millis(30));
            ch.recv();
            compact_stats()
        })
        .unwrap();
        assert_eq!(s, crate::CompactStats::default());
    }
}
