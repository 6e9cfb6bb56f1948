//! Writes a small demonstration trace to open in ui.perfetto.dev or chrome://tracing:
//! two simulated Ps (OS threads) run goroutines that block on each other, enter a
//! system call and steal work, while a GC cycle runs off-P.
//!
//! `GORT_TRACE=/tmp/demo.json cargo run -p gort-trace --example trace_demo`
//! (without `GORT_TRACE` it writes `gort-trace-demo.json` in the current directory).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "example code")]

use std::sync::mpsc;
use std::time::{Duration, Instant};

use gort_trace::{BlockReason, Emit, StopReason, StwKind, Tracer};

/// Busy for `us` microseconds (stands in for a goroutine's work).
fn work(us: u64) {
    let t = Instant::now();
    while t.elapsed() < Duration::from_micros(us) {
        std::hint::spin_loop();
    }
}

fn main() {
    let path = gort_trace::trace_path_from_env()
        .unwrap_or_else(|e| {
            eprintln!("{e}");
            std::process::exit(2)
        })
        .unwrap_or_else(|| "gort-trace-demo.json".into());
    gort_trace::start_file(&path).unwrap();
    let tracer = Tracer::global();
    let (to_p1, from_p0) = mpsc::channel::<u64>();
    let (to_p0, from_p1) = mpsc::channel::<u64>();
    std::thread::scope(|s| {
        s.spawn(move || {
            let mut p = tracer.proc_buf(0);
            p.proc_start();
            p.gomaxprocs(2);
            for g in 10..20 {
                p.go_create(g, 1);
                p.go_start(g);
                p.region_begin(g, "compute");
                work(40);
                p.region_end(g, "compute");
                p.go_block(g, BlockReason::ChanReceive);
                to_p1.send(g).unwrap();
                let g = from_p1.recv().unwrap();
                p.go_start(g);
                work(20);
                p.go_end(g);
            }
            p.proc_stop();
        });
        s.spawn(move || {
            let mut p = tracer.proc_buf(1);
            p.proc_start();
            for g in from_p0 {
                p.go_unblock(g);
                p.go_create(g + 100, g);
                p.go_start(g + 100);
                work(15);
                p.syscall_begin(g + 100);
                work(30);
                tracer.off_p().unwrap().syscall_end(g + 100);
                p.proc_steal(0, 1);
                p.go_start(g + 100);
                p.go_stop(g + 100, StopReason::Yield);
                to_p0.send(g).unwrap();
            }
            p.proc_stop();
        });
        work(200);
        let mut gc = tracer.off_p().unwrap();
        gc.gc_begin(1);
        gc.stw_begin(StwKind::GcSweepTermination);
        gc.stw_end();
        gc.gc_mark_begin();
        gc.heap_alloc(3 << 20);
        gc.heap_goal(8 << 20);
        drop(gc);
        work(300);
        let mut gc = tracer.off_p().unwrap();
        gc.gc_mark_end();
        gc.stw_begin(StwKind::GcMarkTermination);
        gc.stw_end();
        gc.gc_sweep_begin();
        gc.heap_alloc(2 << 20);
        gc.gc_sweep_end();
        gc.gc_end(1);
    });
    // The simulated Ps dropped their writers when their threads ended, which flushed
    // their buffers; a scheduler would flush its Ps from the stop hook instead.
    let stats = gort_trace::stop().unwrap();
    println!(
        "wrote {} events ({} µs) to {}",
        stats.events,
        stats.duration_ns / 1000,
        path.display()
    );
}
