//! The exported JSON parses (with a strict RFC 8259 parser written here, no new
//! dependencies) and is valid trace-event format as ui.perfetto.dev and
//! chrome://tracing read it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

mod common;

use std::collections::{BTreeMap, HashMap};

use gort_trace::{Emit, EventData, Trace, Tracer};

use common::{PER_P, PROCS, run_program};

use gort_trace::testing::json::{Json, parse};

#[test]
fn the_strict_parser_rejects_what_json_forbids() {
    for bad in [
        "[1,]",
        "{\"a\":1,}",
        "01",
        "1.",
        "-",
        "\"\u{1}\"",
        "\"\\x\"",
        "\"\\ud800\"",
        "{\"a\":1,\"a\":2}",
        "[1] x",
        "{a:1}",
        "'s'",
        "NaN",
    ] {
        assert!(parse(bad).is_err(), "accepted {bad:?}");
    }
    let ok = parse(" {\"a\": [1, -0.5e3, true, null, \"\\u00e9\\ud83e\\udd80\"]} ").unwrap();
    assert_eq!(
        ok.get("a").unwrap(),
        &Json::Arr(vec![
            Json::Num(1.0),
            Json::Num(-500.0),
            Json::Bool(true),
            Json::Null,
            Json::Str("é🦀".into())
        ])
    );
}

// ---------------------------------------------------------------------------------
// Trace-event format validation.
// ---------------------------------------------------------------------------------

/// Microseconds with 3 decimals → integer nanoseconds.
fn ns(v: &Json) -> i64 {
    (v.num().unwrap() * 1000.0).round() as i64
}

/// A `B` or `E` event: timestamp, position in the file, is-begin, name.
type BeginEnd = (i64, usize, bool, String);

/// Validates `doc` as trace-event JSON and returns its events.
fn validate(doc: &Json) -> Vec<Json> {
    if let Some(unit) = doc.get("displayTimeUnit") {
        assert!(matches!(unit.str(), Some("ms" | "ns")));
    }
    let Some(Json::Arr(events)) = doc.get("traceEvents") else {
        panic!("no traceEvents array");
    };
    let mut flows: HashMap<u64, (usize, usize, i64, i64)> = HashMap::new();
    let mut be: BTreeMap<(u64, u64), Vec<BeginEnd>> = BTreeMap::new();
    let mut xs: BTreeMap<(u64, u64), Vec<(i64, i64)>> = BTreeMap::new();
    let mut named_pids = Vec::new();
    let mut used_pids = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let ph = e.get("ph").and_then(Json::str).expect("ph");
        let name = e.get("name").and_then(Json::str).expect("name");
        let pid = e.get("pid").and_then(Json::num).expect("pid");
        let tid = e.get("tid").and_then(Json::num).expect("tid");
        for v in [pid, tid] {
            assert!(v >= 0.0 && v.fract() == 0.0, "event {i}: bad pid/tid {v}");
        }
        let (pid, tid) = (pid as u64, tid as u64);
        if ph == "M" {
            let args = e.get("args").expect("metadata args");
            match name {
                "process_name" | "thread_name" => {
                    assert!(args.get("name").and_then(Json::str).is_some());
                    if name == "process_name" {
                        named_pids.push(pid);
                    }
                }
                "process_sort_index" | "thread_sort_index" => {
                    assert!(args.get("sort_index").and_then(Json::num).is_some());
                }
                other => panic!("event {i}: unknown metadata {other}"),
            }
            continue;
        }
        used_pids.push(pid);
        let ts = ns(e.get("ts").expect("ts"));
        assert!(ts >= 0, "event {i}: negative ts");
        match ph {
            "X" => {
                let dur = ns(e.get("dur").expect("dur"));
                assert!(dur >= 0);
                xs.entry((pid, tid)).or_default().push((ts, ts + dur));
            }
            "i" => assert!(matches!(
                e.get("s").and_then(Json::str),
                Some("g" | "p" | "t")
            )),
            "C" => {
                let Some(Json::Obj(args)) = e.get("args") else {
                    panic!("event {i}: counter without args");
                };
                assert!(!args.is_empty());
                assert!(args.iter().all(|(_, v)| v.num().is_some()));
            }
            "B" | "E" => {
                be.entry((pid, tid))
                    .or_default()
                    .push((ts, i, ph == "B", name.to_owned()))
            }
            "s" | "f" => {
                let id = e.get("id").and_then(Json::num).expect("flow id") as u64;
                let f = flows.entry(id).or_insert((0, 0, 0, 0));
                if ph == "s" {
                    f.0 += 1;
                    f.2 = ts;
                } else {
                    assert_eq!(e.get("bp").and_then(Json::str), Some("e"));
                    f.1 += 1;
                    f.3 = ts;
                }
            }
            other => panic!("event {i}: unknown phase {other}"),
        }
    }
    for (id, (s, f, ts_s, ts_f)) in &flows {
        assert_eq!((*s, *f), (1, 1), "flow {id} not paired");
        assert!(ts_f >= ts_s, "flow {id} goes back in time");
    }
    for (track, mut list) in be {
        list.sort_by_key(|&(ts, i, _, _)| (ts, i));
        let mut stack = Vec::new();
        for (_, _, begin, name) in list {
            if begin {
                stack.push(name);
            } else {
                assert_eq!(stack.pop(), Some(name), "unbalanced E on {track:?}");
            }
        }
        assert!(stack.is_empty(), "unclosed B on {track:?}");
    }
    // Complete slices on one track nest properly: each is disjoint from or inside the
    // enclosing one (the viewers draw one track as a stack).
    for (track, mut list) in xs {
        list.sort_by_key(|&(s, e)| (s, std::cmp::Reverse(e)));
        let mut stack: Vec<i64> = Vec::new();
        for (s, e) in list {
            while stack.last().is_some_and(|&end| end <= s) {
                stack.pop();
            }
            if let Some(&end) = stack.last() {
                assert!(
                    e <= end,
                    "track {track:?}: [{s}, {e}] overlaps its parent ending {end}"
                );
            }
            stack.push(e);
        }
    }
    for pid in used_pids {
        assert!(named_pids.contains(&pid), "pid {pid} has no process_name");
    }
    events.clone()
}

