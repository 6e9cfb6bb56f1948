//! Unit tests of channels and `select!` on OS threads.

use super::*;
use crate::select;

#[test]
fn buffered_fifo_and_close_drains() {
    let ch = Chan::new(3);
    ch.send(1);
    ch.send(2);
    ch.send(3);
    assert_eq!(ch.try_send(4), Err(TrySendError::Full(4)));
    assert_eq!(ch.len(), 3);
    ch.close();
    assert!(ch.is_closed());
    assert_eq!(ch.iter().collect::<Vec<_>>(), vec![1, 2, 3]);
    assert_eq!(ch.recv(), None);
    assert_eq!(ch.try_recv(), Err(TryRecvError::Closed));
}

#[test]
fn select_smoke() {
    let a = Chan::new(1);
    let b: Chan<u32> = Chan::new(0);
    a.send(5u32);
    let r = select! {
        recv(a) -> v => v,
        send(b, 3) => None,
    };
    assert_eq!(r, Some(5));
    let r = select! {
        recv(a) -> v => v.map(|x| x + 1),
        default => Some(99),
    };
    assert_eq!(r, Some(99));
}
