//! Close semantics, as Go specifies them: receivers drain then see closed, sending on or
//! closing a closed channel panics with Go's messages, and close releases every blocked
//! party. Parties are plain OS threads.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::thread;

use gort_sched::Chan;
use gort_sched::chan::{CloseError, SendError, TryRecvError, TrySendError};

/// The panic message of `f`, which must panic.
fn panic_message(f: impl FnOnce()) -> String {
    let err = catch_unwind(AssertUnwindSafe(f)).expect_err("expected a panic");
    match err.downcast::<&'static str>() {
        Ok(s) => (*s).to_string(),
        Err(err) => *err.downcast::<String>().expect("string panic payload"),
    }
}

/// Spins (yielding) until `cond` holds; for waiting on another thread to block.
fn wait_until(mut cond: impl FnMut() -> bool) {
    while !cond() {
        thread::yield_now();
    }
}

#[test]
fn receivers_drain_buffer_then_see_closed() {
    for cap in [1, 3, 10] {
        let ch = Chan::new(cap);
        for i in 0..cap {
            ch.send(i);
        }
        ch.close();
        assert_eq!(ch.len(), cap);
        for i in 0..cap {
            assert_eq!(ch.recv(), Some(i));
        }
        assert_eq!(ch.recv(), None);
        assert_eq!(ch.recv(), None, "closed stays closed");
        assert_eq!(ch.try_recv(), Err(TryRecvError::Closed));
        assert_eq!(ch.recv_ok(), (0, false), "Go's zero value and ok == false");
    }
}

#[test]
fn send_on_closed_channel_panics_with_go_message() {
    for cap in [0, 1] {
        let ch = Chan::new(cap);
        ch.close();
        assert_eq!(panic_message(|| ch.send(1)), "send on closed channel");
        assert_eq!(ch.send_checked(2), Err(SendError(2)));
        assert_eq!(ch.try_send(3), Err(TrySendError::Closed(3)));
    }
}

#[test]
fn close_of_closed_channel_panics_with_go_message() {
    let ch: Chan<()> = Chan::new(0);
    ch.close();
    assert_eq!(panic_message(|| ch.close()), "close of closed channel");
    assert_eq!(ch.try_close(), Err(CloseError));
}

#[test]
fn close_wakes_every_blocked_receiver() {
    let ch: Chan<u32> = Chan::new(0);
    let receivers: Vec<_> = (0..4)
        .map(|_| {
            let ch = ch.clone();
            thread::spawn(move || ch.recv())
        })
        .collect();
    // No value ever arrives: whenever the close happens, each receiver sees closed.
    ch.close();
    for r in receivers {
        assert_eq!(r.join().unwrap(), None);
    }
}

#[test]
fn close_makes_blocked_senders_panic() {
    let ch = Chan::new(0);
    let senders: Vec<_> = (0..3)
        .map(|i| {
            let ch = ch.clone();
            thread::spawn(move || ch.send(i))
        })
        .collect();
    // Whether a sender already blocked or sends after the close, it panics.
    ch.close();
    for s in senders {
        let err = s.join().expect_err("a sender blocked at close panics");
        assert_eq!(
            *err.downcast::<&'static str>().unwrap(),
            "send on closed channel"
        );
    }
}

#[test]
fn blocked_checked_sender_gets_its_value_back() {
    let ch = Chan::new(0);
    let tx = ch.clone();
    let t = thread::spawn(move || tx.send_checked(String::from("v")));
    ch.close();
    assert_eq!(t.join().unwrap(), Err(SendError(String::from("v"))));
}

#[test]
fn values_sent_before_close_are_all_received() {
    let ch = Chan::new(4);
    let tx = ch.clone();
    let t = thread::spawn(move || {
        for i in 0..1000u64 {
            tx.send(i);
        }
        tx.close();
    });
    let got: Vec<u64> = ch.iter().collect();
    t.join().unwrap();
    assert_eq!(got, (0..1000).collect::<Vec<_>>());
}

#[test]
fn is_closed_and_len_report_state() {
    let ch = Chan::new(2);
    assert!(!ch.is_closed());
    assert!(ch.is_empty());
    ch.send('a');
    ch.close();
    assert!(ch.is_closed());
    assert_eq!((ch.len(), ch.cap()), (1, 2));
    wait_until(|| ch.try_recv().is_err());
    assert!(ch.is_empty());
}
