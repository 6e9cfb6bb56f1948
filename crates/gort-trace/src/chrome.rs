//! The Chrome/Perfetto trace-event JSON exporter. See the crate docs for the overview.
//!
//! Tracks drawn (process → threads):
//! 1. "Procs": one track per P, with a slice per goroutine run ("G7", from GoStart to
//!    the stop/block/exit/syscall that ends it, with the reason), instants for GoCreate,
//!    GoUnblock and steals, and flow arrows from a goroutine's creation or unblocking to
//!    its next start, and from a steal's victim P to the thief.
//! 2. "Threads (Ms)": one track per OS thread seen, with a slice `P<n>` while it holds
//!    a P; its name comes from metadata events. "Syscalls (by thread)" has the same
//!    tracks with a "syscall" slice while a goroutine on that thread is in a system
//!    call (a separate process, because an M releases its P mid-syscall and the two
//!    slices would overlap without nesting on one track).
//! 3. "GC": a track of GC cycles, one of phases (mark, sweep), one of stop-the-world
//!    pauses.
//! 4. "Goroutines (user regions)": one track per goroutine that used regions or logs.
//! 5. Counters: goroutines by state (running, runnable, waiting, syscall), heap size
//!    and goal, GOMAXPROCS.

use std::collections::{BTreeSet, HashMap};
use std::io::{self, BufWriter, Write};

use crate::event::{EventData, NO_PROC};
use crate::json::JsonWriter;
use crate::trace::Trace;

const PID_PROCS: u64 = 1;
const PID_THREADS: u64 = 2;
const PID_GC: u64 = 3;
const PID_REGIONS: u64 = 4;
const PID_COUNTERS: u64 = 5;
const PID_SYSCALLS: u64 = 6;

const TID_GC_CYCLE: u64 = 1;
const TID_GC_PHASE: u64 = 2;
const TID_STW: u64 = 3;
const TID_OFF_P: u64 = u32::MAX as u64;

/// An argument value.
enum Arg<'a> {
    U(u64),
    S(&'a str),
    B(bool),
}

/// A goroutine's state, for the counters.
#[derive(Clone, Copy, PartialEq, Eq)]
enum GState {
    Runnable,
    Running,
    Waiting,
    Syscall,
    Dead,
}

struct Out<W: Write> {
    w: JsonWriter<W>,
}

impl<W: Write> Out<W> {
    /// Opens an event object with the fields every event has.
    fn open(&mut self, name: &str, ph: &str, pid: u64, tid: u64) -> io::Result<()> {
        self.w.newline()?;
        self.w.begin_object()?;
        self.w.key("name")?;
        self.w.string(name)?;
        self.w.key("ph")?;
        self.w.string(ph)?;
        self.w.key("pid")?;
        self.w.uint(pid)?;
        self.w.key("tid")?;
        self.w.uint(tid)
    }

    /// Opens a timed event object.
    fn head(&mut self, name: &str, ph: &str, pid: u64, tid: u64, ts: u64) -> io::Result<()> {
        self.open(name, ph, pid, tid)?;
        self.w.key("ts")?;
        self.w.micros(ts)
    }

