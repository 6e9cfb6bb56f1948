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

mod select_model {
    //! proptest: a non-blocking `select!` over three channels (some nil) picks only a
    //! ready case and has exactly that case's effect, against a reference model.

    use std::collections::VecDeque;

    use proptest::prelude::*;

    use super::super::*;
    use crate::select;

    #[derive(Clone, Debug)]
    enum Op {
        TrySend(usize, u8),
        TryRecv(usize),
        Close(usize),
        SelectRecv,
        SelectSend(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0usize..3, any::<u8>()).prop_map(|(i, v)| Op::TrySend(i, v)),
            3 => (0usize..3).prop_map(Op::TryRecv),
            1 => (0usize..3).prop_map(Op::Close),
            3 => Just(Op::SelectRecv),
            3 => any::<u8>().prop_map(Op::SelectSend),
        ]
    }

    #[derive(Clone, Debug)]
    struct Model {
        q: VecDeque<u8>,
        cap: usize,
        closed: bool,
    }

    proptest! {
        #[test]
        fn select_matches_model(
            caps in prop::array::uniform3(0usize..3),
            nil in prop::array::uniform3(prop::bool::weighted(0.2)),
            ops in prop::collection::vec(op(), 0..80),
        ) {
            let chans: Vec<Option<Chan<u8>>> =
                (0..3).map(|i| (!nil[i]).then(|| Chan::new(caps[i]))).collect();
            let mut m: Vec<Model> =
                (0..3).map(|i| Model { q: VecDeque::new(), cap: caps[i], closed: false }).collect();
            for op in ops {
                match op {
                    Op::TrySend(i, v) => {
                        let Some(c) = &chans[i] else { continue };
                        let want = if m[i].closed {
                            Err(TrySendError::Closed(v))
                        } else if m[i].q.len() < m[i].cap {
                            m[i].q.push_back(v);
                            Ok(())
                        } else {
                            Err(TrySendError::Full(v))
                        };
                        prop_assert_eq!(c.try_send(v), want);
                    }
                    Op::TryRecv(i) => {
                        let Some(c) = &chans[i] else { continue };
                        let want = match m[i].q.pop_front() {
                            Some(v) => Ok(v),
                            None if m[i].closed => Err(TryRecvError::Closed),
                            None => Err(TryRecvError::Empty),
                        };
                        prop_assert_eq!(c.try_recv(), want);
                    }
                    Op::Close(i) => {
                        let Some(c) = &chans[i] else { continue };
                        prop_assert_eq!(c.try_close().is_ok(), !m[i].closed);
                        m[i].closed = true;
                    }
                    Op::SelectRecv => {
                        let got = select! {
                            recv(chans[0]) -> v => Some((0, v)),
                            recv(chans[1]) -> v => Some((1, v)),
                            recv(chans[2]) -> v => Some((2, v)),
                            default => None,
                        };
                        let ready: Vec<usize> = (0..3)
                            .filter(|&i| chans[i].is_some() && (!m[i].q.is_empty() || m[i].closed))
                            .collect();
                        match got {
                            None => prop_assert!(ready.is_empty(), "default with {ready:?} ready"),
                            Some((i, v)) => {
                                prop_assert!(ready.contains(&i), "case {i} was not ready");
                                prop_assert_eq!(v, m[i].q.pop_front());
                            }
                        }
                    }
                    Op::SelectSend(v) => {
                        // A send case on a closed channel would panic: only select over
                        // open channels (closed ones become nil, Go's idiom).
                        let open: Vec<Option<&Chan<u8>>> = (0..3)
                            .map(|i| chans[i].as_ref().filter(|_| !m[i].closed))
                            .collect();
                        let got = select! {
                            send(open[0], v) => Some(0),
                            send(open[1], v) => Some(1),
                            send(open[2], v) => Some(2),
                            default => None,
                        };
                        let ready: Vec<usize> = (0..3)
                            .filter(|&i| open[i].is_some() && m[i].q.len() < m[i].cap)
                            .collect();
                        match got {
                            None => prop_assert!(ready.is_empty(), "default with {ready:?} ready"),
                            Some(i) => {
                                prop_assert!(ready.contains(&i), "case {i} was not ready");
                                m[i].q.push_back(v);
                            }
                        }
                    }
                }
                for i in 0..3 {
                    if let Some(c) = &chans[i] {
                        prop_assert_eq!(c.len(), m[i].q.len());
                    }
                }
            }
        }
    }
}
