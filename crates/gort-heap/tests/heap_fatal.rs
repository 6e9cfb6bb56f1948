//! A double `free_span` is a broken runtime invariant: the process must print Go's
//! `fatal error: runtime: ...` line and abort, not continue with a corrupt heap. The test
//! re-runs its own binary as a child that commits the double free.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::process::Command;

use gort_heap::{HeapConfig, PageHeap, SpanState};

const CHILD: &str = "GORT_HEAP_FATAL_CHILD";

#[test]
fn heap_double_free_is_fatal() {
    if std::env::var_os(CHILD).is_some() {
        let heap = PageHeap::new_private(HeapConfig::new().background_scavenger(false)).unwrap();
        let s = heap.alloc_span(2, SpanState::InUse).unwrap();
        // SAFETY: deliberately violated: the second call is the bug under test, and the
        // heap must abort before anything else happens.
        unsafe {
            heap.free_span(s);
            heap.free_span(s);
        }
        unreachable!("the double free returned");
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "heap_double_free_is_fatal",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "child survived a double free: {stderr}"
    );
    assert!(
        stderr.contains("fatal error: runtime: free_span: span already free (double free)"),
        "stderr: {stderr}"
    );
    assert!(!stderr.contains("the double free returned"));
}
