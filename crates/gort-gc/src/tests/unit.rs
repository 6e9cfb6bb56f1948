//! Pacer arithmetic, environment parsing and the gctrace line format.
#![allow(clippy::unwrap_used, reason = "test code")]

use crate::env::{Debug, parse_gc_percent, parse_mem_limit};
use crate::error::Error;
use crate::pacer::{HEAP_MINIMUM, Pacer};
use crate::stats::{CycleRecord, fmt_ns_as_ms, gctrace_line};

#[test]
fn gogc_goal_counts_stacks_globals_and_manual_scan() {
    let mut p = Pacer::new();
    assert_eq!(
        p.gogc_goal(),
        HEAP_MINIMUM,
        "before any cycle: the minimum heap"
    );
    p.end_cycle(100 << 20, 2 << 20, 1 << 20, 7 << 20);
    // 100 + (100 + 2 + 1 + 7) × 100% = 210 MiB.
    assert_eq!(p.gogc_goal(), 210 << 20);
    p.set_gc_percent(50);
    assert_eq!(p.gogc_goal(), (100 << 20) + (110 << 20) / 2);
    p.end_cycle(1 << 10, 0, 0, 0);
    assert_eq!(
        p.gogc_goal(),
        HEAP_MINIMUM / 2,
        "minimum heap scales with the percent"
    );
    p.set_gc_percent(-1);
    assert_eq!(p.gogc_goal(), u64::MAX);
    assert_eq!(p.trigger(), u64::MAX);
}

#[test]
fn memory_limit_lowers_the_goal() {
    let mut p = Pacer::new();
    p.end_cycle(100 << 20, 0, 0, 0);
    assert_eq!(
        p.goal(500 << 20, 150 << 20),
        200 << 20,
        "no limit: GOGC goal"
    );
    p.set_mem_limit(300 << 20);
    // Other memory: 500 − 150 = 350 MiB > limit: the goal floors at the marked heap.
    assert_eq!(p.goal(500 << 20, 150 << 20), 100 << 20);
    // Other memory 50 MiB: 300 − 50 = 250, minus 3% headroom = 242.5 MiB.
    let g = p.goal(200 << 20, 150 << 20);
    assert_eq!(g.min(200 << 20), 200 << 20);
    p.set_gc_percent(-1);
    let g = p.goal(200 << 20, 150 << 20);
    let want = (250u64 << 20) - (250u64 << 20) / 100 * 3;
    assert_eq!(g, want, "GOGC=off with a limit: the limit goal");
    assert_eq!(p.trigger_for(g), g);
}

#[test]
fn env_values_parse_like_go() {
    assert_eq!(parse_gc_percent("100").unwrap(), 100);
    assert_eq!(parse_gc_percent("off").unwrap(), -1);
    assert_eq!(parse_gc_percent(" 0 ").unwrap(), 0);
    let e = parse_gc_percent("lots").unwrap_err();
    assert!(matches!(e, Error::BadEnv { var: "GORT_GC", .. }));
    assert!(e.to_string().contains("GORT_GC"), "{e}");
    assert!(parse_gc_percent("-5").is_err());
    assert_eq!(parse_mem_limit("1024").unwrap(), 1024);
    assert_eq!(parse_mem_limit("512MiB").unwrap(), 512 << 20);
    assert_eq!(parse_mem_limit("2GiB").unwrap(), 2 << 30);
    assert_eq!(parse_mem_limit("3KiB").unwrap(), 3 << 10);
    assert_eq!(parse_mem_limit("1TiB").unwrap(), 1 << 40);
    assert_eq!(parse_mem_limit("10B").unwrap(), 10);
    assert_eq!(parse_mem_limit("off").unwrap(), u64::MAX);
    let e = parse_mem_limit("12MB").unwrap_err();
    assert!(e.to_string().contains("GORT_MEMLIMIT"), "{e}");
    assert!(parse_mem_limit("").is_err());
    assert_eq!(
        Debug::parse("scheddetail=1,gctrace=1"),
        Debug {
            gctrace: true,
            gccheckmark: false
        }
    );
    assert_eq!(
        Debug::parse("gccheckmark=1,gctrace=0"),
        Debug {
            gctrace: false,
            gccheckmark: true
        }
    );
}

#[test]
fn milliseconds_format_like_go() {
    assert_eq!(fmt_ns_as_ms(0), "0");
    assert_eq!(fmt_ns_as_ms(999), "0");
    assert_eq!(fmt_ns_as_ms(11_000), "0.011");
    assert_eq!(fmt_ns_as_ms(1_234_567), "1.2");
    assert_eq!(fmt_ns_as_ms(123_456), "0.12");
    assert_eq!(fmt_ns_as_ms(9_999_999), "9.9");
    assert_eq!(fmt_ns_as_ms(10_000_000), "10");
    assert_eq!(fmt_ns_as_ms(1_234_000_000), "1234");
}

#[test]
fn gctrace_line_has_go_1_19_format() {
    let r = CycleRecord {
        start_ns: 12_000_000,
        stw_ns: 12_011_000,
        mark_done_ns: 13_211_000,
        end_ns: 13_235_000,
        heap0: 4 << 20,
        heap1: 4 << 20,
        heap_marked: 1 << 20,
        goal: 4 << 20,
        stack_bytes: 0,
        global_bytes: 0,
        nworkers: 4,
        forced: false,
    };
    assert_eq!(
        gctrace_line(1, &r, 2),
        "gc 1 @0.012s 2%: 0.011+1.2+0.024 ms clock, 0.011+0/4.8/0+0.024 ms cpu, \
         4->4->1 MB, 4 MB goal, 0 MB stacks, 0 MB globals, 4 P"
    );
    let forced = CycleRecord { forced: true, ..r };
    assert!(gctrace_line(7, &forced, 0).ends_with(" 4 P (forced)"));
}
