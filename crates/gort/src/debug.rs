//! Go's `runtime/debug`-style introspection: goroutine dumps ([`goroutines`], and on
//! SIGQUIT) and the scheduler's state ([`SchedHandle::snapshot`]).
//!
//! A program receiving SIGQUIT (Ctrl-\) prints `SIGQUIT: quit` and every goroutine in
//! Go's shape, then exits with status 2, as a Go program does.

pub use gort_sched::debug::{
    GoroutineCounts, MState, ProcSnapshot, SchedHandle, SchedSnapshot, ThreadSnapshot, goroutines,
    wait_duration_label,
};
