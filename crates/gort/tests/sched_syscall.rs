//! `gort::syscall` and sysmon at GOMAXPROCS=1: a goroutine blocked in a wrapped blocking
//! call does not stop a ticking one; a loop with `preempt_check!` does not starve another
//! goroutine; panics in the call propagate; sysmon hooks run.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use gort::chan::Chan;
use gort::time::{Duration, Instant, Ticker, sleep};

fn cfg(procs: usize) -> gort::Config {
    let mut c = gort::Config::default();
    c.maxprocs = procs;
    c
}

#[test]
fn blocking_syscall_does_not_stop_a_ticker_at_one_proc() {
    let ticks = gort::run_with(cfg(1), || {
        let done = Arc::new(AtomicBool::new(false));
        let ticks = Arc::new(AtomicU64::new(0));
        let (d, t) = (Arc::clone(&done), Arc::clone(&ticks));
        let finished: Chan<()> = Chan::new(1);
        let f2 = finished.clone();
        gort::go(move || {
            let tk = Ticker::new(Duration::from_millis(10));
            while !d.load(Ordering::Relaxed) {
                tk.c().recv();
                t.fetch_add(1, Ordering::Relaxed);
            }
            f2.send(());
        });
        // Let the ticker start, then block this goroutine's thread for 200 ms.
        sleep(Duration::from_millis(1));
        let t0 = Instant::now();
        let got = gort::syscall(|| {
            std::thread::sleep(Duration::from_millis(200));
            42
        });
        assert_eq!(got, 42);
        assert!(t0.elapsed() >= Duration::from_millis(200));
        let n = ticks.load(Ordering::Relaxed);
        done.store(true, Ordering::Relaxed);
        finished.recv();
        n
    })
    .unwrap();
    // 200 ms at 10 ms a tick is 20; without the handoff it would be 0 or 1.
    assert!(ticks >= 5, "only {ticks} ticks while the syscall blocked");
}

#[test]
fn short_syscalls_keep_their_p_and_results() {
    gort::run_with(cfg(2), || {
        let mut sum = 0u64;
        for i in 0..10_000u64 {
            sum += gort::syscall(|| i);
        }
        assert_eq!(sum, 10_000 * 9_999 / 2);
        // Goroutine operations inside act as on a plain thread.
        let c: Chan<u32> = Chan::new(1);
        let c2 = c.clone();
        gort::syscall(move || c2.send(5));
        assert_eq!(c.recv(), Some(5));
        assert!(gort::syscall(|| !gort::on_goroutine()));
        // Many goroutines in blocking calls at once.
        let wg = Arc::new(gort::sync::WaitGroup::new());
        for _ in 0..8 {
            wg.add(1);
            let wg = Arc::clone(&wg);
            gort::go(move || {
                gort::syscall(|| std::thread::sleep(Duration::from_millis(20)));
                wg.done();
            });
        }
        wg.wait();
    })
    .unwrap();
}

#[test]
fn panic_in_syscall_propagates_after_reacquiring() {
    gort::run_with(cfg(1), || {
        let r = std::panic::catch_unwind(|| {
            gort::syscall(|| {
                std::thread::sleep(Duration::from_millis(5));
                panic!("in the call")
            })
        });
        assert!(r.is_err());
        // Still a goroutine with a P: scheduling works.
        let c: Chan<u8> = Chan::new(0);
        let c2 = c.clone();
        gort::go(move || c2.send(1));
        assert_eq!(c.recv(), Some(1));
    })
    .unwrap();
}

#[test]
fn preempt_check_stops_a_loop_starving_another_goroutine() {
    gort::run_with(cfg(1), || {
        let stop = Arc::new(AtomicBool::new(false));
        let started = Arc::new(AtomicBool::new(false));
        let (s, st) = (Arc::clone(&stop), Arc::clone(&started));
        let done: Chan<u64> = Chan::new(1);
        let d = done.clone();
        gort::go(move || {
            // Spins with no channel or sync call: only the check lets the other run.
            let mut spins = 0u64;
            st.store(true, Ordering::Relaxed);
            while !s.load(Ordering::Relaxed) {
                spins += 1;
                gort::preempt_check!();
            }
            d.send(spins);
        });
        // Once the spinner has the only P, this goroutine runs again only if sysmon
        // flags the spinner's slice (10 ms) and the check yields.
        while !started.load(Ordering::Relaxed) {
            gort::yield_now();
        }
        stop.store(true, Ordering::Relaxed);
        assert!(done.recv().unwrap() > 0);
    })
    .unwrap();
}

#[test]
fn syscall_returning_to_a_busy_p_queues_and_resumes() {
    // GOMAXPROCS=1: while main blocks, a spinner takes the retaken P; when the call
    // returns no P is free, so main queues globally (exitsyscall0) and runs again once
    // the spinner's preemption check yields. Also for a goroutine locked to its thread
    // (it waits in stoplockedm for the P to be handed over).
    for locked in [false, true] {
        gort::run_with(cfg(1), move || {
            if locked {
                gort::lock_os_thread();
            }
            let stop = Arc::new(AtomicBool::new(false));
            let s = Arc::clone(&stop);
            let done: Chan<()> = Chan::new(1);
            let d = done.clone();
            gort::go(move || {
                while !s.load(Ordering::Relaxed) {
                    gort::preempt_check();
                }
                d.send(());
            });
            let t0 = Instant::now();
            gort::syscall(|| std::thread::sleep(Duration::from_millis(50)));
            assert!(t0.elapsed() >= Duration::from_millis(50));
            stop.store(true, Ordering::Relaxed);
            done.recv();
            if locked {
                gort::unlock_os_thread();
            }
        })
        .unwrap();
    }
}

static HOOK_RUNS: AtomicU64 = AtomicU64::new(0);

fn hook() {
    HOOK_RUNS.fetch_add(1, Ordering::Relaxed);
}

#[test]
fn sysmon_hooks_run_periodically() {
    gort::add_sysmon_hook(Duration::from_millis(1), hook);
    gort::run_with(cfg(1), || sleep(Duration::from_millis(100))).unwrap();
    assert!(HOOK_RUNS.load(Ordering::Relaxed) >= 2);
}
