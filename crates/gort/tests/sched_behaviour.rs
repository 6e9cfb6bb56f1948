//! Scheduler behaviour at GOMAXPROCS 1 and 2: yields interleave, GOMAXPROCS changes at
//! run time, goroutine counts, goroutine-local storage, thread locking, builders,
//! nesting, and schedtrace output.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use gort::chan::Chan;
use gort::sync::WaitGroup;

fn cfg(procs: usize) -> gort::Config {
    let mut c = gort::Config::default();
    c.maxprocs = procs;
    c
}

#[test]
fn yields_interleave_at_one_proc() {
    let log = gort::run_with(cfg(1), || {
        let log = Arc::new(Mutex::new(String::new()));
        let wg = Arc::new(WaitGroup::new());
        wg.add(2);
        for c in ['a', 'b'] {
            let (log, wg) = (Arc::clone(&log), Arc::clone(&wg));
            gort::go(move || {
                for _ in 0..5 {
                    log.lock().unwrap().push(c);
                    gort::yield_now();
                }
                wg.done();
            });
        }
        wg.wait();
        log.lock().unwrap().clone()
    })
    .unwrap();
    assert_eq!(log.len(), 10);
    // Go's order is not strict alternation (a goroutine started from runnext inherits
    // the time slice, so the 61-tick global check can pick the yielder again at once),
    // but neither goroutine may run three turns in a row while the other is runnable.
    let longest = log
        .as_bytes()
        .chunk_by(|a, b| a == b)
        .map(<[u8]>::len)
        .max()
        .unwrap();
    assert!(
        longest <= 2,
        "yield did not let the other goroutine run: {log}"
    );
}

#[test]
fn runnext_pair_does_not_starve_the_run_queue() {
    // At GOMAXPROCS=1 two goroutines ping-ponging over unbuffered channels hand the time
    // slice to each other through runnext; a third goroutine waiting in the ring must
    // still run (Go relies on its 10 ms time slice; gort bounds the streak).
    gort::run_with(cfg(1), || {
        let flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let done = Chan::<()>::new(2);
        let (a, b) = (Chan::<u32>::new(0), Chan::<u32>::new(0));
        {
            let (a, b, flag, done) = (a.clone(), b.clone(), Arc::clone(&flag), done.clone());
            gort::go(move || {
                // Spawned into runnext, then kicked to the ring by the first hand-off.
                let f = Arc::clone(&flag);
                gort::go(move || f.store(true, Ordering::Relaxed));
                while !flag.load(Ordering::Relaxed) {
                    a.send(1);
                    let _ = b.recv();
                }
                a.close();
                done.send(());
            });
        }
        {
            let done = done.clone();
            gort::go(move || {
                while let Some(v) = a.recv() {
                    b.send(v);
                }
                done.send(());
            });
        }
        let _ = done.recv();
        let _ = done.recv();
    })
    .unwrap();
}

#[test]
fn main_goroutine_is_goroutine_one() {
    let (id, on) = gort::run_with(cfg(1), || (gort::goid(), gort::on_goroutine())).unwrap();
    assert_eq!(id, Some(1));
    assert!(on);
    assert_eq!(gort::goid(), None);
    assert!(!gort::on_goroutine());
}

#[test]
fn num_goroutine_counts_live_ones() {
    gort::run_with(cfg(2), || {
        assert_eq!(gort::num_goroutine(), 1);
        let gate = Chan::<()>::new(0);
        let wg = Arc::new(WaitGroup::new());
        wg.add(10);
        for _ in 0..10 {
            let (gate, wg) = (gate.clone(), Arc::clone(&wg));
            gort::go(move || {
                let _ = gate.recv();
                wg.done();
            });
        }
        assert_eq!(gort::num_goroutine(), 11);
        gate.close();
        wg.wait();
        // The ten may still be between `done` and exiting: yield until they are gone.
        while gort::num_goroutine() > 1 {
            gort::yield_now();
        }
    })
    .unwrap();
}

fn work(n: usize) -> usize {
    let hits = Arc::new(AtomicUsize::new(0));
    let wg = Arc::new(WaitGroup::new());
    wg.add(n as i32);
    for _ in 0..n {
        let (hits, wg) = (Arc::clone(&hits), Arc::clone(&wg));
        gort::go(move || {
            gort::yield_now();
            hits.fetch_add(1, Ordering::Relaxed);
            wg.done();
        });
    }
    wg.wait();
    hits.load(Ordering::Relaxed)
}

