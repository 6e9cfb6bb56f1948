//! Per-socket read/write timeouts (std's, per operation) and deadlines (Go's, absolute).

use std::io;
use std::sync::OnceLock; // tidy: allow(std-sync) the process-wide clock base
use std::sync::atomic::{AtomicU64, Ordering}; // tidy: allow(std-sync) plain atomics for socket settings
use std::time::{Duration, Instant};

/// The base `Instant` deadlines are stored relative to.
fn base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new(); // tidy: allow(std-sync) see above
    *BASE.get_or_init(Instant::now)
}

/// Encodes an optional instant as nanoseconds after `base()` plus one (0 = none).
fn enc(t: Option<Instant>) -> u64 {
    match t {
        None => 0,
        Some(t) => {
            let ns = t.saturating_duration_since(base()).as_nanos();
            u64::try_from(ns).unwrap_or(u64::MAX - 1) + 1
        }
    }
}

fn dec(v: u64) -> Option<Instant> {
    (v != 0).then(|| base() + Duration::from_nanos(v - 1))
}

/// One direction's settings. Atomic fields, relaxed: a timeout applies to operations
/// that start after it (std), a deadline also to a blocked one (Go; the setter then
/// calls `PollFd::deadline_changed`).
#[derive(Debug, Default)]
pub(crate) struct Dir {
    /// std's timeout per operation, in ns; 0 = none.
    timeout: AtomicU64,
    /// Go's absolute deadline, encoded by `enc`.
    deadline: AtomicU64,
}

impl Dir {
    /// std's `set_*_timeout`: a zero duration is an error, as in std.
    pub(crate) fn set_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        let ns = match d {
            None => 0,
            Some(d) if d.is_zero() => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "cannot set a 0 duration timeout",
                ));
            }
            Some(d) => u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1),
        };
        self.timeout.store(ns, Ordering::Relaxed);
        Ok(())
    }

    pub(crate) fn timeout(&self) -> Option<Duration> {
        let ns = self.timeout.load(Ordering::Relaxed);
        (ns != 0).then(|| Duration::from_nanos(ns))
    }

    pub(crate) fn set_deadline(&self, t: Option<Instant>) {
        self.deadline.store(enc(t), Ordering::Relaxed);
    }

    /// The deadline of an operation starting now, as the netpoller re-evaluates it:
    /// the earlier of the absolute deadline (read live, so a change applies to a
    /// blocked operation, as in Go) and now + timeout (fixed at the start, as std's).
    pub(crate) fn op_deadline(&self) -> impl Fn() -> Option<Instant> + '_ {
        let rel = self.timeout().map(|d| Instant::now() + d);
        move || {
            let abs = dec(self.deadline.load(Ordering::Relaxed));
            match (abs, rel) {
                (Some(a), Some(r)) => Some(a.min(r)),
                (a, r) => a.or(r),
            }
        }
    }
}

/// Both directions.
#[derive(Debug, Default)]
pub(crate) struct Deadlines {
    pub(crate) read: Dir,
    pub(crate) write: Dir,
}
