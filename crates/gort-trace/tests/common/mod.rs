//! A known goroutine program run on simulated Ps (one OS thread each), shared by the
//! order and JSON tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    dead_code,
    reason = "test code"
)]

use std::sync::mpsc;

use gort_trace::{BlockReason, Emit, EventData, StopReason, StwKind, Tracer};

/// Simulated Ps.
pub(crate) const PROCS: u32 = 4;
/// Goroutines per P: enough events to fill several buffers per P.
pub(crate) const PER_P: u64 = 700;

const REASONS: [BlockReason; 4] = [
    BlockReason::ChanReceive,
    BlockReason::SyncMutexLock,
    BlockReason::Select,
    BlockReason::Sleep,
];

enum Msg {
    /// Please unblock goroutine `g` and tell P `from`.
    Unblock(u64, usize),
    /// Goroutine `g` was unblocked.
    Unblocked(u64),
    /// The sender has finished its goroutines.
    Done,
}

/// What the program emitted: per P, the exact event sequence; and the GC sequence the
/// main thread emitted off-P.
pub(crate) struct Expected {
    pub(crate) per_proc: Vec<Vec<EventData>>,
    pub(crate) gc: Vec<EventData>,
    pub(crate) syscalls: usize,
}

/// Runs the program against `tracer` (which must be started) and returns what it
/// emitted. Goroutine ids: P `i`'s k-th goroutine is `1000 * (i + 1) + k`.
pub(crate) fn run_program(tracer: &Tracer) -> Expected {
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..PROCS).map(|_| mpsc::channel::<Msg>()).unzip();
    let per_proc = std::thread::scope(|s| {
        let handles: Vec<_> = rxs
            .into_iter()
            .enumerate()
            .map(|(i, rx)| {
                let txs = txs.clone();
                s.spawn(move || simulate_p(tracer, i, &rx, &txs))
            })
            .collect();
        drop(txs);
        let gc = emit_gc(tracer);
        let per: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        (per, gc)
    });
    let (per, gc) = per_proc;
    let syscalls = per.iter().map(|(_, n)| *n).sum();
    Expected {
        per_proc: per.into_iter().map(|(v, _)| v).collect(),
        gc,
        syscalls,
    }
}

/// A GC cycle reported off-P, as gort-gc's background worker would.
fn emit_gc(tracer: &Tracer) -> Vec<EventData> {
    let mut w = tracer.off_p().unwrap();
    w.gc_begin(1);
    w.stw_begin(StwKind::GcSweepTermination);
    w.stw_end();
    w.gc_mark_begin();
    w.heap_alloc(4 << 20);
    w.heap_goal(8 << 20);
    w.gc_mark_end();
    w.stw_begin(StwKind::GcMarkTermination);
    w.stw_end();
    w.gc_sweep_begin();
    w.gc_sweep_end();
    w.gc_end(1);
    vec![
        EventData::GcBegin { seq: 1 },
        EventData::StwBegin {
            kind: StwKind::GcSweepTermination,
        },
        EventData::StwEnd,
        EventData::GcMarkBegin,
        EventData::HeapAlloc { bytes: 4 << 20 },
        EventData::HeapGoal { bytes: 8 << 20 },
        EventData::GcMarkEnd,
        EventData::StwBegin {
            kind: StwKind::GcMarkTermination,
        },
        EventData::StwEnd,
        EventData::GcSweepBegin,
        EventData::GcSweepEnd,
        EventData::GcEnd { seq: 1 },
    ]
}

/// Models the time a system call, or `exitsyscall` getting a P back, takes (a few
/// microseconds), so events of different writers on one thread are further apart than
/// the cores' clocks disagree. A busy wait, not a synchronisation: nothing waits for
/// anything.
fn spin_micros(us: u64) {
    let t = std::time::Instant::now();
    while t.elapsed() < std::time::Duration::from_micros(us) {
        std::hint::spin_loop();
    }
}

/// One P: runs its goroutines, blocking each once and having the next P unblock it.
fn simulate_p(
    tracer: &Tracer,
    i: usize,
    rx: &mpsc::Receiver<Msg>,
    txs: &[mpsc::Sender<Msg>],
) -> (Vec<EventData>, usize) {
    let n = txs.len();
    let next = (i + 1) % n;
    let mut p = tracer.proc_buf(u32::try_from(i).unwrap());
    let mut log = Vec::new();
    let mut syscalls = 0;
    let mut pred_done = false;
    let thread = gort_trace::thread_id();
    p.proc_start();
    log.push(EventData::ProcStart { thread });
    // Services unblock requests until `want` (if any) comes back unblocked.
    let serve = |p: &mut gort_trace::ProcBuf<'_>,
                 log: &mut Vec<EventData>,
                 pred_done: &mut bool,
                 want: Option<u64>| {
        loop {
            if want.is_none() && *pred_done {
                return;
            }
            match rx.recv().unwrap() {
                Msg::Unblock(g, from) => {
                    p.go_unblock(g);
                    log.push(EventData::GoUnblock { g });
                    txs[from].send(Msg::Unblocked(g)).unwrap();
                }
                Msg::Unblocked(g) => {
                    assert_eq!(Some(g), want);
                    return;
                }
                Msg::Done => *pred_done = true,
            }
        }
    };
    for k in 0..PER_P {
        let g = 1000 * (i as u64 + 1) + k;
        p.go_create(g, 1);
        log.push(EventData::GoCreate { g, parent: 1 });
        p.go_start(g);
        log.push(EventData::GoStart { g });
        if k % 5 == 0 {
            p.go_stop(g, StopReason::Yield);
            log.push(EventData::GoStop {
                g,
                reason: StopReason::Yield,
            });
            p.go_start(g);
            log.push(EventData::GoStart { g });
        }
        if k % 7 == 0 {
            p.region_begin(g, "work \"quoted\"");
            log.push(EventData::RegionBegin {
                g,
                name: "work \"quoted\"",
            });
            p.log(g, "line\nbreak\\");
            log.push(EventData::Log {
                g,
                message: "line\nbreak\\",
            });
            p.region_end(g, "work \"quoted\"");
            log.push(EventData::RegionEnd {
                g,
                name: "work \"quoted\"",
            });
        }
        let reason = REASONS[(k % 4) as usize];
        p.go_block(g, reason);
        log.push(EventData::GoBlock { g, reason });
        txs[next].send(Msg::Unblock(g, i)).unwrap();
        serve(&mut p, &mut log, &mut pred_done, Some(g));
        p.go_start(g);
        log.push(EventData::GoStart { g });
        if k % 3 == 0 {
            // The M leaves its P for the system call and comes back without one.
            p.syscall_begin(g);
            log.push(EventData::GoSyscallBegin { g });
            spin_micros(2); // the system call itself
            tracer.off_p().unwrap().syscall_end(g);
            syscalls += 1;
            spin_micros(3); // `exitsyscall` getting a P back
            p.go_start(g);
            log.push(EventData::GoStart { g });
        }
        if k % 50 == 0 {
            let victim = u32::try_from((i + 2) % n).unwrap();
            p.proc_steal(victim, 3);
            log.push(EventData::ProcSteal { victim, count: 3 });
        }
        p.go_end(g);
        log.push(EventData::GoEnd { g });
    }
    txs[next].send(Msg::Done).unwrap();
    serve(&mut p, &mut log, &mut pred_done, None);
    p.proc_stop();
    log.push(EventData::ProcStop);
    // Dropping `p` flushes its last partial buffer.
    (log, syscalls)
}
