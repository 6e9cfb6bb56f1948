//! `Allocator`: the centrals, caches, span metadata and large objects over one
//! `PageHeap` (Go: the allocator half of mheap.go and malloc.go). See the crate docs.

use core::ptr::NonNull;

use gort_heap::{Address, PAGE_SIZE, PageHeap, Span, SpanState, persistent_alloc};

use crate::cache::{Cache, CacheHandle};
use crate::central::{Central, GiveBack, RELEASE_MAX};
use crate::error::Error;
use crate::size_class::{NUM_SIZE_CLASSES, SizeClass};
use crate::span_class::{NUM_SPAN_CLASSES, SpanClass};
use crate::span_meta::{MetaState, SpanMeta};
use crate::sync::Mutex;
use crate::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use gort_heap::fatal;

/// Centrals per span class. A cache takes the shard with the fewest caches in use, so
/// threads mostly carve from spans no other thread carves from (less false sharing, less lock
/// contention), as jemalloc spreads threads over arenas. A span belongs to one shard
/// for its life; frees go back to their span's shard.
#[cfg(not(loom))]
pub const SHARDS: usize = 4;
/// Centrals per span class (loom models use one).
#[cfg(loom)]
pub const SHARDS: usize = 1;

/// Free metas, linked through `Locked::next`. Protected by `Allocator::meta_pool`.
#[derive(Debug)]
struct MetaPool {
    head: *mut SpanMeta,
}

// SAFETY: the pointers are metas in persistent memory, reached only under the lock.
unsafe impl Send for MetaPool {}

/// Free caches, linked through `Cache::pool_next`. Protected by `Allocator::cache_pool`.
#[derive(Debug)]
pub(crate) struct CachePool {
    pub(crate) head: *mut Cache,
}

// SAFETY: the pointers are caches in persistent memory, reached only under the lock.
unsafe impl Send for CachePool {}

/// Counters of large objects. Atomic; updated with `fetch_add` on the (slow) large path.
#[derive(Debug)]
pub(crate) struct LargeCounters {
    /// Large objects allocated (cumulative).
    pub(crate) nmalloc: AtomicU64,
    /// Large objects freed (cumulative).
    pub(crate) nfree: AtomicU64,
    /// Bytes of large objects allocated (cumulative, span bytes from the object base).
    pub(crate) alloc_bytes: AtomicU64,
    /// Bytes of large objects freed (cumulative).
    pub(crate) free_bytes: AtomicU64,
}

/// A size-class allocator over one page heap: one [`Central`] per span class, a pool of
/// per-thread [`Cache`]s, the registry of span metadata, and the large-object path.
///
/// The process-wide instance is [`Allocator::global`]; tests build private ones over
/// private page heaps (`testing::new_allocator`).
#[derive(Debug)]
pub struct Allocator {
    /// The page heap spans come from. Immutable.
    pages: &'static PageHeap,
    /// `SHARDS` centrals per span class (index = `spc * SHARDS + shard`); classes 0 and
    /// 1 (large) are unused.
    centrals: [Central; NUM_SPAN_CLASSES * SHARDS],
    /// Caches in use per shard. Atomic: `fetch_add` when a cache is acquired (the
    /// least-used shard), `fetch_sub` when it is released; both slow paths.
    shard_users: [AtomicUsize; SHARDS],
    /// Recycled metas.
    meta_pool: Mutex<MetaPool>,
    /// Head of the registry of every meta ever made (push-only, linked by `all_next`).
    all_metas: AtomicPtr<SpanMeta>,
    /// Recycled caches.
    pub(crate) cache_pool: Mutex<CachePool>,
    /// Head of the registry of every cache ever made (push-only, linked by `all_next`).
    pub(crate) all_caches: AtomicPtr<Cache>,
    /// Large-object counters.
    pub(crate) large: LargeCounters,
    /// Objects freed by sweeping, per size class (index 0 unused; large sweeps count in
    /// `large`). Atomic, `fetch_add` by the sweeper.
    pub(crate) swept: [AtomicU64; NUM_SIZE_CLASSES],
    /// The cache used by threads whose own cache is gone (during thread teardown),
    /// created on first use. Every use holds `orphan_lock`.
    orphan: AtomicPtr<Cache>,
    /// Serialises uses of `orphan`.
    orphan_lock: Mutex<()>,
}

