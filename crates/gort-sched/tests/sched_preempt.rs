//! Asynchronous preemption (SIGURG) and stop-the-world, each scenario in a child process
//! (this test binary re-run with `GORT_TEST_CHILD` set) so that a starved or hung
//! scheduler is detected by a timeout in the parent rather than hanging the suite.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::cell::Cell;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use gort_sched::chan::Chan;
use gort_sched::{Config, GoroutineStatus};

/// How a child ended.
#[derive(Debug)]
enum Outcome {
    /// Exited with this code; stdout.
    Exited(Option<i32>, String),
    /// Still running after the timeout (killed).
    TimedOut,
}

/// Runs scenario `name` in a child process with `env`, killing it after `timeout`.
fn child(name: &str, env: &[(&str, &str)], timeout: Duration) -> Outcome {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new(exe);
    cmd.args(["child_entry", "--exact", "--nocapture", "--test-threads=1"])
        .env("GORT_TEST_CHILD", name)
        .env_remove("GORT_DEBUG")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut c = cmd.spawn().unwrap();
    let start = Instant::now();
    loop {
        if let Some(st) = c.try_wait().unwrap() {
            let out = c.wait_with_output().unwrap();
            return Outcome::Exited(st.code(), String::from_utf8_lossy(&out.stdout).into());
        }
        if start.elapsed() > timeout {
            let _ = c.kill();
            let _ = c.wait();
            return Outcome::TimedOut;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Expects scenario `name` to exit 0 within a generous timeout and print `ok`.
fn expect_ok(name: &str, env: &[(&str, &str)]) -> String {
    match child(name, env, Duration::from_secs(30)) {
        Outcome::Exited(Some(0), out) if out.contains("ok") => out,
        o => panic!("scenario {name}: {o:?}"),
    }
}

/// A scheduler configured from `GORT_DEBUG` with `procs` Ps.
fn config(procs: usize) -> Config {
    let mut c = Config::from_env().unwrap();
    c.maxprocs = procs;
    c
}

/// Spins without calls until `stop`, counting in `n`.
fn spin(stop: &AtomicBool, n: &AtomicU64) {
    while !stop.load(Ordering::Relaxed) {
        n.fetch_add(1, Ordering::Relaxed);
    }
}

std::thread_local! {
    static MARK: Cell<u64> = const { Cell::new(0) };
}

/// The child side: does nothing unless `GORT_TEST_CHILD` names a scenario.
#[test]
fn child_entry() {
    let Ok(which) = std::env::var("GORT_TEST_CHILD") else {
        return;
    };
    match which.as_str() {
        // One P: a goroutine spinning without calls must not starve one that ticks.
        "starve" => {
            gort_sched::run_with(config(1), || {
                let stop = Arc::new(AtomicBool::new(false));
                let n = Arc::new(AtomicU64::new(0));
                let (s2, n2) = (Arc::clone(&stop), Arc::clone(&n));
                gort_sched::spawn(move || spin(&s2, &n2)).unwrap();
                gort_sched::yield_now(); // let the spinner take the P
                for _ in 0..20 {
                    gort_sched::time::sleep(Duration::from_millis(2));
                }
                stop.store(true, Ordering::Relaxed);
                assert!(n.load(Ordering::Relaxed) > 0);
            })
            .unwrap();
            println!("ok");
        }
        // A preempted goroutine resumes on its own thread with errno and thread-locals
        // intact, while another goroutine runs meanwhile.
        "same_thread" => {
            let before = gort_sched::async_preemptions();
            gort_sched::run_with(config(1), || {
                let stop = Arc::new(AtomicBool::new(false));
                let n = Arc::new(AtomicU64::new(0));
                let done = Chan::<(i32, i32, i32, i32, u64)>::new(1);
                let (s2, n2, d2) = (Arc::clone(&stop), Arc::clone(&n), done.clone());
                gort_sched::spawn(move || {
                    // SAFETY: gettid has no preconditions; errno is this thread's.
                    let tid = unsafe { libc::gettid() };
                    // SAFETY: this thread's errno.
                    unsafe { *libc::__errno_location() = 4321 };
                    MARK.with(|m| m.set(0xfeed));
                    // Each M has an alternate signal stack big enough for the handler to
                    // sleep on while another signal (a collector's) nests on it.
                    // SAFETY: a query into a zeroed local.
                    let mut ss: libc::stack_t = unsafe { core::mem::zeroed() };
                    // SAFETY: as above.
                    assert_eq!(unsafe { libc::sigaltstack(std::ptr::null(), &mut ss) }, 0);
                    assert!(ss.ss_flags & libc::SS_DISABLE == 0 && ss.ss_size >= 64 * 1024);
                    spin(&s2, &n2);
                    // SAFETY: as above.
                    let tid2 = unsafe { libc::gettid() };
                    // SAFETY: this thread's errno.
                    let errno = unsafe { *libc::__errno_location() };
                    d2.send((tid, tid2, errno, 4321, MARK.with(Cell::get)));
                })
                .unwrap();
                gort_sched::yield_now();
                let mut ticker_tids = Vec::new();
                for _ in 0..30 {
                    gort_sched::time::sleep(Duration::from_millis(2));
                    // SAFETY: as above.
                    ticker_tids.push(unsafe { libc::gettid() });
                }
                stop.store(true, Ordering::Relaxed);
                let (tid, tid2, errno, want, mark) = done.recv().unwrap();
                assert_eq!(tid, tid2, "resumed on another thread");
                assert_eq!(errno, want, "errno changed across preemption");
                assert_eq!(mark, 0xfeed, "thread-local changed across preemption");
                // The ticker ran meanwhile, never on the spinner's thread while it spun.
                assert!(ticker_tids.iter().all(|&t| t != tid));
            })
            .unwrap();
            let after = gort_sched::async_preemptions();
            assert!(after > before, "no asynchronous preemption happened");
            println!("ok preemptions={}", after - before);
        }
        // Stop the world while goroutines spin, sleep, block on channels and sit in a
        // syscall; nothing on a P moves while it is stopped; it all resumes after.
        "stw" => {
            gort_sched::run_with(config(2), stw_scenario).unwrap();
            println!("ok");
        }
        // The same from a plain thread, repeatedly, while goroutines come and go.
        "stw_thread" => {
            gort_sched::run_with(config(2), stw_from_thread).unwrap();
            println!("ok");
        }
        // One P: a goroutine holding a std Mutex is preempted while spinning; main then
        // blocks on that mutex in the kernel. Main must be preempted in turn so the holder
        // gets the P back and unlocks (else both wait forever).
        "std_mutex" => {
            gort_sched::run_with(config(1), || {
                let m = Arc::new(std::sync::Mutex::new(0u64));
                let held = Arc::new(AtomicBool::new(false));
                let (m2, h2) = (Arc::clone(&m), Arc::clone(&held));
                gort_sched::spawn(move || {
                    let mut g = m2.lock().unwrap();
                    h2.store(true, Ordering::SeqCst);
                    // About 0.1-0.5 s of calls-free spinning (no clock reads: the vDSO is
                    // not a safe point).
                    for _ in 0..300_000_000u64 {
                        *g = std::hint::black_box(*g + 1);
                    }
                })
                .unwrap();
                while !held.load(Ordering::SeqCst) {
                    gort_sched::yield_now();
                }
                assert!(*m.lock().unwrap() > 0);
            })
            .unwrap();
            println!("ok");
        }
        // From a plain thread while every goroutine is parked or asleep (every M goes
        // idle: not a deadlock).
        "stw_all_parked" => {
            gort_sched::run_with(config(2), || {
                let never = Chan::<()>::new(0);
                for _ in 0..10 {
                    let c = never.clone();
                    gort_sched::spawn(move || {
                        let _ = c.recv();
                    })
                    .unwrap();
                }
                let t = std::thread::spawn(|| {
                    for _ in 0..20 {
                        let w = gort_sched::stop_the_world("idle").unwrap();
                        let mut n = 0;
                        w.for_each_g(|g| {
                            n += 1;
                            // Waiting (parked or asleep), not started yet, or main stopped
                            // in place by the stop's own signal between two sleeps.
                            assert!(
                                matches!(
                                    g.status,
                                    GoroutineStatus::Waiting
                                        | GoroutineStatus::Runnable
                                        | GoroutineStatus::Preempted
                                ),
                                "goroutine {} is {:?}",
                                g.goid,
                                g.status
                            );
                        });
                        assert_eq!(n, 11);
                        drop(w);
                        std::thread::sleep(Duration::from_millis(2));
                    }
                });
                while !t.is_finished() {
                    gort_sched::time::sleep(Duration::from_millis(20));
                }
                t.join().unwrap();
                never.close();
            })
            .unwrap();
            println!("ok");
        }
        other => panic!("unknown scenario {other}"),
    }
}

/// Counters of the workers in `stw_scenario`.
#[derive(Default)]
struct Counters {
    spin: [AtomicU64; 2],
    sleep: AtomicU64,
    chan: AtomicU64,
    syscall: AtomicU64,
}

impl Counters {
    fn on_p(&self) -> [u64; 4] {
        [
            self.spin[0].load(Ordering::SeqCst),
            self.spin[1].load(Ordering::SeqCst),
            self.sleep.load(Ordering::SeqCst),
            self.chan.load(Ordering::SeqCst),
        ]
    }
}

fn start_workers(stop: &Arc<AtomicBool>, c: &Arc<Counters>) {
    for i in 0..2 {
        let (s, c) = (Arc::clone(stop), Arc::clone(c));
        gort_sched::spawn(move || spin(&s, &c.spin[i])).unwrap();
    }
    let (s, c2) = (Arc::clone(stop), Arc::clone(c));
    gort_sched::spawn(move || {
        while !s.load(Ordering::Relaxed) {
            gort_sched::time::sleep(Duration::from_millis(1));
            c2.sleep.fetch_add(1, Ordering::SeqCst);
        }
    })
    .unwrap();
    let (ping, pong) = (Chan::<u64>::new(0), Chan::<u64>::new(0));
    let (s, c2, p2, q2) = (Arc::clone(stop), Arc::clone(c), ping.clone(), pong.clone());
    gort_sched::spawn(move || {
        while !s.load(Ordering::Relaxed) {
            p2.send(1);
            q2.recv().unwrap();
            c2.chan.fetch_add(1, Ordering::SeqCst);
        }
        p2.close();
    })
    .unwrap();
    gort_sched::spawn(move || {
        while ping.recv().is_some() {
            pong.send(1);
        }
    })
    .unwrap();
    let (s, c2) = (Arc::clone(stop), Arc::clone(c));
    gort_sched::spawn(move || {
        gort_sched::syscall(|| {
            while !s.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_micros(200));
                c2.syscall.fetch_add(1, Ordering::SeqCst);
            }
        });
    })
    .unwrap();
}

fn stw_scenario() {
    let stop = Arc::new(AtomicBool::new(false));
    let c = Arc::new(Counters::default());
    start_workers(&stop, &c);
    // Until every worker has run (the spinners take turns through preemption).
    while c.syscall.load(Ordering::SeqCst) == 0 || c.on_p().contains(&0) {
        gort_sched::time::sleep(Duration::from_millis(5));
    }
    for _ in 0..5 {
        let w = gort_sched::stop_the_world("test").unwrap();
        assert!(matches!(
            gort_sched::stop_the_world("nested"),
            Err(gort_sched::Error::NestedStopTheWorld)
        ));
        let a = c.on_p();
        let sys_a = c.syscall.load(Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(20));
        let b = c.on_p();
        let sys_b = c.syscall.load(Ordering::SeqCst);
        assert_eq!(a, b, "a goroutine ran while the world was stopped");
        assert!(sys_b > sys_a, "the syscall goroutine was stopped");
        let mut seen = 0;
        let (mut current, mut syscalls) = (0, 0);
        w.for_each_g(|g| {
            seen += 1;
            current += usize::from(g.is_current);
            syscalls += usize::from(g.in_syscall);
            assert_eq!(g.in_syscall, g.status == GoroutineStatus::Syscall);
            let mut segs = Vec::new();
            g.stack_segments(|lo, hi| segs.push((lo, hi)));
            let mut ranges = 0;
            g.for_each_stack_range(|lo, hi| {
                ranges += 1;
                assert!(lo < hi, "empty range for goroutine {}", g.goid);
                let on_stack = segs.iter().any(|&(s, e)| s <= lo && hi <= e);
                // A preempted goroutine's registers live on its thread's signal stack.
                assert!(on_stack || g.preempted_in_place, "range off the stack");
            });
            if g.status == GoroutineStatus::Waiting {
                assert!(g.wait_reason.is_some());
                assert!(ranges >= 1);
            }
            if g.preempted_in_place {
                assert_eq!(ranges, 2);
            }
            if g.in_syscall {
                // Its saved SP up (the thread may have switched to g0 leaving the call).
                assert_eq!(ranges, 1);
            }
        });
        assert_eq!(current, 1);
        assert_eq!(syscalls, 1);
        assert!(seen >= 7, "saw {seen} goroutines");
        // With every allg lock held (as the GC does before stopping threads), the same
        // goroutines, and no self-deadlock.
        let mut w = w;
        w.lock_allg();
        let mut again = 0;
        w.for_each_g(|_| again += 1);
        assert_eq!(again, seen);
        drop(w);
        // Every worker runs again (a hang here is caught by the parent's timeout).
        let a = c.on_p();
        loop {
            gort_sched::time::sleep(Duration::from_millis(5));
            let b = c.on_p();
            if (0..4).all(|k| b[k] > a[k]) {
                break;
            }
        }
    }
    let mut ids = Vec::new();
    gort_sched::for_each_p(|i| ids.push(i)).unwrap();
    ids.sort_unstable();
    assert_eq!(ids, vec![0, 1]);
    stop.store(true, Ordering::Relaxed);
}

fn stw_from_thread() {
    let stop = Arc::new(AtomicBool::new(false));
    let c = Arc::new(Counters::default());
    start_workers(&stop, &c);
    while c.syscall.load(Ordering::SeqCst) == 0 || c.on_p().contains(&0) {
        gort_sched::time::sleep(Duration::from_millis(5));
    }
    // Churn: goroutines spawning and exiting.
    let s = Arc::clone(&stop);
    gort_sched::spawn(move || {
        while !s.load(Ordering::Relaxed) {
            let done = Chan::<()>::new(0);
            let d2 = done.clone();
            gort_sched::spawn(move || d2.send(())).unwrap();
            done.recv().unwrap();
        }
    })
    .unwrap();
    let c2 = Arc::clone(&c);
    let t = std::thread::spawn(move || {
        for _ in 0..50 {
            let w = gort_sched::stop_the_world("thread").unwrap();
            let a = c2.on_p();
            std::thread::sleep(Duration::from_millis(1));
            let mut n = 0;
            w.for_each_g(|g| {
                assert!(!g.is_current);
                n += 1;
            });
            assert!(n >= 7);
            assert_eq!(a, c2.on_p(), "a goroutine ran while the world was stopped");
            drop(w);
            std::thread::sleep(Duration::from_millis(2));
        }
    });
    gort_sched::syscall(|| t.join()).unwrap();
    stop.store(true, Ordering::Relaxed);
}

#[test]
fn spinning_goroutine_does_not_starve_a_ticker() {
    expect_ok("starve", &[]);
}

#[test]
fn asyncpreemptoff_starves_the_ticker() {
    // Starvation shows as the child never finishing; 3 s is about 150 times what the
    // scenario takes with preemption on.
    match child(
        "starve",
        &[("GORT_DEBUG", "asyncpreemptoff=1")],
        Duration::from_secs(3),
    ) {
        Outcome::TimedOut => {}
        o => panic!("expected starvation, got {o:?}"),
    }
}

#[test]
fn preempted_goroutine_resumes_on_its_thread() {
    expect_ok("same_thread", &[]);
}

#[test]
fn blocked_on_a_std_mutex_held_by_a_preempted_goroutine() {
    expect_ok("std_mutex", &[]);
}

#[test]
fn stop_the_world_with_every_goroutine_parked() {
    expect_ok("stw_all_parked", &[]);
}

#[test]
fn stop_the_world_stops_every_p() {
    expect_ok("stw", &[]);
}

#[test]
fn stop_the_world_from_a_plain_thread() {
    expect_ok("stw_thread", &[]);
}
