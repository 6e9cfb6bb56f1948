//! Compaction of suspended stacks: the live part survives a compact/restore round trip
//! at the same addresses (pointers into the stack included), the pages really go back
//! to the OS, guards keep working, and misuse (twice, too deep, not suspended) is
//! reported.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::cell::Cell;
use std::process::{Command, Output};
use std::rc::Rc;

use gort_stack::testing::pool_with_policy;
use gort_stack::{
    COMPACT_RED_ZONE, Coroutine, CoroutineResult, Error, GuardPolicy, MAX_COMPACT_BYTES, Stack,
    Yielder,
};

/// A node of a linked list built in a coroutine's frame: `next` points at another node
/// on the same stack.
struct Node {
    value: u64,
    next: *const Node,
}

/// Builds a 32-node list on its own frame (a chain of stack addresses), hands the head's
/// address out, suspends, then walks the list and returns the sum of the values.
#[inline(never)]
fn list_on_stack(y: &Yielder<(), usize>) -> u64 {
    let mut nodes: [Node; 32] = core::array::from_fn(|i| Node {
        value: (i as u64 + 1) * 0x0101_0101,
        next: core::ptr::null(),
    });
    for i in 1..32 {
        nodes[i - 1].next = &nodes[i];
    }
    let head: *const Node = &nodes[0];
    y.suspend(head as usize);
    let mut sum = 0;
    let mut p = head;
    while !p.is_null() {
        // SAFETY: every node lives in this frame, which is alive.
        unsafe {
            sum += (*p).value;
            p = (*p).next;
        }
    }
    std::hint::black_box(&nodes);
    sum
}

fn expected_sum() -> u64 {
    (1..=32u64).map(|i| i * 0x0101_0101).sum()
}

/// Touches 16 KiB of stack below the current frame, then returns (popping it).
#[inline(never)]
fn touch_deep() {
    let mut buf = [0u8; 16 * 1024];
    std::hint::black_box(&mut buf);
}

fn list_coroutine() -> Coroutine<(), usize, u64> {
    Coroutine::new(|y, ()| {
        // Dirty four pages below, then come back up: a high-water mark the compaction
        // gives back, while the live part stays small.
        touch_deep();
        list_on_stack(y)
    })
}

#[test]
fn a_linked_structure_on_the_stack_survives_compact_and_restore() {
    let mut co = list_coroutine();
    let head = co.resume(()).into_yield().unwrap();
    let stack = (co.stack().limit(), co.stack().base());
    assert!(
        (stack.0..stack.1).contains(&head),
        "the list is on the stack"
    );
    let before = co.stack_usage();
    assert!(before.resident_bytes >= 3 * 4096, "{before:?}");

    // SAFETY: nothing else uses the coroutine's stack.
    let copy = unsafe { co.compact() }.unwrap();
    assert!(co.is_compacted());
    assert_eq!(copy.original().end, stack.1);
    assert!(copy.len() <= MAX_COMPACT_BYTES);
    assert!(
        copy.original().contains(&head),
        "the live part holds the list"
    );
    let after = co.stack_usage();
    assert_eq!(after.resident_bytes, 0, "every page released: {after:?}");
    let stats = gort_stack::StackPool::global().stats();
    assert!(stats.compacted >= 1 && stats.compact_buffer_bytes >= copy.len());

    // A collector scans the buffer meanwhile: it finds the pointers into the stack (the
    // nodes' `next` fields) unchanged.
    let mut ranges = Vec::new();
    co.for_each_live_range(|r| ranges.push(r));
    assert_eq!(ranges, vec![copy.buffer()]);
    let words: Vec<usize> = copy
        .buffer()
        .step_by(8)
        // SAFETY: the buffer holds `len` initialised bytes while compacted.
        .map(|a| unsafe { (a as *const usize).read() })
        .collect();
    let second = head + core::mem::size_of::<Node>();
    assert!(
        words.contains(&second),
        "head.next, a stack address, is in the copy"
    );
    // The header is read from the copy while compacted.
    assert!(co.id() > 0);

    // `resume` restores first; the list is walked at its original addresses.
    assert_eq!(co.resume(()), CoroutineResult::Return(expected_sum()));
    assert!(!co.is_compacted());
}

