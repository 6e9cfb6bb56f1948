//! The periodic GC (Go's `forcegchelper`): sysmon wakes a helper thread every second,
//! which runs a cycle if none ran for two minutes. See `gc/mod.rs` for the overview.

use core::time::Duration;
use std::sync::{Condvar, Mutex}; // tidy: allow(std-sync) a plain helper thread woken from sysmon

/// How often sysmon wakes the helper.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// Set by the sysmon hook, cleared by the helper. Protected by its own mutex.
static PENDING: Mutex<bool> = Mutex::new(false);
/// The helper waits here.
static WAKE: Condvar = Condvar::new();

/// Starts the helper thread and registers the sysmon hook (once, from `gc::start`).
pub(super) fn start() {
    let spawned = std::thread::Builder::new()
        .name("gort-forcegc".into())
        .spawn(helper);
    if spawned.is_ok() {
        gort_sched::add_sysmon_hook(CHECK_EVERY, hook);
    }
}

/// On sysmon's thread: wakes the helper (never blocks for long: the lock is only held
/// to flip a flag).
fn hook() {
    *PENDING.lock().unwrap_or_else(|e| e.into_inner()) = true;
    WAKE.notify_one();
}

/// The helper: runs `maybe_periodic_gc` after each wake-up.
fn helper() {
    loop {
        {
            let mut p = PENDING.lock().unwrap_or_else(|e| e.into_inner());
            while !*p {
                p = WAKE.wait(p).unwrap_or_else(|e| e.into_inner());
            }
            *p = false;
        }
        gort_gc::maybe_periodic_gc();
    }
}
