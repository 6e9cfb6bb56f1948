//! `GortAlloc`, the `#[global_allocator]`, with a cache per thread in thread-local
//! storage. See the crate docs for the overview.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::Cell;
use core::ptr::NonNull;

use gort_heap::PageHeap;

use crate::allocator::Allocator;
use crate::cache::Cache;
use crate::error::Error;
use crate::span_class::SpanClass;
use crate::sync::static_atomic::{AtomicPtr, AtomicU8, Ordering};
use gort_heap::fatal;

/// Go's allocator as Rust's global allocator: `#[global_allocator] static A: GortAlloc = GortAlloc;`
///
/// Every thread gets a [`Cache`] from [`Allocator::global`] on its first allocation and
/// returns it when the thread exits. Allocations whose alignment is below a pointer's go
/// to noscan span classes (they cannot hold an aligned pointer).
#[derive(Debug, Default, Clone, Copy)]
pub struct GortAlloc;

/// The global allocator, set once by [`Allocator::try_global`].
static GLOBAL: AtomicPtr<Allocator> = AtomicPtr::new(core::ptr::null_mut());
/// 0 = not started, 1 = being built, 2 = ready, 3 = failed.
static GLOBAL_STATE: AtomicU8 = AtomicU8::new(0);

impl Allocator {
    /// The process-wide allocator over [`PageHeap::global`], built on first use (without
    /// the Rust global allocator). Aborts if it cannot be built.
    pub fn global() -> &'static Allocator {
        match Allocator::try_global() {
            Ok(a) => a,
            Err(_) => fatal("cannot initialise the global allocator"),
        }
    }

    /// As [`Allocator::global`], returning the error instead of aborting.
    #[inline]
    pub fn try_global() -> Result<&'static Allocator, Error> {
        let p = GLOBAL.load(Ordering::Acquire);
        if !p.is_null() {
            // SAFETY: GLOBAL only holds the persistent allocator published below.
            return Ok(unsafe { &*p });
        }
        Allocator::init_global()
    }

    #[cold]
    fn init_global() -> Result<&'static Allocator, Error> {
        loop {
            match GLOBAL_STATE.compare_exchange(0, 1, Ordering::Acquire, Ordering::Acquire) {
                Ok(_) => {
                    return match Allocator::new_persistent(PageHeap::global()) {
                        Ok(a) => {
                            GLOBAL.store(core::ptr::from_ref(a).cast_mut(), Ordering::Release);
                            GLOBAL_STATE.store(2, Ordering::Release);
                            Ok(a)
                        }
                        Err(e) => {
                            GLOBAL_STATE.store(0, Ordering::Release);
                            Err(e)
                        }
                    };
                }
                Err(2) => {
                    // SAFETY: state 2 is stored after GLOBAL is published.
                    return Ok(unsafe { &*GLOBAL.load(Ordering::Acquire) });
                }
                Err(_) => core::hint::spin_loop(),
            }
        }
    }
}

/// Thread states of the TLS cache slot.
const UNSET: u8 = 0;
const LIVE: u8 = 1;
const DEAD: u8 = 2;

thread_local! {
    /// This thread's cache, null until the first allocation and after thread exit.
    static CACHE: Cell<*const Cache> = const { Cell::new(core::ptr::null()) };
    /// UNSET, LIVE or DEAD (after the exit guard ran: use the orphan cache).
    static STATE: Cell<u8> = const { Cell::new(UNSET) };
    /// Returns the cache when the thread exits.
    static GUARD: ExitGuard = const { ExitGuard };
}

/// Its destructor returns the thread's cache to the pool at thread exit.
struct ExitGuard;

impl Drop for ExitGuard {
    fn drop(&mut self) {
        let c = CACHE.with(|c| c.replace(core::ptr::null()));
        STATE.with(|s| s.set(DEAD));
        if !c.is_null() {
            // SAFETY: the slot owned the cache; it is now unreachable from this thread.
            unsafe { (*c).release() };
        }
    }
}

/// This thread's cache, created on first use; `None` once the thread is exiting (the
/// caller then uses the orphan cache) or if no cache can be made.
#[cold]
#[inline(never)]
fn thread_cache_slow() -> Option<&'static Cache> {
    match STATE.with(|s| s.get()) {
        DEAD => return None,
        LIVE => {
            // SAFETY: a LIVE slot holds this thread's persistent cache.
            return Some(unsafe { &*CACHE.with(|c| c.get()) });
        }
        _ => {}
    }
    let c = Cache::acquire(Allocator::try_global().ok()?).ok()?;
    // Publish before registering the exit guard: registration may allocate.
    CACHE.with(|s| s.set(c));
    STATE.with(|s| s.set(LIVE));
    if GUARD.try_with(|_| ()).is_err() {
        CACHE.with(|s| s.set(core::ptr::null()));
        STATE.with(|s| s.set(DEAD));
        // SAFETY: we own the cache and dropped it from the slot.
        unsafe { (*c).release() };
        return None;
    }
    // SAFETY: persistent caches live forever.
    Some(unsafe { &*c })
}

