//! The netpoller: one edge-triggered epoll instance per scheduler, consulted by
//! `find_runnable` and sysmon, waking exactly the goroutines whose descriptors are ready
//! (Go: netpoll.go, netpoll_epoll.go, internal/poll/fd_poll_runtime.go).
//!
//! 1. A descriptor is registered once ([`PollFd::new`]) for read and write readiness,
//!    edge-triggered, under a key naming its `PollDesc` in the registry.
//! 2. I/O is attempted first ([`PollFd::io`]); only `EAGAIN` parks the goroutine on the
//!    direction's slot (the handshake in poll_desc.rs, which never loses a wakeup).
//! 3. `find_runnable` polls without blocking when its queues are empty and someone
//!    waits on the network; the M that sleeps for timers blocks in `epoll_wait` with
//!    the next timer as timeout instead (Go's `netpoll(delay)`), and a new earlier timer
//!    or shutdown breaks it through an eventfd (`netpollBreak`). sysmon polls if nobody
//!    has for 10 ms.
//! 4. Deadlines are gort-sched timers carrying the wait's generation; a stale one does
//!    nothing. Closing ([`PollFd`]'s drop) wakes waiters with an error.
//!
//! Off a goroutine (a plain thread, or inside [`crate::syscall`]) a wait is a blocking
//! `poll(2)` on the descriptor instead, so a socket works everywhere.

pub(crate) mod poll_desc;

#[cfg(not(loom))]
mod epoll;
#[cfg(not(loom))]
mod poller;

#[cfg(not(loom))]
pub use poller::PollFd;
#[cfg(not(loom))]
pub(crate) use poller::{
    Netpoll, block, find_runnable_poll, has_waiters, sysmon_poll, wake_poller,
};

/// Which direction of a descriptor an operation waits for.
pub use poll_desc::Mode;

/// Loom builds model only the handshake; the scheduler's hooks do nothing.
#[cfg(loom)]
#[allow(dead_code, reason = "not every hook is called under loom")]
mod loom_stubs {
    use crate::m::M;
    use crate::park::Parker;
    use crate::sched::Sched;

    /// No netpoller under loom.
    #[derive(Clone, Copy, Debug, Default)]
    pub(crate) struct Netpoll;

    pub(crate) fn find_runnable_poll(_m: &M) -> bool {
        false
    }
    pub(crate) fn has_waiters(sched: &Sched) -> bool {
        let Netpoll = sched.netpoll;
        false
    }
    pub(crate) fn block(_sched: &Sched, _timeout_ns: u64, _ready: &mut Vec<Parker>) -> bool {
        false
    }
    pub(crate) fn wake_poller(_sched: &Sched) {}
    pub(crate) fn sysmon_poll(_sched: &Sched, _now: u64) {}
}
#[cfg(loom)]
pub(crate) use loom_stubs::*;
