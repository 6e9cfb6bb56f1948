//! `persistent_alloc`: off-heap metadata memory that is never freed (Go: malloc.go,
//! `persistentalloc`). See the crate docs for the overview.
//!
//! A bump allocator over 256 KiB chunks mapped from the OS, guarded by a tiny spin lock
//! held only for the bump (and for the `mmap` of a new chunk, a few microseconds once per
//! 256 KiB). Requests above 64 KiB get their own mapping. The memory is zeroed (fresh OS
//! pages, never reused) and is never returned. Nothing here touches the Rust global
//! allocator, so gort-alloc (the `#[global_allocator]`) may call it from its slow paths.

use core::ptr::NonNull;

use crate::error::Error;
use crate::lock_rank::{self, Rank};
use crate::os;
use crate::sync::static_atomic::{AtomicBool, AtomicUsize, Ordering};
use crate::{Address, PAGE_SIZE};

/// Size of one bump chunk.
const CHUNK_BYTES: usize = 256 << 10;
/// Requests larger than this get their own mapping instead of a chunk's tail.
const DIRECT_THRESHOLD: usize = 64 << 10;

/// The spin lock guarding `CURSOR` and `END`.
static LOCK: AtomicBool = AtomicBool::new(false);
/// Next free byte of the current chunk (0: no chunk). Protected by `LOCK`.
static CURSOR: AtomicUsize = AtomicUsize::new(0);
/// End of the current chunk. Protected by `LOCK`.
static END: AtomicUsize = AtomicUsize::new(0);
/// Bytes obtained from the OS for persistent memory (Go: part of `OtherSys`). Atomic.
static SYS_BYTES: AtomicUsize = AtomicUsize::new(0);

/// Allocates `size` bytes aligned to `align` of zeroed memory that lives for the rest of
/// the process (Go: `persistentalloc`). Thread-safe; never uses the Rust global
/// allocator. `size == 0` returns a dangling, aligned pointer.
///
/// Errors: [`Error::InvalidLayout`] if `align` is not a power of two or is above 1 MiB;
/// [`Error::OutOfMemory`] if the OS refuses memory.
pub fn persistent_alloc(size: usize, align: usize) -> Result<NonNull<u8>, Error> {
    if !align.is_power_of_two() || align > (1 << 20) || size > isize::MAX as usize / 2 {
        return Err(Error::InvalidLayout { size, align });
    }
    if size == 0 {
        return Ok(NonNull::new(align as *mut u8).unwrap_or(NonNull::dangling()));
    }
    if size > DIRECT_THRESHOLD || align > os::os_page_size() {
        return direct(size, align);
    }
    lock();
    let result = bump(size, align);
    unlock();
    result
}

/// Total bytes obtained from the OS by [`persistent_alloc`] (Go's `OtherSys` share).
pub fn persistent_sys_bytes() -> usize {
    SYS_BYTES.load(Ordering::Relaxed)
}

/// Carves from the current chunk, mapping a new one when it is exhausted. Caller holds
/// `LOCK`.
fn bump(size: usize, align: usize) -> Result<NonNull<u8>, Error> {
    let mut cur = CURSOR.load(Ordering::Relaxed);
    let mut end = END.load(Ordering::Relaxed);
    let mut start = crate::address::align_up(cur, align);
    if cur == 0 || start + size > end {
        let chunk = os::map_zeroed(CHUNK_BYTES).map_err(|_| Error::OutOfMemory {
            requested_pages: size.div_ceil(PAGE_SIZE),
        })?;
        SYS_BYTES.fetch_add(CHUNK_BYTES, Ordering::Relaxed);
        cur = chunk.as_usize();
        end = cur + CHUNK_BYTES;
        start = crate::address::align_up(cur, align);
        END.store(end, Ordering::Relaxed);
    }
    CURSOR.store(start + size, Ordering::Relaxed);
    NonNull::new(Address::new(start).as_ptr::<u8>()).ok_or(Error::OutOfMemory {
        requested_pages: size.div_ceil(PAGE_SIZE),
    })
}

/// A mapping of its own for a large or over-aligned request.
fn direct(size: usize, align: usize) -> Result<NonNull<u8>, Error> {
    let oom = Error::OutOfMemory {
        requested_pages: size.div_ceil(PAGE_SIZE),
    };
    let extra = if align > os::os_page_size() { align } else { 0 };
    let bytes = crate::address::align_up(size + extra, os::os_page_size());
    let base = os::map_zeroed(bytes).map_err(|_| oom)?;
    SYS_BYTES.fetch_add(bytes, Ordering::Relaxed);
    NonNull::new(base.align_up(align).as_ptr::<u8>()).ok_or(oom)
}

fn lock() {
    crate::sync::runtime_lock::enter();
    lock_rank::acquire(Rank::Persistent);
    let mut spins = 0u32;
    while LOCK
        .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        spins += 1;
        if spins.is_multiple_of(64) {
            // The holder may be descheduled inside mmap; let it run.
            // SAFETY: sched_yield has no preconditions.
            unsafe { libc::sched_yield() };
        } else {
            core::hint::spin_loop();
        }
    }
}

fn unlock() {
    LOCK.store(false, Ordering::Release);
    lock_rank::release(Rank::Persistent);
    crate::sync::runtime_lock::exit();
}
