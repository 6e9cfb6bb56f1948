//! White-box unit tests: JSON escaping, the env convention, generations and buffers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::ffi::OsStr;

use crate::buffer::{CAP, PER_CHUNK};
use crate::json::write_escaped;
use crate::{BlockReason, Emit, Error, EventData, Tracer, parse_trace_env};

fn escaped(s: &str) -> String {
    let mut v = Vec::new();
    write_escaped(&mut v, s).unwrap();
    String::from_utf8(v).unwrap()
}

#[test]
fn json_escapes_quotes_backslashes_and_controls() {
    assert_eq!(escaped("plain"), "\"plain\"");
    assert_eq!(escaped("a\"b\\c"), "\"a\\\"b\\\\c\"");
    assert_eq!(escaped("l1\nl2\r\t"), "\"l1\\nl2\\r\\t\"");
    assert_eq!(escaped("\u{0}\u{1f}\u{7f}"), "\"\\u0000\\u001f\\u007f\"");
    assert_eq!(escaped("\u{8}\u{c}"), "\"\\b\\f\"");
    assert_eq!(escaped("héllo → 世界 🦀"), "\"héllo → 世界 🦀\"");
}

#[test]
fn env_unset_is_none_and_path_is_some() {
    assert!(parse_trace_env(None).unwrap().is_none());
    let p = parse_trace_env(Some(OsStr::new("/tmp/t.json"))).unwrap();
    assert_eq!(p.unwrap().to_str(), Some("/tmp/t.json"));
}

#[test]
fn env_empty_is_an_error_naming_the_variable() {
    let err = parse_trace_env(Some(OsStr::new("  "))).unwrap_err();
    match &err {
        Error::InvalidEnv { var, value, .. } => {
            assert_eq!(*var, "GORT_TRACE");
            assert_eq!(value, "  ");
        }
        other => panic!("unexpected error {other:?}"),
    }
    assert!(err.to_string().contains("GORT_TRACE"));
}

#[test]
fn disabled_tracer_records_nothing() {
    let t = Tracer::new();
    let mut p = t.proc_buf(0);
    p.go_start(1);
    p.go_end(1);
    assert!(t.off_p().is_none());
    drop(p);
    assert_eq!(t.buffer_counts(), (0, 0));
    assert!(matches!(t.stop_collect(), Err(Error::NotStarted)));
}

#[test]
fn start_twice_is_an_error() {
    let t = Tracer::new();
    t.start_collecting().unwrap();
    assert!(matches!(t.start_collecting(), Err(Error::AlreadyStarted)));
    t.stop_collect().unwrap();
    t.start_collecting().unwrap();
    t.stop_collect().unwrap();
}

#[test]
fn events_of_an_older_trace_are_dropped() {
    let t = Tracer::new();
    let mut p = t.proc_buf(3);
    t.start_collecting().unwrap();
    p.go_start(1); // never flushed before stop: lost with its generation
    assert_eq!(t.stop_collect().unwrap().events.len(), 0);
    t.start_collecting().unwrap();
    p.go_start(2);
    p.flush();
    let tr = t.stop_collect().unwrap();
    assert_eq!(tr.events.len(), 1);
    assert_eq!(tr.events[0].data, EventData::GoStart { g: 2 });
    assert_eq!(tr.events[0].proc, 3);
}

#[test]
fn a_full_buffer_is_handed_off_and_reused() {
    let t = Tracer::new();
    t.start_collecting().unwrap();
    let mut p = t.proc_buf(0);
    for g in 0..(CAP as u64 * 2 + 5) {
        p.go_unblock(g);
    }
    // Buffers come in huge-page chunks: the rest of the chunk waits on the free list.
    assert_eq!(t.buffer_counts(), (PER_CHUNK - 3, 2));
    drop(p);
    let tr = t.stop_collect().unwrap();
    assert_eq!(tr.events.len(), CAP * 2 + 5);
    for (i, e) in tr.events.iter().enumerate() {
        assert_eq!(e.data, EventData::GoUnblock { g: i as u64 });
    }
    // All three buffers are back on the free list; the next trace reuses them.
    assert_eq!(t.buffer_counts(), (PER_CHUNK, 0));
    t.start_collecting().unwrap();
    let mut p = t.proc_buf(0);
    p.go_block(1, BlockReason::Sleep);
    assert_eq!(t.buffer_counts(), (PER_CHUNK - 1, 0));
    drop(p);
    assert_eq!(t.stop_collect().unwrap().events.len(), 1);
}

