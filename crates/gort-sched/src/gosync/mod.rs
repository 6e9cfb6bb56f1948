//! Go's `sync` package on gort's parking: `Mutex` (with starvation mode), `RwLock`,
//! `WaitGroup`, `Once`, `Cond`, and the runtime `Semaphore` they park on (Go's
//! `sync/*.go` and `runtime/sema.go`). Every type works on goroutines and on plain OS
//! threads alike. See the crate docs for the overview and docs/design/gort-sched.md
//! ("Channels and sync") for the algorithms.

mod cond;
mod mutex;
mod once;
mod rw_lock;
mod semaphore;
mod wait_group;

#[cfg(all(test, not(loom)))]
mod tests;

pub use cond::Cond;
pub use mutex::{Mutex, MutexGuard};
pub use once::Once;
pub use rw_lock::{RwLock, RwLockReadGuard, RwLockWriteGuard};
pub use semaphore::Semaphore;
pub use wait_group::WaitGroup;
