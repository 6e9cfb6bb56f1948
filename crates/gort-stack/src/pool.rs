//! `StackPool`: size classes of stack segments carved from large reservations, reused
//! LIFO, with cold pages given back past a bound. See the crate docs for the overview.

use std::collections::VecDeque;

use crate::compact::CompactArena;
use crate::error::Error;
use crate::guard::{self, CANARY, GuardKind, GuardPolicy};
use crate::os;
use crate::stack::Stack;
use crate::sync::Mutex;
use crate::sync::atomic::{AtomicUsize, Ordering};
use crate::sync::static_atomic;

/// Number of size classes: usable sizes `min_stack_size() << k` for `k < NUM_CLASSES`
/// (16 KiB … 1 GiB with 4 KiB pages; 1 GiB is Go's `maxstacksize`).
pub(crate) const NUM_CLASSES: usize = 17;

/// The smallest usable stack size: 16 KiB, or one page where pages are larger.
pub fn min_stack_size() -> usize {
    os::page_size().max(16 * 1024)
}

/// The largest usable stack size ([`Error::TooLarge`] above it).
pub fn max_stack_size() -> usize {
    min_stack_size() << (NUM_CLASSES - 1)
}

/// Target size of one reservation (one `mmap` holding many segments).
#[cfg(not(loom))]
const RESERVATION_BYTES: usize = 256 << 20;
/// Under loom: a reservation of a few slots, so models exercise carving new ones.
#[cfg(loom)]
const RESERVATION_BYTES: usize = 0;

/// Least number of slots in one reservation.
#[cfg(not(loom))]
const MIN_SLOTS_PER_RESERVATION: usize = 4;
/// Under loom: two slots per reservation.
#[cfg(loom)]
const MIN_SLOTS_PER_RESERVATION: usize = 2;

/// How many of the coldest warm segments are released together once a class holds
/// more than its bound (adjacent ones in one `madvise`).
#[cfg(not(loom))]
const RELEASE_BATCH: usize = 32;
/// Under loom: one at a time.
#[cfg(loom)]
const RELEASE_BATCH: usize = 1;

/// Default bound on the bytes of warm (possibly resident) free segments per class.
pub const DEFAULT_WARM_BYTES: usize = 8 << 20;

/// The size class of a request: the smallest `k` with `min << k >= size`.
pub(crate) fn class_of(size: usize) -> Result<usize, Error> {
    let min = min_stack_size();
    let mut k = 0;
    while (min << k) < size {
        k += 1;
        if k == NUM_CLASSES {
            return Err(Error::TooLarge {
                requested: size,
                max: max_stack_size(),
            });
        }
    }
    Ok(k)
}

/// Free lists and carving state of one size class.
///
/// Invariant: every slot address in `warm` and `cold` is page-aligned plus a
/// [`GuardKind::tag`], lies in a reservation of this class, and is in no other list and
/// not handed out; `next <= end` and `[next, end)` has never been handed out.
#[derive(Debug)]
struct Class {
    /// Usable bytes of a segment of this class. Immutable.
    usable: usize,
    /// Guard page plus usable bytes. Immutable.
    slot: usize,
    /// Free slots whose pages may still be resident, most recently freed at the back
    /// (reused first: its pages are the hottest).
    warm: VecDeque<usize>,
    /// Free slots whose pages were given back with `MADV_DONTNEED` (or never touched).
    cold: Vec<usize>,
    /// The next never-used slot of the newest reservation.
    next: usize,
    /// The end of the newest reservation.
    end: usize,
    /// Reservations of this class, `(start, len)`, unmapped when the pool drops.
    reservations: Vec<(usize, usize)>,
    /// Segments handed out and not yet freed.
    in_use: usize,
}

impl Class {
    fn check_invariants(&self) {
        debug_assert!(
            self.next <= self.end,
            "class carve pointer past its reservation"
        );
        debug_assert!(self.slot == self.usable + os::page_size());
    }
}

