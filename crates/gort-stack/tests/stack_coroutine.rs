//! The coroutine API: value passing, completion, panics, drop of suspended coroutines,
//! `grow` and live ranges.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;

use gort_stack::{
    Coroutine, CoroutineResult, Error, Stack, StackInfo, current, grow, stack_pointer,
};

#[test]
fn values_flow_both_ways_until_return() {
    let mut co = Coroutine::new(|y, mut acc: u64| {
        for i in 0..5u64 {
            acc += y.suspend(acc * 10 + i);
        }
        format!("sum={acc}")
    });
    assert!(!co.done() && !co.started());
    assert_eq!(co.resume(1), CoroutineResult::Yield(10));
    assert!(co.started());
    assert_eq!(co.resume(2), CoroutineResult::Yield(31));
    assert_eq!(co.resume(3), CoroutineResult::Yield(62));
    assert_eq!(co.resume(4), CoroutineResult::Yield(103));
    assert_eq!(co.resume(5), CoroutineResult::Yield(154));
    assert_eq!(co.resume(6), CoroutineResult::Return("sum=21".to_string()));
    assert!(co.done());
}

#[test]
fn the_running_coroutine_is_current() {
    let mut co = Coroutine::new(|y, ()| {
        let c = current().unwrap();
        let sp = stack_pointer();
        y.suspend((c.what(), c.id(), sp > c.limit() && sp < c.base()));
        current().unwrap().id()
    });
    let id = co.id();
    assert!(current().is_none());
    assert_eq!(
        co.resume(()),
        CoroutineResult::Yield(("coroutine", id, true))
    );
    assert!(
        current().is_none(),
        "the resumer's current stack is restored"
    );
    assert_eq!(co.resume(()), CoroutineResult::Return(id));
}

#[test]
fn a_panic_is_resumed_in_the_resumer() {
    let mut co: Coroutine<(), (), ()> = Coroutine::new(|y, ()| {
        y.suspend(());
        panic!("boom inside");
    });
    assert_eq!(co.resume(()), CoroutineResult::Yield(()));
    let err = catch_unwind(AssertUnwindSafe(|| co.resume(()))).unwrap_err();
    assert_eq!(*err.downcast_ref::<&str>().unwrap(), "boom inside");
    assert!(co.done());
    // Resuming a finished coroutine is a documented panic.
    assert!(catch_unwind(AssertUnwindSafe(|| co.resume(()))).is_err());
}

struct Noisy(Rc<RefCell<Vec<&'static str>>>, &'static str);
impl Drop for Noisy {
    fn drop(&mut self) {
        self.0.borrow_mut().push(self.1);
    }
}

#[test]
fn dropping_a_suspended_coroutine_unwinds_its_frames() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let l2 = log.clone();
    let mut co: Coroutine<(), u32, ()> = Coroutine::new(move |y, ()| {
        let _a = Noisy(l2.clone(), "outer");
        let _b = Noisy(l2, "inner");
        loop {
            y.suspend(1);
        }
    });
    assert_eq!(co.resume(()), CoroutineResult::Yield(1));
    assert!(log.borrow().is_empty());
    drop(co);
    assert_eq!(*log.borrow(), ["inner", "outer"]);
}

#[test]
fn dropping_a_fresh_coroutine_drops_its_closure() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let n = Noisy(log.clone(), "captured");
    let co: Coroutine<(), (), ()> = Coroutine::new(move |_, ()| drop(n));
    drop(co);
    assert_eq!(*log.borrow(), ["captured"]);
}

#[test]
fn coroutines_nest() {
    let mut outer: Coroutine<(), u32, u32> = Coroutine::new(|y, ()| {
        let mut inner: Coroutine<(), u32, u32> = Coroutine::new(|y2, ()| {
            y2.suspend(1);
            2
        });
        let a = inner.resume(()).into_yield().unwrap();
        y.suspend(a);
        inner.resume(()).into_return().unwrap() + 10
    });
    assert_eq!(outer.resume(()), CoroutineResult::Yield(1));
    assert_eq!(outer.resume(()), CoroutineResult::Return(12));
}

