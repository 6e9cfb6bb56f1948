//! The collector's environment at `gort::run`: a bad `GORT_GC` or `GORT_MEMLIMIT` stops
//! the program with a message naming the variable (exit status 2), `GORT_GC=off` turns
//! collection off except `gort::gc::gc()`, and `GORT_DEBUG=gctrace=1` prints Go's line.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::process::{Command, Output};

use gort::gc::{Gc, Trace};

#[global_allocator]
static ALLOC: gort::GortAlloc = gort::GortAlloc;

/// Set in the child process.
const CHILD_ENV: &str = "GORT_GC_ENV_CHILD";

#[derive(Trace)]
struct Obj {
    words: [u64; 8],
}

/// Runs this test in a child with `env` set.
fn child(env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["collector_env", "--exact", "--nocapture"])
        .env(CHILD_ENV, "1")
        .env_remove("GORT_GC")
        .env_remove("GORT_MEMLIMIT")
        // FIXME(issue 7): async preemption inside the allocator's locks can deadlock
        // (see gc_torture.rs); this loop allocates for long enough to be preempted.
        .env("GORT_DEBUG", "asyncpreemptoff=1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn collector_env() {
    if std::env::var(CHILD_ENV).is_ok() {
        gort::run(|| {
            for i in 0..200_000u64 {
                core::hint::black_box(Gc::new(Obj { words: [i; 8] }));
            }
            gort::gc::gc();
            println!("cycles={}", gort::gc::num_gc());
        });
        return;
    }
    for (var, value) in [("GORT_GC", "fast"), ("GORT_MEMLIMIT", "lots")] {
        let out = child(&[(var, value)]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{var}={value}: {stderr}");
        assert!(stderr.contains(var) && stderr.contains(value), "{stderr}");
    }
    // 200k objects of 72 bytes (14 MiB) pass the 4 MiB minimum goal: cycles run by
    // themselves, plus the forced one; with GORT_GC=off only the forced one runs.
    let cycles = |out: &Output| -> u64 {
        let stdout = String::from_utf8_lossy(&out.stdout);
        let line = stdout.lines().find(|l| l.starts_with("cycles=")).unwrap();
        line["cycles=".len()..].trim().parse().unwrap()
    };
    let on = child(&[("GORT_DEBUG", "gctrace=1,asyncpreemptoff=1")]);
    assert!(
        on.status.success(),
        "{}",
        String::from_utf8_lossy(&on.stderr)
    );
    assert!(cycles(&on) >= 2, "{}", String::from_utf8_lossy(&on.stdout));
    let trace = String::from_utf8_lossy(&on.stderr);
    assert!(
        trace
            .lines()
            .any(|l| l.starts_with("gc 1 @") && l.contains(" MB goal")),
        "no gctrace line: {trace}"
    );
    let off = child(&[("GORT_GC", "off")]);
    assert!(
        off.status.success(),
        "{}",
        String::from_utf8_lossy(&off.stderr)
    );
    assert_eq!(cycles(&off), 1);
}
