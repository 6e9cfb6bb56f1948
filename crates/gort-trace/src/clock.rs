//! The trace clock: the CPU's time-stamp counter on x86_64, `CLOCK_MONOTONIC`
//! elsewhere. See the crate docs for why and how ticks become nanoseconds.
//!
//! Measured on the development machine (2-core x86_64 VM, clocksource `tsc`): `rdtsc`
//! ~19 ns, `clock_gettime(CLOCK_MONOTONIC)` through the vDSO ~47 ns (see
//! docs/BENCHMARKS.md, `## gort-trace`). Go's old tracer also used `cputicks`; its new
//! one uses `nanotime` because it must cope with CPUs whose TSC is not invariant. Ticks
//! are converted to nanoseconds once, at export, from two (ticks, nanoseconds) pairs
//! taken at start and stop (the trace's own calibration window, like Go's Frequency
//! event), so no calibration sleep is needed; writers clamp timestamps so they never go
//! backwards within one buffer even if a thread migrates between cores.

/// The current value of the trace clock, in ticks (only differences and the
/// start/stop calibration give them meaning).
#[inline(always)]
pub fn ticks() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: `rdtsc` is part of the x86_64 baseline instruction set, reads a counter
        // and has no memory effects.
        unsafe { core::arch::x86_64::_rdtsc() }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        monotonic_ns()
    }
}

/// `CLOCK_MONOTONIC` in nanoseconds (used for calibration, and as the trace clock on
/// targets without an invariant TSC).
#[inline]
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(ts.tv_nsec).unwrap_or(0);
    secs.saturating_mul(1_000_000_000).saturating_add(nanos)
}

/// A (ticks, nanoseconds) pair read back to back.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Stamp {
    pub(crate) ticks: u64,
    pub(crate) ns: u64,
}

impl Stamp {
    pub(crate) fn now() -> Self {
        let ticks = ticks();
        let ns = monotonic_ns();
        Self { ticks, ns }
    }
}

/// Converts ticks to nanoseconds since `start`, by the rate seen between `start` and
/// `stop`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Calibration {
    start_ticks: u64,
    /// Nanoseconds per tick.
    rate: f64,
}

impl Calibration {
    pub(crate) fn new(start: Stamp, stop: Stamp) -> Self {
        let dt = stop.ticks.saturating_sub(start.ticks);
        let dns = stop.ns.saturating_sub(start.ns);
        let rate = if dt == 0 || dns == 0 {
            1.0
        } else {
            dns as f64 / dt as f64
        };
        Self {
            start_ticks: start.ticks,
            rate,
        }
    }

    /// Nanoseconds since the start of the trace (0 for ticks before it).
    pub(crate) fn ns(&self, ticks: u64) -> u64 {
        (ticks.saturating_sub(self.start_ticks) as f64 * self.rate) as u64
    }
}
