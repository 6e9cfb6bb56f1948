//! The dashboard's sampler: the scheduler's state every [`PERIOD`], plus what the
//! execution tracer (in flight-recorder mode) saw since the last window — scheduling
//! latencies, steals, GC phases, stop-the-world pauses, heap and goal — as one JSON
//! line per sample.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::time::Duration;

use gort_sched::debug::{SchedHandle, SchedSnapshot};
use gort_trace::{EventData, Tracer};

/// Time between samples.
pub(crate) const PERIOD: Duration = Duration::from_millis(500);

/// Samples of history kept for the charts (one minute).
const HISTORY: usize = 120;

/// Full trace buffers the flight recorder keeps between windows (2047 events each).
const RING_BUFFERS: usize = 16;

/// Recent steal events shown.
const RECENT: usize = 12;

/// Upper bounds (µs) of the pause histogram's buckets; the last is open-ended.
const PAUSE_BUCKETS_US: [u64; 8] = [10, 50, 100, 500, 1_000, 5_000, 10_000, u64::MAX];

/// The sampler's state between samples.
pub(crate) struct Sampler {
    handle: SchedHandle,
    /// Whether this sampler runs the flight recorder (false if someone else traces).
    tracing: bool,
    /// (uptime ms, running, runnable, waiting, heap bytes, goal bytes) per sample.
    history: VecDeque<[u64; 6]>,
    /// Latencies (ns) runnable → running in the last window.
    latencies: Vec<u64>,
    /// Recent steals: (uptime ms, thief, victim, goroutines).
    steals: VecDeque<(u64, u32, u32, u32)>,
    /// Steals seen in trace windows, in total.
    steal_events: u64,
    /// Pause histogram counts (see [`PAUSE_BUCKETS_US`]) and the total.
    pauses: [u64; PAUSE_BUCKETS_US.len()],
    /// GC state: phase name, cycles completed, heap, goal (from trace events).
    gc_phase: &'static str,
    gc_cycles: u64,
    heap: u64,
    goal: u64,
    /// Whether any GC or heap event was ever seen (else the page hides the GC panel).
    gc_seen: bool,
    /// Samples taken.
    seq: u64,
}

impl Sampler {
    /// A sampler of `handle`'s scheduler; starts the flight recorder if no trace runs.
    pub(crate) fn new(handle: SchedHandle) -> Sampler {
        let tracing = Tracer::global().start_flight_recorder(RING_BUFFERS).is_ok();
        Sampler {
            handle,
            tracing,
            history: VecDeque::with_capacity(HISTORY),
            latencies: Vec::new(),
            steals: VecDeque::new(),
            steal_events: 0,
            pauses: [0; PAUSE_BUCKETS_US.len()],
            gc_phase: "off",
            gc_cycles: 0,
            heap: 0,
            goal: 0,
            gc_seen: false,
            seq: 0,
        }
    }

    /// Stops the flight recorder if this sampler started it.
    pub(crate) fn finish(&mut self) {
        if self.tracing {
            let _ = Tracer::global().stop_collect();
            self.tracing = false;
        }
    }

    /// Whether the scheduler has ended.
    pub(crate) fn finished(&self) -> bool {
        self.handle.is_finished()
    }

    /// Takes one sample; returns it as a JSON object on one line.
    pub(crate) fn sample(&mut self) -> String {
        self.seq += 1;
        // The trace window every other sample: collecting flushes every P.
        if self.tracing && self.seq.is_multiple_of(2) {
            self.trace_window();
        }
        let s = self.handle.snapshot();
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back([
            s.uptime_ms,
            s.goroutines.running as u64,
            s.goroutines.runnable as u64,
            s.goroutines.waiting as u64,
            self.heap,
            self.goal,
        ]);
        self.to_json(&s)
    }

    /// Collects the flight recorder's window and restarts it.
    fn trace_window(&mut self) {
        let t = match Tracer::global().stop_collect() {
            Ok(t) => t,
            Err(_) => {
                self.tracing = false;
                return;
            }
        };
        self.tracing = Tracer::global().start_flight_recorder(RING_BUFFERS).is_ok();
        let uptime = self.handle.snapshot().uptime_ms;
        let mut runnable_since: HashMap<u64, u64> = HashMap::new();
        let mut stw_since = None;
        self.latencies.clear();
        for e in &t.events {
            match e.data {
                EventData::GoCreate { g, .. }
                | EventData::GoUnblock { g }
                | EventData::GoStop { g, .. } => {
                    runnable_since.insert(g, e.ts);
                }
                EventData::GoStart { g } => {
                    if let Some(t0) = runnable_since.remove(&g) {
                        self.latencies.push(e.ts.saturating_sub(t0));
                    }
                }
                EventData::ProcSteal { victim, count } => {
                    self.steal_events += 1;
                    if self.steals.len() == RECENT {
                        self.steals.pop_front();
                    }
                    self.steals.push_back((uptime, e.proc, victim, count));
                }
                EventData::GcBegin { .. } => {
                    self.gc_seen = true;
                    self.gc_phase = "mark";
                }
                EventData::GcMarkBegin => self.gc_phase = "mark",
                EventData::GcSweepBegin => self.gc_phase = "sweep",
                EventData::GcEnd { .. } => {
                    self.gc_phase = "off";
                    self.gc_cycles += 1;
                }
                EventData::StwBegin { .. } => stw_since = Some(e.ts),
                EventData::StwEnd => {
                    if let Some(t0) = stw_since.take() {
                        let us = e.ts.saturating_sub(t0) / 1000;
                        let i = PAUSE_BUCKETS_US
                            .iter()
                            .position(|&b| us < b)
                            .unwrap_or(PAUSE_BUCKETS_US.len() - 1);
                        self.pauses[i] += 1;
                        self.gc_seen = true;
                    }
                }
                EventData::HeapAlloc { bytes } => {
                    self.heap = bytes;
                    self.gc_seen = true;
                }
                EventData::HeapGoal { bytes } => {
                    self.goal = bytes;
                    self.gc_seen = true;
                }
                _ => {}
            }
        }
        self.latencies.sort_unstable();
    }

