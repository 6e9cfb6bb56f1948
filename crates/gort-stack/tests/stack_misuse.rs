//! Misuse the type system lets through and the runtime must stop: each scenario runs in a
//! child process (this test binary re-executed with `GORT_STACK_TEST_CHILD` set) whose
//! exit status and stderr are checked.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::process::{Command, Output};

use gort_stack::{Coroutine, CoroutineResult, Yielder};

const CHILD_VAR: &str = "GORT_STACK_TEST_CHILD";

/// Runs `scenario` in a child process, or (in the child) runs `body` and exits 0.
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

/// Coroutine A hands its own `&Yielder` to a coroutine B it creates (B's input type is a
/// reference, which the closure's `'static` bound does not constrain), and B calls
/// `suspend` on it from B's stack. Unchecked, A's saved stack pointer would then lie in
/// B's stack and A's live ranges would span unrelated memory; the check makes it a
/// Go-style fatal error.
#[test]
fn suspending_through_another_coroutines_yielder_is_fatal() {
    let Some(out) = run_child(
        "suspending_through_another_coroutines_yielder_is_fatal",
        "foreign-yielder",
        || {
            let mut a: Coroutine<(), u32, ()> = Coroutine::new(|ya, ()| {
                let mut b: Coroutine<&Yielder<(), u32>, (), ()> =
                    Coroutine::new(|_yb, ya: &Yielder<(), u32>| {
                        ya.suspend(7);
                    });
                let _ = b.resume(ya);
            });
            eprintln!("child: resuming A");
            let r = a.resume(());
            eprintln!("child: A yielded {r:?}");
            if let CoroutineResult::Yield(_) = r {
                a.for_each_live_range(|r| eprintln!("child: live {:#x}..{:#x}", r.start, r.end));
            }
        },
    ) else {
        return;
    };
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(err.contains("child: resuming A"), "stderr: {err}");
    assert!(!err.contains("child: A yielded"), "stderr: {err}");
    assert!(
        err.contains("fatal error: runtime: Yielder::suspend called off its coroutine's stack"),
        "stderr: {err}"
    );
    assert_ne!(out.status.code(), Some(0), "stderr: {err}");
}
