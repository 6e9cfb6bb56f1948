//! `Cache`: a per-thread (or per-P) cache of free objects for every span class, with the
//! lock-free, atomic-RMW-free fast paths, and `CacheHandle`, its owning handle (Go:
//! mcache.go). See the crate docs for the overview.

use core::ptr::NonNull;

use gort_heap::persistent_alloc;

use crate::allocator::Allocator;
use crate::error::Error;
use crate::size_class::{CLASSES, MAX_SMALL_SIZE};
use crate::span_class::{NUM_SPAN_CLASSES, SpanClass};
use crate::sync::UnsafeCell;
use crate::sync::atomic::{AtomicPtr, AtomicU8, AtomicU64, Ordering};

/// Most objects moved between a cache and a central at once.
const MAX_BATCH: usize = 1024;

/// Objects moved between a cache and a central at once, per span class: about 32 KiB
/// worth, between 2 and [`MAX_BATCH`] objects (tcmalloc's `num_objects_to_move`).
const fn batch_for(spc: usize) -> u32 {
    let size = CLASSES[spc >> 1].size as usize;
    if size == 0 {
        return 0;
    }
    let b = MAX_SMALL_SIZE / size;
    if b < 2 {
        2
    } else if b > MAX_BATCH {
        MAX_BATCH as u32
    } else {
        b as u32
    }
}

/// Batch size per span class (see [`batch_for`]).
static BATCH: [u32; NUM_SPAN_CLASSES] = {
    let mut t = [0u32; NUM_SPAN_CLASSES];
    let mut i = 0;
    while i < NUM_SPAN_CLASSES {
        t[i] = batch_for(i);
        i += 1;
    }
    t
};

/// A bin's stack of free objects. Touched only by the thread that owns the cache.
#[derive(Debug)]
struct BinState {
    /// Free objects on the stack: `slots[0..n]`. Invariant: `n <= cap`.
    n: u32,
    /// Capacity of `slots`: twice the class's batch at first, doubled (up to the cache's
    /// budget) when the bin overflows after a refill since its last flush.
    cap: u32,
    /// True when the bin refilled from its central since it last flushed to it: the
    /// allocate-many-then-free-many pattern that a bigger bin serves without a round
    /// trip through the central (tcmalloc's growing `max_length`).
    refilled: bool,
    /// True when the bin's last flush held only objects of the cache's own shard: the
    /// thread frees what it allocated, so a bigger bin keeps its objects local. False
    /// at first and after a flush with objects of other threads (larson, a consumer),
    /// which go back to their own shards instead of piling up here.
    local: bool,
    /// The stack, in persistent memory (the cache's slot array, or a larger array after
    /// growth; the old one stays with the cache, never freed).
    slots: *mut usize,
}

/// Most object bytes a cache's bins may be sized for together (tcmalloc's
/// `kMaxThreadCacheSize`): bins grow past twice their batch only within this budget.
const CACHE_BUDGET: usize = 4 << 20;

/// The free objects of one span class held by a cache.
#[derive(Debug)]
struct Bin {
    /// The stack of free objects. Owner only.
    st: UnsafeCell<BinState>,
    /// Objects allocated from this bin (cumulative). Atomic, written only by the owner
    /// with a plain load/store pair (no read-modify-write); read by `Allocator::stats`.
    nmalloc: AtomicU64,
    /// Objects freed into this bin (cumulative). As `nmalloc`.
    nfree: AtomicU64,
}

/// The tiny allocator's current block (Go `mcache.tiny`, `tinyoffset`). Owner only.
#[derive(Debug)]
struct Tiny {
    /// Address of the current 16 B block, 0 for none.
    block: usize,
    /// Bytes of the block already handed out.
    offset: usize,
}

/// Size of the tiny allocator's blocks (Go `maxTinySize`).
pub const TINY_SIZE: usize = 16;