#[test]
fn set_maxprocs_at_run_time() {
    gort::run_with(cfg(2), || {
        assert_eq!(gort::gomaxprocs(), 2);
        assert_eq!(gort::set_maxprocs(1).unwrap(), 2);
        assert_eq!(gort::gomaxprocs(), 1);
        assert_eq!(work(2000), 2000);
        assert_eq!(gort::set_maxprocs(4).unwrap(), 1);
        assert_eq!(work(2000), 2000);
        assert_eq!(gort::set_maxprocs(2).unwrap(), 4);
        assert_eq!(work(2000), 2000);
    })
    .unwrap();
    assert!(
        gort::set_maxprocs(2).is_err(),
        "outside run there is no scheduler"
    );
}

static LOCAL: gort::GoroutineLocal<Cell<u64>> = gort::GoroutineLocal::new(|| Cell::new(0));

struct CountDrops(Arc<AtomicUsize>);
impl Drop for CountDrops {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

static DROPPER: gort::GoroutineLocal<Mutex<Option<CountDrops>>> =
    gort::GoroutineLocal::new(|| Mutex::new(None));

#[test]
fn goroutine_local_storage_is_per_goroutine() {
    let drops = Arc::new(AtomicUsize::new(0));
    let d2 = Arc::clone(&drops);
    gort::run_with(cfg(2), move || {
        let wg = Arc::new(WaitGroup::new());
        wg.add(50);
        for i in 0..50u64 {
            let (wg, d2) = (Arc::clone(&wg), Arc::clone(&d2));
            gort::go(move || {
                LOCAL.with(|c| c.set(i)).unwrap();
                DROPPER
                    .with(|d| *d.lock().unwrap() = Some(CountDrops(d2)))
                    .unwrap();
                gort::yield_now();
                assert_eq!(LOCAL.with(Cell::get), Some(i));
                wg.done();
            });
        }
        wg.wait();
        assert_eq!(LOCAL.with(Cell::get), Some(0), "main has its own value");
        while gort::num_goroutine() > 1 {
            gort::yield_now();
        }
    })
    .unwrap();
    assert_eq!(
        drops.load(Ordering::Relaxed),
        50,
        "values drop when their goroutine exits"
    );
    assert_eq!(LOCAL.with(Cell::get), None);
}

#[test]
fn lock_os_thread_keeps_the_thread() {
    gort::run_with(cfg(2), || {
        let done = Chan::<bool>::new(1);
        let (d, ping, pong) = (done.clone(), Chan::<u32>::new(0), Chan::<u32>::new(0));
        let (ping2, pong2) = (ping.clone(), pong.clone());
        gort::go(move || {
            assert!(gort::lock_os_thread());
            let me = std::thread::current().id();
            let mut same = true;
            for i in 0..200 {
                ping2.send(i);
                let _ = pong2.recv();
                gort::yield_now();
                same &= std::thread::current().id() == me;
            }
            gort::unlock_os_thread();
            d.send(same);
        });
        // Other goroutines keep running meanwhile.
        for _ in 0..200 {
            let v = ping.recv().unwrap();
            pong.send(v);
        }
        assert!(
            done.recv().unwrap(),
            "a locked goroutine moved to another thread"
        );
    })
    .unwrap();
}

#[test]
fn builder_stack_size_allows_deep_recursion() {
    fn depth(n: u64) -> u64 {
        let pad = [n; 32];
        if n == 0 {
            0
        } else {
            1 + depth(std::hint::black_box(pad)[0] - 1)
        }
    }
    let r = gort::run_with(cfg(1), || {
        let out = Chan::new(1);
        let o = out.clone();
        gort::Builder::new()
            .name("deep")
            .stack_size(8 << 20)
            .spawn(move || o.send(depth(20_000)))
            .unwrap();
        out.recv().unwrap()
    })
    .unwrap();
    assert_eq!(r, 20_000);
}

#[test]
fn nested_run_is_an_error() {
    let r = gort::run_with(cfg(1), || {
        matches!(gort::run_with(cfg(1), || ()), Err(gort::Error::NestedRun))
    })
    .unwrap();
    assert!(r);
}

#[test]
fn go_outside_run_is_an_error() {
    assert!(matches!(
        gort::Builder::new().spawn(|| ()),
        Err(gort::Error::NoRuntime)
    ));
}

#[test]
fn schedtrace_monitor_runs_and_stops() {
    // The line format is checked in a child process (sched_trace.rs); here a run with
    // the monitor on ends cleanly and promptly.
    let mut c = cfg(2);
    c.schedtrace_ms = 5;
    let t = std::time::Instant::now();
    gort::run_with(c, || {
        while t.elapsed() < std::time::Duration::from_millis(20) {
            gort::yield_now();
        }
    })
    .unwrap();
    assert!(t.elapsed() < std::time::Duration::from_secs(5));
}
