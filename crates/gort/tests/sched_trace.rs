//! `GORT_DEBUG=schedtrace=MS[,scheddetail=1]` prints Go-format lines (checked in a
//! child process that is this test binary re-run with `GORT_TEST_CHILD` set).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn child_entry() {
    if std::env::var_os("GORT_TEST_CHILD").is_none() {
        return;
    }
    gort::run(|| {
        let t = Instant::now();
        for _ in 0..4 {
            gort::go(move || {
                while t.elapsed() < Duration::from_millis(60) {
                    gort::yield_now();
                }
            });
        }
        while t.elapsed() < Duration::from_millis(80) {
            gort::yield_now();
        }
    });
}

fn run_child(debug: &str) -> String {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["child_entry", "--exact", "--nocapture"])
        .env("GORT_TEST_CHILD", "1")
        .env("GORT_MAXPROCS", "2")
        .env("GORT_DEBUG", debug)
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Checks `line` against Go's schedtrace shape, field by field.
fn check_sched_line(line: &str) {
    let rest = line
        .strip_prefix("SCHED ")
        .unwrap_or_else(|| panic!("not a SCHED line: {line}"));
    let (ms, rest) = rest.split_once("ms: ").unwrap();
    ms.parse::<u64>().unwrap();
    let mut fields = rest.split(' ');
    for key in [
        "gomaxprocs",
        "idleprocs",
        "threads",
        "spinningthreads",
        "needspinning",
        "idlethreads",
        "runqueue",
    ] {
        let f = fields.next().unwrap();
        let (k, v) = f
            .split_once('=')
            .unwrap_or_else(|| panic!("bad field {f:?} in {line}"));
        assert_eq!(k, key, "{line}");
        v.parse::<u64>().unwrap();
    }
    assert!(rest.starts_with("gomaxprocs=2 "), "{line}");
    let locals: Vec<&str> = fields.collect();
    let joined = locals.join(" ");
    let inner = joined
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or_else(|| panic!("{line}"));
    assert_eq!(
        inner.split(' ').count(),
        2,
        "one run-queue length per P: {line}"
    );
}

#[test]
fn schedtrace_lines_in_go_format() {
    let err = run_child("schedtrace=10");
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("SCHED")).collect();
    assert!(
        lines.len() >= 3,
        "expected a line every 10ms over ~80ms: {err}"
    );
    for l in lines {
        check_sched_line(l);
    }
}

#[test]
fn scheddetail_adds_p_and_g_lines() {
    let err = run_child("schedtrace=10,scheddetail=1");
    let first = err.lines().find(|l| l.starts_with("SCHED")).unwrap();
    assert!(
        first.contains(" gcwaiting=") && first.contains(" nmidlelocked="),
        "{first}"
    );
    assert!(
        err.lines().any(|l| l.starts_with("  P0: status=")
            && l.contains(" schedtick=")
            && l.contains(" runqsize=")),
        "{err}"
    );
    assert!(err.lines().any(|l| l.starts_with("  G1: status=")), "{err}");
    // gort's addition: the stack guard policy, which this kernel (>= 6.13) gives as
    // madvise; older kernels show mprotect(budget=N) or canary.
    assert!(
        err.lines().any(|l| l.starts_with("  stacks: guard=")),
        "{err}"
    );
}
