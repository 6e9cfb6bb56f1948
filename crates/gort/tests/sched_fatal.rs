//! Go's fatal checks, each in a child process (this test binary re-run with
//! `GORT_TEST_CHILD` set): deadlock detection, an unrecovered goroutine panic, and a
//! bad `GORT_MAXPROCS`. Each must print Go's message and exit with status 2.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::process::Command;

use gort::chan::Chan;

/// Runs the scenario `name` in a child process; returns (exit code, stderr).
fn child(name: &str, env: &[(&str, &str)]) -> (Option<i32>, String) {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new(exe);
    cmd.args(["child_entry", "--exact", "--nocapture", "--test-threads=1"])
        .env("GORT_TEST_CHILD", name);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The child side: does nothing unless `GORT_TEST_CHILD` names a scenario.
#[test]
fn child_entry() {
    let Ok(which) = std::env::var("GORT_TEST_CHILD") else {
        return;
    };
    match which.as_str() {
        "deadlock" => gort::run(|| {
            let (c, never) = (Chan::<u32>::new(0), Chan::<u32>::new(0));
            let c2 = c.clone();
            gort::go(move || {
                // The third send blocks forever: nobody receives it.
                for i in 0..3 {
                    c2.send(i);
                }
            });
            let _ = c.recv();
            let _ = c.recv();
            let _ = never.recv();
        }),
        "panic" => gort::run(|| {
            let done = Chan::<()>::new(0);
            gort::Builder::new()
                .name("worker")
                .spawn(|| panic!("boom {}", 42))
                .unwrap();
            let _ = done.recv();
        }),
        "main_panic" => gort::run(|| panic!("main says no")),
        "overflow" => gort::run(|| {
            fn down(n: u64) -> u64 {
                let pad = [n; 64];
                // Never true; keeps the recursion unbounded without a lint.
                if std::hint::black_box(n) == u64::MAX {
                    return 0;
                }
                std::hint::black_box(pad)[0] + down(n + 1)
            }
            let done = Chan::<u64>::new(0);
            let d = done.clone();
            gort::go(move || d.send(down(0)));
            let _ = done.recv();
        }),
        "recovered" => {
            let v = gort::run(|| std::panic::catch_unwind(|| panic!("caught")).is_err());
            assert!(v);
            println!("recovered-ok");
        }
        "maxprocs" => {
            let n = gort::run(gort::gomaxprocs);
            println!("gomaxprocs={n}");
        }
        _ => unreachable!("unknown scenario {which}"),
    }
}

#[test]
fn deadlock_is_fatal_with_go_message() {
    let (code, err) = child("deadlock", &[("GORT_MAXPROCS", "2")]);
    assert_eq!(code, Some(2), "stderr: {err}");
    assert!(
        err.starts_with("fatal error: all goroutines are asleep - deadlock!\n"),
        "stderr: {err}"
    );
    assert!(
        err.contains("\ngoroutine 1 [chan receive]:\n"),
        "stderr: {err}"
    );
    assert!(err.contains("[chan send]:"), "stderr: {err}");
}

#[test]
fn deadlock_is_fatal_at_one_proc() {
    let (code, err) = child("deadlock", &[("GORT_MAXPROCS", "1")]);
    assert_eq!(code, Some(2), "stderr: {err}");
    assert!(
        err.contains("all goroutines are asleep - deadlock!"),
        "stderr: {err}"
    );
}

#[test]
fn goroutine_panic_exits_2_go_style() {
    let (code, err) = child("panic", &[]);
    assert_eq!(code, Some(2), "stderr: {err}");
    assert!(
        err.starts_with("panic: boom 42\n\ngoroutine "),
        "stderr: {err}"
    );
    assert!(err.contains(" \"worker\" [running]:\n"), "stderr: {err}");
    assert!(
        err.contains("sched_fatal.rs:"),
        "the report names where: {err}"
    );
}

#[test]
fn main_goroutine_panic_exits_2() {
    let (code, err) = child("main_panic", &[]);
    assert_eq!(code, Some(2), "stderr: {err}");
    assert!(
        err.starts_with("panic: main says no\n\ngoroutine 1 [running]:\n"),
        "stderr: {err}"
    );
}

#[test]
fn goroutine_stack_overflow_is_reported_and_exits_2() {
    let (code, err) = child("overflow", &[("GORT_MAXPROCS", "1")]);
    assert_eq!(code, Some(2), "stderr: {err}");
    assert!(
        err.contains("goroutine 2 overflowed its stack"),
        "stderr: {err}"
    );
    assert!(err.contains("fatal error: stack overflow"), "stderr: {err}");
}

#[test]
fn recovered_panic_prints_nothing() {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe)
        .args(["child_entry", "--exact", "--nocapture"])
        .env("GORT_TEST_CHILD", "recovered")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stderr: {err}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("recovered-ok"));
    assert!(!err.contains("caught"), "a recovered panic printed: {err}");
}

#[test]
fn gort_maxprocs_from_env() {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe)
        .args(["child_entry", "--exact", "--nocapture"])
        .env("GORT_TEST_CHILD", "maxprocs")
        .env("GORT_MAXPROCS", "3")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("gomaxprocs=3"));
}

#[test]
fn bad_gort_maxprocs_names_the_variable() {
    let (code, err) = child("maxprocs", &[("GORT_MAXPROCS", "lots")]);
    assert_eq!(code, Some(2), "stderr: {err}");
    assert!(
        err.contains("GORT_MAXPROCS") && err.contains("\"lots\""),
        "stderr: {err}"
    );
    assert!(
        err.contains("a whole number from 1 to 1024"),
        "stderr: {err}"
    );
}

#[test]
fn bad_gort_debug_names_the_variable() {
    let (code, err) = child("maxprocs", &[("GORT_DEBUG", "schedtrace=often")]);
    assert_eq!(code, Some(2), "stderr: {err}");
    assert!(
        err.contains("GORT_DEBUG") && err.contains("schedtrace=<milliseconds>"),
        "stderr: {err}"
    );
}
