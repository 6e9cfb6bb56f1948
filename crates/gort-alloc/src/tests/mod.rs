//! In-crate tests: unit and model tests on private heaps, and loom models.

#[cfg(not(loom))]
mod unit;

#[cfg(not(loom))]
mod model;

#[cfg(loom)]
mod loom_remote_free;
