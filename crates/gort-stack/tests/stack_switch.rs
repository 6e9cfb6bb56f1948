//! The low-level layer: pooled guarded segments, `Context`/`switch`, `set_current`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::cell::Cell;

use gort_stack::testing::pool_with_policy;
use gort_stack::{
    Context, GuardKind, GuardPolicy, Stack, StackInfo, current, guard_policy, set_current, switch,
};

#[test]
fn stack_bounds_are_page_aligned_and_guarded() {
    let s = Stack::new(20_000).unwrap();
    assert!(s.size() >= 20_000);
    assert_eq!(s.base() % 4096, 0);
    assert_eq!(s.limit() % 4096, 0);
    assert_eq!(s.base() - s.limit(), s.size());
    // This machine runs Linux 6.18, so the kernel has MADV_GUARD_INSTALL.
    assert_eq!(guard_policy(), GuardPolicy::MadviseGuard);
    assert_eq!(s.guard_kind(), GuardKind::Madvise);
    let g = s.guard_range().unwrap();
    assert_eq!(g.end, s.limit());
    // The usable range is writable at both ends.
    // SAFETY: both words lie inside the segment we own.
    unsafe {
        (s.limit() as *mut usize).write_volatile(1);
        ((s.base() - 8) as *mut usize).write_volatile(2);
    }
}

#[test]
fn too_large_is_an_error() {
    let e = Stack::new(usize::MAX / 2).unwrap_err();
    assert!(matches!(e, gort_stack::Error::TooLarge { .. }), "{e}");
}

#[test]
fn pool_reuses_the_most_recently_freed_segment() {
    let pool = pool_with_policy(GuardPolicy::MadviseGuard, 1 << 20);
    let a = pool.alloc(16 * 1024).unwrap();
    let b = pool.alloc(16 * 1024).unwrap();
    assert_ne!(a.base(), b.base());
    let (ab, bb) = (a.base(), b.base());
    drop(a);
    drop(b);
    assert_eq!(pool.alloc(16 * 1024).unwrap().base(), bb);
    let st = pool.stats();
    assert_eq!(st.reservations, 1, "one mapping holds many stacks");
    assert_eq!(st.in_use, 0);
    assert_eq!(st.warm, 2);
    let _ = ab;
    pool.check_invariants();
}

#[test]
fn pool_gives_back_cold_pages_past_its_bound() {
    // A bound of one 16 KiB segment: once 33 are free, the 32 coldest are released in
    // one batch.
    let pool = pool_with_policy(GuardPolicy::MadviseGuard, 16 * 1024);
    let stacks: Vec<Stack> = (0..34).map(|_| pool.alloc(16 * 1024).unwrap()).collect();
    for s in &stacks {
        // SAFETY: writes inside segments we own.
        unsafe { std::ptr::write_bytes(s.limit() as *mut u8, 7, s.size()) };
        assert_eq!(s.usage().resident_bytes, s.size());
    }
    let first_base = stacks[0].base();
    let last_base = stacks[33].base();
    drop(stacks);
    let st = pool.stats();
    assert_eq!((st.warm, st.cold), (2, 32));
    // The warm ones are reused first, most recent first, with their pages.
    let a = pool.alloc(16 * 1024).unwrap();
    assert_eq!(a.base(), last_base);
    assert_eq!(a.usage().resident_bytes, a.size());
    let _b = pool.alloc(16 * 1024).unwrap();
    // Then the cold ones, with nothing resident and zeroed.
    let cold: Vec<Stack> = (0..32).map(|_| pool.alloc(16 * 1024).unwrap()).collect();
    assert!(cold.iter().any(|s| s.base() == first_base));
    for s in &cold {
        assert_eq!(s.usage().resident_bytes, 0);
        // SAFETY: reads inside a segment we own.
        assert_eq!(unsafe { (s.limit() as *const u8).read_volatile() }, 0);
        // The guard page survived the release that spanned it.
        assert_eq!(s.guard_kind(), GuardKind::Madvise);
    }
    pool.check_invariants();
}

#[test]
fn mprotect_policy_falls_back_to_canaries_past_its_budget() {
    let pool = pool_with_policy(GuardPolicy::Mprotect { budget: 2 }, 1 << 20);
    let s: Vec<Stack> = (0..3).map(|_| pool.alloc(16 * 1024).unwrap()).collect();
    assert_eq!(s[0].guard_kind(), GuardKind::Mprotect);
    assert_eq!(s[1].guard_kind(), GuardKind::Mprotect);
    assert_eq!(s[2].guard_kind(), GuardKind::Canary);
    assert!(s[2].canary_intact());
    assert!(s[2].guard_range().is_none());
    assert_eq!(pool.stats().mprotect_guards, 2);
    // The mprotect guard splits the mapping: the guard page shows up as its own VMA.
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let g = s[0].guard_range().unwrap();
    let needle = format!("{:x}-{:x} ---p", g.start, g.end);
    assert!(maps.contains(&needle), "no PROT_NONE VMA {needle}");
}

#[test]
fn high_water_counts_touched_pages() {
    let s = Stack::new(64 * 1024).unwrap();
    let u = s.usage();
    assert_eq!(u.size, 64 * 1024);
    // SAFETY: writes the top 3 pages of a segment we own.
    unsafe { std::ptr::write_bytes((s.base() - 3 * 4096) as *mut u8, 1, 3 * 4096) };
    let u = s.usage();
    assert!(u.resident_bytes >= 3 * 4096);
    assert!(u.high_water >= 3 * 4096);
}

