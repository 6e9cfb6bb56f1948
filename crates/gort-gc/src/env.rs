//! GORT_GC, GORT_MEMLIMIT and GORT_DEBUG (Go: GOGC, GOMEMLIMIT, GODEBUG gctrace/gccheckmark).

use crate::error::Error;

/// GORT_GC: the GC percent (Go `GOGC`): a whole number, or `off`.
pub const GC_ENV: &str = "GORT_GC";
/// GORT_MEMLIMIT: the soft memory limit (Go `GOMEMLIMIT`): bytes with an optional
/// suffix `B`, `KiB`, `MiB`, `GiB`, `TiB`, or `off`.
pub const MEMLIMIT_ENV: &str = "GORT_MEMLIMIT";
/// GORT_DEBUG: comma-separated `name=value` settings (Go `GODEBUG`); the collector
/// reads `gctrace` and `gccheckmark`.
pub const DEBUG_ENV: &str = "GORT_DEBUG";

/// The collector's GORT_DEBUG settings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Debug {
    /// `gctrace=1`: print a line per cycle to stderr.
    pub gctrace: bool,
    /// `gccheckmark=1`: re-mark after each cycle and abort on a missed object.
    pub gccheckmark: bool,
}

impl Debug {
    /// Parses a GORT_DEBUG value (unknown names are other layers' and ignored).
    pub fn parse(v: &str) -> Debug {
        let mut d = Debug::default();
        for item in v.split(',') {
            let (k, val) = item.split_once('=').unwrap_or((item, "1"));
            let on = val.trim().parse::<u32>().map(|n| n > 0).unwrap_or(false);
            match k.trim() {
                "gctrace" => d.gctrace = on,
                "gccheckmark" => d.gccheckmark = on,
                _ => {}
            }
        }
        d
    }

    /// The settings from the environment.
    pub fn from_env() -> Debug {
        std::env::var(DEBUG_ENV)
            .map(|v| Debug::parse(&v))
            .unwrap_or_default()
    }
}

/// Parses a GORT_GC value: a percent ≥ 0, or `off` (returned as -1).
pub fn parse_gc_percent(v: &str) -> Result<i32, Error> {
    let t = v.trim();
    if t.eq_ignore_ascii_case("off") {
        return Ok(-1);
    }
    t.parse::<i32>()
        .ok()
        .filter(|&n| n >= 0)
        .ok_or_else(|| Error::BadEnv {
            var: GC_ENV,
            value: v.to_owned(),
            want: "a whole percentage >= 0, or off",
        })
}

/// Parses a GORT_MEMLIMIT value: bytes with an optional suffix (`B`, `KiB`, `MiB`,
/// `GiB`, `TiB`), or `off` (`u64::MAX`).
pub fn parse_mem_limit(v: &str) -> Result<u64, Error> {
    let t = v.trim();
    let bad = || Error::BadEnv {
        var: MEMLIMIT_ENV,
        value: v.to_owned(),
        want: "a byte count with an optional B, KiB, MiB, GiB or TiB suffix, or off",
    };
    if t.eq_ignore_ascii_case("off") {
        return Ok(u64::MAX);
    }
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, suffix) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| bad())?;
    let mul: u64 = match suffix {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        _ => return Err(bad()),
    };
    n.checked_mul(mul).ok_or_else(bad)
}
