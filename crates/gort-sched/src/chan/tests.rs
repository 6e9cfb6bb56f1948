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

mod model {
    //! proptest: a channel driven from one thread behaves as a bounded FIFO with a
    //! closed flag (the reference model), and values cross threads in order.

    use std::collections::VecDeque;

    use proptest::prelude::*;

    use super::super::*;
    use crate::select;

    #[derive(Clone, Debug)]
    enum Op {
        TrySend(u8),
        TryRecv,
        Close,
        Len,
        SelectRecv,
        SelectSend(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => any::<u8>().prop_map(Op::TrySend),
            4 => Just(Op::TryRecv),
            1 => Just(Op::Close),
            1 => Just(Op::Len),
            2 => Just(Op::SelectRecv),
            2 => any::<u8>().prop_map(Op::SelectSend),
        ]
    }

    /// The reference: a bounded queue and a flag.
    struct Model {
        q: VecDeque<u8>,
        cap: usize,
        closed: bool,
    }

    impl Model {
        fn try_send(&mut self, v: u8) -> Result<(), TrySendError<u8>> {
            if self.closed {
                Err(TrySendError::Closed(v))
            } else if self.q.len() < self.cap {
                self.q.push_back(v);
                Ok(())
            } else {
                Err(TrySendError::Full(v))
            }
        }

        fn try_recv(&mut self) -> Result<u8, TryRecvError> {
            match self.q.pop_front() {
                Some(v) => Ok(v),
                None if self.closed => Err(TryRecvError::Closed),
                None => Err(TryRecvError::Empty),
            }
        }
    }

    proptest! {
        #[test]
        fn chan_matches_bounded_fifo_model(cap in 0usize..5, ops in prop::collection::vec(op(), 0..64)) {
            let ch = Chan::new(cap);
            let mut m = Model { q: VecDeque::new(), cap, closed: false };
            for op in ops {
                match op {
                    Op::TrySend(v) => prop_assert_eq!(ch.try_send(v), m.try_send(v)),
                    Op::TryRecv => prop_assert_eq!(ch.try_recv(), m.try_recv()),
                    Op::Close => {
                        prop_assert_eq!(ch.try_close().is_ok(), !m.closed);
                        m.closed = true;
                    }
                    Op::Len => {
                        prop_assert_eq!(ch.len(), m.q.len());
                        prop_assert_eq!(ch.is_closed(), m.closed);
                    }
                    Op::SelectRecv => {
                        let got = select! {
                            recv(ch) -> v => Ok(v),
                            default => Err(()),
                        };
                        let want = match m.try_recv() {
                            Ok(v) => Ok(Some(v)),
                            Err(TryRecvError::Closed) => Ok(None),
                            Err(TryRecvError::Empty) => Err(()),
                        };
                        prop_assert_eq!(got, want);
                    }
                    Op::SelectSend(v) => {
                        // The model's send on a closed channel would panic in `select!`:
                        // only select-send while open.
                        if !m.closed {
                            let sent = select! {
                                send(ch, v) => true,
                                default => false,
                            };
                            prop_assert_eq!(sent, m.try_send(v).is_ok());
                        }
                    }
                }
            }
        }

        #[test]
        fn values_cross_threads_in_order(cap in 0usize..4, values in prop::collection::vec(any::<u32>(), 0..200)) {
            let ch = Chan::new(cap);
            let tx = ch.clone();
            let sent = values.clone();
            let t = std::thread::spawn(move || {
                for v in sent {
                    tx.send(v);
                }
                tx.close();
            });
            let got: Vec<u32> = ch.iter().collect();
            t.join().unwrap();
            prop_assert_eq!(got, values);
        }
    }
}
