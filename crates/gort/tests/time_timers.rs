//! Timers through the facade: sleep order and lower bounds, after, tick, Timer
//! stop/reset, Ticker, select! timeouts, timers across Ps, and many sleeping goroutines.
//! Bounds are loose: order and lower bounds are asserted, upper bounds are generous.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::sync::{Arc, Mutex};

use gort::chan::Chan;
use gort::select;
use gort::sync::WaitGroup;
use gort::time::{Duration, Instant, Ticker, Timer, after, sleep, tick};

fn cfg(procs: usize) -> gort::Config {
    let mut c = gort::Config::default();
    c.maxprocs = procs;
    c
}

const GENEROUS: Duration = Duration::from_secs(5);

#[test]
fn sleep_waits_at_least_its_duration() {
    gort::run_with(cfg(2), || {
        let t0 = Instant::now();
        sleep(Duration::from_millis(20));
        let el = t0.elapsed();
        assert!(el >= Duration::from_millis(20), "{el:?}");
        assert!(el < GENEROUS, "{el:?}");
    })
    .unwrap();
}

#[test]
fn sleepers_wake_in_deadline_order() {
    for procs in [1, 2] {
        let order = gort::run_with(cfg(procs), || {
            let order = Arc::new(Mutex::new(Vec::new()));
            let wg = Arc::new(WaitGroup::new());
            // Spawned in scrambled order; 15 ms apart so scheduling noise cannot swap them.
            for i in [3u64, 0, 4, 1, 2] {
                wg.add(1);
                let (order, wg) = (Arc::clone(&order), Arc::clone(&wg));
                gort::go(move || {
                    let t0 = Instant::now();
                    let d = Duration::from_millis(10 + 15 * i);
                    sleep(d);
                    assert!(t0.elapsed() >= d);
                    order.lock().unwrap().push(i);
                    wg.done();
                });
            }
            wg.wait();
            Arc::try_unwrap(order).unwrap().into_inner().unwrap()
        })
        .unwrap();
        assert_eq!(order, vec![0, 1, 2, 3, 4], "procs={procs}");
    }
}

#[test]
fn after_delivers_once_and_select_times_out() {
    gort::run_with(cfg(2), || {
        let t0 = Instant::now();
        let c = after(Duration::from_millis(15));
        let at = c.recv().unwrap();
        assert!(at.duration_since(t0) >= Duration::from_millis(15));
        assert!(c.try_recv().is_err(), "after fires once");

        // A select! whose only ready case is the timeout takes it.
        let never: Chan<u32> = Chan::new(0);
        let t0 = Instant::now();
        let timeout = after(Duration::from_millis(10));
        let got = select! {
            recv(never) -> v => v.map(|_| "value"),
            recv(timeout) -> _t => Some("timeout"),
        };
        assert_eq!(got, Some("timeout"));
        assert!(t0.elapsed() >= Duration::from_millis(10));

        // A value that arrives first wins over a long timeout.
        let ch: Chan<u32> = Chan::new(0);
        let ch2 = ch.clone();
        gort::go(move || {
            sleep(Duration::from_millis(5));
            ch2.send(7);
        });
        let timeout = after(Duration::from_secs(3600));
        let got = select! {
            recv(ch) -> v => v,
            recv(timeout) -> _t => None,
        };
        assert_eq!(got, Some(7));
    })
    .unwrap();
}

#[test]
fn tick_and_ticker_tick_repeatedly() {
    gort::run_with(cfg(1), || {
        let t0 = Instant::now();
        let c = tick(Duration::from_millis(5));
        for k in 1..=4u32 {
            let at = c.recv().unwrap();
            assert!(at.duration_since(t0) >= Duration::from_millis(5) * k);
        }
        let t = Ticker::new(Duration::from_millis(3));
        let a = t.c().recv().unwrap();
        let b = t.c().recv().unwrap();
        assert!(b.duration_since(a) >= Duration::from_millis(2));
        t.stop();
        sleep(Duration::from_millis(10));
        assert!(
            t.c().try_recv().is_err(),
            "a stopped ticker is drained and silent"
        );
        t.reset(Duration::from_millis(2));
        assert!(t.c().recv().is_some());
    })
    .unwrap();
}

#[test]
fn timer_stop_and_reset() {
    gort::run_with(cfg(2), || {
        let t = Timer::new(Duration::from_secs(3600));
        assert!(t.stop(), "armed timer stops");
        assert!(!t.stop(), "second stop finds it stopped");
        let t0 = Instant::now();
        assert!(!t.reset(Duration::from_millis(10)));
        let at = t.c().recv().unwrap();
        assert!(at.duration_since(t0) >= Duration::from_millis(10));
        assert!(!t.stop(), "fired timer is not armed");

        // Fired but unreceived: reset drains the stale value.
        let t = Timer::new(Duration::from_millis(1));
        sleep(Duration::from_millis(10));
        let t0 = Instant::now();
        t.reset(Duration::from_millis(20));
        let at = t.c().recv().unwrap();
        assert!(at.duration_since(t0) >= Duration::from_millis(20));

        // Dropped timers never fire; many stopped ones are cleaned from the heap.
        for _ in 0..1000 {
            let t = Timer::new(Duration::from_secs(3600));
            t.reset(Duration::from_secs(7200));
        }
    })
    .unwrap();
}

#[test]
fn timers_work_off_the_scheduler() {
    let t0 = Instant::now();
    sleep(Duration::from_millis(5));
    assert!(t0.elapsed() >= Duration::from_millis(5));
    let at = after(Duration::from_millis(5)).recv().unwrap();
    assert!(at.duration_since(t0) >= Duration::from_millis(10));
    let t = Ticker::new(Duration::from_millis(2));
    assert!(t.c().recv().is_some());
    assert!(t.c().recv().is_some());
}

#[test]
fn timers_fire_while_other_ps_are_busy_and_after_gomaxprocs_shrinks() {
    gort::run_with(cfg(4), || {
        let wg = Arc::new(WaitGroup::new());
        // Timers spread over several Ps.
        for i in 0..40u64 {
            wg.add(1);
            let wg = Arc::clone(&wg);
            gort::go(move || {
                sleep(Duration::from_millis(5 + i % 7));
                wg.done();
            });
        }
        // Shrink: timers of retired Ps are adopted by the remaining one.
        gort::set_maxprocs(1).unwrap();
        wg.wait();
        gort::set_maxprocs(4).unwrap();
    })
    .unwrap();
}

#[test]
fn many_sleeping_goroutines() {
    // 100k in the dev profile; examples/sleepers.rs measures a million.
    let n = 100_000u64;
    let woke = gort::run_with(cfg(2), move || {
        let wg = Arc::new(WaitGroup::new());
        let woke = Arc::new(std::sync::atomic::AtomicU64::new(0));
        wg.add(n as i32);
        for i in 0..n {
            let (wg, woke) = (Arc::clone(&wg), Arc::clone(&woke));
            gort::go(move || {
                sleep(Duration::from_millis(50 + i % 50));
                woke.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                wg.done();
            });
        }
        wg.wait();
        woke.load(std::sync::atomic::Ordering::Relaxed)
    })
    .unwrap();
    assert_eq!(woke, n);
}