#[test]
fn compacting_twice_is_refused_and_restoring_twice_does_nothing() {
    let mut co = list_coroutine();
    co.resume(());
    // SAFETY: nothing else uses the coroutine's stack.
    unsafe { co.compact() }.unwrap();
    // SAFETY: as above.
    assert_eq!(unsafe { co.compact() }.unwrap_err(), Error::NotSuspended);
    assert!(co.restore());
    assert!(!co.restore(), "a second restore is a no-op");
    // Compact again after a restore, explicit restore, resume.
    // SAFETY: as above.
    unsafe { co.compact() }.unwrap();
    assert!(co.restore());
    assert_eq!(co.resume(()), CoroutineResult::Return(expected_sum()));
    // Finished: nothing to compact.
    // SAFETY: as above.
    assert_eq!(unsafe { co.compact() }.unwrap_err(), Error::NotSuspended);
    let mut fresh: Coroutine<(), (), ()> = Coroutine::new(|_, ()| {});
    // SAFETY: as above.
    assert_eq!(unsafe { fresh.compact() }.unwrap_err(), Error::NotSuspended);
}

#[test]
fn raw_stack_round_trip_and_errors() {
    let mut s = Stack::new(16 * 1024).unwrap();
    let base = s.base();
    // A fake suspended frame: 1 KiB of live data below the base, with pointers into it.
    let sp = base - 1024;
    for (i, a) in (sp..base).step_by(8).enumerate() {
        let v = if i % 2 == 0 { a + 8 } else { i * 3 };
        // SAFETY: inside the segment we own; nothing runs on it.
        unsafe { (a as *mut usize).write(v) };
    }
    // Garbage deep below, which the compaction may drop.
    // SAFETY: as above.
    unsafe { (s.limit() as *mut usize).write(7) };

    // SAFETY: as above (and these calls fail before touching anything).
    let (above, deep) = unsafe { (s.compact(base + 8), s.compact(base - MAX_COMPACT_BYTES)) };
    assert!(matches!(above, Err(Error::NotOnStack { .. })), "{above:?}");
    assert!(
        matches!(deep, Err(Error::TooDeepToCompact { .. })),
        "{deep:?}"
    );
    assert!(
        s.compacted().is_none(),
        "failed attempts leave it as it was"
    );

    // SAFETY: nothing below `sp - COMPACT_RED_ZONE` is live; nothing uses the stack.
    let copy = unsafe { s.compact(sp) }.unwrap();
    assert!(copy.original().start <= sp - COMPACT_RED_ZONE);
    assert_eq!(s.compacted(), Some(copy));
    assert_eq!(s.usage().resident_bytes, 0);
    // SAFETY: as above.
    let twice = unsafe { s.compact(sp) };
    assert_eq!(twice.unwrap_err(), Error::AlreadyCompacted { base });
    assert!(s.restore());
    assert!(!s.restore());
    assert!(s.compacted().is_none());
    for (i, a) in (sp..base).step_by(8).enumerate() {
        let v = if i % 2 == 0 { a + 8 } else { i * 3 };
        // SAFETY: as above.
        assert_eq!(unsafe { (a as *const usize).read() }, v);
    }
    assert_eq!(s.usage().resident_bytes, 4096, "only the live page is back");
    // The page at the limit was released (the garbage is gone, zero-filled).
    // SAFETY: as above.
    assert_eq!(unsafe { (s.limit() as *const usize).read() }, 0);

    // Dropping a compacted stack frees its buffer.
    let before = gort_stack::StackPool::global().stats();
    // SAFETY: as above.
    unsafe { s.compact(sp) }.unwrap();
    drop(s);
    let after = gort_stack::StackPool::global().stats();
    assert!(after.compact_buffer_bytes <= before.compact_buffer_bytes);
}

#[test]
fn a_deep_coroutine_is_not_compacted_and_still_runs() {
    let mut co: Coroutine<(), (), u64> = Coroutine::new(|y, ()| {
        let big = std::hint::black_box([3u8; 12 * 1024]);
        y.suspend(());
        big.iter().map(|&b| u64::from(b)).sum()
    });
    co.resume(());
    // SAFETY: nothing else uses the coroutine's stack.
    let e = unsafe { co.compact() }.unwrap_err();
    assert!(matches!(e, Error::TooDeepToCompact { .. }), "{e}");
    assert!(!co.is_compacted());
    assert_eq!(co.resume(()), CoroutineResult::Return(3 * 12 * 1024));
}

struct SetOnDrop(Rc<Cell<bool>>);
impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