/// A point-in-time summary of a pool, for reports and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolStats {
    /// Address space reserved for stacks, in bytes.
    pub reserved_bytes: usize,
    /// Number of reservations (mappings) made.
    pub reservations: usize,
    /// Segments handed out and not yet freed (for the global pool, including those held in
    /// per-thread caches; see [`crate::flush_thread_cache`]).
    pub in_use: usize,
    /// Free segments whose pages may still be resident.
    pub warm: usize,
    /// Free segments whose pages were given back to the OS.
    pub cold: usize,
    /// Segments ever carved out of reservations (`in_use + warm + cold` plus those held
    /// elsewhere, such as a cached `grow` segment, equals it).
    pub carved: usize,
    /// `mprotect` guard pages installed (each costs VMAs; see [`GuardPolicy::Mprotect`]).
    pub mprotect_guards: usize,
    /// Segments compacted now ([`Stack::compact`]), each holding one compact buffer.
    pub compacted: usize,
    /// Bytes of the compact buffers in use (copies rounded up to their 128-byte class).
    pub compact_buffer_bytes: usize,
    /// Bytes mapped for compact buffers (committed only where touched; never unmapped
    /// while the pool lives, freed buffers are reused).
    pub compact_reserved_bytes: usize,
}

/// A pool of stack segments in power-of-two size classes.
///
/// Segments are carved from reservations of about 256 MiB (one `mmap`, `MAP_NORESERVE`,
/// committed by touch); each has one guard page below its limit, installed once when it
/// is first carved and kept while the segment sits in the pool. Freed segments are reused
/// LIFO; once a class holds more than its warm bound of free segments, the coldest has its
/// pages given back with `MADV_DONTNEED`. Reservations are never unmapped while the pool
/// lives (as Go never unmaps stack spans it got from the heap).
#[derive(Debug)]
pub struct StackPool {
    /// The guard policy. Immutable.
    policy: GuardPolicy,
    /// `mprotect` guards installed so far (compared against the policy's budget). Atomic.
    mprotect_guards: AtomicUsize,
    /// Warm free segments kept per class before the coldest is released. Immutable.
    warm_bytes: usize,
    /// Per-class state, each behind its own lock (lock rank: leaf; nothing is taken
    /// while one is held).
    classes: Box<[Mutex<Class>]>,
    /// Whether segments go through per-thread caches (the global pool only). Immutable.
    thread_cached: bool,
    /// Buffers of compacted stacks (lock rank: leaf, never held with a class lock).
    compact: Mutex<CompactArena>,
}

/// Takes a lock, ignoring poisoning: no code path panics while holding a class lock.
macro_rules! lock {
    ($m:expr) => {
        match $m.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    };
}

impl StackPool {
    /// A pool with `policy` and a bound of `warm_bytes` of warm free segments per class.
    pub(crate) fn new(policy: GuardPolicy, warm_bytes: usize) -> StackPool {
        let page = os::page_size();
        let classes = (0..NUM_CLASSES)
            .map(|k| {
                let usable = min_stack_size() << k;
                Mutex::new(Class {
                    usable,
                    slot: usable + page,
                    warm: VecDeque::new(),
                    cold: Vec::new(),
                    next: 0,
                    end: 0,
                    reservations: Vec::new(),
                    in_use: 0,
                })
            })
            .collect();
        StackPool {
            policy,
            mprotect_guards: AtomicUsize::new(0),
            warm_bytes,
            classes,
            thread_cached: false,
            compact: Mutex::new(CompactArena::new()),
        }
    }

