//! Loom model: two P writers fill two-record buffers and hand them off under the
//! lists lock while a third thread stops the trace. Every collected event must be
//! intact, appear once, and keep its writer's order; nothing is collected twice and no
//! buffer is lost (all return to the free list or stay with their writer).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use loom::sync::Arc;

use crate::{Emit, EventData, Tracer};

fn writer(t: &Tracer, proc: u32) {
    let mut p = t.proc_buf(proc);
    for i in 0..3 {
        p.go_unblock(u64::from(proc) * 100 + i);
    }
    // Drop flushes the partial buffer.
}

fn check_order(events: &[crate::Event], proc: u32, min: usize) {
    let gs: Vec<u64> = events
        .iter()
        .filter(|e| e.proc == proc)
        .map(|e| match e.data {
            EventData::GoUnblock { g } => g,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert!(gs.len() >= min, "P{proc}: {gs:?}");
    // A prefix or any subsequence in order: ids strictly increase, no duplicates.
    for w in gs.windows(2) {
        assert!(w[0] < w[1], "P{proc} out of order: {gs:?}");
    }
    for g in &gs {
        assert_eq!(g / 100, u64::from(proc));
    }
}

#[test]
fn loom_handoff_then_stop_collects_everything() {
    loom::model(|| {
        let t = Arc::new(Tracer::new());
        t.start_collecting().unwrap();
        let t1 = Arc::clone(&t);
        let h = loom::thread::spawn(move || writer(&t1, 1));
        writer(&t, 2);
        h.join().unwrap();
        let tr = t.stop_collect().unwrap();
        assert_eq!(tr.events.len(), 6);
        check_order(&tr.events, 1, 3);
        check_order(&tr.events, 2, 3);
    });
}

#[test]
fn loom_stop_races_a_writer() {
    loom::model(|| {
        let t = Arc::new(Tracer::new());
        t.start_collecting().unwrap();
        let t1 = Arc::clone(&t);
        let h = loom::thread::spawn(move || writer(&t1, 1));
        let tr = t.stop_collect().unwrap();
        h.join().unwrap();
        // Whatever the interleaving, what was collected is a clean in-order subset.
        check_order(&tr.events, 1, 0);
        assert!(tr.events.len() <= 3);
        // Every buffer is back with the lists: none leaked, none owned twice.
        let (free, full) = t.buffer_counts();
        assert_eq!(full, 0);
        assert!(free <= 2, "free {free}");
    });
}

#[test]
fn loom_stop_races_two_writers() {
    loom::model(|| {
        let t = Arc::new(Tracer::new());
        t.start_collecting().unwrap();
        let (t1, t2) = (Arc::clone(&t), Arc::clone(&t));
        let h1 = loom::thread::spawn(move || writer(&t1, 1));
        let h2 = loom::thread::spawn(move || writer(&t2, 2));
        let tr = t.stop_collect().unwrap();
        h1.join().unwrap();
        h2.join().unwrap();
        check_order(&tr.events, 1, 0);
        check_order(&tr.events, 2, 0);
        assert!(tr.events.len() <= 6);
        assert_eq!(t.buffer_counts().1, 0);
    });
}

#[test]
fn loom_flight_recorder_evicts_under_the_lock() {
    loom::model(|| {
        let t = Arc::new(Tracer::new());
        t.start_flight_recorder(1).unwrap();
        let t1 = Arc::clone(&t);
        let h = loom::thread::spawn(move || writer(&t1, 1));
        writer(&t, 2);
        h.join().unwrap();
        let tr = t.stop_collect().unwrap();
        // One buffer survives; everything else was counted as overwritten.
        assert!(tr.events.len() <= 2);
        assert_eq!(tr.events.len() as u64 + tr.overwritten, 6);
        check_order(&tr.events, 1, 0);
        check_order(&tr.events, 2, 0);
    });
}