fn export(trace: &Trace) -> Json {
    let mut out = Vec::new();
    trace.write_chrome_json(&mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    parse(&text).unwrap_or_else(|e| panic!("invalid JSON: {e}"))
}

#[test]
fn the_program_exports_valid_trace_event_json() {
    let tracer = Tracer::new();
    tracer.start_collecting().unwrap();
    run_program(&tracer);
    let trace = tracer.stop_collect().unwrap();
    let doc = export(&trace);
    let events = validate(&doc);

    // Every run on a P track is one complete slice, the slices of a track do not
    // overlap, and there is one per GoStart on that P.
    let mut slices: BTreeMap<u64, Vec<(i64, i64, String)>> = BTreeMap::new();
    for e in &events {
        if e.get("ph").and_then(Json::str) == Some("X")
            && e.get("pid").and_then(Json::num) == Some(1.0)
        {
            let tid = e.get("tid").and_then(Json::num).unwrap() as u64;
            let ts = ns(e.get("ts").unwrap());
            let dur = ns(e.get("dur").unwrap());
            let name = e.get("name").and_then(Json::str).unwrap().to_owned();
            let end = e.get("args").unwrap().get("end").and_then(Json::str);
            assert!(end.is_some(), "{name}: run without an end reason");
            slices.entry(tid).or_default().push((ts, ts + dur, name));
        }
    }
    for p in 0..PROCS {
        let starts = trace
            .proc_events(p)
            .filter(|e| matches!(e.data, EventData::GoStart { .. }))
            .count();
        let list = slices.get_mut(&u64::from(p)).expect("a track per P");
        assert_eq!(list.len(), starts, "P{p}: one slice per GoStart");
        list.sort();
        for w in list.windows(2) {
            assert!(w[0].1 <= w[1].0, "P{p}: overlapping slices {w:?}");
        }
    }

    // Tracks are named: every P, the GC tracks, and the threads that held Ps.
    let names: Vec<&str> = events
        .iter()
        .filter(|e| e.get("name").and_then(Json::str) == Some("thread_name"))
        .filter_map(|e| e.get("args")?.get("name")?.str())
        .collect();
    for p in 0..PROCS {
        assert!(names.contains(&format!("P{p}").as_str()));
    }
    assert!(names.contains(&"GC phases") && names.contains(&"Stop the world"));
    assert!(names.iter().filter(|n| n.starts_with("M (thread ")).count() >= PROCS as usize);

    // GC phases and pauses are slices; heap and goroutine counters exist; at the end
    // every goroutine has exited.
    let named = |n: &str, ph: &str| {
        events
            .iter()
            .filter(|e| {
                e.get("name").and_then(Json::str) == Some(n)
                    && e.get("ph").and_then(Json::str) == Some(ph)
            })
            .count()
    };
    assert_eq!(named("mark", "X"), 1);
    assert_eq!(named("sweep", "X"), 1);
    assert_eq!(named("STW", "X"), 2);
    assert_eq!(named("GC 1", "X"), 1);
    assert_eq!(named("Heap alloc", "C"), 1);
    assert_eq!(named("Heap goal", "C"), 1);
    assert_eq!(named("GoCreate", "i"), (u64::from(PROCS) * PER_P) as usize);
    assert!(named("steal", "i") > 0);
    let last_count = events
        .iter()
        .rev()
        .find(|e| e.get("name").and_then(Json::str) == Some("Goroutines"))
        .unwrap();
    for k in ["running", "runnable", "waiting", "syscall"] {
        assert_eq!(
            last_count.get("args").unwrap().get(k),
            Some(&Json::Num(0.0))
        );
    }

    // Strings with quotes, backslashes and newlines survive the round trip.
    assert!(events.iter().any(|e| {
        e.get("ph").and_then(Json::str) == Some("B")
            && e.get("name").and_then(Json::str) == Some("work \"quoted\"")
    }));
    assert!(events.iter().any(|e| {
        e.get("args")
            .and_then(|a| a.get("message"))
            .and_then(Json::str)
            == Some("line\nbreak\\")
    }));
}

static AWKWARD: &str =
    "\u{0}\u{1}\u{8}\t\n\u{b}\u{c}\r\u{1b}\u{1f}\u{7f} \"q\" \\ / é 世界 🦀 \u{2028}";

#[test]
fn awkward_strings_round_trip_and_open_slices_are_closed() {
    let tracer = Tracer::new();
    tracer.start_collecting().unwrap();
    let mut p = tracer.proc_buf(2);
    p.proc_start();
    p.go_start(9);
    p.region_begin(9, AWKWARD);
    p.log(9, AWKWARD);
    // The trace stops with the region, the run, the P and a GC phase still open.
    tracer.off_p().unwrap().gc_mark_begin();
    p.flush();
    let trace = tracer.stop_collect().unwrap();
    let doc = export(&trace);
    let Some(Json::Arr(events)) = doc.get("traceEvents") else {
        panic!("no traceEvents");
    };
    let by_name = |n: &str| {
        events
            .iter()
            .filter(|e| e.get("name").and_then(Json::str) == Some(n))
            .collect::<Vec<_>>()
    };
    assert_eq!(by_name(AWKWARD).len(), 1, "region name round-trips");
    let log = by_name("log");
    assert_eq!(
        log[0]
            .get("args")
            .unwrap()
            .get("message")
            .and_then(Json::str),
        Some(AWKWARD)
    );
    for open in ["G9", "P2", "mark"] {
        let s = by_name(open);
        assert_eq!(s.len(), 1, "{open}");
        assert_eq!(
            s[0].get("args").unwrap().get("unfinished"),
            Some(&Json::Bool(true))
        );
    }
}

#[test]
fn the_global_tracer_writes_a_file() {
    let path = std::env::temp_dir().join(format!("gort-trace-test-{}.json", std::process::id()));
    gort_trace::start_file(&path).unwrap();
    assert!(gort_trace::is_enabled());
    let mut p = Tracer::global().proc_buf(0);
    p.proc_start();
    p.go_create(1, 0);
    p.go_start(1);
    p.go_end(1);
    p.proc_stop();
    p.flush();
    let stats = gort_trace::stop().unwrap();
    assert!(!gort_trace::is_enabled());
    assert_eq!(stats.events, 5);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let doc = parse(&text).unwrap();
    let events = validate(&doc);
    assert!(
        events
            .iter()
            .any(|e| e.get("name").and_then(Json::str) == Some("G1")
                && e.get("ph").and_then(Json::str) == Some("X"))
    );
    assert!(matches!(
        gort_trace::stop(),
        Err(gort_trace::Error::NotStarted)
    ));
}

#[test]
fn a_bad_trace_path_fails_at_start() {
    let t = Tracer::new();
    let err = t.start_file("/nonexistent-dir/x/trace.json").unwrap_err();
    assert!(matches!(err, gort_trace::Error::CreateFile { .. }), "{err}");
    assert!(!t.is_enabled());
}

#[test]
fn a_goroutine_running_when_the_trace_starts_gets_its_slice() {
    let tracer = Tracer::new();
    tracer.start_collecting().unwrap();
    let mut p = tracer.proc_buf(0);
    // G5 was already running on P0: the first thing the trace sees is its block.
    p.go_block(5, gort_trace::BlockReason::Sleep);
    p.go_unblock(5);
    p.go_start(5);
    p.go_end(5);
    // A second stray end on P0 must not draw anything: P0 has started a goroutine.
    p.go_end(6);
    p.flush();
    let trace = tracer.stop_collect().unwrap();
    let doc = export(&trace);
    let events = validate(&doc);
    let g5: Vec<_> = events
        .iter()
        .filter(|e| {
            e.get("name").and_then(Json::str) == Some("G5")
                && e.get("ph").and_then(Json::str) == Some("X")
        })
        .collect();
    assert_eq!(g5.len(), 2);
    assert_eq!(ns(g5[0].get("ts").unwrap()), 0);
    assert_eq!(
        g5[0].get("args").unwrap().get("running_at_trace_start"),
        Some(&Json::Bool(true))
    );
    assert!(
        !events
            .iter()
            .any(|e| e.get("name").and_then(Json::str) == Some("G6"))
    );
}