impl Allocator {
    /// A new allocator over `pages`.
    pub fn new(pages: &'static PageHeap) -> Allocator {
        Allocator {
            pages,
            centrals: core::array::from_fn(|i| Central::new(SpanClass((i / SHARDS) as u8))),
            shard_users: core::array::from_fn(|_| AtomicUsize::new(0)),
            meta_pool: Mutex::new(MetaPool {
                head: core::ptr::null_mut(),
            }),
            all_metas: AtomicPtr::new(core::ptr::null_mut()),
            cache_pool: Mutex::new(CachePool {
                head: core::ptr::null_mut(),
            }),
            all_caches: AtomicPtr::new(core::ptr::null_mut()),
            large: LargeCounters {
                nmalloc: AtomicU64::new(0),
                nfree: AtomicU64::new(0),
                alloc_bytes: AtomicU64::new(0),
                free_bytes: AtomicU64::new(0),
            },
            swept: core::array::from_fn(|_| AtomicU64::new(0)),
            orphan: AtomicPtr::new(core::ptr::null_mut()),
            orphan_lock: Mutex::new(()),
        }
    }

    /// A new allocator over `pages`, placed in persistent memory (never freed), without
    /// touching the Rust global allocator.
    pub fn new_persistent(pages: &'static PageHeap) -> Result<&'static Allocator, Error> {
        let p = persistent_alloc(size_of::<Allocator>(), align_of::<Allocator>())?;
        let p = p.cast::<Allocator>().as_ptr();
        // SAFETY: `p` is fresh persistent memory sized and aligned for an Allocator and
        // never freed, so writing one there and lending it out for 'static is sound.
        unsafe {
            p.write(Allocator::new(pages));
            Ok(&*p)
        }
    }

    /// The page heap under this allocator.
    pub fn page_heap(&self) -> &'static PageHeap {
        self.pages
    }

    /// The central of `spc` in shard `shard` (< [`SHARDS`]).
    pub fn central(&self, spc: SpanClass, shard: usize) -> &Central {
        &self.centrals[spc.index() * SHARDS + shard % SHARDS]
    }

    /// The shard for a newly acquired cache: the one with the fewest caches in use (the
    /// lowest such), so threads that come and go (a thread per task) do not land on a
    /// shard a long-lived thread uses while another shard is idle, as a round robin
    /// would every `SHARDS` threads. Two racing acquisitions may pick the same shard;
    /// that only costs some sharing. Pair with [`Allocator::unpick_shard`].
    pub(crate) fn pick_shard(&self) -> u8 {
        let mut best = 0;
        let mut least = usize::MAX;
        for (i, u) in self.shard_users.iter().enumerate() {
            let n = u.load(Ordering::Relaxed);
            if n < least {
                (best, least) = (i, n);
            }
        }
        self.shard_users[best].fetch_add(1, Ordering::Relaxed);
        best as u8
    }

    /// A cache of shard `shard` is no longer in use.
    pub(crate) fn unpick_shard(&self, shard: u8) {
        self.shard_users[shard as usize % SHARDS].fetch_sub(1, Ordering::Relaxed);
    }

    /// A cache (Go's mcache) for one thread or one P at a time, from the pool.
    pub fn new_cache(&'static self) -> Result<CacheHandle, Error> {
        Ok(CacheHandle::from_raw(Cache::acquire(self)?))
    }

    /// Runs `f` with the orphan cache, under its lock (threads whose cache is gone).
    pub(crate) fn with_orphan<R>(&'static self, f: impl FnOnce(&Cache) -> R) -> Result<R, Error> {
        let _g = self.orphan_lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut c = self.orphan.load(Ordering::Acquire);
        if c.is_null() {
            c = Cache::acquire(self)?.cast_mut();
            self.orphan.store(c, Ordering::Release);
        }
        // SAFETY: the orphan cache is used only under `orphan_lock`, which we hold.
        Ok(f(unsafe { &*c }))
    }

    // ---- span metadata -------------------------------------------------------------

