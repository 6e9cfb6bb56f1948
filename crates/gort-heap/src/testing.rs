//! White-box helpers for tests of this crate and of the layers above (Go's
//! `export_test.go`). Enabled under `cfg(test)` or the `testing` feature.

use crate::error::Error;
use crate::page_heap::{HeapConfig, PageHeap};

/// A private heap for a test: no background scavenger, the given heap limit (bytes of
/// `heap_sys`; `usize::MAX` for none) and a zero retained goal. The heap lives for the
/// rest of the process (its address space is reserved lazily and costs nothing until
/// used), so tests never share state with [`PageHeap::global`] or each other.
pub fn new_for_test(max_heap_bytes: usize) -> Result<&'static PageHeap, Error> {
    PageHeap::new_private(
        HeapConfig::new()
            .max_heap_bytes(max_heap_bytes)
            .retained_goal(0)
            .background_scavenger(false),
    )
}

impl PageHeap {
    /// The contract's name for [`new_for_test`]: a private test heap with the given
    /// `heap_sys` limit in bytes (`usize::MAX` for none) and no background scavenger.
    pub fn new_for_test(max_heap_bytes: usize) -> Result<&'static PageHeap, Error> {
        new_for_test(max_heap_bytes)
    }
}

/// The resident set size of this process in bytes, from `/proc/self/statm` (0 if it
/// cannot be read).
pub fn rss_bytes() -> usize {
    let Ok(statm) = std::fs::read_to_string("/proc/self/statm") else {
        return 0;
    };
    let resident: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|f| f.parse().ok())
        .unwrap_or(0);
    resident * crate::os::os_page_size()
}
