//! Channels, `select!` and `gosync` between goroutines (parked through the scheduler),
//! at GOMAXPROCS 1 and 2.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::sync::Arc;

use gort_sched::gosync::{Cond, Mutex, WaitGroup};
use gort_sched::{Chan, Config, run_with, select, spawn};

/// Runs `f` as the main goroutine of a scheduler with `procs` Ps.
fn run<R: Send>(procs: usize, f: impl FnOnce() -> R + Send) -> R {
    let mut config = Config::default();
    config.maxprocs = procs;
    run_with(config, f).unwrap()
}

#[test]
fn pingpong_between_goroutines() {
    for procs in [1, 2] {
        let v = run(procs, || {
            let (ping, pong) = (Chan::new(0), Chan::new(0));
            let (p2, q2) = (ping.clone(), pong.clone());
            spawn(move || {
                while let Some(v) = p2.recv() {
                    q2.send(v + 1);
                }
            })
            .unwrap();
            let mut v = 0u64;
            for _ in 0..10_000 {
                ping.send(v);
                v = pong.recv().unwrap();
            }
            ping.close();
            v
        });
        assert_eq!(v, 10_000, "GOMAXPROCS={procs}");
    }
}

#[test]
fn many_goroutines_many_values_checked_sum() {
    for (procs, cap) in [(1, 0), (2, 0), (2, 8)] {
        let (sum, n) = run(procs, move || {
            let ch = Chan::new(cap);
            let results = Chan::new(0);
            let senders = WaitGroup::new();
            let senders = Arc::new(senders);
            senders.add(50);
            for s in 0..50u64 {
                let (ch, senders) = (ch.clone(), Arc::clone(&senders));
                spawn(move || {
                    for i in 0..200 {
                        ch.send(s * 200 + i);
                    }
                    senders.done();
                })
                .unwrap();
            }
            for _ in 0..8 {
                let (ch, results) = (ch.clone(), results.clone());
                spawn(move || {
                    let (mut sum, mut n) = (0u64, 0u64);
                    for v in &ch {
                        sum += v;
                        n += 1;
                    }
                    results.send((sum, n));
                })
                .unwrap();
            }
            senders.wait();
            ch.close();
            (0..8)
                .map(|_| results.recv().unwrap())
                .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
        });
        assert_eq!(n, 10_000, "GOMAXPROCS={procs} cap={cap}");
        assert_eq!(sum, 10_000 * 9_999 / 2, "GOMAXPROCS={procs} cap={cap}");
    }
}

#[test]
fn select_fan_in_and_quit_between_goroutines() {
    for procs in [1, 2] {
        let total = run(procs, || {
            let (a, b, quit) = (Chan::<u64>::new(0), Chan::<u64>::new(0), Chan::<()>::new(0));
            let out = Chan::new(0);
            {
                let (a, b, quit, out) = (a.clone(), b.clone(), quit.clone(), out.clone());
                spawn(move || {
                    let mut total = 0u64;
                    loop {
                        select! {
                            recv(a) -> v => total += v.unwrap(),
                            recv(b) -> v => total += 10 * v.unwrap(),
                            recv(quit) -> _v => break,
                        }
                    }
                    out.send(total);
                })
                .unwrap();
            }
            for i in 0..1000u64 {
                if i % 2 == 0 { a.send(1) } else { b.send(1) }
            }
            quit.close();
            out.recv().unwrap()
        });
        assert_eq!(total, 500 + 5000, "GOMAXPROCS={procs}");
    }
}

#[test]
fn mutex_and_cond_between_goroutines() {
    for procs in [1, 2] {
        let count = run(procs, || {
            let state = Arc::new((Mutex::new(0u64), Cond::new()));
            for _ in 0..20 {
                let state = Arc::clone(&state);
                spawn(move || {
                    for _ in 0..500 {
                        *state.0.lock() += 1;
                        gort_sched::yield_now();
                    }
                    state.1.broadcast();
                })
                .unwrap();
            }
            let g = state.1.wait_while(state.0.lock(), |n| *n < 10_000);
            *g
        });
        assert_eq!(count, 10_000, "GOMAXPROCS={procs}");
    }
}

#[test]
fn rwlock_once_and_semaphore_between_goroutines() {
    use gort_sched::gosync::{Once, RwLock, Semaphore};
    for procs in [1, 2] {
        let (sum, inits) = run(procs, || {
            let table = Arc::new(RwLock::new(vec![0u64; 8]));
            let once = Arc::new(Once::new());
            let inits = Arc::new(Mutex::new(0u32));
            let permits = Arc::new(Semaphore::new(3));
            let wg = Arc::new(WaitGroup::new());
            wg.add(40);
            for k in 0..40u64 {
                let (table, once, inits, permits, wg) = (
                    Arc::clone(&table),
                    Arc::clone(&once),
                    Arc::clone(&inits),
                    Arc::clone(&permits),
                    Arc::clone(&wg),
                );
                spawn(move || {
                    once.call_once(|| *inits.lock() += 1);
                    for i in 0..100u64 {
                        permits.acquire();
                        if i % 4 == 0 {
                            table.write()[(k % 8) as usize] += 1;
                        } else {
                            let t = table.read();
                            assert!(t.iter().all(|&v| v <= 1000));
                        }
                        permits.release();
                        gort_sched::yield_now();
                    }
                    wg.done();
                })
                .unwrap();
            }
            wg.wait();
            let sum: u64 = table.read().iter().sum();
            let n = *inits.lock();
            (sum, n)
        });
        assert_eq!(sum, 40 * 25, "GOMAXPROCS={procs}");
        assert_eq!(inits, 1);
    }
}

/// Go's `TestMutexFairness` on goroutines (GOMAXPROCS=2): a goroutine that holds the
/// mutex almost all the time cannot keep another from getting it 10 times, thanks to
/// starvation mode's direct hand-off.
#[test]
fn mutex_fairness_between_goroutines() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};
    let took = run(2, || {
        let mu = Arc::new(Mutex::new(()));
        let stop = Arc::new(AtomicBool::new(false));
        let done = Chan::new(1);
        {
            let (mu, stop) = (Arc::clone(&mu), Arc::clone(&stop));
            spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let g = mu.lock();
                    let t = Instant::now();
                    while t.elapsed() < Duration::from_micros(100) {
                        std::hint::spin_loop();
                    }
                    drop(g);
                }
            })
            .unwrap();
        }
        let start = Instant::now();
        {
            let (mu, done) = (Arc::clone(&mu), done.clone());
            spawn(move || {
                for _ in 0..10 {
                    drop(mu.lock());
                    gort_sched::yield_now();
                }
                done.send(());
            })
            .unwrap();
        }
        done.recv();
        let took = start.elapsed();
        stop.store(true, Ordering::Relaxed);
        took
    });
    assert!(
        took < Duration::from_secs(10),
        "can't acquire Mutex in 10 seconds: {took:?}"
    );
}
