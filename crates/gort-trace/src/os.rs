//! The crate's one door to the OS: buffer memory and thread ids. See the crate docs.
//!
//! gort-trace may not depend on gort-heap (DESIGN's dependency rule), so it maps its
//! buffers itself; this is the only file that calls `mmap`/`munmap`.
#![allow(
    clippy::disallowed_methods,
    reason = "this module is gort-trace's one door to raw OS memory (CONVENTIONS 8)"
)]

#[cfg(not(loom))]
use core::ptr::NonNull;

/// Maps `bytes` of zeroed, private, read-write memory, or `None` if the OS refuses.
/// Never touches the Rust global allocator.
#[cfg(not(loom))]
pub(crate) fn map(bytes: usize) -> Option<NonNull<u8>> {
    // SAFETY: an anonymous private mapping at an address of the kernel's choosing has no
    // preconditions; the result is checked for MAP_FAILED below.
    let p = unsafe {
        libc::mmap(
            core::ptr::null_mut(),
            bytes,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return None;
    }
    NonNull::new(p.cast())
}

/// Size and alignment of a chunk from [`map_huge`] (one x86_64 huge page).
#[cfg(not(loom))]
pub(crate) const HUGE: usize = 2 << 20;

/// Maps [`HUGE`] bytes of zeroed memory aligned to [`HUGE`] and asks for a transparent
/// huge page (`MADV_HUGEPAGE`), so filling it costs one page fault instead of 512; the
/// advice is best effort (the memory is usable either way). Any sub-range may later be
/// given back with [`unmap`] on its own.
#[cfg(not(loom))]
pub(crate) fn map_huge() -> Option<NonNull<u8>> {
    let raw = map(2 * HUGE)?;
    let start = raw.as_ptr() as usize;
    let aligned = (start + HUGE - 1) & !(HUGE - 1);
    let head = aligned - start;
    let tail = HUGE - head;
    // SAFETY: `[start, start + head)` and `[aligned + HUGE, aligned + HUGE + tail)` are the
    // unused ends of the mapping just made (head + HUGE + tail = 2 * HUGE); nothing
    // refers to them.
    unsafe {
        if head > 0 {
            libc::munmap(start as *mut libc::c_void, head);
        }
        if tail > 0 {
            libc::munmap((aligned + HUGE) as *mut libc::c_void, tail);
        }
        libc::madvise(aligned as *mut libc::c_void, HUGE, libc::MADV_HUGEPAGE);
    }
    NonNull::new(aligned as *mut u8)
}

/// Unmaps memory returned by [`map`] (or a buffer-sized piece of a [`map_huge`] chunk).
///
/// # Safety
///
/// `p` and `bytes` must be exactly those of one earlier [`map`] call (or one buffer's
/// piece of a [`map_huge`] chunk), not yet unmapped, and nothing may use the memory
/// afterwards.
#[cfg(not(loom))]
pub(crate) unsafe fn unmap(p: NonNull<u8>, bytes: usize) {
    // SAFETY: by the contract, this is a whole live mapping of ours that is no longer used.
    unsafe { libc::munmap(p.as_ptr().cast(), bytes) };
}

/// The calling thread's OS id (`gettid`), cached per thread. Does not allocate: the
/// cache is a `const`-initialised thread local without a destructor.
pub fn thread_id() -> u32 {
    std::thread_local! {
        static TID: core::cell::Cell<u32> = const { core::cell::Cell::new(0) };
    }
    TID.with(|c| {
        let mut t = c.get();
        if t == 0 {
            // SAFETY: gettid has no preconditions and cannot fail.
            let raw = unsafe { libc::gettid() };
            t = u32::try_from(raw).unwrap_or(u32::MAX);
            c.set(t);
        }
        t
    })
}
