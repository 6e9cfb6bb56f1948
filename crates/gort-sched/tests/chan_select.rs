//! `select!` semantics, as Go specifies them: default, nil channels, closed channels,
//! send and receive cases, fair random choice, and selects racing each other. Parties
//! are plain OS threads.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::thread;

use gort_sched::{Chan, select};

#[test]
fn default_runs_when_nothing_is_ready() {
    let a: Chan<u32> = Chan::new(0);
    let b: Chan<u32> = Chan::new(1);
    b.send(1); // b is full: a send case on it is not ready either.
    let r = select! {
        recv(a) -> _v => "recv",
        send(b, 2) => "send",
        default => "default",
    };
    assert_eq!(r, "default");
    assert_eq!(b.recv(), Some(1), "the unsent value was not delivered");
    let only_default = select! { default => 7 };
    assert_eq!(only_default, 7);
}

#[test]
fn nil_channels_are_never_ready() {
    let nil_rx: Option<Chan<u32>> = None;
    let nil_tx: Option<&Chan<u32>> = None;
    let ready = Chan::new(1);
    ready.send(3u32);
    for _ in 0..50 {
        let r = select! {
            recv(nil_rx) -> _v => unreachable!("nil receive"),
            send(nil_tx, 1) => unreachable!("nil send"),
            default => 0,
        };
        assert_eq!(r, 0);
    }
    let r = select! {
        recv(nil_rx) -> _v => unreachable!("nil receive"),
        recv(ready) -> v => v,
    };
    assert_eq!(r, Some(3));
}

#[test]
fn closed_channel_is_always_ready_for_receive() {
    let closed: Chan<u32> = Chan::new(0);
    closed.close();
    let idle: Chan<u32> = Chan::new(0);
    for _ in 0..20 {
        let r = select! {
            recv(idle) -> _v => unreachable!(),
            recv(closed) -> v => v,
        };
        assert_eq!(r, None);
    }
}

#[test]
fn send_case_on_closed_channel_panics() {
    let closed: Chan<u32> = Chan::new(1);
    closed.close();
    let err = catch_unwind(AssertUnwindSafe(|| {
        select! {
            send(closed, 1) => (),
            default => (),
        }
    }))
    .expect_err("select send on a closed channel panics");
    assert_eq!(
        *err.downcast::<&'static str>().unwrap(),
        "send on closed channel"
    );
}

#[test]
fn blocked_send_case_panics_when_closed() {
    let ch: Chan<u32> = Chan::new(0);
    let other: Chan<u32> = Chan::new(0);
    let (c2, o2) = (ch.clone(), other.clone());
    let t = thread::spawn(move || {
        select! {
            send(c2, 1) => (),
            recv(o2) -> _v => (),
        }
    });
    ch.close();
    let err = t.join().expect_err("a send case woken by close panics");
    assert_eq!(
        *err.downcast::<&'static str>().unwrap(),
        "send on closed channel"
    );
    drop(other);
}

#[test]
fn blocking_select_is_woken_by_any_case() {
    for which in 0..3 {
        let (a, b) = (Chan::new(0), Chan::new(0));
        let out: Chan<&str> = Chan::new(0);
        let (a2, b2, o2) = (a.clone(), b.clone(), out.clone());
        let t = thread::spawn(move || {
            select! {
                recv(a2) -> v => format!("a{}", v.unwrap()),
                recv(b2) -> v => format!("b{}", v.unwrap()),
                send(o2, "x") => "out".to_string(),
            }
        });
        let want = match which {
            0 => {
                a.send(1u32);
                "a1"
            }
            1 => {
                b.send(2u32);
                "b2"
            }
            _ => {
                assert_eq!(out.recv(), Some("x"));
                "out"
            }
        };
        assert_eq!(t.join().unwrap(), want);
        // The losing cases left no waiter behind: the channels are idle again.
        assert!(a.try_send(0).is_err() && b.try_send(0).is_err() && out.try_recv().is_err());
    }
}

#[test]
fn select_chooses_fairly_among_ready_cases() {
    // Three always-ready cases, 30 000 selects: each should win about 10 000 times.
    // The binomial standard deviation is ~82, so the +-1500 band is over 18 sigma wide:
    // never flaky, yet a fixed or biased order fails it at once.
    let chans: Vec<Chan<u8>> = (0..3).map(|_| Chan::new(1)).collect();
    let (a, b, c) = (&chans[0], &chans[1], &chans[2]);
    let mut wins = [0u32; 3];
    for _ in 0..30_000 {
        for ch in [a, b, c] {
            let _ = ch.try_send(0);
        }
        let i = select! {
            recv(a) -> _v => 0,
            recv(b) -> _v => 1,
            recv(c) -> _v => 2,
        };
        wins[i] += 1;
    }
    for w in wins {
        assert!((8_500..=11_500).contains(&w), "unfair choice: {wins:?}");
    }
}

#[test]
fn same_channel_twice_in_one_select() {
    let ch = Chan::new(1);
    ch.send(1u32);
    // Both a receive and a send on the same channel: the receive is ready (full buffer),
    // the send is not.
    let r = select! {
        recv(ch) -> v => v,
        send(ch, 2) => None,
    };
    assert_eq!(r, Some(1));
}

