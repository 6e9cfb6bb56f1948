//! `GORT_TRACE=FILE` traces a whole `gort::try_run`: a known goroutine program (main
//! spawns three goroutines that pass values along unbuffered channels, then exit) is
//! traced, and the Perfetto/Chrome JSON written at the end of `run` parses strictly and
//! tells each goroutine's life in order: created, then runs that each end in a block
//! (followed by its unblock before the next run) and finally one run ending in exit.
//! A bad `GORT_TRACE` is an error naming the variable.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::collections::BTreeMap;

use gort::chan::Chan;
use gort_trace::testing::json::{Json, parse};

/// Values passed along the pipeline.
const N: u64 = 200;

/// main → (g1 sends 0..N) → c1 → (g2 doubles) → c2 → (g3 sums) → done → main.
fn program() -> u64 {
    let c1: Chan<u64> = Chan::new(0);
    let c2: Chan<u64> = Chan::new(0);
    let done: Chan<u64> = Chan::new(0);
    let tx1 = c1.clone();
    gort::go(move || {
        for i in 0..N {
            tx1.send(i);
        }
        tx1.close();
    });
    let (rx1, tx2) = (c1.clone(), c2.clone());
    gort::go(move || {
        while let Some(v) = rx1.recv() {
            tx2.send(v * 2);
        }
        tx2.close();
    });
    let (rx2, txd) = (c2.clone(), done.clone());
    gort::go(move || {
        let mut sum = 0;
        while let Some(v) = rx2.recv() {
            sum += v;
        }
        txd.send(sum);
    });
    let sum = done.recv().unwrap();
    // Let the pipeline's goroutines finish exiting, so their ends are in the trace.
    while gort::num_goroutine() > 1 {
        gort::yield_now();
    }
    sum
}

/// Microseconds with three decimals, as integer nanoseconds.
fn ns(v: &Json) -> i64 {
    (v.num().unwrap() * 1000.0).round() as i64
}

/// What the JSON says about one goroutine, in time order.
#[derive(Debug)]
enum Ev {
    Create,
    Unblock,
    /// A run from `ts` to `ts + dur`, ended for `end`.
    Run {
        end: String,
    },
}

#[test]
fn a_traced_run_exports_every_goroutine_life_in_order() {
    let dir = std::env::temp_dir().join(format!("gort-trace-run-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("trace.json");
    // SAFETY: this test binary has this one test, which sets the variable before any
    // other thread of it reads the environment.
    unsafe { std::env::set_var("GORT_TRACE", &path) };
    let sum = gort::try_run(program).unwrap();
    assert_eq!(sum, (0..N).map(|i| i * 2).sum::<u64>());
    assert!(
        !gort::trace::is_enabled(),
        "the trace stops when run returns"
    );

    let text = std::fs::read_to_string(&path).unwrap();
    let doc = parse(&text).unwrap_or_else(|e| panic!("invalid JSON: {e}"));
    let events = match doc.get("traceEvents") {
        Some(Json::Arr(a)) => a.clone(),
        _ => match doc {
            Json::Arr(a) => a,
            other => panic!("no traceEvents array in {other:?}"),
        },
    };
    // Per goroutine: (ts in ns, order of the event kind at equal ts, event).
    let mut lives: BTreeMap<u64, Vec<(i64, u8, Ev)>> = BTreeMap::new();
    for e in &events {
        let name = e.get("name").and_then(Json::str).unwrap_or("");
        let ph = e.get("ph").and_then(Json::str).unwrap_or("");
        let args = e.get("args");
        let g = args.and_then(|a| a.get("g")).and_then(Json::num);
        let Some(g) = g else { continue };
        let g = g as u64;
        let ts = e.get("ts").map(ns).unwrap_or(0);
        match (ph, name) {
            ("i", "GoCreate") => lives.entry(g).or_default().push((ts, 0, Ev::Create)),
            ("i", "GoUnblock") => lives.entry(g).or_default().push((ts, 1, Ev::Unblock)),
            ("X", n) if n == format!("G{g}") => {
                let end = args
                    .and_then(|a| a.get("end"))
                    .and_then(Json::str)
                    .unwrap()
                    .to_string();
                assert!(
                    args.and_then(|a| a.get("unfinished")).is_none(),
                    "G{g} still running at the end: {e:?}"
                );
                let dur = e.get("dur").map(ns).unwrap();
                assert!(dur >= 0, "negative duration: {e:?}");
                lives
                    .entry(g)
                    .or_default()
                    .push((ts + dur, 2, Ev::Run { end }));
            }
            _ => {}
        }
    }
    // main and the three goroutines.
    assert_eq!(lives.len(), 4, "goroutines traced: {:?}", lives.keys());
    for (g, life) in &mut lives {
        life.sort_by_key(|(ts, order, _)| (*ts, *order));
        assert!(
            matches!(life.first(), Some((_, _, Ev::Create))),
            "G{g} does not begin with its creation: {life:?}"
        );
        assert!(
            matches!(life.last(), Some((_, _, Ev::Run { end })) if end == "exit"),
            "G{g} does not end with an exit: {life:?}"
        );
        // Between create and exit: every run but the last ends in a block (a channel
        // wait) or a yield/syscall, and every block is unblocked before the next run.
        let mut waiting = false;
        let mut runs = 0;
        for (i, (_, _, ev)) in life.iter().enumerate().skip(1) {
            match ev {
                Ev::Create => panic!("G{g} created twice: {life:?}"),
                Ev::Unblock => {
                    assert!(waiting, "G{g} unblocked while not blocked: {life:?}");
                    waiting = false;
                }
                Ev::Run { end } => {
                    assert!(!waiting, "G{g} ran while blocked: {life:?}");
                    runs += 1;
                    if i + 1 < life.len() {
                        assert_ne!(end, "exit", "G{g} ran after its exit: {life:?}");
                    }
                    waiting = end.starts_with("chan ");
                }
            }
        }
        assert!(runs >= 1);
    }
    // The pipeline's goroutines blocked on the channels at least once each.
    let blocked = lives
        .values()
        .filter(|l| l.iter().any(|(_, _, e)| matches!(e, Ev::Unblock)))
        .count();
    assert!(blocked >= 2, "too few blocks: {lives:?}");

    // A bad value is an error naming the variable.
    // SAFETY: as above; the runtime above has ended.
    unsafe { std::env::set_var("GORT_TRACE", " ") };
    let err = gort::try_run(|| ()).unwrap_err();
    assert!(err.to_string().contains("GORT_TRACE"), "{err}");
    // SAFETY: as above.
    unsafe { std::env::remove_var("GORT_TRACE") };
    std::fs::remove_dir_all(&dir).unwrap();
}