    fn args(&mut self, args: &[(&str, Arg<'_>)]) -> io::Result<()> {
        if args.is_empty() {
            return Ok(());
        }
        self.w.key("args")?;
        self.w.begin_object()?;
        for (k, v) in args {
            self.w.key(k)?;
            match v {
                Arg::U(u) => self.w.uint(*u)?,
                Arg::S(s) => self.w.string(s)?,
                Arg::B(b) => self.w.boolean(*b)?,
            }
        }
        self.w.end_object()
    }

    #[allow(
        clippy::too_many_arguments,
        reason = "a trace event has this many fields"
    )]
    fn slice(
        &mut self,
        name: &str,
        cat: &str,
        pid: u64,
        tid: u64,
        start: u64,
        end: u64,
        args: &[(&str, Arg<'_>)],
    ) -> io::Result<()> {
        self.head(name, "X", pid, tid, start)?;
        self.w.key("dur")?;
        self.w.micros(end.saturating_sub(start))?;
        self.w.key("cat")?;
        self.w.string(cat)?;
        self.args(args)?;
        self.w.end_object()
    }

    fn instant(
        &mut self,
        name: &str,
        pid: u64,
        tid: u64,
        ts: u64,
        args: &[(&str, Arg<'_>)],
    ) -> io::Result<()> {
        self.head(name, "i", pid, tid, ts)?;
        self.w.key("s")?;
        self.w.string("t")?;
        self.args(args)?;
        self.w.end_object()
    }

    fn begin_end(&mut self, ph: &str, name: &str, pid: u64, tid: u64, ts: u64) -> io::Result<()> {
        self.head(name, ph, pid, tid, ts)?;
        self.w.end_object()
    }

    fn counter(&mut self, name: &str, ts: u64, args: &[(&str, Arg<'_>)]) -> io::Result<()> {
        self.head(name, "C", PID_COUNTERS, 0, ts)?;
        self.args(args)?;
        self.w.end_object()
    }

    /// A flow event: `ph` "s" (start) or "f" (finish, bound to the enclosing slice).
    fn flow(
        &mut self,
        ph: &str,
        name: &str,
        id: u64,
        pid: u64,
        tid: u64,
        ts: u64,
    ) -> io::Result<()> {
        self.head(name, ph, pid, tid, ts)?;
        self.w.key("cat")?;
        self.w.string("flow")?;
        self.w.key("id")?;
        self.w.uint(id)?;
        if ph == "f" {
            self.w.key("bp")?;
            self.w.string("e")?;
        }
        self.w.end_object()
    }

    fn meta(&mut self, what: &str, pid: u64, tid: u64, name: &str) -> io::Result<()> {
        self.open(what, "M", pid, tid)?;
        self.args(&[("name", Arg::S(name))])?;
        self.w.end_object()
    }

    fn sort_index(&mut self, what: &str, pid: u64, tid: u64, index: u64) -> io::Result<()> {
        self.open(what, "M", pid, tid)?;
        self.args(&[("sort_index", Arg::U(index))])?;
        self.w.end_object()
    }
}

/// The exporter's running state.
#[derive(Default)]
struct State {
    /// Per P: the goroutine running on it and since when.
    running: HashMap<u32, (u64, u64)>,
    /// Ps that have had a GoStart in this trace (a P without one may have been running
    /// a goroutine since before the trace began).
    started: BTreeSet<u32>,
    /// Per P: the OS thread holding it and since when.
    holder: HashMap<u32, (u32, u64)>,
    /// Per goroutine in a system call: its thread and since when.
    syscall: HashMap<u64, (u64, u64)>,
    /// Per goroutine: its state, for the counters.
    gstate: HashMap<u64, GState>,
    /// Goroutine counts by state: running, runnable, waiting, syscall.
    counts: [u64; 4],
    /// Per goroutine: the flow (id, name) that its next start finishes.
    pending_flow: HashMap<u64, (u64, &'static str)>,
    next_flow: u64,
    gc_cycle: Option<(u64, u64)>,
    gc_phase: Option<(&'static str, u64)>,
    stw: Option<(&'static str, u64)>,
    procs: BTreeSet<u32>,
    threads: BTreeSet<u64>,
    region_gs: BTreeSet<u64>,
    off_p_used: bool,
}

impl State {
    fn set_g(&mut self, g: u64, to: GState) {
        let slot = |s: GState| match s {
            GState::Running => Some(0),
            GState::Runnable => Some(1),
            GState::Waiting => Some(2),
            GState::Syscall => Some(3),
            GState::Dead => None,
        };
        if let Some(from) = self.gstate.insert(g, to)
            && let Some(i) = slot(from)
        {
            self.counts[i] = self.counts[i].saturating_sub(1);
        }
        if let Some(i) = slot(to) {
            self.counts[i] += 1;
        }
        if to == GState::Dead {
            self.gstate.remove(&g);
        }
    }

    /// The OS thread an event ran on: the P's holder, or the off-P record's thread.
    fn thread_of(&self, proc: u32, thread: u32) -> u64 {
        if proc == NO_PROC {
            u64::from(thread)
        } else {
            self.holder.get(&proc).map_or(0, |&(t, _)| u64::from(t))
        }
    }
}

/// Writes `trace` to `out` as trace-event JSON.
pub(crate) fn write<W: Write>(trace: &Trace, out: W) -> io::Result<()> {
    let mut o = Out {
        w: JsonWriter::new(BufWriter::new(out)),
    };
    o.w.begin_object()?;
    o.w.key("displayTimeUnit")?;
    o.w.string("ns")?;
    o.w.key("otherData")?;
    o.w.begin_object()?;
    o.w.key("producer")?;
    o.w.string("gort-trace")?;
    o.w.key("lost_events")?;
    o.w.uint(trace.lost)?;
    o.w.key("overwritten_events")?;
    o.w.uint(trace.overwritten)?;
    o.w.end_object()?;
    o.w.key("traceEvents")?;
    o.w.begin_array()?;
    let mut st = State::default();
    for e in &trace.events {
        let ts = e.ts;
        let p = e.proc;
        let ptid = if p == NO_PROC {
            st.off_p_used = true;
            TID_OFF_P
        } else {
            st.procs.insert(p);
            u64::from(p)
        };
        match e.data {
            EventData::GoCreate { g, parent } => {
                st.set_g(g, GState::Runnable);
                o.instant(
                    "GoCreate",
                    PID_PROCS,
                    ptid,
                    ts,
                    &[("g", Arg::U(g)), ("parent", Arg::U(parent))],
                )?;
                st.next_flow += 1;
                o.flow("s", "create", st.next_flow, PID_PROCS, ptid, ts)?;
                st.pending_flow.insert(g, (st.next_flow, "create"));
            }
            EventData::GoStart { g } => {
                if let Some((old, since)) = st.running.remove(&p) {
                    let name = format!("G{old}");
                    o.slice(
                        &name,
                        "goroutine",
                        PID_PROCS,
                        ptid,
                        since,
                        ts,
                        &[("g", Arg::U(old)), ("end", Arg::S("implicit"))],
                    )?;
                }
                st.running.insert(p, (g, ts));
                st.started.insert(p);
                st.set_g(g, GState::Running);
                if let Some((id, name)) = st.pending_flow.remove(&g) {
                    o.flow("f", name, id, PID_PROCS, ptid, ts)?;
                }
            }
            EventData::GoStop { g, reason } => {
                end_run(&mut o, &mut st, p, ptid, g, ts, reason.as_str())?;
                st.set_g(g, GState::Runnable);
            }
            EventData::GoBlock { g, reason } => {
                end_run(&mut o, &mut st, p, ptid, g, ts, reason.as_str())?;
                st.set_g(g, GState::Waiting);
            }
            EventData::GoEnd { g } => {
                end_run(&mut o, &mut st, p, ptid, g, ts, "exit")?;
                st.set_g(g, GState::Dead);
                st.pending_flow.remove(&g);
            }
            EventData::GoUnblock { g } => {
                st.set_g(g, GState::Runnable);
                o.instant("GoUnblock", PID_PROCS, ptid, ts, &[("g", Arg::U(g))])?;
                st.next_flow += 1;
                o.flow("s", "unblock", st.next_flow, PID_PROCS, ptid, ts)?;
                st.pending_flow.insert(g, (st.next_flow, "unblock"));
            }
            EventData::GoSyscallBegin { g } => {
                let tid = st.thread_of(p, e.thread);
                st.threads.insert(tid);
                end_run(&mut o, &mut st, p, ptid, g, ts, "syscall")?;
                st.set_g(g, GState::Syscall);
                st.syscall.insert(g, (tid, ts));
            }
            EventData::GoSyscallEnd { g } => {
                if let Some((tid, since)) = st.syscall.remove(&g) {
                    o.slice(
                        "syscall",
                        "syscall",
                        PID_SYSCALLS,
                        tid,
                        since,
                        ts,
                        &[("g", Arg::U(g))],
                    )?;
                }
                st.set_g(g, GState::Runnable);
            }
            EventData::ProcStart { thread } => {
                st.holder.insert(p, (thread, ts));
                st.threads.insert(u64::from(thread));
            }
            EventData::ProcStop => {
                if let Some((g, since)) = st.running.remove(&p) {
                    let name = format!("G{g}");
                    o.slice(
                        &name,
                        "goroutine",
                        PID_PROCS,
                        ptid,
                        since,
                        ts,
                        &[("g", Arg::U(g)), ("end", Arg::S("proc stop"))],
                    )?;
                }
                if let Some((tid, since)) = st.holder.remove(&p) {
                    let name = format!("P{p}");
                    o.slice(&name, "proc", PID_THREADS, u64::from(tid), since, ts, &[])?;
                }
            }
            EventData::ProcSteal { victim, count } => {
                st.procs.insert(victim);
                st.next_flow += 1;
                o.flow("s", "steal", st.next_flow, PID_PROCS, u64::from(victim), ts)?;
                o.instant(
                    "steal",
                    PID_PROCS,
                    ptid,
                    ts,
                    &[
                        ("victim", Arg::U(u64::from(victim))),
                        ("count", Arg::U(u64::from(count))),
                    ],
                )?;
                o.flow("f", "steal", st.next_flow, PID_PROCS, ptid, ts)?;
            }
            EventData::Gomaxprocs { n } => {
                o.counter("GOMAXPROCS", ts, &[("procs", Arg::U(u64::from(n)))])?;
            }
            EventData::GcBegin { seq } => st.gc_cycle = Some((seq, ts)),
            EventData::GcEnd { .. } => {
                if let Some((seq, since)) = st.gc_cycle.take() {
                    let name = format!("GC {seq}");
                    o.slice(
                        &name,
                        "gc",
                        PID_GC,
                        TID_GC_CYCLE,
                        since,
                        ts,
                        &[("seq", Arg::U(seq))],
                    )?;
                }
            }
            EventData::GcMarkBegin => st.gc_phase = Some(("mark", ts)),
            EventData::GcSweepBegin => st.gc_phase = Some(("sweep", ts)),
            EventData::GcMarkEnd | EventData::GcSweepEnd => {
                if let Some((name, since)) = st.gc_phase.take() {
                    o.slice(name, "gc", PID_GC, TID_GC_PHASE, since, ts, &[])?;
                }
            }
            EventData::StwBegin { kind } => st.stw = Some((kind.as_str(), ts)),
            EventData::StwEnd => {
                if let Some((kind, since)) = st.stw.take() {
                    o.slice(
                        "STW",
                        "gc",
                        PID_GC,
                        TID_STW,
                        since,
                        ts,
                        &[("kind", Arg::S(kind))],
                    )?;
                }
            }
            EventData::HeapAlloc { bytes } => {
                o.counter("Heap alloc", ts, &[("bytes", Arg::U(bytes))])?;
            }
            EventData::HeapGoal { bytes } => {
                o.counter("Heap goal", ts, &[("bytes", Arg::U(bytes))])?;
            }
            EventData::RegionBegin { g, name } => {
                st.region_gs.insert(g);
                o.begin_end("B", name, PID_REGIONS, g, ts)?;
            }
            EventData::RegionEnd { g, name } => {
                st.region_gs.insert(g);
                o.begin_end("E", name, PID_REGIONS, g, ts)?;
            }
            EventData::Log { g, message } => {
                st.region_gs.insert(g);
                o.instant("log", PID_REGIONS, g, ts, &[("message", Arg::S(message))])?;
            }
        }
        if matches!(
            e.data,
            EventData::GoCreate { .. }
                | EventData::GoStart { .. }
                | EventData::GoStop { .. }
                | EventData::GoBlock { .. }
                | EventData::GoEnd { .. }
                | EventData::GoUnblock { .. }
                | EventData::GoSyscallBegin { .. }
                | EventData::GoSyscallEnd { .. }
        ) {
            let c = st.counts;
            o.counter(
                "Goroutines",
                ts,
                &[
                    ("running", Arg::U(c[0])),
                    ("runnable", Arg::U(c[1])),
                    ("waiting", Arg::U(c[2])),
                    ("syscall", Arg::U(c[3])),
                ],
            )?;
        }
    }
    finish(&mut o, &mut st, trace.duration_ns)?;
    metadata(&mut o, &st)?;
    o.w.end_array()?;
    o.w.end_object()?;
    o.w.newline()?;
    o.w.into_inner().flush()
}

/// Ends goroutine `g`'s run on P `p` (if it is the one running there) with `why`.
#[allow(
    clippy::too_many_arguments,
    reason = "the exporter's context, spelled out"
)]
fn end_run<W: Write>(
    o: &mut Out<W>,
    st: &mut State,
    p: u32,
    ptid: u64,
    g: u64,
    ts: u64,
    why: &str,
) -> io::Result<()> {
    if let Some(&(cur, since)) = st.running.get(&p)
        && cur == g
    {
        st.running.remove(&p);
        let name = format!("G{g}");
        o.slice(
            &name,
            "goroutine",
            PID_PROCS,
            ptid,
            since,
            ts,
            &[("g", Arg::U(g)), ("end", Arg::S(why))],
        )?;
    } else if p != NO_PROC && !st.running.contains_key(&p) && st.started.insert(p) {
        // The first run on this P ends before any start: the goroutine was running when
        // the trace began (the scheduler emits no status events yet). Draw its run from
        // the trace's start so the P's track is complete.
        let name = format!("G{g}");
        o.slice(
            &name,
            "goroutine",
            PID_PROCS,
            ptid,
            0,
            ts,
            &[
                ("g", Arg::U(g)),
                ("end", Arg::S(why)),
                ("running_at_trace_start", Arg::B(true)),
            ],
        )?;
    }
    Ok(())
}

/// Closes whatever is still open at the end of the trace, marked unfinished.
fn finish<W: Write>(o: &mut Out<W>, st: &mut State, end: u64) -> io::Result<()> {
    let mut running: Vec<_> = st.running.drain().collect();
    running.sort_unstable();
    for (p, (g, since)) in running {
        let name = format!("G{g}");
        let tid = if p == NO_PROC {
            TID_OFF_P
        } else {
            u64::from(p)
        };
        let end = end.max(since);
        o.slice(
            &name,
            "goroutine",
            PID_PROCS,
            tid,
            since,
            end,
            &[("g", Arg::U(g)), unfinished_arg()],
        )?;
    }
    let mut holders: Vec<_> = st.holder.drain().collect();
    holders.sort_unstable();
    for (p, (tid, since)) in holders {
        let name = format!("P{p}");
        o.slice(
            &name,
            "proc",
            PID_THREADS,
            u64::from(tid),
            since,
            end.max(since),
            &[unfinished_arg()],
        )?;
    }
    let mut sys: Vec<_> = st.syscall.drain().collect();
    sys.sort_unstable();
    for (g, (tid, since)) in sys {
        o.slice(
            "syscall",
            "syscall",
            PID_SYSCALLS,
            tid,
            since,
            end.max(since),
            &[("g", Arg::U(g)), unfinished_arg()],
        )?;
    }
    if let Some((seq, since)) = st.gc_cycle.take() {
        let name = format!("GC {seq}");
        o.slice(
            &name,
            "gc",
            PID_GC,
            TID_GC_CYCLE,
            since,
            end.max(since),
            &[unfinished_arg()],
        )?;
    }
    if let Some((name, since)) = st.gc_phase.take() {
        o.slice(
            name,
            "gc",
            PID_GC,
            TID_GC_PHASE,
            since,
            end.max(since),
            &[unfinished_arg()],
        )?;
    }
    if let Some((kind, since)) = st.stw.take() {
        o.slice(
            "STW",
            "gc",
            PID_GC,
            TID_STW,
            since,
            end.max(since),
            &[("kind", Arg::S(kind)), unfinished_arg()],
        )?;
    }
    Ok(())
}

fn unfinished_arg() -> (&'static str, Arg<'static>) {
    ("unfinished", Arg::B(true))
}

/// Names the processes and tracks, in a stable order.
fn metadata<W: Write>(o: &mut Out<W>, st: &State) -> io::Result<()> {
    for (pid, name) in [
        (PID_PROCS, "Procs"),
        (PID_THREADS, "Threads (Ms)"),
        (PID_GC, "GC"),
        (PID_REGIONS, "Goroutines (user regions)"),
        (PID_COUNTERS, "Counters"),
        (PID_SYSCALLS, "Syscalls (by thread)"),
    ] {
        o.meta("process_name", pid, 0, name)?;
        o.sort_index("process_sort_index", pid, 0, pid)?;
    }
    for &p in &st.procs {
        o.meta("thread_name", PID_PROCS, u64::from(p), &format!("P{p}"))?;
        o.sort_index("thread_sort_index", PID_PROCS, u64::from(p), u64::from(p))?;
    }
    if st.off_p_used {
        o.meta("thread_name", PID_PROCS, TID_OFF_P, "no P")?;
    }
    for &t in &st.threads {
        let name = if t == 0 {
            "M (unknown thread)".to_owned()
        } else {
            format!("M (thread {t})")
        };
        o.meta("thread_name", PID_THREADS, t, &name)?;
        o.meta("thread_name", PID_SYSCALLS, t, &name)?;
    }
    for (tid, name) in [
        (TID_GC_CYCLE, "GC cycles"),
        (TID_GC_PHASE, "GC phases"),
        (TID_STW, "Stop the world"),
    ] {
        o.meta("thread_name", PID_GC, tid, name)?;
        o.sort_index("thread_sort_index", PID_GC, tid, tid)?;
    }
    for &g in &st.region_gs {
        o.meta("thread_name", PID_REGIONS, g, &format!("G{g}"))?;
    }
    Ok(())
}
