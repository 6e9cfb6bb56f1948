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

/// Unmaps memory returned by [`map`].
///
/// # Safety
///
/// `p` and `bytes` must be exactly those of one earlier [`map`] call, not yet unmapped,
/// and nothing may use the memory afterwards.
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