// Ping-pong between the thread's stack and a context on a Stack, passing values through
// thread locals.
thread_local! {
    static MAIN: Cell<*mut Context> = const { Cell::new(std::ptr::null_mut()) };
    static CHILD: Cell<*mut Context> = const { Cell::new(std::ptr::null_mut()) };
    static VALUE: Cell<u64> = const { Cell::new(0) };
}

unsafe extern "C" fn child(arg: usize) -> ! {
    let mut n = arg as u64;
    loop {
        // Report n + 1, then wait for the next value.
        VALUE.set(n + 1);
        // SAFETY: MAIN was saved by the switch that entered us; CHILD is our own slot.
        unsafe { switch(CHILD.get(), MAIN.get()) };
        n = VALUE.get();
    }
}

#[test]
fn switch_passes_values_both_ways_and_preserves_callee_saved_state() {
    let stack = Stack::new(32 * 1024).unwrap();
    let mut main = Context::empty();
    // SAFETY: the stack outlives the child, which never returns and is abandoned
    // suspended before the stack is dropped.
    let mut ch = unsafe { Context::new(&stack, child, 41) };
    MAIN.set(&mut main);
    CHILD.set(&mut ch);
    let mut locals = [1u64, 2, 3, 4, 5, 6, 7];
    // SAFETY: `ch` holds the initial frame; `main` is our slot.
    unsafe { switch(&mut main, &ch) };
    assert_eq!(VALUE.get(), 42);
    assert!(ch.sp() > stack.limit() && ch.sp() < stack.base());
    for i in 0..1000u64 {
        VALUE.set(i * 3);
        for l in &mut locals {
            *l = l.wrapping_mul(31).wrapping_add(i);
        }
        // SAFETY: `ch` was saved by the child's last switch.
        unsafe { switch(&mut main, &ch) };
        assert_eq!(VALUE.get(), i * 3 + 1);
    }
    // The locals survived a thousand switches (they live in registers or on our stack).
    let mut expect = [1u64, 2, 3, 4, 5, 6, 7];
    for i in 0..1000u64 {
        for l in &mut expect {
            *l = l.wrapping_mul(31).wrapping_add(i);
        }
    }
    assert_eq!(locals, expect);
}

#[test]
fn set_current_is_per_thread() {
    assert!(current().is_none());
    let s = Stack::new(16 * 1024).unwrap();
    set_current(Some(StackInfo::new(&s, 7, "goroutine")));
    let c = current().unwrap();
    assert_eq!(
        (c.limit(), c.base(), c.id(), c.what()),
        (s.limit(), s.base(), 7, "goroutine")
    );
    std::thread::spawn(|| assert!(current().is_none()))
        .join()
        .unwrap();
    set_current(None);
    assert!(current().is_none());
}

#[test]
fn the_thread_cache_hands_back_this_threads_last_segment() {
    // Other tests use the global pool from other threads at the same time; the per-thread
    // cache still returns this thread's own segment first.
    std::thread::spawn(|| {
        let s = Stack::new(16 * 1024).unwrap();
        let base = s.base();
        drop(s);
        let again = Stack::new(16 * 1024).unwrap();
        assert_eq!(again.base(), base);
        drop(again);
        gort_stack::flush_thread_cache();
    })
    .join()
    .unwrap();
}

#[test]
fn release_below_gives_back_the_cold_part_and_keeps_the_live_top() {
    let pool = pool_with_policy(GuardPolicy::MadviseGuard, 1 << 20);
    let s = pool.alloc(64 * 1024).unwrap();
    // SAFETY: writes the top 4 pages of a segment we own.
    unsafe { std::ptr::write_bytes((s.base() - 4 * 4096) as *mut u8, 9, 4 * 4096) };
    assert_eq!(s.usage().resident_bytes, 4 * 4096);
    // Only the top page is live: release everything below it.
    // SAFETY: nothing live is stored below `base - 4096`.
    unsafe { s.release_below(s.base() - 4096) };
    let u = s.usage();
    assert_eq!(u.resident_bytes, 4096);
    assert_eq!(u.high_water, 4096);
    // SAFETY: reads inside the segment.
    unsafe {
        assert_eq!(
            ((s.base() - 1) as *const u8).read_volatile(),
            9,
            "the live top is kept"
        );
        assert_eq!(
            ((s.base() - 2 * 4096) as *const u8).read_volatile(),
            0,
            "released pages read as zero"
        );
    }
}

#[test]
fn release_all_empties_the_warm_list() {
    let pool = pool_with_policy(GuardPolicy::MadviseGuard, 1 << 20);
    let stacks: Vec<Stack> = (0..4).map(|_| pool.alloc(16 * 1024).unwrap()).collect();
    for s in &stacks {
        // SAFETY: writes inside a segment we own.
        unsafe { ((s.base() - 8) as *mut u64).write_volatile(1) };
    }
    drop(stacks);
    assert_eq!((pool.stats().warm, pool.stats().cold), (4, 0));
    pool.release_all();
    assert_eq!((pool.stats().warm, pool.stats().cold), (0, 4));
    let s = pool.alloc(16 * 1024).unwrap();
    assert_eq!(s.usage().resident_bytes, 0);
}
