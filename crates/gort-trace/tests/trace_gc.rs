//! The collector's reporting API (`gort_trace::gc`): nothing is recorded while tracing
//! is off; while on, a cycle's events arrive in order on the off-P writer and the
//! exported JSON has the GC slices and the heap counters.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use gort_trace::{EventData, NO_PROC, StwKind, Tracer, gc};

#[test]
fn gc_events_arrive_in_order_and_export() {
    // Off: these must not appear in the trace started below.
    gc::cycle_begin(99);
    gc::heap(1, 2);

    let t = Tracer::global();
    t.start_collecting().unwrap();
    gc::cycle_begin(1);
    gc::stw_begin(StwKind::GcSweepTermination);
    gc::stw_end();
    gc::mark_begin();
    gc::mark_end();
    gc::stw_begin(StwKind::GcMarkTermination);
    gc::stw_end();
    gc::sweep_begin();
    gc::heap(4 << 20, 8 << 20);
    gc::sweep_end();
    gc::cycle_end(1);
    let trace = t.stop_collect().unwrap();
    assert!(trace.events.iter().all(|e| e.proc == NO_PROC));
    let kinds: Vec<EventData> = trace.events.iter().map(|e| e.data).collect();
    assert_eq!(
        kinds,
        vec![
            EventData::GcBegin { seq: 1 },
            EventData::StwBegin {
                kind: StwKind::GcSweepTermination
            },
            EventData::StwEnd,
            EventData::GcMarkBegin,
            EventData::GcMarkEnd,
            EventData::StwBegin {
                kind: StwKind::GcMarkTermination
            },
            EventData::StwEnd,
            EventData::GcSweepBegin,
            EventData::HeapAlloc { bytes: 4 << 20 },
            EventData::HeapGoal { bytes: 8 << 20 },
            EventData::GcSweepEnd,
            EventData::GcEnd { seq: 1 },
        ]
    );
    let mut json = Vec::new();
    trace.write_chrome_json(&mut json).unwrap();
    let json = String::from_utf8(json).unwrap();
    gort_trace::testing::json::parse(&json).unwrap();
    assert!(json.contains("\"GC\""), "no GC track");
}