#[test]
fn opposite_selects_exchange_values() {
    // Two parties select over the same two unbuffered channels, one sending and one
    // receiving, naming them in opposite orders: lock ordering by address keeps them
    // deadlock-free, and every round moves exactly one value.
    let (a, b) = (Chan::new(0), Chan::new(0));
    let (a2, b2) = (a.clone(), b.clone());
    let rounds = 2000u64;
    let t = thread::spawn(move || {
        let mut sent = 0;
        for i in 0..rounds {
            select! {
                send(a2, i) => sent += i,
                send(b2, i) => sent += i,
            }
        }
        sent
    });
    let mut got = 0;
    for _ in 0..rounds {
        got += select! {
            recv(b) -> v => v.unwrap(),
            recv(a) -> v => v.unwrap(),
        };
    }
    assert_eq!(t.join().unwrap(), got);
    assert_eq!(got, rounds * (rounds - 1) / 2);
}

#[test]
fn select_fan_in_from_many_senders() {
    let chans: Vec<Chan<u64>> = (0..4).map(|_| Chan::new(2)).collect();
    let senders: Vec<_> = chans
        .iter()
        .enumerate()
        .map(|(k, ch)| {
            let ch = ch.clone();
            thread::spawn(move || {
                for i in 0..2000 {
                    ch.send(k as u64 * 10_000 + i);
                }
                ch.close();
            })
        })
        .collect();
    let mut open: Vec<Option<Chan<u64>>> = chans.into_iter().map(Some).collect();
    let (mut sum, mut n) = (0u64, 0u64);
    while open.iter().any(Option::is_some) {
        let (k, v) = select! {
            recv(open[0]) -> v => (0, v),
            recv(open[1]) -> v => (1, v),
            recv(open[2]) -> v => (2, v),
            recv(open[3]) -> v => (3, v),
        };
        match v {
            Some(v) => {
                sum += v;
                n += 1;
            }
            // Go's idiom: a drained channel becomes nil and drops out of the select.
            None => open[k] = None,
        }
    }
    for s in senders {
        s.join().unwrap();
    }
    assert_eq!(n, 8000);
    let per: u64 = (0..2000).sum();
    assert_eq!(sum, 4 * per + 10_000 * 2000 * (1 + 2 + 3));
}

/// Go's `TestSelfSelect`: two parties select over a send and a receive on the same
/// channel; they never deadlock, and on an unbuffered channel nobody receives its own
/// value (a select's send waiter cannot complete its own receive waiter).
#[test]
fn self_select_send_and_recv_on_one_channel() {
    for cap in [0usize, 10] {
        let c: Chan<usize> = Chan::new(cap);
        let parties: Vec<_> = (0..2usize)
            .map(|p| {
                let c = c.clone();
                thread::spawn(move || {
                    for i in 0..1000 {
                        let got = if p == 0 || i % 2 == 0 {
                            select! {
                                send(c, p) => None,
                                recv(c) -> v => v,
                            }
                        } else {
                            select! {
                                recv(c) -> v => v,
                                send(c, p) => None,
                            }
                        };
                        if cap == 0 {
                            assert_ne!(got, Some(p), "self receive");
                        }
                    }
                })
            })
            .collect();
        for p in parties {
            p.join().unwrap();
        }
    }
}

/// Go's `TestNonblockRecvRace`: a non-blocking receive on a channel that holds a value
/// (while the owner closes and drains it) always finds it ready: the value or "closed",
/// never "empty".
#[test]
fn nonblocking_recv_never_misses_a_ready_channel() {
    for _ in 0..1000 {
        let c = Chan::new(1);
        c.send(1u32);
        let c2 = c.clone();
        let t = thread::spawn(move || {
            select! {
                recv(c2) -> _v => true,
                default => false,
            }
        });
        c.close();
        let _ = c.recv();
        assert!(t.join().unwrap(), "chan is not ready");
    }
}

/// Go's `TestSelectDuplicateChannel`: a select naming one channel twice (once to wait
/// on, once via another case) must not corrupt its queues.
#[test]
fn select_duplicate_channel() {
    let c: Chan<u32> = Chan::new(0);
    let d: Chan<u32> = Chan::new(0);
    let e: Chan<u32> = Chan::new(0);
    let (c1, d1) = (c.clone(), d.clone());
    let first = thread::spawn(move || {
        select! {
            recv(c1) -> _v => (),
            recv(c1) -> _v => (),
            recv(d1) -> _v => (),
        }
    });
    let (c2, e2) = (c.clone(), e.clone());
    let second = thread::spawn(move || {
        // Wait until the first select is (probably) parked, then receive on c too.
        let _ = e2.recv();
        c2.recv()
    });
    d.send(7); // Wakes `first`, which unlinks both of its waiters from c.
    first.join().unwrap();
    e.send(0);
    c.send(8); // Must reach `second`, not a stale waiter of `first`.
    assert_eq!(second.join().unwrap(), Some(8));
}
