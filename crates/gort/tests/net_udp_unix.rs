//! gort::net UDP and Unix-domain sockets, plain-thread use, and the deadlock check
//! staying quiet while goroutines wait on the network, at GOMAXPROCS 1 and 2.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::io::{ErrorKind, Read, Write};

use gort::chan::Chan;
use gort::net::{TcpListener, TcpStream, UdpSocket, UnixListener, UnixStream};
use gort::time::{Duration, Instant, sleep};

fn cfg(procs: usize) -> gort::Config {
    let mut c = gort::Config::default();
    c.maxprocs = procs;
    c
}

#[test]
fn udp_send_recv_and_timeout() {
    for procs in [1, 2] {
        gort::run_with(cfg(procs), || {
            let a = UdpSocket::bind("127.0.0.1:0").unwrap();
            let b = UdpSocket::bind("127.0.0.1:0").unwrap();
            let (aa, ba) = (a.local_addr().unwrap(), b.local_addr().unwrap());
            let got = Chan::<(Vec<u8>, std::net::SocketAddr)>::new(1);
            let g2 = got.clone();
            gort::go(move || {
                // Parks until the datagram arrives (sent after a pause).
                let mut buf = [0u8; 64];
                let (n, from) = b.recv_from(&mut buf).unwrap();
                b.send_to(&buf[..n], from).unwrap();
                g2.send((buf[..n].to_vec(), from));
            });
            sleep(Duration::from_millis(10));
            a.send_to(b"ping", ba).unwrap();
            let (data, from) = got.recv().unwrap();
            assert_eq!((data.as_slice(), from), (&b"ping"[..], aa));
            let mut buf = [0u8; 64];
            let (n, from) = a.recv_from(&mut buf).unwrap();
            assert_eq!((&buf[..n], from), (&b"ping"[..], ba));
            // Connected: send/recv, and a receive timeout.
            a.connect(ba).unwrap();
            a.set_read_timeout(Some(Duration::from_millis(30))).unwrap();
            let t0 = Instant::now();
            assert_eq!(a.recv(&mut buf).unwrap_err().kind(), ErrorKind::TimedOut);
            assert!(t0.elapsed() >= Duration::from_millis(30));
            assert_eq!(
                a.send_to(b"x", "no port here").unwrap_err().kind(),
                ErrorKind::InvalidInput
            );
        })
        .unwrap();
    }
}

#[test]
fn unix_stream_echo() {
    for procs in [1, 2] {
        let dir =
            std::env::temp_dir().join(format!("gort-net-unix-{}-{procs}", std::process::id()));
        let _ = std::fs::remove_file(&dir);
        let path = dir.clone();
        gort::run_with(cfg(procs), move || {
            let l = UnixListener::bind(&path).unwrap();
            gort::go(move || {
                for _ in 0..3 {
                    let (mut c, _) = l.accept().unwrap();
                    gort::go(move || {
                        let mut buf = [0u8; 256];
                        loop {
                            match c.read(&mut buf) {
                                Ok(0) | Err(_) => return,
                                Ok(n) => c.write_all(&buf[..n]).unwrap(),
                            }
                        }
                    });
                }
            });
            let done = Chan::<()>::new(3);
            for i in 0..3u8 {
                let (path, done) = (path.clone(), done.clone());
                gort::go(move || {
                    let mut s = UnixStream::connect(&path).unwrap();
                    for r in 0..50u8 {
                        s.write_all(&[i, r]).unwrap();
                        let mut back = [0u8; 2];
                        s.read_exact(&mut back).unwrap();
                        assert_eq!(back, [i, r]);
                    }
                    done.send(());
                });
            }
            for _ in 0..3 {
                done.recv().unwrap();
            }
            // A pair, with a read timeout.
            let (a, b) = UnixStream::pair().unwrap();
            a.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
            let mut buf = [0u8; 4];
            assert_eq!((&a).read(&mut buf).unwrap_err().kind(), ErrorKind::TimedOut);
            (&b).write_all(b"pair").unwrap();
            (&a).read_exact(&mut buf).unwrap();
            assert_eq!(&buf, b"pair");
        })
        .unwrap();
        let _ = std::fs::remove_file(&dir);
    }
}

#[test]
fn waiting_on_the_network_is_not_a_deadlock() {
    // Every goroutine waits on the network while a plain thread connects 200 ms later:
    // the deadlock check must stay quiet and the accept must complete.
    for procs in [1, 2] {
        let n = gort::run_with(cfg(procs), || {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = l.local_addr().unwrap();
            let t = std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(200));
                let mut s = std::net::TcpStream::connect(addr).unwrap();
                s.write_all(b"hi").unwrap();
            });
            let (mut c, _) = l.accept().unwrap();
            let mut buf = [0u8; 2];
            c.read_exact(&mut buf).unwrap();
            t.join().unwrap();
            buf
        })
        .unwrap();
        assert_eq!(&n, b"hi");
    }
}

#[test]
fn a_socket_works_from_a_plain_thread_and_inside_syscall() {
    gort::run_with(cfg(1), || {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        gort::go(move || {
            let (mut c, _) = l.accept().unwrap();
            let mut buf = [0u8; 3];
            c.read_exact(&mut buf).unwrap();
            c.write_all(&buf).unwrap();
            // Hold the connection open until the client closes it.
            let _ = c.read(&mut buf);
        });
        let s = TcpStream::connect(addr).unwrap();
        // Inside syscall the thread has no P: the stream blocks in poll(2) instead.
        let back = gort::syscall(|| {
            (&s).write_all(b"abc").unwrap();
            let mut buf = [0u8; 3];
            (&s).read_exact(&mut buf).unwrap();
            buf
        });
        assert_eq!(&back, b"abc");
        // And on a plain thread, with a timeout.
        s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        let e = std::thread::scope(|sc| {
            sc.spawn(|| (&s).read(&mut [0u8; 1]).unwrap_err())
                .join()
                .unwrap()
        });
        assert_eq!(e.kind(), ErrorKind::TimedOut);
    })
    .unwrap();
}

#[test]
fn many_goroutines_blocked_on_reads_do_not_stop_a_ticker() {
    gort::run_with(cfg(1), || {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let keep = Chan::<TcpStream>::new(200);
        let k2 = keep.clone();
        gort::go(move || {
            while let Ok((c, _)) = l.accept() {
                k2.send(c);
            }
        });
        let mut readers = Vec::new();
        for _ in 0..100 {
            let s = TcpStream::connect(addr).unwrap();
            readers.push(s.try_clone().unwrap());
            gort::go(move || {
                let mut buf = [0u8; 1];
                let _ = (&s).read(&mut buf);
            });
        }
        let t0 = Instant::now();
        let mut ticks = 0;
        while t0.elapsed() < Duration::from_millis(50) {
            sleep(Duration::from_millis(2));
            ticks += 1;
        }
        assert!(ticks >= 5, "only {ticks} ticks");
        // Wake every reader: the accepted ends write one byte each.
        for _ in 0..100 {
            let mut c = keep.recv().unwrap();
            c.write_all(b"x").unwrap();
        }
        drop(readers);
    })
    .unwrap();
}
