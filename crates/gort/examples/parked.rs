//! parked: N goroutines blocked on one channel; resident bytes per goroutine (from
//! /proc/self/statm), then release them. Twin of benches/go/parked. Flags: -n N
//! (default 1000000); -settle-ms MS (default 5000): how long the goroutines stay parked
//! before the steady-state figure is taken (the Go twin waits as long); -compact-ms MS
//! (default 10, 0 = off): compact the stacks of goroutines parked this long
//! (`Config::compact_parked_after`; this program lends no goroutine's locals to other
//! threads, which is what the opt-in requires). Prints one JSON line last:
//! `rss_per_g_bytes` after the settle time, `rss_per_g_bytes_unsettled` as soon as all
//! are parked, `all_compacted_ms` how long after that every stack was compacted (-1: not
//! within the settle time).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use gort::chan::Chan;
use gort::sync::WaitGroup;

fn flag(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Resident bytes of this process (second field of /proc/self/statm, in pages).
fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc_page_size() };
    pages * page
}

unsafe extern "C" {
    fn sysconf(name: i32) -> i64;
}

/// `sysconf(_SC_PAGESIZE)` (30 on Linux).
unsafe fn libc_page_size() -> usize {
    // SAFETY: sysconf is always safe to call.
    unsafe { sysconf(30) as usize }
}

fn main() {
    let n = flag("-n", 1_000_000);
    let settle = Duration::from_millis(flag("-settle-ms", 5000) as u64);
    let compact_ms = flag("-compact-ms", 10) as u64;
    let mut config = match gort::Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("parked: {e}");
            std::process::exit(2);
        }
    };
    if config.compact_parked_after.is_none() && compact_ms > 0 {
        config.compact_parked_after = Some(Duration::from_millis(compact_ms));
    }
    let out = gort::run_with(config, move || {
        let before = rss_bytes();
        let gate = Chan::<()>::new(0);
        // Shared by reference, as the Go twin's closure captures `&wg` (no refcount traffic).
        let wg: &'static WaitGroup = Box::leak(Box::new(WaitGroup::new()));
        let arrived = Arc::new(AtomicUsize::new(0));
        wg.add(n as i32);
        let start = Instant::now();
        for _ in 0..n {
            let (gate, arrived) = (gate.clone(), Arc::clone(&arrived));
            gort::go(move || {
                arrived.fetch_add(1, Ordering::Relaxed);
                let _ = gate.recv();
                wg.done();
            });
        }
        // Wait until every goroutine has started and blocked (stricter than the Go
        // twin, which waits only until they exist).
        while arrived.load(Ordering::Relaxed) < n || gort::num_goroutine() < n + 1 {
            gort::yield_now();
        }
        gort::yield_now();
        let up = start.elapsed();
        let unsettled = rss_bytes();
        // Sleep out the settle time in steps, noting when every stack was compacted.
        let parked_at = Instant::now();
        let mut all_compacted = None;
        while parked_at.elapsed() < settle {
            gort::time::sleep((settle - parked_at.elapsed()).min(Duration::from_millis(10)));
            let s = gort_sched::compact_stats();
            if all_compacted.is_none() && s.compacted - s.restored >= n as u64 {
                all_compacted = Some(parked_at.elapsed());
            }
        }
        let after = rss_bytes();
        let stats = gort_sched::compact_stats();
        let release = Instant::now();
        gate.close();
        wg.wait();
        let release = release.elapsed();
        let all_compacted_ms = all_compacted.map_or(-1.0, |d| d.as_secs_f64() * 1e3);
        (
            up,
            before,
            unsettled,
            after,
            stats,
            release,
            all_compacted_ms,
            gort::gomaxprocs(),
        )
    })
    .unwrap_or_else(|e| {
        eprintln!("parked: {e}");
        std::process::exit(2);
    });
    let (up, before, unsettled, after, stats, release, all_compacted_ms, procs) = out;
    let per_g = |rss: usize| rss.saturating_sub(before) as f64 / n as f64;
    println!(
        "{{\"bench\":\"parked\",\"impl\":\"gort\",\"procs\":{},\"n\":{},\"spawn_ms\":{:.3},\"rss_per_g_bytes\":{:.0},\"rss_per_g_bytes_unsettled\":{:.0},\"settle_ms\":{},\"compacted\":{},\"all_compacted_ms\":{:.0},\"release_ms\":{:.3},\"total_rss_mib\":{}}}",
        procs,
        n,
        up.as_secs_f64() * 1e3,
        per_g(after),
        per_g(unsettled),
        settle.as_millis(),
        stats.compacted - stats.restored,
        all_compacted_ms,
        release.as_secs_f64() * 1e3,
        after >> 20
    );
}
