//! A program that does not make gort's allocator the global allocator still runs
//! goroutines, but `Gc::new` of a scanned type refuses with a message naming `GortAlloc`
//! (the collector could not find a `Gc` hidden in a `Box` of another allocator's heap).
//! FIXME(issue 8): a pointer-free (noscan) type is still accepted, from gort-alloc's
//! heap, and never collected (the facade installs no collector without `GortAlloc`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::process::Command;

use gort::gc::{Gc, Trace};

/// Set in the child process.
const CHILD_ENV: &str = "GORT_GC_NO_ALLOC_CHILD";

/// A type that may hold a `Gc` (so its objects are scanned).
#[derive(Trace)]
struct Node {
    v: u64,
    next: Option<Gc<Node>>,
}

#[test]
fn gc_is_refused_without_gort_alloc() {
    if std::env::var(CHILD_ENV).is_ok() {
        gort::run(|| {
            let g = Gc::new(Node { v: 1, next: None });
            let g = Gc::new(Node {
                v: 2,
                next: Some(g),
            });
            println!("made a Gc holding {}", g.v);
        });
        return;
    }
    // Goroutines work without gort's allocator.
    let sum = gort::run(|| {
        let ch = gort::chan::Chan::new(0);
        for i in 0..4u64 {
            let ch = ch.clone();
            gort::go!(ch.send(i));
        }
        (0..4).map(|_| ch.recv().unwrap_or(0)).sum::<u64>()
    });
    assert_eq!(sum, 6);
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["gc_is_refused_without_gort_alloc", "--exact", "--nocapture"])
        .env(CHILD_ENV, "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success(),
        "Gc::new worked without GortAlloc:\n{stdout}\n{stderr}"
    );
    assert!(!stdout.contains("made a Gc"), "{stdout}");
    assert!(
        stderr.contains("GortAlloc"),
        "no message naming GortAlloc:\n{stderr}"
    );
}
