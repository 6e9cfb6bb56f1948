//! demo: a real goroutine program — a pipeline with a worker pool.
//!
//! A producer goroutine feeds numbers into a buffered `jobs` channel; a pool of worker
//! goroutines computes the Collatz length of each and fans the results into `results`;
//! a collector goroutine keeps a running histogram under a `gort::sync::Mutex`; the
//! main goroutine reports progress (with the scheduler's own schedtrace line) and
//! stops the producer early through a `quit` channel watched with `select!`.
//!
//! Flags: `-jobs N` (default 2000000), `-workers W` (default 64), `-stop-at N` (ask the
//! producer to stop after N results; default: never). Run it with
//! `cargo xtask demo` or `GORT_MAXPROCS=2 cargo run --release -p gort --example demo`.
//! Prints one JSON summary line last.

use std::sync::Arc;
use std::time::Instant;

use gort::chan::Chan;
use gort::select;
use gort::sync::{Mutex, WaitGroup};

fn flag(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Steps for `n` to reach 1 under the Collatz map.
fn collatz_len(mut n: u64) -> u32 {
    let mut steps = 0;
    while n != 1 {
        n = if n.is_multiple_of(2) {
            n / 2
        } else {
            3 * n + 1
        };
        steps += 1;
    }
    steps
}

fn main() {
    let jobs_n = flag("-jobs", 2_000_000);
    let workers = flag("-workers", 64);
    let stop_at = flag("-stop-at", u64::MAX);
    let start = Instant::now();

    let summary = gort::run(move || {
        println!(
            "demo: {jobs_n} jobs, {workers} workers, GOMAXPROCS={} (set GORT_MAXPROCS to change)",
            gort::gomaxprocs()
        );
        let jobs = Chan::<u64>::new(256);
        let results = Chan::<(u64, u32)>::new(256);
        let quit = Chan::<()>::new(0);

        // Producer: stops when the jobs run out or when told to quit.
        {
            let (jobs, quit) = (jobs.clone(), quit.clone());
            let started = gort::Builder::new().name("producer").spawn(move || {
                for n in 1..=jobs_n {
                    let stop = select! {
                        send(jobs, n) => false,
                        recv(quit) -> _ => true,
                    };
                    if stop {
                        break;
                    }
                }
                jobs.close();
            });
            if let Err(e) = started {
                eprintln!("demo: cannot start the producer: {e}");
                std::process::exit(1);
            }
        }

        // Worker pool: results close when the last worker is done.
        let pool = Arc::new(WaitGroup::new());
        pool.add(workers as i32);
        for _ in 0..workers {
            let (jobs, results, pool) = (jobs.clone(), results.clone(), Arc::clone(&pool));
            gort::go(move || {
                for n in jobs.iter() {
                    results.send((n, collatz_len(n)));
                }
                pool.done();
            });
        }
        {
            let (results, pool) = (results.clone(), Arc::clone(&pool));
            gort::go(move || {
                pool.wait();
                results.close();
            });
        }

        // Collector: a histogram of lengths by bucket, and the longest chain.
        let hist = Arc::new(Mutex::new((vec![0u64; 8], 0u64, 0u32)));
        let collected = Chan::<u64>::new(1);
        {
            let (hist, results, collected) =
                (Arc::clone(&hist), results.clone(), collected.clone());
            gort::go(move || {
                let mut count = 0u64;
                for (n, len) in results.iter() {
                    let mut h = hist.lock();
                    h.0[(len as usize / 100).min(7)] += 1;
                    if len > h.2 {
                        (h.1, h.2) = (n, len);
                    }
                    drop(h);
                    count += 1;
                    if count == stop_at {
                        // Ask the producer to stop; the pipeline drains what is in flight.
                        let _ = quit.try_send(());
                    }
                    if count.is_multiple_of((jobs_n / 8).max(1)) {
                        println!(
                            "  {:>9} done, {:>4} goroutines | {}",
                            count,
                            gort::num_goroutine(),
                            gort::schedtrace_line().unwrap_or_default()
                        );
                    }
                }
                collected.send(count);
            });
        }

        let count = collected.recv().unwrap_or(0);
        let (buckets, best_n, best_len) = hist.lock().clone();
        println!("collatz lengths by hundreds: {buckets:?}");
        println!(
            "longest chain among the {} numbers done: {best_n} ({best_len} steps)",
            count
        );
        (count, best_n, best_len, gort::gomaxprocs())
    });
    let (count, best_n, best_len, procs) = summary;
    println!(
        "{{\"bench\":\"demo\",\"impl\":\"gort\",\"procs\":{procs},\"jobs\":{count},\"workers\":{workers},\"longest\":{best_n},\"steps\":{best_len},\"total_ms\":{:.3}}}",
        start.elapsed().as_secs_f64() * 1e3
    );
}
