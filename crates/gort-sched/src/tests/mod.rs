//! Loom models of the scheduler's concurrency protocols (run with `cargo xtask loom gort-sched`).

mod loom_chan;
mod loom_compact;
mod loom_gosync;
mod loom_netpoll;
mod loom_park;
mod loom_run_queue;
mod loom_timer;