    /// The process-wide pool used by [`Stack::new`], made on first use with the policy
    /// the kernel supports.
    pub fn global() -> &'static StackPool {
        static GLOBAL: static_atomic::AtomicPtr<StackPool> =
            static_atomic::AtomicPtr::new(core::ptr::null_mut());
        let p = GLOBAL.load(static_atomic::Ordering::Acquire);
        if !p.is_null() {
            // SAFETY: a non-null value was published with Release from a leaked Box and is
            // never freed.
            return unsafe { &*p };
        }
        Self::global_slow(&GLOBAL)
    }

    #[cold]
    #[inline(never)]
    fn global_slow(cell: &static_atomic::AtomicPtr<StackPool>) -> &'static StackPool {
        let mut pool = StackPool::new(guard::detect_policy(), DEFAULT_WARM_BYTES);
        pool.thread_cached = true;
        let fresh = Box::into_raw(Box::new(pool));
        match cell.compare_exchange(
            core::ptr::null_mut(),
            fresh,
            static_atomic::Ordering::AcqRel,
            static_atomic::Ordering::Acquire,
        ) {
            // SAFETY: `fresh` is leaked from here on and never freed.
            Ok(_) => unsafe { &*fresh },
            Err(winner) => {
                // SAFETY: `fresh` lost the race before anyone saw it; it holds no
                // reservations yet, so dropping it is plain deallocation.
                drop(unsafe { Box::from_raw(fresh) });
                // SAFETY: the winner was published with Release and is never freed.
                unsafe { &*winner }
            }
        }
    }

    /// The pool's guard policy.
    pub fn policy(&self) -> GuardPolicy {
        self.policy
    }

    /// A segment of at least `size` usable bytes from this pool.
    pub fn alloc(&'static self, size: usize) -> Result<Stack, Error> {
        let class = class_of(size)?;
        let cached = if self.thread_cached {
            crate::thread_cache::pop(class)
        } else {
            None
        };
        let tagged = match cached {
            Some(t) => t,
            None => self.alloc_slot(class)?,
        };
        let page = os::page_size();
        let usable = min_stack_size() << class;
        let start = tagged & !(page - 1);
        // SAFETY: the slot was just handed out by this pool for `class` and is owned by
        // the new Stack alone; the pool is 'static.
        Ok(unsafe {
            Stack::from_raw_parts(
                start + page,
                start + page + usable,
                GuardKind::from_tag(tagged),
                class as u8,
                self,
            )
        })
    }

    /// Hands out a slot of `class` (tagged with its guard kind), carving and guarding a
    /// new one when both free lists are empty.
    pub(crate) fn alloc_slot(&self, class: usize) -> Result<usize, Error> {
        let mut c = lock!(self.classes[class]);
        if let Some(s) = c.warm.pop_back().or_else(|| c.cold.pop()) {
            c.in_use += 1;
            return Ok(s);
        }
        if c.next == c.end {
            let slots = (RESERVATION_BYTES / c.slot).max(MIN_SLOTS_PER_RESERVATION);
            let len = slots * c.slot;
            let start = os::reserve(len).map_err(|errno| Error::OutOfAddressSpace {
                requested: len,
                errno,
            })?;
            c.reservations.push((start, len));
            #[cfg(not(loom))]
            crate::registry::register(start, len, c.slot);
            c.next = start;
            c.end = start + len;
        }
        let slot = c.next;
        c.next += c.slot;
        c.in_use += 1;
        let usable = c.usable;
        c.check_invariants();
        drop(c);
        match self.install_guard(slot, usable) {
            Ok(kind) => Ok(slot | kind.tag()),
            Err(e) => {
                let mut c = lock!(self.classes[class]);
                c.in_use -= 1;
                c.cold.push(slot | GuardKind::Canary.tag());
                Err(e)
            }
        }
    }

    /// Protects the page at `slot` according to the policy; returns the kind installed.
    fn install_guard(&self, slot: usize, usable: usize) -> Result<GuardKind, Error> {
        let page = os::page_size();
        match self.policy {
            GuardPolicy::MadviseGuard => match os::guard_install(slot, page) {
                Ok(()) => Ok(GuardKind::Madvise),
                Err(errno) => Err(Error::GuardFailed { errno }),
            },
            GuardPolicy::Mprotect { budget } => {
                if self.mprotect_guards.fetch_add(1, Ordering::Relaxed) < budget {
                    match os::protect_none(slot, page) {
                        Ok(()) => return Ok(GuardKind::Mprotect),
                        // ENOMEM: the map count ran out before our budget did; degrade.
                        Err(libc::ENOMEM) => {}
                        Err(errno) => return Err(Error::GuardFailed { errno }),
                    }
                }
                self.mprotect_guards.fetch_sub(1, Ordering::Relaxed);
                crate::registry::warn_canary_fallback(budget);
                write_canary(slot + page, usable);
                Ok(GuardKind::Canary)
            }
            GuardPolicy::Canary => {
                write_canary(slot + page, usable);
                Ok(GuardKind::Canary)
            }
        }
    }

    /// Returns a segment to its class. A canary segment whose canary was overwritten is a
    /// detected overflow: the process ends with status 2.
    pub(crate) fn free_slot(&self, class: usize, tagged: usize) {
        let page = os::page_size();
        let start = tagged & !(page - 1);
        if GuardKind::from_tag(tagged) == GuardKind::Canary {
            let limit = start + page;
            // SAFETY: the canary word lies at the limit of a segment we own.
            if unsafe { (limit as *const usize).read_volatile() } != CANARY {
                let usable = min_stack_size() << class;
                crate::overflow::report_canary(limit, limit + usable);
            }
        }
        if self.thread_cached && crate::thread_cache::push(class, tagged) {
            return;
        }
        self.free_to_lists(class, tagged);
    }

    /// Returns a segment to its class's lists (no canary check, no thread cache).
    pub(crate) fn free_to_lists(&self, class: usize, tagged: usize) {
        let mut c = lock!(self.classes[class]);
        c.in_use -= 1;
        c.warm.push_back(tagged);
        let max_warm = (self.warm_bytes / c.usable).max(1);
        if c.warm.len() < max_warm + RELEASE_BATCH {
            return;
        }
        // Release the coldest RELEASE_BATCH segments at once, outside the lock.
        let mut batch = [0usize; RELEASE_BATCH];
        for b in &mut batch {
            *b = c.warm.pop_front().unwrap_or(0);
        }
        let (usable, slot) = (c.usable, c.slot);
        drop(c);
        release_slots(&mut batch, usable, slot);
        lock!(self.classes[class]).cold.extend_from_slice(&batch);
    }

    /// Gives back the pages of every warm free segment now (e.g. after a burst).
    pub fn release_all(&self) {
        let page = os::page_size();
        for class in self.classes.iter() {
            let (list, usable) = {
                let mut c = lock!(class);
                (core::mem::take(&mut c.warm), c.usable)
            };
            let slot = usable + page;
            let mut list: Vec<usize> = list.into();
            release_slots(&mut list, usable, slot);
            lock!(class).cold.extend(list);
        }
    }

    /// A summary of the pool now.
    pub fn stats(&self) -> PoolStats {
        let mut s = PoolStats {
            mprotect_guards: self.mprotect_guards.load(Ordering::Relaxed),
            ..PoolStats::default()
        };
        for class in self.classes.iter() {
            let c = lock!(class);
            s.reservations += c.reservations.len();
            s.reserved_bytes += c.reservations.iter().map(|r| r.1).sum::<usize>();
            s.in_use += c.in_use;
            s.warm += c.warm.len();
            s.cold += c.cold.len();
            let total: usize = c.reservations.iter().map(|r| r.1 / c.slot).sum();
            s.carved += total - (c.end - c.next) / c.slot;
        }
        (
            s.compacted,
            s.compact_buffer_bytes,
            s.compact_reserved_bytes,
        ) = lock!(self.compact).stats();
        s
    }

    /// The arena holding this pool's compact buffers.
    pub(crate) fn compact_arena(&self) -> &Mutex<CompactArena> {
        &self.compact
    }

    /// Checks every class's invariants (debug builds and tests).
    pub fn check_invariants(&self) {
        for class in self.classes.iter() {
            lock!(class).check_invariants();
        }
        lock!(self.compact).check_invariants();
    }
}

