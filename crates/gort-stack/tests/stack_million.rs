//! A million suspended coroutines at the default `vm.max_map_count`: guard pages that add
//! no VMA and shared reservations keep `/proc/self/maps` short. Its own test file, so it
//! runs in its own process.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::time::Instant;

use gort_stack::{Coroutine, CoroutineResult, GuardPolicy, StackPool, guard_policy};

fn resident_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

fn map_lines() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .count()
}

#[test]
fn a_million_suspended_coroutines_stay_under_the_map_count() {
    // GORT_STACK_MILLION_N overrides the count (for profiling).
    let n_env = std::env::var("GORT_STACK_MILLION_N")
        .ok()
        .and_then(|v| v.parse().ok());
    let n: usize = n_env.unwrap_or(1_000_000);
    let max_map_count = std::fs::read_to_string("/proc/sys/vm/max_map_count").unwrap();
    assert_eq!(guard_policy(), GuardPolicy::MadviseGuard);
    let t = Instant::now();
    let mut cos: Vec<Coroutine<u64, u64, u64>> = Vec::with_capacity(n);
    let before = resident_bytes();
    for i in 0..n as u64 {
        let mut co = Coroutine::new(|y, x: u64| {
            let again = y.suspend(x + 1);
            again * 2 + x
        });
        assert_eq!(co.resume(i), CoroutineResult::Yield(i + 1));
        cos.push(co);
    }
    let created = t.elapsed();
    let after = resident_bytes();
    let lines = map_lines();
    let per = (after - before) as f64 / n as f64;
    let stats = StackPool::global().stats();
    eprintln!(
        "{n} suspended coroutines in {created:.2?}: vm.max_map_count={} /proc/self/maps={lines} lines, \
         {} reservations, resident {:.0} bytes per suspended coroutine (stack page + page tables + \
         the Vec slot), pool {stats:?}",
        max_map_count.trim(),
        stats.reservations,
        per
    );
    assert!(lines < 1000, "{lines} mappings");
    assert_eq!(stats.in_use, n);
    // A sample's root segment: only the top page was touched.
    let u = cos[n / 2].stack_usage();
    assert_eq!(u.resident_bytes, 4096, "{u:?}");
    for (i, co) in cos.iter_mut().enumerate() {
        let i = i as u64;
        assert_eq!(co.resume(3), CoroutineResult::Return(6 + i));
    }
    drop(cos);
    gort_stack::flush_thread_cache();
    let st = StackPool::global().stats();
    assert_eq!(st.in_use, 0);
    eprintln!(
        "all finished and dropped after {:.2?}; pool {st:?}",
        t.elapsed()
    );
}
