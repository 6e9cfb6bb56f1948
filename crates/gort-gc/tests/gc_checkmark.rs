//! Checkmark mode (GORT_DEBUG=gccheckmark=1) aborts naming an object the mark missed; it
//! stays quiet when nothing was missed. Each case runs in a child process.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::process::Command;

use gort_gc::testing::{MockHost, hide_from_next_mark};
use gort_gc::{Gc, gc};

#[global_allocator]
static A: gort_alloc::GortAlloc = gort_alloc::GortAlloc;

const CHILD: &str = "GORT_GC_CHECKMARK_CHILD";

/// The child's body: one live object, optionally hidden from the first mark.
fn child(hide: bool) {
    let h = MockHost::new(1);
    gort_gc::install(h).unwrap();
    let _r = h.register();
    let g = Gc::new(vec![1u64, 2, 3]);
    if hide {
        hide_from_next_mark(g);
    }
    gc();
    assert_eq!(g.iter().sum::<u64>(), 6);
    println!("child done");
}

fn run_child(test: &str) -> std::process::Output {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .env("GORT_DEBUG", "gccheckmark=1")
        .output()
        .unwrap()
}

#[test]
fn checkmark_catches_a_hidden_object() {
    if std::env::var_os(CHILD).is_some() {
        child(true);
        return;
    }
    let out = run_child("checkmark_catches_a_hidden_object");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the child must abort; stderr: {err}");
    assert!(
        err.contains("fatal error: runtime: checkmark found a reachable object the mark missed")
            && err.contains("alloc::vec::Vec<u64>"),
        "stderr: {err}"
    );
}

#[test]
fn checkmark_is_quiet_when_nothing_is_missed() {
    if std::env::var_os(CHILD).is_some() {
        child(false);
        return;
    }
    let out = run_child("checkmark_is_quiet_when_nothing_is_missed");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stderr: {err}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("child done"));
}