    /// The JSON of one sample.
    fn to_json(&self, s: &SchedSnapshot) -> String {
        let mut j = String::with_capacity(4096);
        let _ = write!(
            j,
            "{{\"seq\":{},\"uptime_ms\":{},\"gomaxprocs\":{},\"global_runq\":{},\"idle_procs\":{},\"spinning_threads\":{},",
            self.seq, s.uptime_ms, s.gomaxprocs, s.global_runq, s.idle_procs, s.spinning_threads
        );
        j.push_str("\"procs\":[");
        for (i, p) in s.procs.iter().enumerate() {
            if i > 0 {
                j.push(',');
            }
            let _ = write!(
                j,
                "{{\"id\":{},\"status\":\"{}\",\"runq\":{},\"m\":{},\"g\":{},\"schedtick\":{},\"steals\":{},\"handoffs\":{}}}",
                p.id,
                p.status,
                p.runq,
                opt(p.m.map(u64::from)),
                opt(p.current_goroutine),
                p.schedtick,
                p.steals,
                p.handoffs
            );
        }
        j.push_str("],\"threads\":[");
        for (i, t) in s.threads.iter().enumerate() {
            if i > 0 {
                j.push(',');
            }
            let _ = write!(
                j,
                "{{\"id\":{},\"p\":{},\"state\":\"{}\"}}",
                t.id,
                opt(t.p.map(u64::from)),
                t.state.as_str()
            );
        }
        let g = &s.goroutines;
        let _ = write!(
            j,
            "],\"goroutines\":{{\"running\":{},\"runnable\":{},\"waiting\":{},\"syscall\":{},\"by_reason\":[",
            g.running, g.runnable, g.waiting, g.syscall
        );
        for (i, (r, n)) in g.by_reason.iter().enumerate() {
            if i > 0 {
                j.push(',');
            }
            let _ = write!(j, "[\"{r}\",{n}]");
        }
        let steals: u64 = s.procs.iter().map(|p| p.steals).sum();
        let handoffs: u64 = s.procs.iter().map(|p| p.handoffs).sum();
        let _ = write!(
            j,
            "]}},\"steals\":{steals},\"handoffs\":{handoffs},\"recent_steals\":["
        );
        for (i, (t, thief, victim, n)) in self.steals.iter().enumerate() {
            if i > 0 {
                j.push(',');
            }
            let _ = write!(j, "[{t},{thief},{victim},{n}]");
        }
        let _ = write!(
            j,
            "],\"tracing\":{},\"latency\":{{\"samples\":{},\"p50_us\":{},\"p90_us\":{},\"p99_us\":{},\"max_us\":{}}},",
            self.tracing,
            self.latencies.len(),
            micros(pct(&self.latencies, 50)),
            micros(pct(&self.latencies, 90)),
            micros(pct(&self.latencies, 99)),
            micros(self.latencies.last().copied()),
        );
        let _ = write!(
            j,
            "\"gc\":{{\"seen\":{},\"phase\":\"{}\",\"cycles\":{},\"heap\":{},\"goal\":{},\"pause_buckets_us\":[10,50,100,500,1000,5000,10000,null],\"pauses\":[",
            self.gc_seen, self.gc_phase, self.gc_cycles, self.heap, self.goal
        );
        for (i, n) in self.pauses.iter().enumerate() {
            if i > 0 {
                j.push(',');
            }
            let _ = write!(j, "{n}");
        }
        j.push_str("]},\"history\":[");
        for (i, h) in self.history.iter().enumerate() {
            if i > 0 {
                j.push(',');
            }
            let _ = write!(j, "[{},{},{},{},{},{}]", h[0], h[1], h[2], h[3], h[4], h[5]);
        }
        j.push_str("]}");
        j
    }
}

/// `null` or the number.
fn opt(v: Option<u64>) -> String {
    v.map_or_else(|| "null".to_string(), |v| v.to_string())
}

/// The `q`-th percentile of sorted `v`.
fn pct(v: &[u64], q: usize) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    let i = ((v.len() - 1) * q).div_ceil(100);
    v.get(i).copied()
}

/// Nanoseconds as microseconds with one decimal, or `null`.
fn micros(ns: Option<u64>) -> String {
    ns.map_or_else(
        || "null".to_string(),
        |ns| format!("{}.{}", ns / 1000, (ns % 1000) / 100),
    )
}