impl Drop for StackPool {
    fn drop(&mut self) {
        for class in self.classes.iter() {
            let c = lock!(class);
            for &(start, len) in &c.reservations {
                #[cfg(not(loom))]
                crate::registry::unregister(start);
                // SAFETY: stacks borrow a 'static pool, so a pool that drops has no
                // segment handed out through `alloc`; raw slots (`alloc_slot`) are used
                // only by the crate's own models, which free them first.
                unsafe { os::unmap(start, len) };
            }
        }
    }
}

/// Gives back the usable pages of free slots (tagged addresses, sorted here), one
/// `madvise` per run of adjacent slots. A run covers the guard pages between its slots:
/// `MADV_DONTNEED` keeps `MADV_GUARD_INSTALL` guards (runs never span an `mprotect`
/// guard, a separate VMA); canaries are written again afterwards.
fn release_slots(slots: &mut [usize], usable: usize, slot: usize) {
    let page = os::page_size();
    let start_of = |t: usize| t & !(page - 1);
    slots.sort_unstable_by_key(|&t| start_of(t));
    let mut i = 0;
    while i < slots.len() {
        let mut j = i + 1;
        while j < slots.len()
            && start_of(slots[j]) == start_of(slots[j - 1]) + slot
            && GuardKind::from_tag(slots[j]) != GuardKind::Mprotect
        {
            j += 1;
        }
        let first = start_of(slots[i]) + page;
        let end = start_of(slots[j - 1]) + slot;
        // SAFETY: the slots are free (taken out of every list, not handed out), so their
        // contents are dead; the guard pages in the run keep their protection.
        unsafe { os::release(first, end - first) };
        for &t in &slots[i..j] {
            if GuardKind::from_tag(t) == GuardKind::Canary {
                write_canary(start_of(t) + page, usable);
            }
        }
        i = j;
    }
}

/// Writes the canary word at the limit of an unguarded segment.
fn write_canary(limit: usize, _usable: usize) {
    // SAFETY: `limit` is the first usable word of a segment we own, not handed out.
    unsafe { (limit as *mut usize).write_volatile(CANARY) };
}