#[test]
fn dropping_a_compacted_coroutine_restores_and_unwinds_it() {
    let dropped = Rc::new(Cell::new(false));
    let d = SetOnDrop(Rc::clone(&dropped));
    let mut co: Coroutine<(), (), ()> = Coroutine::new(move |y, ()| {
        let _guard = d;
        y.suspend(());
    });
    co.resume(());
    // SAFETY: nothing else uses the coroutine's stack.
    unsafe { co.compact() }.unwrap();
    drop(co);
    assert!(
        dropped.get(),
        "the frame's destructor ran after the restore"
    );
}

#[test]
fn every_guard_kind_round_trips() {
    for policy in [
        GuardPolicy::MadviseGuard,
        GuardPolicy::Mprotect { budget: 4 },
        GuardPolicy::Canary,
    ] {
        let pool = pool_with_policy(policy, 1 << 20);
        let mut co: Coroutine<(), usize, u64> =
            Coroutine::with_stack(pool.alloc(16 * 1024).unwrap(), |y, ()| list_on_stack(y))
                .unwrap();
        co.resume(());
        for _ in 0..3 {
            // SAFETY: nothing else uses the coroutine's stack.
            unsafe { co.compact() }.unwrap();
            assert!(co.restore());
            assert!(
                co.stack().canary_intact(),
                "{policy:?}: canary written back"
            );
        }
        // SAFETY: as above.
        unsafe { co.compact() }.unwrap();
        assert_eq!(pool.stats().compacted, 1);
        assert_eq!(co.resume(()), CoroutineResult::Return(expected_sum()));
        assert_eq!(pool.stats().compacted, 0);
        drop(co);
        // A canary stack dropped while compacted gets its canary back (no false report).
        let mut co2: Coroutine<(), usize, u64> =
            Coroutine::with_stack(pool.alloc(16 * 1024).unwrap(), |y, ()| list_on_stack(y))
                .unwrap();
        co2.resume(());
        // SAFETY: as above.
        unsafe { co2.compact() }.unwrap();
        let mut raw = pool.alloc(16 * 1024).unwrap();
        // SAFETY: a fresh stack: nothing on it, nothing uses it.
        unsafe { raw.compact(raw.base() - 256) }.unwrap();
        drop(raw);
        drop(co2);
        assert_eq!(pool.stats().compacted, 0);
        assert_eq!(pool.stats().compact_buffer_bytes, 0);
        pool.check_invariants();
    }
}

/// Resident bytes of the process (/proc/self/statm, second field, in pages).
fn rss() -> usize {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap();
    s.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<usize>()
        .unwrap()
        * 4096
}

#[test]
fn rss_drops_when_many_parked_stacks_are_compacted() {
    // 2048 coroutines, each with 16 KiB of stack touched and a small live part.
    let pool = pool_with_policy(GuardPolicy::MadviseGuard, 1 << 20);
    let mut cos: Vec<Coroutine<(), usize, u64>> = (0..2048)
        .map(|_| {
            Coroutine::with_stack(pool.alloc(32 * 1024).unwrap(), |y, ()| {
                touch_deep();
                list_on_stack(y)
            })
            .unwrap()
        })
        .collect();
    for co in &mut cos {
        co.resume(());
    }
    let resident: usize = cos.iter().map(|c| c.stack_usage().resident_bytes).sum();
    assert!(resident >= 2048 * 16 * 1024, "{resident}");
    let before = rss();
    for co in &mut cos {
        // SAFETY: nothing else uses the coroutines' stacks.
        unsafe { co.compact() }.unwrap();
    }
    let after = rss();
    let buffers = pool.stats().compact_buffer_bytes;
    assert!(buffers < 2048 * 4096, "copies are smaller than a page each");
    // 32 MiB of stack pages went back; the buffers take at most 8 MiB. Other tests of
    // this binary run meanwhile, so only half the expected drop is asserted.
    assert!(
        before > after + 12 * 1024 * 1024,
        "rss {before} -> {after}, buffers {buffers}"
    );
    let resident: usize = cos.iter().map(|c| c.stack_usage().resident_bytes).sum();
    assert_eq!(resident, 0);
    for co in &mut cos {
        assert_eq!(co.resume(()), CoroutineResult::Return(expected_sum()));
    }
}

const CHILD_VAR: &str = "GORT_STACK_TEST_CHILD";

/// Runs `scenario` in a child process, or (in the child) runs `body` and never returns.
fn run_child(test_name: &str, scenario: &str, body: impl FnOnce()) -> Option<Output> {
    if std::env::var(CHILD_VAR).as_deref() == Ok(scenario) {
        body();
        std::process::exit(0);
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test_name, "--nocapture", "--test-threads=1"])
        .env(CHILD_VAR, scenario)
        .output()
        .unwrap();
    Some(out)
}

