//! In-crate tests: loom models (under `--cfg loom`) and white-box unit tests.

#[cfg(loom)]
mod loom_span_map;
#[cfg(not(loom))]
mod page_heap;
#[cfg(not(loom))]
mod page_heap_model;
