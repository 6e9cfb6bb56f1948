//! Loom models of channels and `select!`: send/recv/close races, select against close,
//! lock ordering between opposite selects, and no lost wakeups.

use crate::chan::{Chan, TryRecvError, TrySendError};
use crate::select;
use crate::sync::thread;

/// An unbuffered send meets a blocking receive: the value arrives, both return.
#[test]
fn loom_chan_unbuffered_handoff() {
    loom::model(|| {
        let ch = Chan::new(0);
        let tx = ch.clone();
        let t = thread::spawn(move || tx.send(7u32));
        assert_eq!(ch.recv(), Some(7));
        t.join().unwrap();
    });
}

/// Close races a blocked or arriving receiver: it drains the buffered value first, then
/// sees closed, and is never left parked.
#[test]
fn loom_chan_close_drains_then_reports_closed() {
    loom::model(|| {
        let ch = Chan::new(1);
        let tx = ch.clone();
        let t = thread::spawn(move || {
            tx.send(1u32);
            tx.close();
        });
        assert_eq!(ch.recv(), Some(1));
        assert_eq!(ch.recv(), None);
        t.join().unwrap();
    });
}

/// A sender blocked on an unbuffered channel is released by close with its value back;
/// a receiver racing the close either takes the value or sees closed, never both.
#[test]
fn loom_chan_close_vs_blocked_sender_and_receiver() {
    loom::model(|| {
        let ch = Chan::new(0);
        let tx = ch.clone();
        let closer = ch.clone();
        let sender = thread::spawn(move || tx.send_checked(5u32).is_ok());
        let c = thread::spawn(move || closer.close());
        let got = ch.try_recv().ok();
        c.join().unwrap();
        let sent = sender.join().unwrap();
        // The value was delivered exactly when the send reported success.
        assert_eq!(got.is_some(), sent);
        assert!(matches!(ch.try_send(1), Err(TrySendError::Closed(1))));
    });
}

/// A blocked `select` over two channels races a send on one and a close of the other:
/// exactly one case wins, and the loser's waiter is gone (the value stays receivable).
#[test]
fn loom_chan_select_vs_close() {
    loom::model(|| {
        let a = Chan::new(1);
        let b: Chan<u32> = Chan::new(0);
        let (ta, tb) = (a.clone(), b.clone());
        let s = thread::spawn(move || ta.send(1u32));
        let c = thread::spawn(move || tb.close());
        let from_a = select! {
            recv(a) -> v => v,
            recv(b) -> v => { assert_eq!(v, None); None },
        };
        s.join().unwrap();
        c.join().unwrap();
        match from_a {
            Some(v) => assert_eq!(v, 1),
            None => assert_eq!(a.try_recv(), Ok(1)),
        }
    });
}

/// Two selects name the same two unbuffered channels in opposite orders (one sends, one
/// receives): Go's lock ordering by address keeps them from deadlocking, and exactly one
/// value crosses.
#[test]
fn loom_chan_opposite_selects_match_once() {
    loom::model(|| {
        let a = Chan::new(0);
        let b = Chan::new(0);
        let (a2, b2) = (a.clone(), b.clone());
        let t = thread::spawn(move || {
            select! {
                send(a2, 1u32) => 1u32,
                send(b2, 2u32) => 2u32,
            }
        });
        let got = select! {
            recv(b) -> v => v,
            recv(a) -> v => v,
        };
        let sent = t.join().unwrap();
        assert_eq!(got, Some(sent));
    });
}

/// Two senders and one receiver on a one-slot buffer: every value is received once, and
/// no party is left parked (no lost wakeup when a sender blocks on a full buffer).
#[test]
fn loom_chan_two_senders_no_lost_wakeup() {
    loom::model(|| {
        let ch = Chan::new(1);
        let senders: Vec<_> = [1u32, 2]
            .into_iter()
            .map(|v| {
                let tx = ch.clone();
                thread::spawn(move || tx.send(v))
            })
            .collect();
        let x = ch.recv().unwrap();
        let y = ch.recv().unwrap();
        assert_eq!(x + y, 3);
        for s in senders {
            s.join().unwrap();
        }
    });
}

/// Close releases every blocked receiver, not just one.
#[test]
fn loom_chan_close_wakes_every_receiver() {
    loom::model(|| {
        let ch: Chan<u32> = Chan::new(0);
        let rxs: Vec<_> = (0..2)
            .map(|_| {
                let rx = ch.clone();
                thread::spawn(move || rx.recv())
            })
            .collect();
        ch.close();
        for r in rxs {
            assert_eq!(r.join().unwrap(), None);
        }
    });
}

/// A select's send case races a receiver while another case's channel is closed: the
/// value is delivered exactly when the send case is reported chosen.
#[test]
fn loom_chan_select_send_vs_close() {
    loom::model(|| {
        let a: Chan<u32> = Chan::new(0);
        let b: Chan<u32> = Chan::new(0);
        let (ra, cb) = (a.clone(), b.clone());
        let receiver = thread::spawn(move || ra.recv());
        let closer = thread::spawn(move || cb.close());
        let sent = select! {
            send(a, 1) => true,
            recv(b) -> v => { assert_eq!(v, None); false },
        };
        closer.join().unwrap();
        if !sent {
            a.close();
        }
        assert_eq!(receiver.join().unwrap(), sent.then_some(1));
    });
}

/// The lock-free fast path of `try_recv` racing a send and a close: the value is seen
/// before "closed", never lost behind a stale "closed and drained".
#[test]
fn loom_chan_try_recv_fast_path_vs_send_and_close() {
    loom::model(|| {
        let ch = Chan::new(1);
        let tx = ch.clone();
        let t = thread::spawn(move || {
            tx.send(1u32);
            tx.close();
        });
        let mut got = Vec::new();
        loop {
            match ch.try_recv() {
                Ok(v) => got.push(v),
                Err(TryRecvError::Closed) => break,
                Err(TryRecvError::Empty) => thread::yield_now(),
            }
        }
        assert_eq!(got, [1]);
        t.join().unwrap();
    });
}

/// The fast path of `try_send` on an unbuffered channel racing a receiver that parks:
/// once the receiver is queued the send gets through, and exactly one value crosses.
#[test]
fn loom_chan_try_send_fast_path_vs_parking_receiver() {
    loom::model(|| {
        let ch = Chan::new(0);
        let rx = ch.clone();
        let t = thread::spawn(move || rx.recv());
        let mut v = 7u32;
        loop {
            match ch.try_send(v) {
                Ok(()) => break,
                Err(TrySendError::Full(back)) => {
                    v = back;
                    thread::yield_now();
                }
                Err(e) => panic!("unexpected {e:?}"),
            }
        }
        assert_eq!(t.join().unwrap(), Some(7));
    });
}
