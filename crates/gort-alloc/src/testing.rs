//! White-box constructors for tests (Go's `export_test.go`).

use gort_heap::{HeapConfig, PageHeap};

use crate::allocator::Allocator;
use crate::error::Error;

/// A private allocator over a private page heap (no background scavenger), so a test
/// does not depend on, or disturb, the process-wide allocator.
pub fn new_allocator() -> Result<&'static Allocator, Error> {
    let heap = PageHeap::new_private(HeapConfig::new().background_scavenger(false))?;
    Allocator::new_persistent(heap)
}
