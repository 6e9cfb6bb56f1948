//! Networking on the netpoller (Go's `net` package): [`TcpListener`], [`TcpStream`],
//! [`UdpSocket`], [`UnixListener`], [`UnixStream`].
//!
//! Each socket is non-blocking and registered with the scheduler's netpoller (gort-sched's
//! [`PollFd`](gort_sched::netpoll::PollFd)). An operation is attempted first; only when
//! the OS says it would block does the goroutine park until the socket is ready, while
//! its thread runs other goroutines (Go: `internal/poll.FD`). The API is std's:
//! `std::io::Read`/`Write` (also for `&TcpStream`), `set_read_timeout`,
//! `set_write_timeout`, `shutdown`, `set_nodelay`, `peer_addr`, `local_addr`,
//! `try_clone`; plus Go-style absolute deadlines (`set_read_deadline`,
//! `set_write_deadline`, `set_deadline`). An expired timeout or deadline fails with
//! `ErrorKind::TimedOut`. Errors are `std::io::Error` with the OS's meaning
//! (`ConnectionRefused`, `ConnectionReset`, `BrokenPipe`, `InvalidInput` …).
//!
//! Host names are resolved inside [`syscall()`](crate::syscall), so a slow DNS lookup
//! blocks only its goroutine, not a P.
//!
//! Sockets are created from a goroutine of a gort runtime (elsewhere the constructors
//! fail with `ErrorKind::Unsupported` saying so) and belong to that runtime's
//! netpoller. Used from a plain thread or inside [`syscall()`](crate::syscall), an
//! operation blocks the thread in `poll(2)` instead of parking.
//!
//! ```
//! use std::io::{Read, Write};
//! gort::run(|| {
//!     let l = gort::net::TcpListener::bind("127.0.0.1:0").unwrap();
//!     let addr = l.local_addr().unwrap();
//!     gort::go(move || {
//!         let (mut c, _) = l.accept().unwrap();
//!         let mut buf = [0u8; 5];
//!         c.read_exact(&mut buf).unwrap();
//!         c.write_all(&buf).unwrap();
//!     });
//!     let mut s = gort::net::TcpStream::connect(addr).unwrap();
//!     s.write_all(b"hello").unwrap();
//!     let mut back = [0u8; 5];
//!     s.read_exact(&mut back).unwrap();
//!     assert_eq!(&back, b"hello");
//! });
//! ```

/// `Read` and `Write` for a stream socket `$t` and for `&$t`: each operation runs on the
/// netpoller (`PollFd::io`) under the direction's deadline; `flush` has nothing to do.
/// `$t` has the fields `pfd: PollFd`, `inner` (a std stream implementing `Read` and
/// `Write` for `&inner`) and `dl: Deadlines`.
macro_rules! stream_io {
    ($t:ty) => {
        impl std::io::Read for &$t {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                self.pfd.io(
                    gort_sched::netpoll::Mode::Read,
                    self.dl.read.op_deadline(),
                    || std::io::Read::read(&mut &self.inner, buf),
                )
            }

            fn read_vectored(
                &mut self,
                bufs: &mut [std::io::IoSliceMut<'_>],
            ) -> std::io::Result<usize> {
                self.pfd.io(
                    gort_sched::netpoll::Mode::Read,
                    self.dl.read.op_deadline(),
                    || std::io::Read::read_vectored(&mut &self.inner, bufs),
                )
            }
        }

        impl std::io::Write for &$t {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.pfd.io(
                    gort_sched::netpoll::Mode::Write,
                    self.dl.write.op_deadline(),
                    || std::io::Write::write(&mut &self.inner, buf),
                )
            }

            fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
                self.pfd.io(
                    gort_sched::netpoll::Mode::Write,
                    self.dl.write.op_deadline(),
                    || std::io::Write::write_vectored(&mut &self.inner, bufs),
                )
            }

            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }

        impl std::io::Read for $t {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                std::io::Read::read(&mut &*self, buf)
            }

            fn read_vectored(
                &mut self,
                bufs: &mut [std::io::IoSliceMut<'_>],
            ) -> std::io::Result<usize> {
                std::io::Read::read_vectored(&mut &*self, bufs)
            }
        }

        impl std::io::Write for $t {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                std::io::Write::write(&mut &*self, buf)
            }

            fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
                std::io::Write::write_vectored(&mut &*self, bufs)
            }

            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
    };
}

mod deadline;
mod resolve;
mod tcp;
mod udp;
mod unix;

pub use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, ToSocketAddrs};

pub use resolve::lookup;
pub use tcp::{Incoming, TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixListener, UnixStream};
