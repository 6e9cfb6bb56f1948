//! The one door to the OS for raw memory and signals (CONVENTIONS 8): every `mmap`,
//! `munmap`, `madvise`, `mprotect`, `mincore` and `sigaltstack` of the crate is here.
//! See the crate docs for the overview.
#![allow(
    clippy::disallowed_methods,
    reason = "this module is the crate's one door to raw memory"
)]

use core::ptr;

use crate::sync::static_atomic::{AtomicUsize, Ordering};

#[cfg(not(target_os = "linux"))]
compile_error!(
    "gort-stack supports only Linux for now: its guard pages (madvise MADV_GUARD_INSTALL / \
     mprotect), overflow handler and mincore use Linux interfaces; port `src/os.rs` and test it"
);

/// `MADV_GUARD_INSTALL` from the kernel's `include/uapi/asm-generic/mman-common.h`
/// (Linux 6.13): accesses to the range raise a fatal SIGSEGV, without adding a VMA.
/// The `libc` crate does not export it yet.
pub(crate) const MADV_GUARD_INSTALL: libc::c_int = 102;

/// The OS page size, read once with `sysconf` (never assumed to be 4 KiB).
pub(crate) fn page_size() -> usize {
    static PAGE: AtomicUsize = AtomicUsize::new(0);
    let p = PAGE.load(Ordering::Relaxed);
    if p != 0 {
        return p;
    }
    // SAFETY: sysconf has no memory-safety preconditions.
    let v = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    let p = if v > 0 { v as usize } else { 4096 };
    PAGE.store(p, Ordering::Relaxed);
    p
}

/// The calling thread's `errno` after a failed call.
pub(crate) fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Reserves `len` bytes of read-write, lazily committed address space (MAP_NORESERVE:
/// pages are committed by touch). Returns the start or the errno.
pub(crate) fn reserve(len: usize) -> Result<usize, i32> {
    // SAFETY: an anonymous private mapping at a kernel-chosen address aliases nothing.
    let p = unsafe {
        libc::mmap(
            ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_STACK,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        Err(errno())
    } else {
        Ok(p as usize)
    }
}

/// Unmaps `[addr, addr + len)`.
///
/// # Safety
/// The range was returned by [`reserve`] (or is a page-aligned part of it) and nothing
/// refers to it any more.
pub(crate) unsafe fn unmap(addr: usize, len: usize) {
    // SAFETY: the caller guarantees the range is ours and unused.
    unsafe { libc::munmap(addr as *mut libc::c_void, len) };
}

/// Installs a guard region with `MADV_GUARD_INSTALL` (no new VMA). `Err(errno)` on
/// failure: `EINVAL` means the kernel predates 6.13 (or the mapping does not qualify).
pub(crate) fn guard_install(addr: usize, len: usize) -> Result<(), i32> {
    // SAFETY: madvise does not touch memory contents the program relies on: the range is
    // a guard page of one of our reservations that holds no data.
    let r = unsafe { libc::madvise(addr as *mut libc::c_void, len, MADV_GUARD_INSTALL) };
    if r == 0 { Ok(()) } else { Err(errno()) }
}

/// Makes `[addr, addr + len)` inaccessible with `mprotect(PROT_NONE)` (splits the VMA).
pub(crate) fn protect_none(addr: usize, len: usize) -> Result<(), i32> {
    // SAFETY: the range is a guard page of one of our reservations; it holds no data.
    let r = unsafe { libc::mprotect(addr as *mut libc::c_void, len, libc::PROT_NONE) };
    if r == 0 { Ok(()) } else { Err(errno()) }
}

/// Gives the pages of `[addr, addr + len)` back to the OS (`MADV_DONTNEED`); they read as
/// zero when touched again. Guard regions in the range are kept by the kernel.
///
/// # Safety
/// Nothing live is stored in the range (its contents are discarded).
pub(crate) unsafe fn release(addr: usize, len: usize) {
    // SAFETY: the caller guarantees the contents are dead.
    unsafe { libc::madvise(addr as *mut libc::c_void, len, libc::MADV_DONTNEED) };
}

/// Counts resident pages of `[addr, addr + len)` (page-aligned) with `mincore`, calling
/// `f(page_index, resident)` for each page in chunks, without allocating.
pub(crate) fn for_each_resident(addr: usize, len: usize, mut f: impl FnMut(usize, bool)) {
    let page = page_size();
    let pages = len / page;
    let mut vec = [0u8; 256];
    let mut done = 0;
    while done < pages {
        let n = (pages - done).min(vec.len());
        // SAFETY: `vec` has room for `n` entries; the range lies in one of our mappings.
        let r = unsafe {
            libc::mincore(
                (addr + done * page) as *mut libc::c_void,
                n * page,
                vec.as_mut_ptr(),
            )
        };
        for (i, b) in vec[..n].iter().enumerate() {
            f(done + i, r == 0 && b & 1 == 1);
        }
        done += n;
    }
}

/// `vm.max_map_count`, or the kernel default 65530 when /proc cannot be read.
pub(crate) fn max_map_count() -> usize {
    std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(65530)
}

/// Writes `bytes` to stderr with `write(2)`: async-signal-safe, no allocation.
pub(crate) fn write_stderr(bytes: &[u8]) {
    let mut rest = bytes;
    while !rest.is_empty() {
        // SAFETY: the pointer and length describe a live byte slice.
        let n = unsafe { libc::write(2, rest.as_ptr().cast(), rest.len()) };
        if n <= 0 {
            return;
        }
        rest = &rest[n as usize..];
    }
}

/// Ends the process at once with `status` (`_exit`: no destructors, async-signal-safe).
pub(crate) fn exit_now(status: i32) -> ! {
    // SAFETY: _exit has no preconditions.
    unsafe { libc::_exit(status) }
}

/// The calling thread's own stack as `(limit, base)` from `pthread_getattr_np`.
pub(crate) fn thread_stack_bounds() -> Option<(usize, usize)> {
    // SAFETY: `attr` is initialised by pthread_getattr_np before use and destroyed after;
    // the out-pointers point to locals.
    unsafe {
        let mut attr: libc::pthread_attr_t = core::mem::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) != 0 {
            return None;
        }
        let mut addr: *mut libc::c_void = ptr::null_mut();
        let mut size: libc::size_t = 0;
        let r = libc::pthread_attr_getstack(&attr, &mut addr, &mut size);
        libc::pthread_attr_destroy(&mut attr);
        if r != 0 {
            return None;
        }
        Some((addr as usize, addr as usize + size))
    }
}