#[inline(always)]
fn thread_cache() -> *const Cache {
    CACHE.with(|c| c.get())
}

#[cold]
#[inline(never)]
unsafe fn alloc_slow(size: usize, align: usize, zero: bool) -> *mut u8 {
    let r = match thread_cache_slow() {
        // SAFETY: this thread owns its TLS cache.
        Some(c) => unsafe { c.alloc_layout(size, align, false, zero) },
        None => match Allocator::try_global() {
            // SAFETY: the orphan cache is used under its lock.
            Ok(a) => a
                .with_orphan(|c| unsafe { c.alloc_layout(size, align, false, zero) })
                .and_then(|r| r),
            Err(e) => Err(e),
        },
    };
    r.map_or(core::ptr::null_mut(), NonNull::as_ptr)
}

#[cold]
#[inline(never)]
unsafe fn dealloc_slow(p: NonNull<u8>, size: usize, align: usize) {
    let spc = SpanClass::for_layout(size, align, false);
    if spc.is_large() {
        // SAFETY: the caller's contract: `p` is a live allocation of ours with this layout.
        unsafe { Allocator::global().free_large(p.as_ptr() as usize) };
        return;
    }
    match thread_cache_slow() {
        // SAFETY: this thread owns its TLS cache; `p` is ours.
        Some(c) => unsafe { c.free_small(p, spc) },
        None => {
            let a = Allocator::global();
            // SAFETY: the orphan cache is used under its lock; `p` is ours.
            if a.with_orphan(|c| unsafe { c.free_small(p, spc) }).is_err() {
                fatal("cannot free: no cache");
            }
        }
    }
}

// SAFETY: every method returns memory from `Allocator::global()` that is valid for the
// layout (size and alignment: size classes serve an alignment only when it divides their
// size, larger ones get their own aligned span) and not handed out again until freed.
unsafe impl GlobalAlloc for GortAlloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let (size, align) = (layout.size(), layout.align());
        let c = thread_cache();
        if !c.is_null() {
            let spc = SpanClass::for_layout(size, align, false);
            if !spc.is_large() {
                // SAFETY: this thread owns its TLS cache; `spc` is small.
                if let Some(p) = unsafe { (*c).alloc_fast(spc) } {
                    return p.as_ptr();
                }
            }
        }
        // SAFETY: forwarded.
        unsafe { alloc_slow(size, align, false) }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let Some(p) = NonNull::new(ptr) else { return };
        let (size, align) = (layout.size(), layout.align());
        let spc = SpanClass::for_layout(size, align, false);
        let c = thread_cache();
        if !c.is_null() && !spc.is_large() {
            // SAFETY: this thread owns its TLS cache; the caller guarantees `ptr` came
            // from us with `layout`.
            unsafe { (*c).free_small(p, spc) };
            return;
        }
        // SAFETY: forwarded.
        unsafe { dealloc_slow(p, size, align) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded.
        unsafe { alloc_slow(layout.size(), layout.align(), true) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let (size, align) = (layout.size(), layout.align());
        let (old, new) = (
            SpanClass::for_layout(size, align, false),
            SpanClass::for_layout(new_size, align, false),
        );
        if old == new && !old.is_large() {
            return ptr;
        }
        let Some(p) = NonNull::new(ptr) else {
            return core::ptr::null_mut();
        };
        let c = thread_cache();
        let c = if c.is_null() {
            thread_cache_slow()
        } else {
            // SAFETY: persistent caches live forever.
            Some(unsafe { &*c })
        };
        let r = match c {
            // SAFETY: this thread owns its cache; `ptr` is ours with `layout`.
            Some(c) => unsafe { c.realloc_layout(p, size, align, false, new_size) },
            None => match Allocator::try_global() {
                // SAFETY: the orphan cache is used under its lock; `ptr` is ours.
                Ok(a) => a
                    .with_orphan(|c| unsafe { c.realloc_layout(p, size, align, false, new_size) })
                    .and_then(|r| r),
                Err(e) => Err(e),
            },
        };
        r.map_or(core::ptr::null_mut(), NonNull::as_ptr)
    }
}
