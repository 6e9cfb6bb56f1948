//! Scheduler configuration, from code or from the environment (`GORT_MAXPROCS`,
//! `GORT_DEBUG=schedtrace=MS,scheddetail=1`) with Go's meanings.

use crate::error::Error;

/// The most Ps a scheduler can have (Go caps GOMAXPROCS at 1024 as well, `_MaxGomaxprocs`).
pub const MAX_PROCS: usize = 1024;

/// Default usable stack size of a goroutine. Pages are committed by touch, so a small
/// goroutine costs one or two pages whatever this is; Rust frames are larger than Go's
/// and gort does not grow stacks implicitly, so the reservation is generous.
pub const DEFAULT_STACK_SIZE: usize = 64 * 1024;

/// How a scheduler is set up.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Number of Ps (Go: GOMAXPROCS); 1..=[`MAX_PROCS`].
    pub maxprocs: usize,
    /// Print a schedtrace line every this many milliseconds (Go: `schedtrace=X`); 0 = off.
    pub schedtrace_ms: u64,
    /// With `schedtrace`, also print per-P, per-M and per-G detail (Go: `scheddetail=1`).
    pub scheddetail: bool,
    /// Default stack size of a goroutine in bytes.
    pub stack_size: usize,
    /// Compact the stacks of goroutines parked on a channel send or receive (or a `gosync`
    /// lock, wait group or semaphore) for at least this long
    /// (`GORT_DEBUG=compactparked=MS`; `None`, the default, = never). An idle P
    /// copies the live part of such a stack (typically under 1 KiB) aside and gives its
    /// pages back; the goroutine's waker copies it back. Opt-in because Rust lets a
    /// goroutine lend its locals to other threads while it is blocked (a scoped thread
    /// reading a local array while the goroutine waits on a channel): such a program must
    /// not enable it, since the lent locals read as zeros while compacted.
    pub compact_parked_after: Option<core::time::Duration>,
    /// Asynchronous preemption (SIGURG) of goroutines running over 10 ms; turned off by
    /// `GORT_DEBUG=asyncpreemptoff=1` (Go's `asyncpreemptoff`).
    pub async_preempt: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            maxprocs: num_cpus(),
            schedtrace_ms: 0,
            scheddetail: false,
            stack_size: DEFAULT_STACK_SIZE,
            compact_parked_after: None,
            async_preempt: true,
        }
    }
}

fn num_cpus() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(MAX_PROCS)
}

const MAXPROCS_EXPECTED: &str = "a whole number from 1 to 1024";
const DEBUG_EXPECTED: &str = "comma-separated key=value pairs: schedtrace=<milliseconds>, scheddetail=<0|1>, asyncpreemptoff=<0|1>, compactparked=<milliseconds, 0 = off> (other keys are ignored)";

impl Config {
    /// The default configuration overridden by `GORT_MAXPROCS` and `GORT_DEBUG`.
    ///
    /// A value the runtime cannot use is an [`Error::InvalidEnv`] naming the variable
    /// and what it accepts. Unknown `GORT_DEBUG` keys are ignored (they belong to other
    /// layers, such as `gctrace`).
    pub fn from_env() -> Result<Config, Error> {
        let mut c = Config::default();
        if let Some(v) = env("GORT_MAXPROCS") {
            c.maxprocs = parse_maxprocs(&v)?;
        }
        if let Some(v) = env("GORT_DEBUG") {
            c.apply_debug(&v)?;
        }
        Ok(c)
    }

    /// Applies a `GORT_DEBUG` value.
    pub fn apply_debug(&mut self, value: &str) -> Result<(), Error> {
        let bad = || Error::InvalidEnv {
            var: "GORT_DEBUG",
            value: value.to_owned(),
            expected: DEBUG_EXPECTED,
        };
        for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (k, v) = item.split_once('=').ok_or_else(bad)?;
            match k.trim() {
                "schedtrace" => self.schedtrace_ms = v.trim().parse().map_err(|_| bad())?,
                "compactparked" => {
                    let ms: u64 = v.trim().parse().map_err(|_| bad())?;
                    self.compact_parked_after =
                        (ms > 0).then(|| core::time::Duration::from_millis(ms));
                }
                "scheddetail" => {
                    self.scheddetail = match v.trim() {
                        "0" => false,
                        "1" => true,
                        _ => return Err(bad()),
                    }
                }
                "asyncpreemptoff" => {
                    self.async_preempt = match v.trim() {
                        "0" => true,
                        "1" => false,
                        _ => return Err(bad()),
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Parses a GOMAXPROCS value.
pub fn parse_maxprocs(v: &str) -> Result<usize, Error> {
    match v.trim().parse::<usize>() {
        Ok(n) if (1..=MAX_PROCS).contains(&n) => Ok(n),
        _ => Err(Error::InvalidEnv {
            var: "GORT_MAXPROCS",
            value: v.to_owned(),
            expected: MAXPROCS_EXPECTED,
        }),
    }
}

fn env(var: &str) -> Option<String> {
    std::env::var_os(var).map(|v| v.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maxprocs_values() {
        assert_eq!(parse_maxprocs("2").unwrap(), 2);
        assert_eq!(parse_maxprocs(" 8 ").unwrap(), 8);
        for bad in ["0", "-1", "two", "", "1025"] {
            let e = parse_maxprocs(bad).unwrap_err().to_string();
            assert!(
                e.contains("GORT_MAXPROCS") && e.contains("1 to 1024"),
                "{e}"
            );
        }
    }

    #[test]
    fn debug_values() {
        let mut c = Config::default();
        c.apply_debug("gctrace=1,schedtrace=100,scheddetail=1")
            .unwrap();
        assert_eq!((c.schedtrace_ms, c.scheddetail), (100, true));
        assert!(c.async_preempt);
        c.apply_debug("asyncpreemptoff=1").unwrap();
        assert!(!c.async_preempt);
        let e = c
            .apply_debug("asyncpreemptoff=yes")
            .unwrap_err()
            .to_string();
        assert!(e.contains("asyncpreemptoff=<0|1>"), "{e}");
        assert_eq!(c.compact_parked_after, None);
        c.apply_debug("compactparked=25").unwrap();
        assert_eq!(
            c.compact_parked_after,
            Some(core::time::Duration::from_millis(25))
        );
        c.apply_debug("compactparked=0").unwrap();
        assert_eq!(c.compact_parked_after, None);
        assert!(c.apply_debug("compactparked=x").is_err());
        let e = c.apply_debug("schedtrace=soon").unwrap_err().to_string();
        assert!(
            e.contains("GORT_DEBUG") && e.contains("schedtrace=<milliseconds>"),
            "{e}"
        );
    }
}