    fn new_meta(&self) -> Result<&'static SpanMeta, Error> {
        {
            let mut pool = self.meta_pool.lock().unwrap_or_else(|e| e.into_inner());
            let m = pool.head;
            if !m.is_null() {
                // SAFETY: `m` is a free meta on the pool, whose `next` the pool lock protects.
                pool.head = unsafe { (*m).locked.with(|l| (*l).next) };
                // SAFETY: persistent metas live forever.
                return Ok(unsafe { &*m });
            }
        }
        let p = persistent_alloc(size_of::<SpanMeta>(), align_of::<SpanMeta>())?;
        let p = p.cast::<SpanMeta>().as_ptr();
        // SAFETY: fresh persistent memory sized and aligned for a SpanMeta, never freed.
        let m: &'static SpanMeta = unsafe {
            p.write(SpanMeta::new());
            &*p
        };
        let mut head = self.all_metas.load(Ordering::Relaxed);
        loop {
            m.all_next.store(head, Ordering::Relaxed);
            match self.all_metas.compare_exchange_weak(
                head,
                p,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(h) => head = h,
            }
        }
        Ok(m)
    }

    fn free_meta(&self, m: &'static SpanMeta) {
        m.retire();
        let mut pool = self.meta_pool.lock().unwrap_or_else(|e| e.into_inner());
        let old = pool.head;
        // SAFETY: `m` is retired and owned by us; the pool lock protects its `next`.
        m.locked.with_mut(|l| unsafe { (*l).next = old });
        pool.head = core::ptr::from_ref(m).cast_mut();
    }

    /// Every meta ever made (free ones included), newest first.
    pub(crate) fn metas(&self) -> impl Iterator<Item = &'static SpanMeta> {
        let mut p = self.all_metas.load(Ordering::Acquire);
        core::iter::from_fn(move || {
            if p.is_null() {
                return None;
            }
            // SAFETY: registry entries are persistent metas, never freed.
            let m: &'static SpanMeta = unsafe { &*p };
            p = m.all_next.load(Ordering::Relaxed);
            Some(m)
        })
    }

    /// The meta of the span containing `addr`, if `addr` is in a span this allocator
    /// handed out. O(1) and lock-free: page heap span map → `owner_data`.
    #[inline]
    pub(crate) fn meta_of(&self, addr: usize) -> Option<&'static SpanMeta> {
        let span = self.pages.span_of(Address::new(addr))?;
        let m = span.owner_data() as *const SpanMeta;
        if m.is_null() {
            return None;
        }
        // SAFETY: a non-zero owner_data on a span of our heap is a meta we published.
        Some(unsafe { &*m })
    }

    // ---- small objects -------------------------------------------------------------

    /// Fills `out` with free objects of `spc` from its central, growing the class by one
    /// span when the central has none (Go `mcentral.cacheSpan` + `grow`). Returns how
    /// many (at least one).
    #[cold]
    pub(crate) fn refill(
        &self,
        spc: SpanClass,
        shard: u8,
        out: &mut [usize],
    ) -> Result<usize, Error> {
        loop {
            let mut rel = GiveBack::new();
            let n = self.central(spc, shard as usize).carve(out, &mut rel);
            self.release_spans(&rel);
            if n > 0 {
                return Ok(n);
            }
            self.grow(spc, shard)?;
        }
    }

    /// Adds one fresh span to `spc`'s central (Go `mcentral.grow`).
    fn grow(&self, spc: SpanClass, shard: u8) -> Result<(), Error> {
        let info = spc.size_class().info();
        let span = self
            .pages
            .alloc_span(info.npages as usize, SpanState::InUse)?;
        let meta = match self.new_meta() {
            Ok(m) => m,
            Err(e) => {
                // SAFETY: we own the span we just got and nothing else saw it.
                unsafe { self.pages.free_span(span) };
                return Err(e);
            }
        };
        meta.init(
            core::ptr::from_ref(span) as usize,
            span.start().as_usize(),
            info.size as usize,
            info.nelems as usize,
            spc,
            MetaState::Small,
        );
        meta.set_shard(shard);
        span.set_span_class(spc.0);
        span.set_owner_data(core::ptr::from_ref(meta) as usize);
        // SAFETY: a freshly initialised Small meta of `spc`, on no list.
        unsafe { self.central(spc, shard as usize).add_span(meta) };
        Ok(())
    }

    /// Frees `objs`, objects of `spc`, back to their spans (Go has no manual free; this
    /// is tcmalloc's transfer to the central list): objects of spans of shard `shard`
    /// (the caller's own) in batches under that central's lock, objects of other shards
    /// without any lock, onto their spans' remote-free bitmaps for their centrals to
    /// collect (mimalloc's thread-free lists). Spans that become empty go back to the
    /// page heap. Object memory is not touched. Returns true when every object was of
    /// shard `shard` (the caller freed only what its shard allocated).
    ///
    /// # Safety
    /// Every object was allocated from `spc` by this allocator and is not used again by
    /// the caller.
    pub(crate) unsafe fn flush_objects(&self, spc: SpanClass, shard: u8, objs: &[usize]) -> bool {
        let mut all_local = true;
        for chunk in objs.chunks(RELEASE_MAX) {
            let mut m = self.small_meta_checked(chunk[0], spc);
            let (mut lo, mut hi) = (m.start(), m.start() + m.nelems() * m.elem_size());
            let mut batch = [(m, 0usize); RELEASE_MAX];
            let mut shards = 0u32;
            for (slot, &obj) in batch.iter_mut().zip(chunk) {
                // Consecutive objects are often in the same span: skip the lookup.
                if !(lo..hi).contains(&obj) {
                    m = self.small_meta_checked(obj, spc);
                    (lo, hi) = (m.start(), m.start() + m.nelems() * m.elem_size());
                }
                let i = match m.object_index(obj) {
                    Some(i) if m.object_addr(i) == obj => i,
                    _ => fatal("free of a pointer that is not the start of an object"),
                };
                shards |= 1 << m.shard();
                *slot = (m, i);
            }
            let batch = &mut batch[..chunk.len()];
            all_local &= shards == 1 << (shard as usize % SHARDS);
            if shards.is_power_of_two() {
                self.give_back(spc, shard, shards.trailing_zeros() as usize, batch);
                continue;
            }
            // Objects of several shards: group them by shard (counting sort, reading every
            // shard before any object goes back: a span released by one group's
            // `give_back` may be recycled at once, with another shard), then free each
            // group under its own shard's lock.
            let mut start = [0usize; SHARDS + 1];
            for e in batch.iter() {
                start[e.0.shard() as usize + 1] += 1;
            }
            for s in 0..SHARDS {
                start[s + 1] += start[s];
            }
            let bounds = start;
            let mut part = [(m, 0usize); RELEASE_MAX];
            for &e in batch.iter() {
                let s = e.0.shard() as usize;
                part[start[s]] = e;
                start[s] += 1;
            }
            for s in 0..SHARDS {
                if bounds[s] < bounds[s + 1] {
                    self.give_back(spc, shard, s, &part[bounds[s]..bounds[s + 1]]);
                }
            }
        }
        all_local
    }

    /// Frees `objs` (all of `spc`, shard `shard`) into their central: under its lock
    /// when `shard` is the caller's own (`mine`), releasing the spans that became empty;
    /// otherwise lock-free as remote frees.
    fn give_back(
        &self,
        spc: SpanClass,
        mine: u8,
        shard: usize,
        objs: &[(&'static SpanMeta, usize)],
    ) {
        let central = self.central(spc, shard);
        if shard == mine as usize % SHARDS {
            self.release_spans(&central.give_back(objs));
        } else {
            // Objects freed for other threads come in the order they were freed. In
            // runs of one span (a consumer freeing in allocation order) each run costs
            // one count and one `fetch_or` per bitmap word. Scattered, often one object
            // per span (larson frees at random), they would cost two atomic
            // read-modify-writes each: sorted by span and index first, they cost what
            // runs cost. (Sorting runs that are already long costs more than it saves.)
            let runs = 1 + objs
                .windows(2)
                .filter(|w| !core::ptr::eq(w[0].0, w[1].0))
                .count();
            if runs * 4 <= objs.len() {
                central.free_remote(objs);
                return;
            }
            let Some(&first) = objs.first() else { return };
            let mut sorted = [first; RELEASE_MAX];
            let sorted = &mut sorted[..objs.len()];
            sorted.copy_from_slice(objs);
            sorted.sort_unstable_by_key(|&(m, i)| (core::ptr::from_ref(m) as usize, i));
            central.free_remote(sorted);
        }
    }

    /// Returns the spans a central call unlinked to the page heap.
    fn release_spans(&self, rel: &GiveBack) {
        for &r in rel.spans() {
            // SAFETY: the central unlinked these empty spans for us to release.
            unsafe { self.release_small(&*(r as *const SpanMeta)) };
        }
    }

    /// The `Small` meta of `spc` holding `obj`, or a fatal error.
    #[inline]
    fn small_meta_checked(&self, obj: usize, spc: SpanClass) -> &'static SpanMeta {
        match self.meta_of(obj) {
            Some(m) if m.state() == MetaState::Small && m.span_class() == spc => m,
            _ => fatal("free of a pointer not allocated by gort-alloc with this layout"),
        }
    }

    /// Returns an empty small span, unlinked from its central, to the page heap.
    ///
    /// # Safety
    /// `m` is off every list, every object in it is free, and no one uses it again.
    pub(crate) unsafe fn release_small(&self, m: &'static SpanMeta) {
        // SAFETY: a Small meta's span address is the live heap span it describes.
        let span: &'static Span = unsafe { &*(m.span_addr() as *const Span) };
        span.set_owner_data(0);
        self.free_meta(m);
        // SAFETY: [Safety] the span is ours and empty; nothing refers to it any more.
        unsafe { self.pages.free_span(span) };
    }

    /// Checks every central's lists and spans (O(spans); for tests and debugging).
    pub fn check_invariants(&self) {
        for c in &self.centrals {
            c.check_invariants();
        }
    }

    /// Collects every central's pending remote frees and returns the empty spans the
    /// centrals keep as spares to the page heap (so the scavenger can release them).
    /// Returns the number of spans released.
    pub fn release_spare_spans(&self) -> usize {
        let mut total = 0;
        for c in &self.centrals {
            loop {
                let rel = c.take_empty(0);
                self.release_spans(&rel);
                total += rel.nrelease;
                if rel.nrelease < RELEASE_MAX {
                    break;
                }
            }
        }
        total
    }

    // ---- large objects -------------------------------------------------------------

    /// Allocates a large object (over 32 KiB, or aligned beyond a page) on its own span
    /// (Go `mcache.allocLarge`). With `zero`, the memory is zeroed unless the span is
    /// known zero already (fresh or released pages).
    pub(crate) fn alloc_large(
        &self,
        size: usize,
        align: usize,
        spc: SpanClass,
        zero: bool,
    ) -> Result<NonNull<u8>, Error> {
        let pad = align.saturating_sub(PAGE_SIZE);
        let npages = size
            .checked_add(pad)
            .and_then(|b| b.checked_add(PAGE_SIZE - 1))
            .ok_or(Error::TooLarge { size, align })?
            / PAGE_SIZE;
        let span = self.pages.alloc_span(npages.max(1), SpanState::InUse)?;
        let meta = match self.new_meta() {
            Ok(m) => m,
            Err(e) => {
                // SAFETY: we own the span we just got and nothing else saw it.
                unsafe { self.pages.free_span(span) };
                return Err(e);
            }
        };
        let base = span.start().align_up(align);
        let elem = span.end().as_usize() - base.as_usize();
        meta.init(
            core::ptr::from_ref(span) as usize,
            base.as_usize(),
            elem,
            1,
            spc,
            MetaState::Large,
        );
        // A large object is allocated from the start (its bit is the object's).
        meta.alloc_bits.set_word(0, 1);
        span.set_span_class(spc.0);
        span.set_owner_data(core::ptr::from_ref(meta) as usize);
        if zero && span.needs_zeroing() {
            // SAFETY: `base..base+size` lies inside the span we own.
            unsafe { core::ptr::write_bytes(base.as_ptr::<u8>(), 0, size) };
        }
        self.large.nmalloc.fetch_add(1, Ordering::Relaxed);
        self.large
            .alloc_bytes
            .fetch_add(elem as u64, Ordering::Relaxed);
        // SAFETY: span addresses are never null.
        Ok(unsafe { NonNull::new_unchecked(base.as_ptr::<u8>()) })
    }

    /// Bytes usable in place at the large object `ptr` (from `ptr` to its span's end).
    pub(crate) fn large_capacity(&self, ptr: usize) -> usize {
        match self.meta_of(ptr) {
            Some(m) if m.state() == MetaState::Large && m.start() == ptr => m.elem_size(),
            _ => fatal("realloc of a pointer that is not a large object"),
        }
    }

    /// Frees the large object at `ptr` and its span.
    ///
    /// # Safety
    /// `ptr` came from [`Allocator::alloc_large`] of this allocator and is not used again.
    pub(crate) unsafe fn free_large(&self, ptr: usize) {
        let m = match self.meta_of(ptr) {
            Some(m) if m.state() == MetaState::Large && m.start() == ptr => m,
            _ => fatal("free of a pointer that is not a large object of gort-alloc"),
        };
        self.large.nfree.fetch_add(1, Ordering::Relaxed);
        self.large
            .free_bytes
            .fetch_add(m.elem_size() as u64, Ordering::Relaxed);
        // SAFETY: [Safety] the object, and so its span, is ours to free.
        unsafe { self.release_large(m) };
    }

    /// Returns a large object's span to the page heap.
    ///
    /// # Safety
    /// `m` is a `Large` meta whose object is dead and unreachable.
    pub(crate) unsafe fn release_large(&self, m: &'static SpanMeta) {
        // SAFETY: a Large meta's span address is the live heap span it describes.
        let span: &'static Span = unsafe { &*(m.span_addr() as *const Span) };
        span.set_owner_data(0);
        self.free_meta(m);
        // SAFETY: [Safety] nothing uses the span any more.
        unsafe { self.pages.free_span(span) };
    }

    /// The size class an allocation of `size` bytes at `align` uses (for tests and stats).
    pub fn size_class_for(size: usize, align: usize) -> SizeClass {
        SizeClass::for_layout(size, align).unwrap_or(SizeClass::LARGE)
    }
}
