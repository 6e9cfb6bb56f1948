//! Goroutine dumps and a trace started and stopped mid-run: `gort::debug::goroutines()`
//! prints Go's shape (`goroutine N [chan receive]:` then frames), SIGQUIT prints every
//! goroutine and exits 2 (in a child process), `SchedHandle::snapshot` counts what the
//! program does, and `gort::trace::stop` collects the events still sitting in every
//! P's partly filled buffer.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::process::Command;

use gort::chan::Chan;
use gort_trace::EventData;

/// Blocks on `c` in a frame of its own (so a frame-pointer walk can name it).
#[inline(never)]
fn waits_on_channel(c: &Chan<u32>) -> Option<u32> {
    c.recv()
}

/// Waits until `n` goroutines are parked.
fn until_waiting(n: usize) {
    let h = gort::debug::SchedHandle::current().unwrap();
    for _ in 0..10_000 {
        if h.snapshot().goroutines.waiting >= n {
            return;
        }
        gort::yield_now();
    }
    panic!("goroutines never parked");
}

/// The lines of the dump section that starts with `header`.
fn section<'a>(dump: &'a str, header: &str) -> Vec<&'a str> {
    let start = dump
        .find(header)
        .unwrap_or_else(|| panic!("no {header:?} in:\n{dump}"));
    dump[start..]
        .lines()
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect()
}

#[test]
fn goroutines_are_dumped_in_gos_shape() {
    let dump = gort::run_with(gort::Config::default(), || {
        let c = Chan::<u32>::new(0);
        let c2 = c.clone();
        gort::go(move || {
            let _ = waits_on_channel(&c2);
        });
        until_waiting(1);
        let dump = gort::debug::goroutines();
        c.send(1);
        dump
    })
    .unwrap();
    // The caller: running, with its own frames down to this test's closure.
    let me = section(&dump, "goroutine 1 [running]:");
    assert!(
        me.iter().any(|l| l.contains("trace_dump::")),
        "no frame of the test in:\n{dump}"
    );
    // Frames come in Go's pairs: `name(...)` then a tab and `file:line`.
    assert!(me[0].ends_with("(...)"), "{dump}");
    assert!(me[1].starts_with('\t') && me[1].contains(".rs:"), "{dump}");
    // The parked goroutine: its wait reason, and frames from its own stack, the first
    // being where it switched away (inside the runtime).
    let header = dump
        .lines()
        .find(|l| l.ends_with("[chan receive]:"))
        .unwrap_or_else(|| panic!("no parked goroutine in:\n{dump}"));
    assert!(header.starts_with("goroutine "), "{header}");
    let parked = section(&dump, header);
    assert!(parked.len() >= 2, "no frames under {header}:\n{dump}");
    assert!(
        parked.iter().any(|l| l.contains("gort_s")),
        "the resume point is not in the runtime:\n{dump}"
    );
}

#[test]
fn wait_durations_read_as_go_prints_them() {
    assert_eq!(gort::debug::wait_duration_label(59_999), "");
    assert_eq!(gort::debug::wait_duration_label(60_000), ", 1 minutes");
    assert_eq!(gort::debug::wait_duration_label(125_000), ", 2 minutes");
}

#[test]
fn snapshot_counts_goroutines_and_ps() {
    let config = {
        let mut c = gort::Config::default();
        c.maxprocs = 2;
        c
    };
    gort::run_with(config, || {
        let c = Chan::<u32>::new(0);
        for _ in 0..5 {
            let c = c.clone();
            gort::go(move || {
                let _ = c.recv();
            });
        }
        until_waiting(5);
        let s = gort::debug::SchedHandle::current().unwrap().snapshot();
        assert_eq!(s.gomaxprocs, 2);
        assert_eq!(s.procs.len(), 2);
        assert_eq!(s.goroutines.waiting, 5);
        assert_eq!(s.goroutines.running, 1);
        assert_eq!(s.goroutines.by_reason, vec![("chan receive", 5)]);
        // This goroutine runs on a P whose current goroutine is 1, held by an M.
        let mine = s
            .procs
            .iter()
            .find(|p| p.current_goroutine == Some(1))
            .unwrap();
        assert_eq!(mine.status, "running");
        let m = mine.m.unwrap();
        assert!(
            s.threads.iter().any(|t| t.id == m
                && t.p == Some(mine.id)
                && t.state == gort::debug::MState::Running)
        );
        for _ in 0..5 {
            c.send(0);
        }
    })
    .unwrap();
}

#[test]
fn trace_stopped_mid_run_has_every_ps_last_events() {
    const ROUNDS: u64 = 40;
    let config = {
        let mut c = gort::Config::default();
        c.maxprocs = 2;
        c
    };
    let trace = gort::run_with(config, || {
        gort_trace::Tracer::global().start_collecting().unwrap();
        let (ping, pong) = (Chan::<u64>::new(0), Chan::<u64>::new(0));
        let (rx, tx) = (ping.clone(), pong.clone());
        gort::go(move || {
            while let Some(v) = rx.recv() {
                tx.send(v + 1);
            }
        });
        for i in 0..ROUNDS {
            ping.send(i);
            assert_eq!(pong.recv(), Some(i + 1));
        }
        // Far fewer events than a buffer holds: without the stop hook's flush, none
        // would reach the trace.
        let t = gort_trace::Tracer::global().stop_collect().unwrap();
        ping.close();
        t
    })
    .unwrap();
    let blocks = trace
        .events
        .iter()
        .filter(|e| matches!(e.data, EventData::GoBlock { g: 1, .. }))
        .count();
    let unblocks = trace
        .events
        .iter()
        .filter(|e| matches!(e.data, EventData::GoUnblock { g: 1, .. }))
        .count();
    assert!(
        blocks as u64 >= ROUNDS && unblocks as u64 >= ROUNDS,
        "main blocked {blocks} and was unblocked {unblocks} times in {} events",
        trace.events.len()
    );
}

/// Runs this binary's `child_entry` with `GORT_TEST_CHILD=name`; (exit code, stderr).
fn child(name: &str) -> (Option<i32>, String) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["child_entry", "--exact", "--nocapture", "--test-threads=1"])
        .env("GORT_TEST_CHILD", name)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The child side: does nothing unless `GORT_TEST_CHILD` names a scenario.
#[test]
fn child_entry() {
    if std::env::var("GORT_TEST_CHILD").as_deref() != Ok("sigquit") {
        return;
    }
    gort::run(|| {
        let c = Chan::<u32>::new(0);
        let c2 = c.clone();
        gort::go(move || {
            let _ = waits_on_channel(&c2);
        });
        until_waiting(1);
        // `kill -QUIT <this process>`, not waited for: the signal should find this
        // goroutine asleep.
        let mut kill = Command::new("kill")
            .args(["-QUIT", &std::process::id().to_string()])
            .spawn()
            .unwrap();
        std::thread::spawn(move || kill.wait());
        gort::time::sleep(std::time::Duration::from_secs(20));
        let _ = c;
    });
    panic!("SIGQUIT did not end the process");
}

#[test]
fn sigquit_prints_every_goroutine_and_exits_2() {
    let (code, err) = child("sigquit");
    assert_eq!(code, Some(2), "{err}");
    assert!(err.starts_with("SIGQUIT: quit\n"), "{err}");
    assert!(err.contains("goroutine 1 [sleep]:"), "{err}");
    assert!(
        err.lines()
            .any(|l| l.starts_with("goroutine ") && l.ends_with("[chan receive]:")),
        "{err}"
    );
}