/// Recursion using ~`frames` × 1 KiB of stack, growing when less than 16 KiB remain.
fn deep(n: u32) -> u64 {
    grow(16 * 1024, || {
        let pad = std::hint::black_box([n as u8; 1024]);
        let zero = u64::from(pad[1023]) - u64::from(n as u8);
        if n == 0 { zero } else { deep(n - 1) + 1 + zero }
    })
}

#[test]
fn deep_recursion_grows_through_linked_segments() {
    // 4,000 frames of > 1 KiB need > 4 MiB on a 64 KiB coroutine stack.
    let mut co: Coroutine<(), (usize, usize), u64> = Coroutine::new(|y, ()| {
        let r = grow(16 * 1024, || {
            let d = current().unwrap();
            let _ = d;
            deep(4000)
        });
        y.suspend((0, 0));
        r
    });
    assert_eq!(co.resume(()), CoroutineResult::Yield((0, 0)));
    let segs = co.chain().segments();
    assert!(segs >= 8, "only {segs} segments linked");
    assert_eq!(co.chain().depth(), 0);
    assert_eq!(co.resume(()), CoroutineResult::Return(4000));
}

#[test]
fn grow_on_the_thread_stack_and_panics_through_grow() {
    // On a std thread with a small stack: the thread's own chain is used.
    let h = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(|| {
            assert_eq!(deep(3000), 3000);
            let r = catch_unwind(|| grow(1 << 20, || -> u32 { panic!("from a grown segment") }));
            *r.unwrap_err().downcast_ref::<&str>().unwrap()
        })
        .unwrap();
    assert_eq!(h.join().unwrap(), "from a grown segment");
}

#[test]
fn the_next_segment_is_cached_across_calls() {
    let mut co: Coroutine<(), (), usize> = Coroutine::new(|_, ()| {
        // Force growth a thousand times at the same depth: one segment serves them all.
        for _ in 0..1000 {
            grow(1 << 20, || std::hint::black_box(1));
        }
        current().map(|c: StackInfo| c.id() as usize).unwrap_or(0)
    });
    let id = co.id() as usize;
    assert_eq!(co.resume(()), CoroutineResult::Return(id));
    assert_eq!(co.chain().segments(), 1);
}

#[test]
fn live_ranges_cover_every_segment_in_use() {
    let mut co: Coroutine<(), usize, ()> = Coroutine::new(|y, ()| {
        grow(1 << 20, || {
            let marker = 0xfeed_u64;
            y.suspend(&marker as *const u64 as usize);
        });
    });
    let addr = co.resume(()).into_yield().unwrap();
    let mut ranges = Vec::new();
    co.for_each_live_range(|r| ranges.push(r));
    assert_eq!(ranges.len(), 2, "root + one grown segment: {ranges:x?}");
    assert_eq!(ranges[0].end, co.stack().base());
    assert!(
        ranges[1].contains(&addr),
        "the grown segment's range holds the local"
    );
    assert!(!ranges[0].contains(&addr));
    assert!(ranges.iter().all(|r| r.start < r.end));
    assert_eq!(co.resume(()), CoroutineResult::Return(()));
    let mut n = 0;
    co.for_each_live_range(|_| n += 1);
    assert_eq!(n, 0);
}

#[test]
fn stack_usage_reports_what_the_coroutine_touched() {
    // A private pool, so the segment has no pages touched by earlier users.
    let pool =
        gort_stack::testing::pool_with_policy(gort_stack::GuardPolicy::MadviseGuard, 1 << 20);
    let stack = pool.alloc(256 * 1024).unwrap();
    let mut co: Coroutine<(), (), ()> = Coroutine::with_stack(stack, |y, ()| {
        let big = std::hint::black_box([7u8; 40 * 1024]);
        y.suspend(());
        std::hint::black_box(big);
    })
    .unwrap();
    co.resume(());
    let u = co.stack_usage();
    assert!(u.high_water >= 40 * 1024, "{u:?}");
    assert!(u.high_water < 128 * 1024, "{u:?}");
    co.resume(());
}

#[test]
fn trim_frees_cached_segments_beyond_the_next() {
    let mut co: Coroutine<(), (), ()> = Coroutine::new(|y, ()| {
        // Three nested growths, then back to the root: three segments cached.
        grow(1 << 20, || {
            grow(4 << 20, || grow(16 << 20, || std::hint::black_box(0)))
        });
        y.suspend(());
    });
    co.resume(());
    assert_eq!(co.chain().depth(), 0);
    assert_eq!(co.chain().segments(), 3);
    co.chain().trim();
    assert_eq!(co.chain().segments(), 1, "the next segment stays cached");
    co.resume(());
}

