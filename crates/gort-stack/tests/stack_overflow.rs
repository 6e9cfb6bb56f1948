//! Overflow reports: each scenario runs in a child process (this test binary re-executed
//! with `GORT_STACK_TEST_CHILD` set) whose exit status and stderr are checked.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::process::{Command, Output};

use gort_stack::testing::pool_with_policy;
use gort_stack::{Context, Coroutine, GuardPolicy, Stack, StackInfo, set_current, switch};

const CHILD_VAR: &str = "GORT_STACK_TEST_CHILD";

/// Unbounded recursion with 1 KiB frames.
#[inline(never)]
#[allow(unconditional_recursion, reason = "it is meant to overflow")]
fn recurse(n: u64) -> u64 {
    let pad = std::hint::black_box([n as u8; 1024]);
    recurse(n + 1) + u64::from(pad[7])
}

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

/// Asserts the child exited with status 2 (Go's fatal exit) and returns its stderr.
fn exited_2(o: &Output) -> String {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "stderr: {err}");
    err
}

/// Runs a coroutine on `stack` that recurses until it overflows.
fn overflow_on(stack: gort_stack::Stack) {
    let mut co: Coroutine<(), (), u64> = Coroutine::with_stack(stack, |_, ()| recurse(0)).unwrap();
    co.resume(());
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn coroutine_overflow_names_the_coroutine_and_exits_2() {
    let Some(out) = run_child(
        "coroutine_overflow_names_the_coroutine_and_exits_2",
        "coroutine",
        || {
            let mut co: Coroutine<(), (), u64> = Coroutine::new(|_, ()| recurse(0));
            eprintln!(
                "child: coroutine id {} stack=[{:#x}, {:#x}]",
                co.id(),
                co.stack().limit(),
                co.stack().base()
            );
            co.resume(());
        },
    ) else {
        return;
    };
    let err = exited_2(&out);
    let id_line = err
        .lines()
        .find(|l| l.starts_with("child: coroutine id"))
        .unwrap();
    let id = id_line.split_whitespace().nth(3).unwrap();
    let bounds = id_line.split("stack=").nth(1).unwrap();
    assert!(
        err.contains(&format!("runtime: coroutine {id} overflowed its stack")),
        "stderr: {err}"
    );
    assert!(err.contains(&format!("stack={bounds}")), "stderr: {err}");
    assert!(err.contains("fatal error: stack overflow"), "stderr: {err}");
}

#[test]
fn mprotect_guard_overflow_is_reported_too() {
    let Some(out) = run_child(
        "mprotect_guard_overflow_is_reported_too",
        "mprotect",
        || {
            let pool = pool_with_policy(GuardPolicy::Mprotect { budget: 8 }, 1 << 20);
            let stack = pool.alloc(32 * 1024).unwrap();
            overflow_on(stack);
        },
    ) else {
        return;
    };
    let err = exited_2(&out);
    assert!(err.contains("overflowed its stack"), "stderr: {err}");
    assert!(err.contains("fatal error: stack overflow"), "stderr: {err}");
}

#[test]
fn guards_survive_the_batched_release_of_cold_segments() {
    let Some(out) = run_child(
        "guards_survive_the_batched_release_of_cold_segments",
        "released",
        || {
            let pool = pool_with_policy(GuardPolicy::MadviseGuard, 32 * 1024);
            // Free 40 adjacent segments: the 32 coldest are released in one `madvise` that
            // spans their guard pages.
            let stacks: Vec<_> = (0..40).map(|_| pool.alloc(32 * 1024).unwrap()).collect();
            drop(stacks);
            assert!(pool.stats().cold >= 32);
            // Overflow every segment in turn would exit at the first: take the coldest.
            let all: Vec<_> = (0..40).map(|_| pool.alloc(32 * 1024).unwrap()).collect();
            let stack = all.into_iter().last().unwrap();
            assert_eq!(stack.usage().resident_bytes, 0, "a released segment");
            overflow_on(stack);
        },
    ) else {
        return;
    };
    let err = exited_2(&out);
    assert!(err.contains("overflowed its stack"), "stderr: {err}");
}

#[test]
fn overflow_on_a_grown_segment_names_the_coroutine() {
    let Some(out) = run_child(
        "overflow_on_a_grown_segment_names_the_coroutine",
        "grown",
        || {
            let mut co: Coroutine<(), (), u64> = Coroutine::new(|_, ()| {
                // Force a new segment, then overflow it.
                gort_stack::grow(1 << 20, || {
                    let c = gort_stack::current().unwrap();
                    eprintln!("child: segment stack=[{:#x}, {:#x}]", c.limit(), c.base());
                    recurse(0)
                })
            });
            eprintln!("child: coroutine id {}", co.id());
            co.resume(());
        },
    ) else {
        return;
    };
    let err = exited_2(&out);
    let id = err
        .lines()
        .find_map(|l| l.strip_prefix("child: coroutine id "))
        .unwrap();
    let seg = err
        .lines()
        .find_map(|l| l.strip_prefix("child: segment stack="))
        .unwrap();
    assert!(
        err.contains(&format!("runtime: coroutine {id} overflowed its stack")),
        "stderr: {err}"
    );
    assert!(
        err.contains(&format!("stack={seg}")),
        "the grown segment's bounds: {err}"
    );
}

static mut MAIN: Context = Context::empty();

unsafe extern "C" fn goroutine_body(_: usize) -> ! {
    recurse(0);
    // SAFETY: not reached (the recursion overflows); MAIN was saved by the switch in.
    unsafe { switch(&raw mut MAIN, &raw const MAIN) };
    unreachable!()
}

#[test]
fn raw_switch_overflow_uses_the_scheduler_given_identity() {
    let Some(out) = run_child(
        "raw_switch_overflow_uses_the_scheduler_given_identity",
        "goroutine",
        || {
            gort_stack::install_overflow_handler();
            let stack = Stack::new(64 * 1024).unwrap();
            // SAFETY: the stack outlives the context, which never switches back.
            let ctx = unsafe { Context::new(&stack, goroutine_body, 0) };
            set_current(Some(StackInfo::new(&stack, 42, "goroutine")));
            // SAFETY: `ctx` holds a fresh initial frame; MAIN is a slot to save into.
            unsafe { switch(&raw mut MAIN, &ctx) };
        },
    ) else {
        return;
    };
    let err = exited_2(&out);
    assert!(
        err.contains("runtime: goroutine 42 overflowed its stack"),
        "stderr: {err}"
    );
}

/// 16.5 KiB of locals: on a 16 KiB stack, runs into the page below it.
#[inline(never)]
fn clobber_below() {
    let big = std::hint::black_box([1u8; 16 * 1024 + 512]);
    std::hint::black_box(&big);
}

#[test]
fn canary_fallback_detects_an_overflow_when_suspending_below_the_limit() {
    let Some(out) = run_child(
        "canary_fallback_detects_an_overflow_when_suspending_below_the_limit",
        "canary-suspend",
        || {
            let pool = pool_with_policy(GuardPolicy::Canary, 1 << 20);
            // The second slot: what runs past its limit lands in the first slot's memory.
            let _below = pool.alloc(16 * 1024).unwrap();
            let stack = pool.alloc(16 * 1024).unwrap();
            let mut co: Coroutine<(), (), ()> = Coroutine::with_stack(stack, |y, ()| {
                // Suspends with its stack pointer below the limit, having written nothing
                // near it (the canary stays intact): `suspend`'s stack check reports the
                // overflow before switching.
                let mut big = std::mem::MaybeUninit::<[u8; 32 * 1024]>::uninit();
                std::hint::black_box(&mut big);
                y.suspend(());
                std::hint::black_box(&mut big);
            })
            .unwrap();
            eprintln!("child: resuming, id {}", co.id());
            co.resume(());
            eprintln!("child: the resume returned");
        },
    ) else {
        return;
    };
    let err = exited_2(&out);
    assert!(!err.contains("the resume returned"), "stderr: {err}");
    let id = err
        .lines()
        .find_map(|l| l.strip_prefix("child: resuming, id "))
        .unwrap();
    assert!(
        err.contains(&format!(
            "runtime: coroutine {id} overflowed its stack (sp below its limit)"
        )),
        "stderr: {err}"
    );
    assert!(err.contains("fatal error: stack overflow"), "stderr: {err}");
}

#[test]
fn canary_fallback_detects_an_overflow_when_the_coroutine_switches_back() {
    let Some(out) = run_child(
        "canary_fallback_detects_an_overflow_when_the_coroutine_switches_back",
        "canary",
        || {
            let pool = pool_with_policy(GuardPolicy::Canary, 1 << 20);
            // Use the second slot, so whatever runs past its (unprotected) guard page lands in
            // the first slot's memory, which is mapped.
            let _below = pool.alloc(16 * 1024).unwrap();
            let stack = pool.alloc(16 * 1024).unwrap();
            assert!(stack.limit() > _below.base());
            let mut co: Coroutine<(), (), ()> = Coroutine::with_stack(stack, |y, ()| {
                // A first suspension within bounds, so the overflow is found on a later
                // resume (the checked slow path), not only on the first.
                y.suspend(());
                // Runs into the unprotected page below and returns: `suspend` is called
                // within bounds, so the clobbered canary is found by `resume`.
                clobber_below();
                y.suspend(());
            })
            .unwrap();
            co.resume(());
            eprintln!("child: first suspension within bounds");
            co.resume(());
            eprintln!("child: the second resume returned");
        },
    ) else {
        return;
    };
    let err = exited_2(&out);
    assert!(
        err.contains("child: first suspension within bounds"),
        "stderr: {err}"
    );
    assert!(err.contains("stack canary at"), "stderr: {err}");
    assert!(
        !err.contains("the second resume returned"),
        "found by resume, not later: {err}"
    );
    assert!(err.contains("fatal error: stack overflow"), "stderr: {err}");
}

#[test]
fn other_faults_keep_their_normal_meaning() {
    let Some(out) = run_child("other_faults_keep_their_normal_meaning", "nullptr", || {
        gort_stack::install_overflow_handler();
        // Not a guard page: the handler passes the fault on and the default action runs.
        // SAFETY: deliberately faulting in a child process.
        unsafe { std::ptr::write_volatile(std::hint::black_box(16usize) as *mut u64, 1) };
    }) else {
        return;
    };
    use std::os::unix::process::ExitStatusExt;
    let err = stderr(&out);
    assert_eq!(
        out.status.signal(),
        Some(libc_sigsegv()),
        "status {:?} stderr: {err}",
        out.status
    );
    assert!(
        !err.contains("fatal error: stack overflow"),
        "stderr: {err}"
    );
}

fn libc_sigsegv() -> i32 {
    11
}
