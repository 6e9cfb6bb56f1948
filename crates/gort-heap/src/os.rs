//! The one door to the OS's virtual memory calls (CONVENTIONS 8): reserve, commit,
//! decommit and release address space, and read the OS page size at run time.
//! See the crate docs for the overview.
//!
//! Go: mem_linux.go (`sysReserve`, `sysMap`, `sysUnused`, `sysFree`). The states of a
//! range follow Go's: *Reserved* (PROT_NONE, no memory behind it) → *Ready* (read/write;
//! pages are faulted in zeroed on first touch) → *Released* (still Ready, but the physical
//! pages were handed back with `MADV_DONTNEED`, so they read as zero again) → unmapped.
//! Every mapping uses `MAP_NORESERVE`, so a large reservation costs no commit charge.
#![allow(
    clippy::disallowed_methods,
    reason = "this module is the one door to mmap/munmap/madvise/mprotect"
)]

use crate::error::Error;
use crate::sync::static_atomic::{AtomicUsize, Ordering};
use crate::{Address, PAGE_SIZE};

/// The OS page size, read once (0 until then).
static OS_PAGE_SIZE: AtomicUsize = AtomicUsize::new(0);

/// The OS page size in bytes, read at run time with `sysconf(_SC_PAGESIZE)` (never
/// assumed to be 4 KiB). Runtime pages are 8 KiB whatever this is; when the OS page is
/// larger, the scavenger releases only whole, aligned OS pages.
pub fn os_page_size() -> usize {
    let cached = OS_PAGE_SIZE.load(Ordering::Relaxed);
    if cached != 0 {
        return cached;
    }
    // SAFETY: sysconf has no memory-safety preconditions.
    let raw = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    let size = usize::try_from(raw)
        .ok()
        .filter(|s| s.is_power_of_two())
        .unwrap_or(4096);
    OS_PAGE_SIZE.store(size, Ordering::Relaxed);
    size
}

/// `mmap` of `bytes` anonymous private bytes with `prot`, at `hint` if non-null (and then
/// only exactly there: a different placement is undone and reported as failure).
fn map(hint: Address, bytes: usize, prot: libc::c_int) -> Option<Address> {
    let mut flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE;
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if !hint.is_null() {
        // Never clobber an existing mapping; kernels before 4.17 treat it as a hint.
        flags |= libc::MAP_FIXED_NOREPLACE;
    }
    // SAFETY: an anonymous mapping without MAP_FIXED (NOREPLACE never replaces) cannot
    // alias existing memory; `hint` is only advice to the kernel.
    let p = unsafe { libc::mmap(hint.as_ptr(), bytes, prot, flags, -1, 0) };
    if p == libc::MAP_FAILED {
        return None;
    }
    let got = Address::from_ptr(p);
    if !hint.is_null() && got != hint {
        // SAFETY: `got..got+bytes` is the mapping just created and handed to nobody.
        unsafe { munmap(got, bytes) };
        return None;
    }
    Some(got)
}

/// Unmaps `addr..addr+bytes`.
///
/// # Safety
/// The range must be mapped memory owned by the caller that nothing will use again.
unsafe fn munmap(addr: Address, bytes: usize) {
    // SAFETY: by this function's contract the range is ours and unused.
    unsafe { libc::munmap(addr.as_ptr(), bytes) };
}

/// Reserves `bytes` of address space (PROT_NONE, `MAP_NORESERVE`): no memory is committed
/// and touching it faults. With a non-null `hint` the reservation is made exactly at
/// `hint` or not at all (`None`); the heap uses this to grow contiguously.
pub fn reserve(hint: Address, bytes: usize) -> Option<Address> {
    map(hint, bytes, libc::PROT_NONE)
}

/// Reserves `bytes` of address space aligned to `align` (a power of two that is a
/// multiple of the OS page size), by over-reserving and trimming both ends.
pub fn reserve_aligned(bytes: usize, align: usize) -> Result<Address, Error> {
    let exhausted = Error::AddressSpaceExhausted {
        requested_bytes: bytes,
    };
    let total = bytes.checked_add(align).ok_or(exhausted)?;
    let base = map(Address::NULL, total, libc::PROT_NONE).ok_or(exhausted)?;
    let aligned = base.align_up(align);
    let head = aligned.offset_from(base);
    let tail = total - head - bytes;
    if head > 0 {
        // SAFETY: the head is part of the reservation just made and is not handed out.
        unsafe { munmap(base, head) };
    }
    if tail > 0 {
        // SAFETY: the tail is part of the reservation just made and is not handed out.
        unsafe { munmap(aligned.add(bytes), tail) };
    }
    Ok(aligned)
}

/// Makes a reserved range readable and writable (Go: `sysMap` + `sysUsed`). Pages are
/// faulted in, zeroed, on first touch. Fails with `OutOfMemory` if the OS refuses.
///
/// # Safety
/// `addr..addr+bytes` must be (part of) a reservation owned by the caller, OS-page aligned.
pub unsafe fn commit(addr: Address, bytes: usize) -> Result<(), Error> {
    // SAFETY: by this function's contract the range is a reservation we own.
    let rc = unsafe { libc::mprotect(addr.as_ptr(), bytes, libc::PROT_READ | libc::PROT_WRITE) };
    if rc == 0 {
        Ok(())
    } else {
        Err(Error::OutOfMemory {
            requested_pages: bytes.div_ceil(PAGE_SIZE),
        })
    }
}

/// Hands the physical pages of a committed range back to the OS while keeping the range
/// mapped (Go: `sysUnused` with `MADV_DONTNEED`, Go's Linux default since 1.16, chosen
/// over `MADV_FREE` so RSS drops at once and the pages read as zero afterwards).
/// Returns whether the OS accepted.
///
/// # Safety
/// `addr..addr+bytes` must be committed memory owned by the caller, OS-page aligned, and
/// hold nothing anyone will read expecting its old contents.
pub unsafe fn decommit(addr: Address, bytes: usize) -> bool {
    // SAFETY: by this function's contract the range is ours and its contents are dead.
    unsafe { libc::madvise(addr.as_ptr(), bytes, libc::MADV_DONTNEED) == 0 }
}

/// Unmaps a range (Go: `sysFree`).
///
/// # Safety
/// `addr..addr+bytes` must be mapped memory owned by the caller that nothing will use again.
pub unsafe fn release(addr: Address, bytes: usize) {
    // SAFETY: forwarded contract.
    unsafe { munmap(addr, bytes) }
}

/// Maps `bytes` of zeroed read/write memory (`MAP_NORESERVE`, so untouched pages cost
/// nothing): for the heap's large sparse metadata arrays.
pub fn map_zeroed(bytes: usize) -> Result<Address, Error> {
    map(Address::NULL, bytes, libc::PROT_READ | libc::PROT_WRITE).ok_or(
        Error::AddressSpaceExhausted {
            requested_bytes: bytes,
        },
    )
}