/// A cache of free objects for every span class, owned by one thread (or one P) at a
/// time (Go `mcache`). Its alloc and free fast paths pop and push a stack of object
/// addresses (tcmalloc's and jemalloc's bins): no lock, no atomic read-modify-write, and
/// no access to the object's memory. A bin refills from its central in a batch when
/// empty and flushes its older half to it when full (twice the batch).
///
/// Caches live in persistent memory and are recycled through the allocator's pool, so
/// their counters survive the threads that used them.
#[derive(Debug)]
#[repr(C, align(64))]
pub struct Cache {
    /// Free lists, one per span class.
    bins: [Bin; NUM_SPAN_CLASSES],
    /// The allocator this cache belongs to. Immutable.
    alloc: &'static Allocator,
    /// The central shard this cache refills from. Set when the cache is acquired.
    shard: AtomicU8,
    /// Bytes of objects the bins' grown capacities stand for (beyond their initial
    /// twice-a-batch), against [`CACHE_BUDGET`]. Owner only.
    cap_bytes: UnsafeCell<usize>,
    /// Tiny allocator state. Owner only.
    tiny: UnsafeCell<Tiny>,
    /// Tiny objects placed in an existing block (Go `tinyAllocs`). As `Bin::nmalloc`.
    pub(crate) tiny_allocs: AtomicU64,
    /// Next free cache in the pool. Protected by `Allocator::cache_pool`.
    pool_next: UnsafeCell<*mut Cache>,
    /// Next cache on the registry of every cache ever made. Written once before the
    /// cache is pushed on the registry, immutable afterwards.
    pub(crate) all_next: AtomicPtr<Cache>,
}

// SAFETY: the owner-only fields (`bins[_].st`, `tiny`) are touched only by the one thread
// that owns the cache (the TLS slot or the `CacheHandle`), `pool_next` only under the pool
// lock; everything another thread reads is atomic.
unsafe impl Sync for Cache {}
// SAFETY: as for Sync; a cache may change owner between uses.
unsafe impl Send for Cache {}