#[test]
fn off_p_records_carry_the_thread_id() {
    let t = Tracer::new();
    t.start_collecting().unwrap();
    t.off_p().unwrap().gc_mark_begin();
    let tid = std::thread::scope(|s| {
        s.spawn(|| {
            t.off_p().unwrap().gc_mark_end();
            crate::thread_id()
        })
        .join()
        .unwrap()
    });
    let tr = t.stop_collect().unwrap();
    assert_eq!(tr.events.len(), 2);
    assert_eq!(tr.events[0].thread, crate::thread_id());
    assert_eq!(tr.events[1].thread, tid);
    assert_ne!(tid, crate::thread_id());
    assert!(tr.events.iter().all(|e| e.proc == crate::NO_PROC));
}

#[test]
fn long_strings_are_cut_at_a_char_boundary() {
    static LONG: std::sync::LazyLock<String> = // tidy: allow(std-sync) test-only static
        std::sync::LazyLock::new(|| "é".repeat(40_000)); // tidy: allow(std-sync) test-only static
    let t = Tracer::new();
    t.start_collecting().unwrap();
    let mut p = t.proc_buf(0);
    p.log(1, LONG.as_str());
    drop(p);
    let tr = t.stop_collect().unwrap();
    let EventData::Log { message, .. } = tr.events[0].data else {
        panic!("not a log: {:?}", tr.events[0]);
    };
    assert_eq!(message.len(), 65_534);
    assert!(message.chars().all(|c| c == 'é'));
}

/// Runs in a child process started by `fatal_prints_go_style_and_aborts`.
#[test]
fn fatal_child() {
    if std::env::var_os("GORT_TRACE_FATAL_CHILD").is_some() {
        let long = "y".repeat(1000);
        crate::fatal!("runtime: broken {} {long}", 3);
    }
}

#[test]
fn fatal_prints_go_style_and_aborts() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "tests::unit::fatal_child", "--nocapture"])
        .env("GORT_TRACE_FATAL_CHILD", "1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err
        .lines()
        .find(|l| l.starts_with("fatal error: "))
        .unwrap_or_else(|| panic!("no fatal line in {err:?}"));
    assert!(line.starts_with("fatal error: runtime: broken 3 yyy"));
    // Cut at the stack buffer's size.
    assert_eq!(line.len(), "fatal error: ".len() + 480);
}

/// A sink that refuses every write.
struct Broken;

impl std::io::Write for Broken {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        Err(std::io::Error::other("disk full"))
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_failing_sink_is_a_write_error_and_the_tracer_stops() {
    let t = Tracer::new();
    t.start(Broken).unwrap();
    let mut p = t.proc_buf(0);
    p.go_start(1);
    p.flush();
    let err = t.stop().unwrap_err();
    assert!(matches!(err, Error::Write(_)), "{err}");
    assert!(!t.is_enabled());
    t.start_collecting().unwrap();
    assert_eq!(t.stop().unwrap().events, 0);
}

#[test]
fn the_flight_recorder_keeps_the_newest_buffers() {
    let t = Tracer::new();
    t.start_flight_recorder(2).unwrap();
    let total = CAP as u64 * 5 + 7;
    let mut p = t.proc_buf(0);
    for g in 0..total {
        p.go_unblock(g);
    }
    drop(p); // the partial buffer evicts the oldest full one too
    let tr = t.stop_collect().unwrap();
    let kept = tr.events.len() as u64;
    assert_eq!(
        kept,
        CAP as u64 + 7,
        "the newest full buffer and the partial one"
    );
    assert_eq!(tr.overwritten + kept, total);
    // A contiguous suffix of what was emitted, ending with the last event.
    for (i, e) in tr.events.iter().enumerate() {
        assert_eq!(
            e.data,
            EventData::GoUnblock {
                g: total - kept + i as u64
            }
        );
    }
    // The next ordinary trace starts from zero.
    t.start_collecting().unwrap();
    let tr = t.stop_collect().unwrap();
    assert_eq!((tr.events.len(), tr.overwritten), (0, 0));
}
