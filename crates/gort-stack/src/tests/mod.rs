//! Loom models of the crate's concurrency protocols (run with `cargo xtask loom gort-stack`).

mod loom_pool;
