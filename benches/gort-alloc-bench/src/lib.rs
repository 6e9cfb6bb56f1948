//! Side-by-side allocator benchmarks (churn, xthread, larson, binarytrees-manual).
//!
//! Each workload is one binary whose global allocator is [`Switch`]: it forwards to
//! gort-alloc, the system malloc, mimalloc or jemalloc, chosen once per process by the
//! `GORT_BENCH_ALLOC` environment variable (read with `getenv` on the first allocation,
//! before anything is allocated). Run without the variable, a binary is the driver: it
//! re-runs itself once per allocator per round, rotating the order each round so noise
//! spreads evenly, and prints each run, the medians, and last one JSON summary line with
//! the ratios gort / peer (medians of wall time; CPU time of the children, from
//! `getrusage(RUSAGE_CHILDREN)`, is reported beside it because the machine is shared),
//! and the medians over rounds of each round's ratio gort / best peer of that round
//! (`round_ratio_vs_best_peer`, `round_cpu_ratio_vs_best_peer`), the figure least moved
//! by load that comes and goes between rounds.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "bench code"
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::process::Command;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Instant;

/// Allocators, in the order of [`NAMES`].
pub const NAMES: [&str; 4] = ["gort", "system", "mimalloc", "jemalloc"];

static CHOICE: AtomicU8 = AtomicU8::new(0);

static GORT: gort_alloc::GortAlloc = gort_alloc::GortAlloc;
static MI: mimalloc::MiMalloc = mimalloc::MiMalloc;
static JE: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// The switching global allocator (see the crate docs).
#[derive(Debug)]
pub struct Switch;

#[cold]
fn choose() -> u8 {
    // SAFETY: getenv with a NUL-terminated name; the result is read before any setenv.
    let v = unsafe { libc::getenv(c"GORT_BENCH_ALLOC".as_ptr()) };
    let c = if v.is_null() {
        2 // the driver itself runs on the system allocator
    } else {
        // SAFETY: getenv returned a NUL-terminated string.
        let s = unsafe { std::ffi::CStr::from_ptr(v) }.to_bytes();
        match s {
            b"gort" => 1,
            b"mimalloc" => 3,
            b"jemalloc" => 4,
            _ => 2,
        }
    };
    CHOICE.store(c, Ordering::Relaxed);
    c
}

#[inline(always)]
fn which() -> u8 {
    match CHOICE.load(Ordering::Relaxed) {
        0 => choose(),
        c => c,
    }
}

// SAFETY: forwards every call to one allocator, the same one for the process lifetime.
unsafe impl GlobalAlloc for Switch {
    #[inline(always)]
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        // SAFETY: forwarded.
        unsafe {
            match which() {
                1 => GORT.alloc(l),
                3 => MI.alloc(l),
                4 => JE.alloc(l),
                _ => System.alloc(l),
            }
        }
    }
    #[inline(always)]
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: forwarded to the allocator that made `p`.
        unsafe {
            match which() {
                1 => GORT.dealloc(p, l),
                3 => MI.dealloc(p, l),
                4 => JE.dealloc(p, l),
                _ => System.dealloc(p, l),
            }
        }
    }
    #[inline(always)]
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        // SAFETY: forwarded.
        unsafe {
            match which() {
                1 => GORT.alloc_zeroed(l),
                3 => MI.alloc_zeroed(l),
                4 => JE.alloc_zeroed(l),
                _ => System.alloc_zeroed(l),
            }
        }
    }
    #[inline(always)]
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        // SAFETY: forwarded to the allocator that made `p`.
        unsafe {
            match which() {
                1 => GORT.realloc(p, l, n),
                3 => MI.realloc(p, l, n),
                4 => JE.realloc(p, l, n),
                _ => System.realloc(p, l, n),
            }
        }
    }
}

/// A xorshift generator (no allocation).
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    /// Next value.
    #[inline]
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// User + system CPU time of all waited-for children, in ms.
fn children_cpu_ms() -> f64 {
    // SAFETY: getrusage writes into the zeroed struct we pass.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru);
        ru
    };
    let tv = |t: libc::timeval| t.tv_sec as f64 * 1e3 + t.tv_usec as f64 / 1e3;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Runs the benchmark: as a child (GORT_BENCH_ALLOC set) times `work` once and prints
