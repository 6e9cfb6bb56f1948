//! gort::net TCP over loopback: echo round trips with many goroutines, refused
//! connections, resets, deadlines, bad addresses, blocked readers not stopping others,
//! at GOMAXPROCS 1 and 2.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;

use gort::chan::Chan;
use gort::net::{TcpListener, TcpStream};
use gort::sync::WaitGroup;
use gort::time::{Duration, Instant, sleep};

fn cfg(procs: usize) -> gort::Config {
    let mut c = gort::Config::default();
    c.maxprocs = procs;
    c
}

/// An echo server on a fresh port: one goroutine per connection.
fn echo_server() -> std::net::SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    gort::go(move || {
        loop {
            // A failing accept (say EMFILE) fails the test instead of hanging it.
            let (mut c, _) = l.accept().expect("accept");
            gort::go(move || {
                let mut buf = [0u8; 4096];
                loop {
                    match c.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if c.write_all(&buf[..n]).is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    addr
}

fn echo_many(procs: usize, clients: usize, rounds: usize) {
    gort::run_with(cfg(procs), move || {
        let addr = echo_server();
        let wg = std::sync::Arc::new(WaitGroup::new());
        for i in 0..clients {
            wg.add(1);
            let wg = wg.clone();
            gort::go(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                s.set_nodelay(true).unwrap();
                for r in 0..rounds {
                    let msg = format!("client {i} round {r}\n");
                    s.write_all(msg.as_bytes()).unwrap();
                    let mut back = vec![0u8; msg.len()];
                    s.read_exact(&mut back).unwrap();
                    assert_eq!(back, msg.as_bytes());
                }
                wg.done();
            });
        }
        wg.wait();
    })
    .unwrap();
}

#[test]
fn echo_round_trips_one_p() {
    echo_many(1, 50, 20);
}

#[test]
fn echo_round_trips_two_ps() {
    echo_many(2, 50, 20);
}

#[test]
fn a_thousand_concurrent_connections() {
    // Every connection is open at once: all connect, then all exchange.
    gort::run_with(cfg(2), || {
        let addr = echo_server();
        let n = 1000;
        let wg = std::sync::Arc::new(WaitGroup::new());
        let start = Chan::<()>::new(0);
        let connected = Chan::<()>::new(n);
        for i in 0..n {
            wg.add(1);
            let (wg, start, connected) = (wg.clone(), start.clone(), connected.clone());
            gort::go(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                connected.send(());
                let _ = start.recv();
                let msg = (i as u32).to_le_bytes();
                s.write_all(&msg).unwrap();
                let mut back = [0u8; 4];
                s.read_exact(&mut back).unwrap();
                assert_eq!(back, msg);
                wg.done();
            });
        }
        for _ in 0..n {
            connected.recv().unwrap();
        }
        start.close();
        wg.wait();
    })
    .unwrap();
}

#[test]
fn refused_connection() {
    for procs in [1, 2] {
        gort::run_with(cfg(procs), || {
            // A port nobody listens on: bind, note it, close.
            let addr = {
                let l = TcpListener::bind("127.0.0.1:0").unwrap();
                l.local_addr().unwrap()
            };
            let e = TcpStream::connect(addr).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "{e}");
        })
        .unwrap();
    }
}

#[test]
fn bad_addresses_are_invalid_input() {
    gort::run_with(cfg(1), || {
        for bad in ["not an address", "127.0.0.1", "127.0.0.1:99999"] {
            let e = TcpStream::connect(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad}: {e}");
            let e = TcpListener::bind(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad}: {e}");
        }
    })
    .unwrap();
}

#[test]
fn outside_a_runtime_says_so() {
    let e = TcpListener::bind("127.0.0.1:0").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert!(e.to_string().contains("not inside a gort runtime"), "{e}");
}

#[test]
fn reset_by_peer() {
    for procs in [1, 2] {
        gort::run_with(cfg(procs), || {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = l.local_addr().unwrap();
            let done = Chan::<()>::new(0);
            let d2 = done.clone();
            gort::go(move || {
                let (c, _) = l.accept().unwrap();
                // Unread data at close makes the kernel send RST.
                let mut buf = [0u8; 1];
                let _ = (&c).read(&mut buf);
                drop(c);
                d2.send(());
            });
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(b"xy").unwrap();
            done.recv().unwrap();
            sleep(Duration::from_millis(20));
            // Writes after the RST fail (reset, or broken pipe on a later write);
            // reads see the reset.
            let mut saw = None;
            for _ in 0..100 {
                match s.write_all(b"more") {
                    Ok(()) => sleep(Duration::from_millis(1)),
                    Err(e) => {
                        saw = Some(e.kind());
                        break;
                    }
                }
            }
            let k = saw.expect("writes kept succeeding after a reset");
            assert!(
                matches!(k, ErrorKind::ConnectionReset | ErrorKind::BrokenPipe),
                "{k:?}"
            );
        })
        .unwrap();
    }
}

#[test]
fn read_timeout_expires_and_others_keep_running() {
    for procs in [1, 2] {
        gort::run_with(cfg(procs), || {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = l.local_addr().unwrap();
            let keep = Chan::<TcpStream>::new(1);
            let k2 = keep.clone();
            gort::go(move || {
                // Accept and hold the connection silently.
                let (c, _) = l.accept().unwrap();
                k2.send(c);
            });
            let s = TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
            // A ticking goroutine keeps running while we are blocked on the read.
            let ticks = Chan::<u32>::new(100);
            let t2 = ticks.clone();
            gort::go(move || {
                for i in 0..5 {
                    sleep(Duration::from_millis(5));
                    t2.send(i);
                }
            });
            let t0 = Instant::now();
            let mut buf = [0u8; 8];
            let e = (&s).read(&mut buf).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::TimedOut, "{e}");
            assert!(t0.elapsed() >= Duration::from_millis(50));
            assert!(t0.elapsed() < Duration::from_secs(5));
            assert!(ticks.len() >= 5, "ticker stalled: {}", ticks.len());
            // An absolute deadline in the past fails at once; clearing it works again.
            s.set_read_timeout(None).unwrap();
            s.set_read_deadline(Some(Instant::now()));
            assert_eq!((&s).read(&mut buf).unwrap_err().kind(), ErrorKind::TimedOut);
            s.set_read_deadline(None);
            let mut c = keep.recv().unwrap();
            c.write_all(b"late").unwrap();
            let n = (&s).read(&mut buf).unwrap();
            assert_eq!(&buf[..n], b"late");
            assert_eq!(
                s.set_read_timeout(Some(Duration::ZERO)).unwrap_err().kind(),
                ErrorKind::InvalidInput
            );
        })
        .unwrap();
    }
}

#[test]
fn shutdown_wakes_a_blocked_reader_with_eof() {
    gort::run_with(cfg(2), || {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let got = Chan::<usize>::new(1);
        let g2 = got.clone();
        gort::go(move || {
            let (c, _) = l.accept().unwrap();
            let mut buf = [0u8; 8];
            g2.send((&c).read(&mut buf).unwrap());
        });
        let s = TcpStream::connect(addr).unwrap();
        assert_eq!(s.peer_addr().unwrap(), addr);
        assert!(s.local_addr().unwrap().port() != 0);
        sleep(Duration::from_millis(10));
        s.shutdown(Shutdown::Write).unwrap();
        assert_eq!(got.recv(), Some(0));
    })
    .unwrap();
}

#[test]
fn clone_reads_while_original_writes() {
    gort::run_with(cfg(1), || {
        let addr = echo_server();
        let s = TcpStream::connect(addr).unwrap();
        let r = s.try_clone().unwrap();
        let got = Chan::<Vec<u8>>::new(1);
        let g2 = got.clone();
        gort::go(move || {
            let mut r = r;
            let mut buf = vec![0u8; 100_000];
            r.read_exact(&mut buf).unwrap();
            g2.send(buf);
        });
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        (&s).write_all(&data).unwrap();
        assert_eq!(got.recv().unwrap(), data);
    })
    .unwrap();
}

#[test]
fn a_new_deadline_interrupts_a_blocked_read() {
    for procs in [1, 2] {
        gort::run_with(cfg(procs), || {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = l.local_addr().unwrap();
            let keep = Chan::<TcpStream>::new(1);
            let k2 = keep.clone();
            gort::go(move || k2.send(l.accept().unwrap().0));
            let s = std::sync::Arc::new(TcpStream::connect(addr).unwrap());
            // A far deadline first: the reader blocks with its timer armed.
            s.set_read_deadline(Some(Instant::now() + Duration::from_secs(3600)));
            let got = Chan::<(ErrorKind, Duration)>::new(1);
            let (s2, g2) = (s.clone(), got.clone());
            gort::go(move || {
                let t0 = Instant::now();
                let e = (&*s2).read(&mut [0u8; 1]).unwrap_err();
                g2.send((e.kind(), t0.elapsed()));
            });
            sleep(Duration::from_millis(30));
            // Go's idiom: a deadline in the past interrupts the blocked reader.
            s.set_read_deadline(Some(Instant::now()));
            let (kind, waited) = got.recv().unwrap();
            assert_eq!(kind, ErrorKind::TimedOut);
            assert!(waited < Duration::from_secs(60), "{waited:?}");
            // Cleared, the connection reads again.
            s.set_read_deadline(None);
            keep.recv().unwrap().write_all(b"!").unwrap();
            let mut b = [0u8; 1];
            (&*s).read_exact(&mut b).unwrap();
            assert_eq!(&b, b"!");
        })
        .unwrap();
    }
}

#[test]
fn close_wakes_a_blocked_accept() {
    for procs in [1, 2] {
        gort::run_with(cfg(procs), || {
            let l = std::sync::Arc::new(TcpListener::bind("127.0.0.1:0").unwrap());
            let got = Chan::<std::io::Error>::new(1);
            let (l2, g2) = (l.clone(), got.clone());
            gort::go(move || g2.send(l2.accept().unwrap_err()));
            sleep(Duration::from_millis(20));
            l.close();
            let e = got.recv().unwrap();
            assert_eq!(e.kind(), ErrorKind::NotConnected, "{e}");
            assert!(e.to_string().contains("closed network connection"), "{e}");
            assert_eq!(l.accept().unwrap_err().kind(), ErrorKind::NotConnected);
        })
        .unwrap();
    }
}