/// Adds one to an owner-written counter without a read-modify-write instruction.
#[inline(always)]
fn bump(c: &AtomicU64) {
    c.store(c.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
}

impl Cache {
    /// Takes a cache from `alloc`'s pool, or makes one in persistent memory.
    pub(crate) fn acquire(alloc: &'static Allocator) -> Result<*const Cache, Error> {
        {
            let mut pool = alloc.cache_pool.lock().unwrap_or_else(|e| e.into_inner());
            let c = pool.head;
            if !c.is_null() {
                // SAFETY: `c` is a free cache on the pool; the pool lock protects `pool_next`.
                pool.head = unsafe { (*c).pool_next.with(|p| *p) };
                // SAFETY: persistent caches live forever; the cache is ours now.
                unsafe { (*c).shard.store(alloc.pick_shard(), Ordering::Relaxed) };
                return Ok(c);
            }
        }
        let p = persistent_alloc(size_of::<Cache>(), align_of::<Cache>())?;
        let p = p.cast::<Cache>().as_ptr();
        let total: usize = (0..NUM_SPAN_CLASSES).map(|i| 2 * BATCH[i] as usize).sum();
        let slots = persistent_alloc(total * size_of::<usize>(), align_of::<usize>())?;
        let mut next = slots.cast::<usize>().as_ptr();
        let cache = Cache {
            bins: core::array::from_fn(|i| {
                let cap = 2 * BATCH[i];
                let b = Bin {
                    st: UnsafeCell::new(BinState {
                        n: 0,
                        cap,
                        refilled: false,
                        local: false,
                        slots: next,
                    }),
                    nmalloc: AtomicU64::new(0),
                    nfree: AtomicU64::new(0),
                };
                // SAFETY: the slot array holds the capacities of every bin in order.
                next = unsafe { next.add(cap as usize) };
                b
            }),
            alloc,
            shard: AtomicU8::new(alloc.pick_shard()),
            cap_bytes: UnsafeCell::new(0),
            tiny: UnsafeCell::new(Tiny {
                block: 0,
                offset: 0,
            }),
            tiny_allocs: AtomicU64::new(0),
            pool_next: UnsafeCell::new(core::ptr::null_mut()),
            all_next: AtomicPtr::new(core::ptr::null_mut()),
        };
        // SAFETY: fresh persistent memory sized and aligned for a Cache, never freed.
        unsafe { p.write(cache) };
        let mut head = alloc.all_caches.load(Ordering::Relaxed);
        loop {
            // SAFETY: `p` is ours until it is on the registry.
            unsafe { (*p).all_next.store(head, Ordering::Relaxed) };
            match alloc.all_caches.compare_exchange_weak(
                head,
                p,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(h) => head = h,
            }
        }
        Ok(p)
    }

    /// Flushes every bin and puts the cache back on its allocator's pool.
    ///
    /// # Safety
    /// The caller owns the cache and never uses it again.
    pub(crate) unsafe fn release(&self) {
        self.flush();
        self.alloc.unpick_shard(self.shard.load(Ordering::Relaxed));
        let mut pool = self
            .alloc
            .cache_pool
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let old = pool.head;
        // SAFETY: the pool lock protects `pool_next`; the cache is ours ([Safety]).
        self.pool_next.with_mut(|p| unsafe { *p = old });
        pool.head = core::ptr::from_ref(self).cast_mut();
    }

    /// The allocator this cache belongs to.
    pub fn allocator(&self) -> &'static Allocator {
        self.alloc
    }

    /// Pops a free object of `spc`, or `None` when the bin is empty. The fast path.
    ///
    /// # Safety
    /// The calling thread owns this cache; `spc` is a small span class.
    #[inline(always)]
    pub(crate) unsafe fn alloc_fast(&self, spc: SpanClass) -> Option<NonNull<u8>> {
        // SAFETY: span classes index `bins` by construction ([Safety]: `spc` is small).
        let bin = unsafe { self.bins.get_unchecked(spc.index()) };
        // SAFETY: the caller owns the cache, so no one else touches the bin's stack;
        // `slots[0..n]` are free objects.
        let p = bin.st.with_mut(|s| unsafe {
            let s = &mut *s;
            if s.n == 0 {
                return 0;
            }
            s.n -= 1;
            *s.slots.add(s.n as usize)
        });
        let p = NonNull::new(p as *mut u8)?;
        bump(&bin.nmalloc);
        Some(p)
    }

    /// Allocates one object of the small span class `spc`.
    ///
    /// # Safety
    /// As [`Cache::alloc_fast`].
    #[inline(always)]
    pub(crate) unsafe fn alloc_small(&self, spc: SpanClass) -> Result<NonNull<u8>, Error> {
        // SAFETY: forwarded.
        match unsafe { self.alloc_fast(spc) } {
            Some(p) => Ok(p),
            // SAFETY: forwarded.
            None => unsafe { self.alloc_refill(spc) },
        }
    }

    /// Refills the empty bin of `spc` from its central and allocates from it (Go
    /// `mcache.refill`).
    ///
    /// # Safety
    /// As [`Cache::alloc_fast`].
    #[cold]
    #[inline(never)]
    unsafe fn alloc_refill(&self, spc: SpanClass) -> Result<NonNull<u8>, Error> {
        let bin = &self.bins[spc.index()];
        // SAFETY: the caller owns the cache; the bin is empty (we only refill then), and
        // its slot array holds at least a batch.
        let p = bin.st.with_mut(|s| unsafe {
            let s = &mut *s;
            debug_assert_eq!(s.n, 0);
            let out = core::slice::from_raw_parts_mut(s.slots, BATCH[spc.index()] as usize);
            let n = self
                .alloc
                .refill(spc, self.shard.load(Ordering::Relaxed), out)?;
            // Hand the carved objects out in ascending address order (the stack pops from
            // the top), as a fresh span's free list would.
            out[..n].reverse();
            s.n = n as u32 - 1;
            s.refilled = true;
            Ok::<usize, Error>(out[n - 1])
        })?;
        bump(&bin.nmalloc);
        // SAFETY: carved objects are never at address 0.
        Ok(unsafe { NonNull::new_unchecked(p as *mut u8) })
    }

    /// Frees an object of the small span class `spc` into its bin. The fast path; a full
    /// bin first returns its older half to the central.
    ///
    /// # Safety
    /// The calling thread owns this cache; `p` was allocated from `spc` by this cache's
    /// allocator (by any cache) and is not used again.
    #[inline(always)]
    pub(crate) unsafe fn free_small(&self, p: NonNull<u8>, spc: SpanClass) {
        // SAFETY: span classes index `bins` by construction.
        let bin = unsafe { self.bins.get_unchecked(spc.index()) };
        // SAFETY: we own the cache; `slots[n]` is inside the array when `n < cap`.
        let pushed = bin.st.with_mut(|s| unsafe {
            let s = &mut *s;
            if s.n < s.cap {
                *s.slots.add(s.n as usize) = p.as_ptr() as usize;
                s.n += 1;
                true
            } else {
                false
            }
        });
        if !pushed {
            // SAFETY: forwarded.
            unsafe { self.free_slow(p, spc) };
        }
        bump(&bin.nfree);
    }

    /// Frees into a full bin: doubles the bin if it refilled since its last flush, that
    /// flush held only objects of the cache's own shard, and the cache's budget allows;
    /// else returns the bin's older half to the central.
    ///
    /// # Safety
    /// As [`Cache::free_small`].
    #[cold]
    #[inline(never)]
    unsafe fn free_slow(&self, p: NonNull<u8>, spc: SpanClass) {
        let bin = &self.bins[spc.index()];
        let size = spc.size_class().size();
        // SAFETY: owner only.
        let (cap, grow) = bin
            .st
            .with(|s| unsafe { ((*s).cap as usize, (*s).refilled && (*s).local) });
        // SAFETY: owner only.
        let budget = self.cap_bytes.with(|b| unsafe { *b });
        let grown = grow && budget + cap * size <= CACHE_BUDGET && self.grow_bin(spc, cap);
        if grown {
            // SAFETY: owner only.
            self.cap_bytes.with_mut(|b| unsafe { *b += cap * size });
        } else {
            // SAFETY: forwarded.
            unsafe { self.flush_bin(spc, cap / 2) };
        }
        // SAFETY: we own the cache; the bin has room after growing or flushing.
        bin.st.with_mut(|s| unsafe {
            let s = &mut *s;
            *s.slots.add(s.n as usize) = p.as_ptr() as usize;
            s.n += 1;
        });
    }

    /// Doubles the slot array of `spc`'s full bin (capacity `cap`). False when no
    /// memory is available.
    fn grow_bin(&self, spc: SpanClass, cap: usize) -> bool {
        let Ok(new) = persistent_alloc(2 * cap * size_of::<usize>(), align_of::<usize>()) else {
            return false;
        };
        let new = new.cast::<usize>().as_ptr();
        // SAFETY: owner only; `new` holds `2 * cap` slots and `slots[0..cap]` are live.
        self.bins[spc.index()].st.with_mut(|s| unsafe {
            let s = &mut *s;
            core::ptr::copy_nonoverlapping(s.slots, new, s.n as usize);
            s.slots = new;
            s.cap = 2 * cap as u32;
        });
        true
    }

    /// Keeps the `keep` most recently freed objects of `spc`'s bin and returns the older
    /// ones to the central.
    ///
    /// # Safety
    /// The calling thread owns this cache.
    #[cold]
    #[inline(never)]
    unsafe fn flush_bin(&self, spc: SpanClass, keep: usize) {
        let bin = &self.bins[spc.index()];
        // SAFETY: we own the bin; `slots[0..n]` are free objects of `spc`.
        bin.st.with_mut(|s| unsafe {
            let s = &mut *s;
            let n = s.n as usize;
            if n <= keep {
                return;
            }
            let k = n - keep;
            s.refilled = false;
            s.local = self.alloc.flush_objects(
                spc,
                self.shard.load(Ordering::Relaxed),
                core::slice::from_raw_parts(s.slots, k),
            );
            core::ptr::copy(s.slots.add(k), s.slots, keep);
            s.n = keep as u32;
        });
    }

    /// Returns every cached free object to the centrals and drops the tiny block (Go
    /// `mcache.releaseAll`). The tiny block stays allocated until swept.
    pub(crate) fn flush(&self) {
        self.check_invariants();
        for i in 2..NUM_SPAN_CLASSES {
            // SAFETY: `flush` is called by the cache's owner (methods are reached only
            // through the owning TLS slot or `CacheHandle`).
            unsafe { self.flush_bin(SpanClass(i as u8), 0) };
        }
        // SAFETY: as above, owner only.
        self.tiny.with_mut(|t| unsafe {
            *t = Tiny {
                block: 0,
                offset: 0,
            }
        });
    }

    /// Allocates `size < 16` pointer-free bytes from the current tiny block, placing
    /// several tiny objects in one 16 B block (Go `mallocgc` tiny path). A tiny object is
    /// never freed alone: its block is reclaimed when the collector sweeps it unmarked.
    ///
    /// # Safety
    /// The calling thread owns this cache; `size < 16`, `align <= 8`.
    pub(crate) unsafe fn alloc_tiny(
        &self,
        size: usize,
        align: usize,
    ) -> Result<NonNull<u8>, Error> {
        let natural = if size & 7 == 0 {
            8
        } else if size & 3 == 0 {
            4
        } else if size & 1 == 0 {
            2
        } else {
            1
        };
        let align = natural.max(align);
        // SAFETY: owner only ([Safety]).
        let hit = self.tiny.with_mut(|t| unsafe {
            let t = &mut *t;
            let off = (t.offset + align - 1) & !(align - 1);
            if t.block != 0 && off + size <= TINY_SIZE {
                t.offset = off + size;
                t.block + off
            } else {
                0
            }
        });
        if let Some(p) = NonNull::new(hit as *mut u8) {
            bump(&self.tiny_allocs);
            return Ok(p);
        }
        // SAFETY: forwarded; the tiny span class is small.
        let b = unsafe { self.alloc_small(SpanClass::TINY)? };
        // SAFETY: a fresh 16 B object of ours.
        unsafe { core::ptr::write_bytes(b.as_ptr(), 0, TINY_SIZE) };
        // SAFETY: owner only.
        self.tiny.with_mut(|t| unsafe {
            let t = &mut *t;
            if size < t.offset || t.block == 0 {
                t.block = b.as_ptr() as usize;
                t.offset = size;
            }
        });
        Ok(b)
    }

    /// Allocates `size` bytes at `align` (scan unless `noscan` or `align` is below a
    /// pointer's), zeroed when `zero`.
    ///
    /// # Safety
    /// The calling thread owns this cache.
    #[inline]
    pub(crate) unsafe fn alloc_layout(
        &self,
        size: usize,
        align: usize,
        noscan: bool,
        zero: bool,
    ) -> Result<NonNull<u8>, Error> {
        let spc = SpanClass::for_layout(size, align, noscan);
        if spc.is_large() {
            return self.alloc.alloc_large(size, align, spc, zero);
        }
        // SAFETY: forwarded; `spc` is small.
        let p = unsafe { self.alloc_small(spc)? };
        if zero {
            // SAFETY: the object holds at least `size` bytes.
            unsafe { core::ptr::write_bytes(p.as_ptr(), 0, size) };
        }
        Ok(p)
    }

    /// Frees an object allocated with the same `size`, `align`, `noscan`.
    ///
    /// # Safety
    /// The calling thread owns this cache; `p` came from this allocator with this layout
    /// and is not used again.
    #[inline]
    pub(crate) unsafe fn dealloc_layout(
        &self,
        p: NonNull<u8>,
        size: usize,
        align: usize,
        noscan: bool,
    ) {
        let spc = SpanClass::for_layout(size, align, noscan);
        if spc.is_large() {
            // SAFETY: forwarded.
            unsafe { self.alloc.free_large(p.as_ptr() as usize) };
        } else {
            // SAFETY: forwarded.
            unsafe { self.free_small(p, spc) };
        }
    }

    /// Resizes an object: in place when the new size stays in the same span class (or a
    /// large object's span still fits it and is at most half empty), else allocate, copy,
    /// free.
    ///
    /// # Safety
    /// As [`Cache::dealloc_layout`] for `p` with the old layout.
    pub(crate) unsafe fn realloc_layout(
        &self,
        p: NonNull<u8>,
        size: usize,
        align: usize,
        noscan: bool,
        new_size: usize,
    ) -> Result<NonNull<u8>, Error> {
        let old = SpanClass::for_layout(size, align, noscan);
        let new = SpanClass::for_layout(new_size, align, noscan);
        if old == new {
            if !old.is_large() {
                return Ok(p);
            }
            let cap = self.alloc.large_capacity(p.as_ptr() as usize);
            if new_size <= cap && new_size > cap / 2 {
                return Ok(p);
            }
        }
        // SAFETY: forwarded.
        let q = unsafe { self.alloc_layout(new_size, align, noscan, false)? };
        // SAFETY: both objects are live, distinct and hold at least min(size, new_size).
        unsafe {
            core::ptr::copy_nonoverlapping(p.as_ptr(), q.as_ptr(), size.min(new_size));
            self.dealloc_layout(p, size, align, noscan);
        }
        Ok(q)
    }

    /// Allocation and free counts of span class `spc` (cumulative).
    pub(crate) fn counts(&self, spc: usize) -> (u64, u64) {
        let b = &self.bins[spc];
        (
            b.nmalloc.load(Ordering::Relaxed),
            b.nfree.load(Ordering::Relaxed),
        )
    }

    /// Debug check: no bin holds more than its capacity. Owner only.
    pub(crate) fn check_invariants(&self) {
        if !cfg!(debug_assertions) {
            return;
        }
        for bin in &self.bins {
            // SAFETY: called by the owner.
            bin.st.with(|s| unsafe {
                let s = &*s;
                if s.n > s.cap {
                    gort_heap::fatal("cache bin holds more objects than its capacity");
                }
            });
        }
    }
}

