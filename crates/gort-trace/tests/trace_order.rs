//! A known goroutine program on four simulated Ps: every event comes back, in order,
//! with monotonic timestamps, and with every run, block and syscall properly paired.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

mod common;

use std::collections::HashMap;

use gort_trace::testing::RECORDS_PER_BUFFER;
use gort_trace::{EventData, NO_PROC, Tracer};

use common::{PER_P, PROCS, run_program};

#[test]
fn events_come_back_in_order_and_paired() {
    let tracer = Tracer::new();
    tracer.start_collecting().unwrap();
    let expected = run_program(&tracer);
    let trace = tracer.stop_collect().unwrap();
    assert_eq!(trace.lost, 0);

    // 1. Each P's events are exactly what it emitted, in order, with strictly
    //    increasing timestamps (across several buffer hand-offs).
    for p in 0..PROCS {
        let got: Vec<_> = trace.proc_events(p).collect();
        let want = &expected.per_proc[p as usize];
        assert!(
            want.len() > 2 * RECORDS_PER_BUFFER,
            "the program must fill several buffers per P"
        );
        assert_eq!(got.len(), want.len(), "P{p}: event count");
        for (k, (e, w)) in got.iter().zip(want).enumerate() {
            assert_eq!(&e.data, w, "P{p}: event {k}");
        }
        for w in got.windows(2) {
            assert!(w[0].ts < w[1].ts, "P{p}: timestamps not increasing: {w:?}");
        }
    }

    // 2. Off-P events: the GC sequence in order, and one syscall end per syscall.
    let off: Vec<_> = trace.proc_events(NO_PROC).collect();
    let gc: Vec<_> = off
        .iter()
        .filter(|e| !matches!(e.data, EventData::GoSyscallEnd { .. }))
        .map(|e| e.data)
        .collect();
    assert_eq!(gc, expected.gc);
    let sys_ends = off.len() - gc.len();
    assert_eq!(sys_ends, expected.syscalls);
    assert!(off.iter().all(|e| e.thread != 0));

    // 3. On each P track, a run starts with GoStart and ends with a stop, block,
    //    syscall or exit of the same goroutine before the next GoStart; the track
    //    opens with ProcStart and closes with ProcStop.
    for p in 0..PROCS {
        let evs: Vec<_> = trace.proc_events(p).collect();
        assert!(matches!(evs[0].data, EventData::ProcStart { .. }));
        assert!(matches!(evs[evs.len() - 1].data, EventData::ProcStop));
        let mut running: Option<u64> = None;
        for e in &evs {
            match e.data {
                EventData::GoStart { g } => {
                    assert_eq!(running, None, "P{p}: G{g} started while another runs");
                    running = Some(g);
                }
                EventData::GoStop { g, .. }
                | EventData::GoBlock { g, .. }
                | EventData::GoEnd { g }
                | EventData::GoSyscallBegin { g } => {
                    assert_eq!(running, Some(g), "P{p}: G{g} ended but was not running");
                    running = None;
                }
                EventData::ProcStop => assert_eq!(running, None),
                _ => {}
            }
        }
    }

    // 4. Each goroutine's life, in the merged (time-sorted) trace: created, then runs
    //    that end in a stop, a block answered by an unblock, or a syscall answered by
    //    its end, then exit. Across writers, time order is only as good as the cores'
    //    clock agreement (tens of ns on a VM); the program leaves microseconds between
    //    causally ordered events of different writers, as a real scheduler does.
    #[derive(Clone, Copy, Debug, PartialEq)]
    enum S {
        Runnable,
        Running,
        Blocked,
        Syscall,
        Dead,
    }
    let mut state: HashMap<u64, S> = HashMap::new();
    let mut blocks = 0;
    let mut unblocks = 0;
    for e in &trace.events {
        let (g, from, to) = match e.data {
            EventData::GoCreate { g, .. } => (g, None, S::Runnable),
            EventData::GoStart { g } => (g, Some(S::Runnable), S::Running),
            EventData::GoStop { g, .. } => (g, Some(S::Running), S::Runnable),
            EventData::GoBlock { g, .. } => {
                blocks += 1;
                (g, Some(S::Running), S::Blocked)
            }
            EventData::GoUnblock { g } => {
                unblocks += 1;
                (g, Some(S::Blocked), S::Runnable)
            }
            EventData::GoSyscallBegin { g } => (g, Some(S::Running), S::Syscall),
            EventData::GoSyscallEnd { g } => (g, Some(S::Syscall), S::Runnable),
            EventData::GoEnd { g } => (g, Some(S::Running), S::Dead),
            _ => continue,
        };
        let cur = state.get(&g).copied();
        assert_eq!(cur, from, "G{g}: {:?} in state {cur:?}", e.data);
        state.insert(g, to);
    }
    assert_eq!(blocks, unblocks);
    assert_eq!(blocks, u64::from(PROCS) * PER_P);
    assert_eq!(state.len(), (u64::from(PROCS) * PER_P) as usize);
    assert!(state.values().all(|s| *s == S::Dead));

    // 5. All buffers went back to the free list.
    assert_eq!(tracer.buffer_counts().1, 0);
}

#[test]
fn trace_timestamps_fall_inside_the_trace() {
    let tracer = Tracer::new();
    tracer.start_collecting().unwrap();
    run_program(&tracer);
    let trace = tracer.stop_collect().unwrap();
    assert!(trace.duration_ns > 0);
    assert!(trace.events.windows(2).all(|w| w[0].ts <= w[1].ts));
    let last = trace.events.last().unwrap();
    assert!(
        last.ts <= trace.duration_ns,
        "{} > {}",
        last.ts,
        trace.duration_ns
    );
}
