//! Regression: a waker outside the scheduler (a plain thread, or another scheduler's
//! goroutine) readies the main goroutine, which may then return and end the scheduler
//! while the waker is still inside `ready`/`wakep`. `run_with` must wait for such wakers
//! before freeing the scheduler (a debug check in the scheduler's drop throws if one is
//! still inside). A stress loop: each round the main goroutine receives from an outside
//! sender and returns at once. Main waits in a `select!` with a long `after`: the
//! deadlock check does not count plain threads as wakers (as Go does not count non-Go
//! threads), and a pending timer is what keeps it from reporting a deadlock.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::time::Duration;

use gort_sched::time::after;
use gort_sched::{Chan, Config, run_with, select};

/// Receives from `c`, with a pending timer so that the scheduler is not deadlocked.
fn recv_from_outside(c: &Chan<u32>) -> Option<u32> {
    let timeout = after(Duration::from_secs(60));
    select! {
        recv(c) -> v => v,
        recv(timeout) -> _t => None,
    }
}

/// Sends `v` on `c` from a goroutine, with a pending timer for the same reason.
fn send_to_outside(c: &Chan<u32>, v: u32) {
    let timeout = after(Duration::from_secs(60));
    select! {
        send(c, v) => {},
        recv(timeout) -> _t => panic!("nobody received"),
    }
}

fn config(procs: usize) -> Config {
    let mut config = Config::default();
    config.maxprocs = procs;
    config
}

#[test]
fn plain_thread_wakes_main_which_returns_at_once() {
    for i in 0..2000 {
        let c: Chan<u32> = Chan::new(0);
        let tx = c.clone();
        let sender = std::thread::spawn(move || tx.send(7));
        let got = run_with(config(1 + i % 2), move || recv_from_outside(&c)).unwrap();
        assert_eq!(got, Some(7));
        sender.join().unwrap();
    }
}

#[test]
fn other_schedulers_goroutine_wakes_main_which_returns_at_once() {
    for _ in 0..300 {
        let c: Chan<u32> = Chan::new(0);
        let tx = c.clone();
        let other = std::thread::spawn(move || {
            run_with(config(1), move || send_to_outside(&tx, 9)).unwrap()
        });
        let got = run_with(config(2), move || recv_from_outside(&c)).unwrap();
        assert_eq!(got, Some(9));
        other.join().unwrap();
    }
}

#[test]
fn waiting_inside_syscall_for_a_plain_thread_is_not_a_deadlock() {
    for _ in 0..50 {
        let c: Chan<u32> = Chan::new(0);
        let tx = c.clone();
        let sender = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(1));
            tx.send(5);
        });
        let got = run_with(config(1), move || gort_sched::syscall(|| c.recv())).unwrap();
        assert_eq!(got, Some(5));
        sender.join().unwrap();
    }
}