/// A capture aligned to 8 KiB: the coroutine's header holding it is placed at an 8 KiB
/// boundary, up to 8 KiB - 1 below where its size alone would put it.
#[derive(Clone, Copy)]
#[repr(C, align(8192))]
struct Aligned8K<const N: usize>([u8; N]);

/// A coroutine whose closure captures an `Aligned8K<N>` of ones, on `stack`.
fn over_aligned<const N: usize>(stack: Stack) -> Result<Coroutine<(), (), u64>, Error> {
    let data = Aligned8K([1u8; N]);
    Coroutine::with_stack(stack, move |_, ()| {
        let d = std::hint::black_box(&data);
        d.0.iter().map(|&b| u64::from(b)).sum()
    })
}

/// 64 KiB stacks, one whose base is 8 KiB-aligned and one whose base is not (consecutive
/// slots alternate: they are 64 KiB + a 4 KiB guard apart). All are kept alive while
/// searching so that the pool hands out distinct slots.
fn stacks_by_base_alignment() -> (Stack, Stack) {
    let mut held = Vec::new();
    let (mut aligned, mut unaligned) = (None, None);
    for _ in 0..64 {
        let s = Stack::new(64 * 1024).unwrap();
        assert_eq!(s.size(), 64 * 1024);
        match s.base() % 8192 {
            0 if aligned.is_none() => aligned = Some(s),
            4096 if unaligned.is_none() => unaligned = Some(s),
            _ => held.push(s),
        }
        if aligned.is_some() && unaligned.is_some() {
            break;
        }
    }
    (aligned.unwrap(), unaligned.unwrap())
}

#[test]
fn an_over_aligned_closure_that_leaves_no_stack_is_refused() {
    // A capture of C bytes makes a C + 16 KiB header (the prefix padded to 8 KiB, the
    // closure, the `Option` tag padded to 8 KiB), placed at an 8 KiB boundary below the
    // 16-byte footer: 8 KiB below the base when that is 8 KiB-aligned, 4 KiB otherwise.
    //
    // C = 40 KiB: the 56 KiB header fits a 64 KiB stack with 8 KiB to spare by size
    // alone, but on the aligned base it lands at the very bottom of the stack. It must be
    // refused, not have its initial frame written into the guard page.
    let (aligned, unaligned) = stacks_by_base_alignment();
    let (limit, base) = (aligned.limit(), aligned.base());
    match over_aligned::<40960>(aligned) {
        Err(Error::TooLarge { requested, max }) => {
            assert_eq!(max, 64 * 1024);
            assert!(requested > max, "requested {requested}, max {max}");
        }
        other => panic!("stack [{limit:#x}, {base:#x}): expected TooLarge, got {other:?}"),
    }
    // On the other base the header lands 4 KiB higher: exactly the page a coroutine
    // needs, so it is made (not run: moving the 40 KiB closure onto 4 KiB of stack would
    // overflow, as it should).
    let (limit, base) = (unaligned.limit(), unaligned.base());
    let made = over_aligned::<40960>(unaligned);
    assert!(made.is_ok(), "[{limit:#x}, {base:#x}): {made:?}");
    // 16 KiB less capture: made on either base.
    let (aligned, unaligned) = stacks_by_base_alignment();
    for s in [aligned, unaligned] {
        let (limit, base) = (s.limit(), s.base());
        let made = over_aligned::<24576>(s);
        assert!(made.is_ok(), "[{limit:#x}, {base:#x}): {made:?}");
    }
    // An over-aligned closure runs, reading its capture from the aligned header (on a
    // stack with room for the copies of the closure that starting it makes).
    for _ in 0..2 {
        let mut co = over_aligned::<8192>(Stack::new(256 * 1024).unwrap()).unwrap();
        assert_eq!(co.resume(()), CoroutineResult::Return(8192));
    }
    // 8 KiB more is refused by size alone.
    let (aligned, unaligned) = stacks_by_base_alignment();
    for s in [aligned, unaligned] {
        assert!(matches!(
            over_aligned::<49152>(s),
            Err(Error::TooLarge { .. })
        ));
    }
}