/// `ms=<time> check=<value>`; as the driver runs the children and prints the summary.
pub fn main(bench: &str, work: fn() -> u64) {
    if let Ok(name) = std::env::var("GORT_BENCH_ALLOC") {
        let t = Instant::now();
        let check = work();
        let ms = t.elapsed().as_secs_f64() * 1e3;
        println!("ms={ms:.3} check={check} alloc={name}");
        return;
    }
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let exe = std::env::current_exe().unwrap();
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); NAMES.len()];
    let mut cpus: Vec<Vec<f64>> = vec![Vec::new(); NAMES.len()];
    let mut checks: Vec<Option<String>> = vec![None; NAMES.len()];
    for round in 0..rounds {
        for k in 0..NAMES.len() {
            let i = (k + round) % NAMES.len();
            let cpu0 = children_cpu_ms();
            let out = Command::new(&exe)
                .env("GORT_BENCH_ALLOC", NAMES[i])
                .output()
                .unwrap();
            let cpu = children_cpu_ms() - cpu0;
            assert!(
                out.status.success(),
                "{} under {} failed: {out:?}",
                bench,
                NAMES[i]
            );
            let line = String::from_utf8_lossy(&out.stdout)
                .lines()
                .last()
                .unwrap_or("")
                .to_string();
            let ms: f64 = line
                .split_whitespace()
                .find_map(|w| w.strip_prefix("ms="))
                .unwrap()
                .parse()
                .unwrap();
            let check = line
                .split_whitespace()
                .find_map(|w| w.strip_prefix("check="))
                .unwrap()
                .to_string();
            println!(
                "round {round} {:>8}: {ms:9.1} ms wall {cpu:9.1} ms cpu",
                NAMES[i]
            );
            match &checks[i] {
                Some(c) => assert_eq!(*c, check, "nondeterministic check"),
                None => checks[i] = Some(check),
            }
            times[i].push(ms);
            cpus[i].push(cpu);
        }
    }
    let med: Vec<f64> = times.iter().map(|t| median(&mut t.clone())).collect();
    let cmed: Vec<f64> = cpus.iter().map(|t| median(&mut t.clone())).collect();
    let best_peer = med[1..].iter().cloned().fold(f64::INFINITY, f64::min);
    let mut json = format!("{{\"bench\":\"{bench}\",\"rounds\":{rounds}");
    for (i, n) in NAMES.iter().enumerate() {
        json += &format!(",\"{n}_ms\":{:.1}", med[i]);
    }
    for (i, n) in NAMES.iter().enumerate().skip(1) {
        json += &format!(",\"ratio_vs_{n}\":{:.3}", med[0] / med[i]);
    }
    json += &format!(",\"ratio_vs_best_peer\":{:.3}", med[0] / best_peer);
    for (i, n) in NAMES.iter().enumerate() {
        json += &format!(",\"{n}_cpu_ms\":{:.1}", cmed[i]);
    }
    let best_cpu = cmed[1..].iter().cloned().fold(f64::INFINITY, f64::min);
    json += &format!(",\"cpu_ratio_vs_best_peer\":{:.3}", cmed[0] / best_cpu);
    // The least disturbed run of each (minimum wall time), for a noisy shared machine.
    let mins: Vec<f64> = times
        .iter()
        .map(|t| t.iter().cloned().fold(f64::INFINITY, f64::min))
        .collect();
    for (i, n) in NAMES.iter().enumerate() {
        json += &format!(",\"{n}_min_ms\":{:.1}", mins[i]);
    }
    let best_min = mins[1..].iter().cloned().fold(f64::INFINITY, f64::min);
    json += &format!(",\"min_ratio_vs_best_peer\":{:.3}", mins[0] / best_min);
    // Per-round ratios against the best peer of the same round (the runs of one round
    // share the machine's load), then their median: the figure least moved by noise
    // that comes and goes between rounds.
    let per_round = |v: &[Vec<f64>]| {
        let mut r: Vec<f64> = (0..rounds)
            .map(|k| {
                let best = (1..NAMES.len())
                    .map(|i| v[i][k])
                    .fold(f64::INFINITY, f64::min);
                v[0][k] / best
            })
            .collect();
        median(&mut r)
    };
    json += &format!(
        ",\"round_ratio_vs_best_peer\":{:.3},\"round_cpu_ratio_vs_best_peer\":{:.3}}}",
        per_round(&times),
        per_round(&cpus)
    );
    println!("{json}");
}