/// Unbounded recursion with 1 KiB frames.
#[inline(never)]
#[allow(unconditional_recursion, reason = "it is meant to overflow")]
fn recurse(n: u64) -> u64 {
    let pad = std::hint::black_box([n as u8; 1024]);
    recurse(n + 1) + u64::from(pad[7])
}

fn overflow_after_compaction(policy: GuardPolicy) {
    let pool = pool_with_policy(policy, 1 << 20);
    let mut co: Coroutine<(), (), u64> =
        Coroutine::with_stack(pool.alloc(16 * 1024).unwrap(), |y, ()| {
            y.suspend(());
            recurse(0)
        })
        .unwrap();
    co.resume(());
    // SAFETY: nothing else uses the coroutine's stack.
    unsafe { co.compact() }.unwrap();
    eprintln!("child: compacted, id {}", co.id());
    co.resume(());
    eprintln!("child: the overflow was missed");
}

#[test]
fn the_guard_page_still_faults_after_a_restore() {
    let scenarios = [
        ("madvise", GuardPolicy::MadviseGuard),
        ("mprotect", GuardPolicy::Mprotect { budget: 4 }),
    ];
    if let Ok(child) = std::env::var(CHILD_VAR) {
        // In a child: run only its own scenario (never spawn grandchildren).
        if let Some(&(_, policy)) = scenarios.iter().find(|s| s.0 == child) {
            overflow_after_compaction(policy);
        }
        std::process::exit(0);
    }
    for (scenario, policy) in scenarios {
        let Some(out) = run_child(
            "the_guard_page_still_faults_after_a_restore",
            scenario,
            || overflow_after_compaction(policy),
        ) else {
            return;
        };
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{scenario}: {err}");
        let id = err
            .lines()
            .find_map(|l| l.strip_prefix("child: compacted, id "))
            .unwrap();
        assert!(
            err.contains(&format!("runtime: coroutine {id} overflowed its stack")),
            "{scenario}: {err}"
        );
        assert!(
            err.contains("fatal error: stack overflow"),
            "{scenario}: {err}"
        );
        assert!(!err.contains("missed"), "{scenario}: {err}");
    }
}

/// Deferred release: eight neighbouring stacks compacted with `compact_keep_pages` keep
/// their pages until `release_compacted`, which gives them all back (merging adjacent
/// ranges), and each comes back intact on restore. Under every guard policy.
#[test]
fn compact_keep_pages_then_release_compacted_in_a_batch() {
    for policy in [
        GuardPolicy::MadviseGuard,
        GuardPolicy::Mprotect { budget: 64 },
        GuardPolicy::Canary,
    ] {
        let pool = pool_with_policy(policy, 0);
        let mut stacks: Vec<Stack> = (0..8).map(|_| pool.alloc(64 * 1024).unwrap()).collect();
        let sp_of = |s: &Stack| s.base() - 512;
        for (k, s) in stacks.iter().enumerate() {
            let lo = sp_of(s) - COMPACT_RED_ZONE;
            for a in (lo..s.base()).step_by(8) {
                // SAFETY: our own segment, nothing runs on it.
                unsafe { (a as *mut u64).write(a as u64 ^ k as u64) };
            }
        }
        let mut ranges = Vec::new();
        for s in &mut stacks {
            let sp = sp_of(s);
            // SAFETY: nothing runs on the stack; nothing is live below `sp - red zone`.
            unsafe { s.compact_keep_pages(sp) }.unwrap();
            assert!(s.usage().resident_bytes > 0, "pages released too early");
            ranges.push(s.release_range());
        }
        // SAFETY: the ranges are those of the stacks just compacted, not yet restored.
        unsafe { gort_stack::release_compacted(&mut ranges) };
        for (k, s) in stacks.iter_mut().enumerate() {
            assert_eq!(s.usage().resident_bytes, 0, "{policy:?}: pages kept");
            assert!(s.restore());
            let lo = sp_of(s) - COMPACT_RED_ZONE;
            for a in (lo..s.base()).step_by(8) {
                // SAFETY: our own restored segment.
                let v = unsafe { (a as *const u64).read() };
                assert_eq!(v, a as u64 ^ k as u64, "{policy:?}: word at {a:#x}");
            }
            assert!(s.canary_intact());
        }
    }
}