/// An owned cache, for a thread or a scheduler's P (Go: `p.mcache`). Not `Sync`: one
/// owner at a time; `Send`, so a P's cache can move with the P. Dropping it flushes the
/// cache and returns it to the pool.
#[derive(Debug)]
pub struct CacheHandle {
    /// The cache, owned exclusively by this handle.
    cache: NonNull<Cache>,
}

// SAFETY: the handle owns the cache exclusively; moving it moves the ownership.
unsafe impl Send for CacheHandle {}

impl CacheHandle {
    pub(crate) fn from_raw(c: *const Cache) -> CacheHandle {
        match NonNull::new(c.cast_mut()) {
            Some(cache) => CacheHandle { cache },
            None => gort_heap::fatal("null cache"),
        }
    }

    fn cache(&self) -> &Cache {
        // SAFETY: persistent caches live forever; the handle owns this one.
        unsafe { self.cache.as_ref() }
    }

    /// The allocator this cache belongs to.
    pub fn allocator(&self) -> &'static Allocator {
        self.cache().alloc
    }

    /// The central shard this cache refills from (tests).
    #[cfg(test)]
    pub(crate) fn shard(&self) -> u8 {
        self.cache().shard.load(Ordering::Relaxed)
    }

    /// Allocates memory for `layout`: a scan object unless its alignment is below a
    /// pointer's.
    pub fn alloc(&mut self, layout: core::alloc::Layout) -> Result<NonNull<u8>, Error> {
        // SAFETY: `&mut self` proves exclusive ownership of the cache.
        unsafe {
            self.cache()
                .alloc_layout(layout.size(), layout.align(), false, false)
        }
    }

    /// As [`CacheHandle::alloc`], zeroed (skipping the zeroing of fresh large spans).
    pub fn alloc_zeroed(&mut self, layout: core::alloc::Layout) -> Result<NonNull<u8>, Error> {
        // SAFETY: exclusive ownership.
        unsafe {
            self.cache()
                .alloc_layout(layout.size(), layout.align(), false, true)
        }
    }

    /// Allocates a pointer-free (noscan) object for `layout`.
    pub fn alloc_noscan(&mut self, layout: core::alloc::Layout) -> Result<NonNull<u8>, Error> {
        // SAFETY: exclusive ownership.
        unsafe {
            self.cache()
                .alloc_layout(layout.size(), layout.align(), true, false)
        }
    }

    /// Allocates a tiny pointer-free object (`size < 16`, `align <= 8`) from the tiny
    /// allocator; larger requests go to [`CacheHandle::alloc_noscan`]. Tiny objects are
    /// reclaimed only by the collector's sweep, never by a free.
    pub fn alloc_tiny(&mut self, size: usize, align: usize) -> Result<NonNull<u8>, Error> {
        if size >= TINY_SIZE || align > 8 || size == 0 {
            // SAFETY: exclusive ownership.
            return unsafe { self.cache().alloc_layout(size, align, true, false) };
        }
        // SAFETY: exclusive ownership; `size < 16`, `align <= 8`.
        unsafe { self.cache().alloc_tiny(size, align) }
    }

    /// Frees `ptr`, allocated by any cache of this allocator with `layout`
    /// (scan/noscan as [`CacheHandle::alloc`]).
    ///
    /// # Safety
    /// `ptr` came from [`CacheHandle::alloc`] (or the global allocator, when this is the
    /// global `Allocator`) with `layout`, and is not used again.
    pub unsafe fn dealloc(&mut self, ptr: NonNull<u8>, layout: core::alloc::Layout) {
        // SAFETY: exclusive ownership; the rest is [Safety].
        unsafe {
            self.cache()
                .dealloc_layout(ptr, layout.size(), layout.align(), false)
        }
    }

    /// Frees a noscan object from [`CacheHandle::alloc_noscan`].
    ///
    /// # Safety
    /// As [`CacheHandle::dealloc`], for an object from `alloc_noscan` with `layout`.
    pub unsafe fn dealloc_noscan(&mut self, ptr: NonNull<u8>, layout: core::alloc::Layout) {
        // SAFETY: exclusive ownership; the rest is [Safety].
        unsafe {
            self.cache()
                .dealloc_layout(ptr, layout.size(), layout.align(), true)
        }
    }

    /// Resizes `ptr` (allocated with `layout`) to `new_size` bytes, in place when the
    /// size class still fits.
    ///
    /// # Safety
    /// As [`CacheHandle::dealloc`]; on `Ok` the old pointer is no longer valid unless equal.
    pub unsafe fn realloc(
        &mut self,
        ptr: NonNull<u8>,
        layout: core::alloc::Layout,
        new_size: usize,
    ) -> Result<NonNull<u8>, Error> {
        // SAFETY: exclusive ownership; the rest is [Safety].
        unsafe {
            self.cache()
                .realloc_layout(ptr, layout.size(), layout.align(), false, new_size)
        }
    }

    /// Returns every cached free object to the centrals (before a sweep, or when the P
    /// goes idle).
    pub fn flush(&mut self) {
        self.cache().flush();
    }
}

impl Drop for CacheHandle {
    fn drop(&mut self) {
        // SAFETY: the handle owns the cache and is going away.
        unsafe { self.cache().release() };
    }
}
