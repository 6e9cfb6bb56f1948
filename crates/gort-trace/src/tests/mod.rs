//! In-crate tests: loom models (under `--cfg loom`) and white-box unit tests.

#[cfg(loom)]
mod loom_buffer;
#[cfg(not(loom))]
mod unit;
