//! White-box helpers for tests of this crate and of the layers above (Go's
//! `export_test.go`). Enabled under `cfg(test)` or the `testing` feature.

/// Records per buffer, so tests can emit exactly enough events to cross hand-offs.
pub const RECORDS_PER_BUFFER: usize = crate::buffer::CAP;

pub mod json;
