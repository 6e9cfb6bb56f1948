//! Guard-page policy: how a stack segment's overflow is caught, chosen at run time.
//! See the crate docs for the overview.

use crate::os;
use crate::sync::static_atomic::{AtomicU8, Ordering};

/// How the pool protects the page below each stack segment.
///
/// The global pool picks the best one the kernel supports ([`guard_policy`]); a pool
/// built by `testing::pool_with_policy` may force another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GuardPolicy {
    /// `madvise(MADV_GUARD_INSTALL)` (Linux ≥ 6.13): a guard page costs no VMA, so a
    /// million guarded stacks stay far under `vm.max_map_count`.
    MadviseGuard,
    /// `mprotect(PROT_NONE)` guard pages (older kernels): each costs two VMAs, so at most
    /// `budget` stacks get one (a quarter of `vm.max_map_count`); later segments fall back
    /// to [`GuardKind::Canary`].
    Mprotect {
        /// How many guard pages this policy may install in the whole pool.
        budget: usize,
    },
    /// No guard page at all: every segment gets a canary word at its limit, checked when
    /// a coroutine suspends or finishes and when the segment is freed. An overflow is then
    /// reported late (after it wrote below the limit) but still as a fatal error, never
    /// as silent corruption of a neighbour that goes on running.
    Canary,
}

/// How one segment is protected (a [`GuardPolicy`] can mix the last two kinds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GuardKind {
    /// A `MADV_GUARD_INSTALL` guard page below the limit.
    Madvise,
    /// An `mprotect(PROT_NONE)` guard page below the limit.
    Mprotect,
    /// No guard page: a canary word at the limit ([`CANARY`]).
    Canary,
}

impl GuardKind {
    /// Encodes the kind in the two low bits of a page-aligned slot address.
    pub(crate) const fn tag(self) -> usize {
        match self {
            GuardKind::Madvise => 0,
            GuardKind::Mprotect => 1,
            GuardKind::Canary => 2,
        }
    }

    /// Decodes [`GuardKind::tag`].
    pub(crate) const fn from_tag(tag: usize) -> GuardKind {
        match tag & 3 {
            0 => GuardKind::Madvise,
            1 => GuardKind::Mprotect,
            _ => GuardKind::Canary,
        }
    }
}

/// The word written at the limit of an unguarded segment.
pub const CANARY: usize = 0x60a7_57ac_c0de_57ac;

/// 0 = not probed yet, 1 = `MADV_GUARD_INSTALL` works, 2 = it does not (EINVAL or other).
static MADVISE_GUARD_WORKS: AtomicU8 = AtomicU8::new(0);

/// Whether this kernel accepts `MADV_GUARD_INSTALL`, probed once on a scratch mapping.
pub(crate) fn madvise_guard_supported() -> bool {
    match MADVISE_GUARD_WORKS.load(Ordering::Relaxed) {
        1 => return true,
        2 => return false,
        _ => {}
    }
    let page = os::page_size();
    let works = match os::reserve(2 * page) {
        Ok(addr) => {
            let ok = os::guard_install(addr, page).is_ok();
            // SAFETY: the scratch mapping was just made here and nothing refers to it.
            unsafe { os::unmap(addr, 2 * page) };
            ok
        }
        Err(_) => false,
    };
    MADVISE_GUARD_WORKS.store(if works { 1 } else { 2 }, Ordering::Relaxed);
    works
}

/// The policy the kernel allows: [`GuardPolicy::MadviseGuard`] when the probe succeeds,
/// else [`GuardPolicy::Mprotect`] with a budget of a quarter of `vm.max_map_count`
/// (each guard splits a VMA in two, and half the map count stays for everyone else).
pub(crate) fn detect_policy() -> GuardPolicy {
    if madvise_guard_supported() {
        GuardPolicy::MadviseGuard
    } else {
        GuardPolicy::Mprotect {
            budget: os::max_map_count() / 4,
        }
    }
}

/// The guard policy of the global stack pool (the one [`crate::Stack::new`] uses).
pub fn guard_policy() -> GuardPolicy {
    crate::pool::StackPool::global().policy()
}
