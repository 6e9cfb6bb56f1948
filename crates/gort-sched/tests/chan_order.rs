//! Buffered FIFO order, unbuffered rendezvous, and many senders and receivers with
//! checked sums, on plain OS threads.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::thread;

use gort_sched::Chan;
use gort_sched::chan::{TryRecvError, TrySendError};

#[test]
fn buffered_channel_is_fifo_and_bounded() {
    let ch = Chan::new(3);
    for i in 0..3 {
        assert_eq!(ch.try_send(i), Ok(()));
    }
    assert_eq!(ch.try_send(9), Err(TrySendError::Full(9)));
    assert_eq!(ch.len(), 3);
    for i in 0..3 {
        assert_eq!(ch.try_recv(), Ok(i));
    }
    assert_eq!(ch.try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn fifo_order_survives_blocking_senders() {
    // One producer through a small buffer: the consumer sees exactly the send order,
    // including values that waited in a blocked sender (Go's recv from a full buffer
    // takes the head and appends the sender's value).
    for cap in [0, 1, 2, 7] {
        let ch = Chan::new(cap);
        let tx = ch.clone();
        let t = thread::spawn(move || {
            for i in 0..5000u32 {
                tx.send(i);
            }
            tx.close();
        });
        let mut next = 0;
        for v in &ch {
            assert_eq!(v, next, "cap {cap}");
            next += 1;
        }
        assert_eq!(next, 5000);
        t.join().unwrap();
    }
}

#[test]
fn unbuffered_try_send_needs_a_waiting_receiver() {
    let ch = Chan::new(0);
    assert_eq!(ch.try_send(1), Err(TrySendError::Full(1)));
    let rx = ch.clone();
    let t = thread::spawn(move || rx.recv());
    // Succeeds once the receiver is parked on the channel.
    let mut v = 2;
    loop {
        match ch.try_send(v) {
            Ok(()) => break,
            Err(TrySendError::Full(back)) => v = back,
            Err(e) => panic!("{e:?}"),
        }
        thread::yield_now();
    }
    assert_eq!(t.join().unwrap(), Some(2));
}

#[test]
fn unbuffered_try_recv_needs_a_waiting_sender() {
    let ch = Chan::new(0);
    assert_eq!(ch.try_recv(), Err(TryRecvError::Empty));
    let tx = ch.clone();
    let t = thread::spawn(move || tx.send(5u8));
    let got = loop {
        if let Ok(v) = ch.try_recv() {
            break v;
        }
        thread::yield_now();
    };
    assert_eq!(got, 5);
    t.join().unwrap();
}

/// `senders` threads each send `per` distinct values; `receivers` threads sum what they
/// get. Every value arrives exactly once.
fn many_to_many(cap: usize, senders: u64, receivers: usize, per: u64) {
    let ch = Chan::new(cap);
    let done = Chan::new(0);
    let txs: Vec<_> = (0..senders)
        .map(|s| {
            let ch = ch.clone();
            thread::spawn(move || {
                for i in 0..per {
                    ch.send(s * per + i);
                }
            })
        })
        .collect();
    let rxs: Vec<_> = (0..receivers)
        .map(|_| {
            let (ch, done) = (ch.clone(), done.clone());
            thread::spawn(move || {
                let (mut sum, mut n) = (0u64, 0u64);
                while let Some(v) = ch.recv() {
                    sum += v;
                    n += 1;
                }
                done.send(());
                (sum, n)
            })
        })
        .collect();
    for t in txs {
        t.join().unwrap();
    }
    ch.close();
    for _ in 0..receivers {
        done.recv().unwrap();
    }
    let (sum, n) = rxs
        .into_iter()
        .map(|t| t.join().unwrap())
        .fold((0, 0), |(s, n), (s2, n2)| (s + s2, n + n2));
    let total = senders * per;
    assert_eq!(n, total, "cap {cap}");
    assert_eq!(sum, total * (total - 1) / 2, "cap {cap}");
}

#[test]
fn many_senders_many_receivers_unbuffered() {
    many_to_many(0, 4, 4, 5000);
}

#[test]
fn many_senders_many_receivers_buffered() {
    many_to_many(1, 4, 3, 5000);
    many_to_many(64, 3, 4, 5000);
}

#[test]
fn ping_pong_round_trips() {
    let (ping, pong) = (Chan::new(0), Chan::new(0));
    let (p2, q2) = (ping.clone(), pong.clone());
    let t = thread::spawn(move || {
        while let Some(v) = p2.recv() {
            q2.send(v + 1);
        }
    });
    let mut v = 0u32;
    for _ in 0..2000 {
        ping.send(v);
        v = pong.recv().unwrap();
    }
    ping.close();
    t.join().unwrap();
    assert_eq!(v, 2000);
}

#[test]
fn channel_of_channels() {
    // Go's request/response idiom: a reply channel travels in the request.
    let requests: Chan<(u32, Chan<u32>)> = Chan::new(0);
    let rq = requests.clone();
    let server = thread::spawn(move || {
        for (x, reply) in &rq {
            reply.send(x * x);
        }
    });
    for x in 0..100 {
        let reply = Chan::new(1);
        requests.send((x, reply.clone()));
        assert_eq!(reply.recv(), Some(x * x));
    }
    requests.close();
    server.join().unwrap();
}

#[test]
fn handles_compare_by_identity() {
    let a: Chan<()> = Chan::new(0);
    let b = a.clone();
    let c: Chan<()> = Chan::new(0);
    assert_eq!(a, b);
    assert_ne!(a, c);
}
