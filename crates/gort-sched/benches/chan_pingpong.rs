//! Channel and sync micro benchmarks on plain OS threads (the goroutine benchmarks live
//! with the scheduler): an unbuffered ping-pong round trip between two threads, next to
//! std's rendezvous channel doing the same; a buffered send+receive on one thread; a
//! two-case select; and an uncontended `gosync::Mutex` lock/unlock. Benches measure and
//! never assert.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "bench code"
)]

use std::hint::black_box;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};
use gort_sched::gosync::Mutex;
use gort_sched::{Chan, select};

/// Round trips between this thread and an echo thread over two unbuffered channels.
fn pingpong_gort(iters: u64) -> Duration {
    let (ping, pong) = (Chan::new(0), Chan::new(0));
    let (p2, q2) = (ping.clone(), pong.clone());
    let echo = thread::spawn(move || {
        while let Some(v) = p2.recv() {
            q2.send(v);
        }
    });
    // Warm the pair up so both threads are running.
    ping.send(0u64);
    pong.recv();
    let start = Instant::now();
    for i in 0..iters {
        ping.send(i);
        black_box(pong.recv());
    }
    let took = start.elapsed();
    ping.close();
    echo.join().unwrap();
    took
}

/// The same round trip over std's rendezvous channels (`sync_channel(0)`).
fn pingpong_std(iters: u64) -> Duration {
    let (ping_tx, ping_rx) = mpsc::sync_channel::<u64>(0);
    let (pong_tx, pong_rx) = mpsc::sync_channel::<u64>(0);
    let echo = thread::spawn(move || {
        while let Ok(v) = ping_rx.recv() {
            if pong_tx.send(v).is_err() {
                break;
            }
        }
    });
    ping_tx.send(0).unwrap();
    pong_rx.recv().unwrap();
    let start = Instant::now();
    for i in 0..iters {
        ping_tx.send(i).unwrap();
        black_box(pong_rx.recv().unwrap());
    }
    let took = start.elapsed();
    drop(ping_tx);
    echo.join().unwrap();
    took
}

fn benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("chan_pingpong_threads");
    // Alternate the two in one group so noise hits both alike; compare the ratio.
    g.bench_function("gort_unbuffered_round_trip", |b| {
        b.iter_custom(pingpong_gort)
    });
    g.bench_function("std_sync_channel0_round_trip", |b| {
        b.iter_custom(pingpong_std)
    });
    g.finish();

    let mut g = c.benchmark_group("chan_same_thread");
    let ch = Chan::new(1);
    g.bench_function("buffered_send_recv", |b| {
        b.iter(|| {
            ch.send(black_box(1u64));
            black_box(ch.recv())
        });
    });
    let (a, b2) = (Chan::new(1), Chan::new(1));
    g.bench_function("select2_recv_ready", |b| {
        b.iter(|| {
            a.send(1u64);
            select! {
                recv(a) -> v => black_box(v),
                recv(b2) -> v => black_box(v),
            }
        });
    });
    let idle: Chan<u64> = Chan::new(0);
    g.bench_function("select_default_idle", |b| {
        b.iter(|| {
            select! {
                recv(idle) -> v => black_box(v),
                default => None,
            }
        });
    });
    let m = Mutex::new(0u64);
    g.bench_function("gosync_mutex_lock_unlock", |b| {
        b.iter(|| *m.lock() += 1);
    });
    g.finish();
}

/// gort and std round trips measured alternately in rounds (so machine noise hits both
/// alike); prints one JSON line with the medians and their ratio (gort / std).
fn alternating_pingpong() {
    const ROUNDS: usize = 7;
    const TRIPS: u64 = 20_000;
    let (mut gort, mut std) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        gort.push(pingpong_gort(TRIPS).as_nanos() as f64 / TRIPS as f64);
        std.push(pingpong_std(TRIPS).as_nanos() as f64 / TRIPS as f64);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (g, s) = (median(&mut gort), median(&mut std));
    println!(
        "{{\"bench\":\"chan_pingpong_threads\",\"rounds\":{ROUNDS},\"trips\":{TRIPS},\
         \"gort_round_trip_ns\":{g:.0},\"std_sync_channel0_round_trip_ns\":{s:.0},\
         \"ratio_gort_over_std\":{:.2}}}",
        g / s
    );
}

criterion_group! {
    name = chan;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    targets = benches
}
fn main() {
    // `cargo test --benches` runs benches with `--test`: keep that quick.
    if !std::env::args().any(|a| a == "--test") {
        alternating_pingpong();
    }
    chan();
    Criterion::default().configure_from_args().final_summary();
}
