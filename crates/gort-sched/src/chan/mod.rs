//! Channels and `select!` (Go's `runtime/chan.go` and `runtime/select.go`). See the crate
//! docs for the overview and docs/design/gort-sched.md ("Channels and sync") for the
//! protocol.

mod channel;
mod error;
mod select;
pub(crate) mod waiter;

#[cfg(all(test, not(loom)))]
mod tests;

pub use channel::{Chan, Iter};
pub use error::{CloseError, SendError, TryRecvError, TrySendError};
pub use select::SelectChan;
#[doc(hidden)]
pub use select::{ErasedCase, RecvCase, SendCase, select_block, select_cases, select_unreachable};
