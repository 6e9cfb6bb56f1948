//! UDP: [`UdpSocket`] (Go: `net.UDPConn`).

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use gort_sched::netpoll::{Mode, PollFd};

use super::deadline::Deadlines;
use super::resolve::{each_addr, lookup};

/// A UDP socket (Go: `net.UDPConn`). Receives park the goroutine until a datagram
/// arrives.
pub struct UdpSocket {
    // Field order matters: the registration is dropped before the descriptor closes.
    /// The netpoller registration.
    pfd: PollFd,
    /// The non-blocking socket (owns the descriptor).
    inner: std::net::UdpSocket,
    /// Timeouts and deadlines.
    dl: Deadlines,
}

impl core::fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("UdpSocket")
            .field("fd", &self.pfd.fd())
            .field("addr", &self.inner.local_addr().ok())
            .finish()
    }
}

impl UdpSocket {
    /// Binds to `addr` (Go: `net.ListenUDP`).
    ///
    /// # Errors
    /// `Unsupported` off a gort runtime; `InvalidInput` for a bad address; the OS's
    /// error.
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<UdpSocket> {
        each_addr(addr, |a| UdpSocket::from_std(std::net::UdpSocket::bind(a)?))
    }

    /// Adopts a std socket (made non-blocking here).
    ///
    /// # Errors
    /// The OS's error, or `Unsupported` off a gort runtime.
    pub fn from_std(inner: std::net::UdpSocket) -> io::Result<UdpSocket> {
        inner.set_nonblocking(true)?;
        let pfd = PollFd::new(inner.as_raw_fd())?;
        Ok(UdpSocket {
            pfd,
            inner,
            dl: Deadlines::default(),
        })
    }

    /// Receives one datagram and its source.
    ///
    /// # Errors
    /// The OS's error, or `TimedOut`.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.pfd.io(Mode::Read, self.dl.read.op_deadline(), || {
            self.inner.recv_from(buf)
        })
    }

    /// Receives one datagram from the connected peer.
    ///
    /// # Errors
    /// The OS's error, or `TimedOut`.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.pfd.io(Mode::Read, self.dl.read.op_deadline(), || {
            self.inner.recv(buf)
        })
    }

    /// Sends one datagram to `addr` (resolved through the syscall path; the first
    /// address is used).
    ///
    /// # Errors
    /// The OS's error, `InvalidInput`, or `TimedOut`.
    pub fn send_to<A: ToSocketAddrs>(&self, buf: &[u8], addr: A) -> io::Result<usize> {
        let to = lookup(addr)?[0];
        self.pfd.io(Mode::Write, self.dl.write.op_deadline(), || {
            self.inner.send_to(buf, to)
        })
    }

    /// Sends one datagram to the connected peer.
    ///
    /// # Errors
    /// The OS's error, or `TimedOut`.
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.pfd.io(Mode::Write, self.dl.write.op_deadline(), || {
            self.inner.send(buf)
        })
    }

    /// Sets the default peer and filters others out.
    ///
    /// # Errors
    /// The OS's error, or `InvalidInput`.
    pub fn connect<A: ToSocketAddrs>(&self, addr: A) -> io::Result<()> {
        each_addr(addr, |a| self.inner.connect(a))
    }

    /// The bound address.
    ///
    /// # Errors
    /// The OS's error.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// The connected peer.
    ///
    /// # Errors
    /// `NotConnected`.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }

    /// Receive timeout per operation (std's).
    ///
    /// # Errors
    /// `InvalidInput` for `Some(Duration::ZERO)`.
    pub fn set_read_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        self.dl.read.set_timeout(d)
    }

    /// Send timeout per operation (std's).
    ///
    /// # Errors
    /// `InvalidInput` for `Some(Duration::ZERO)`.
    pub fn set_write_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        self.dl.write.set_timeout(d)
    }

    /// Absolute receive deadline (Go: `SetReadDeadline`).
    pub fn set_read_deadline(&self, t: Option<Instant>) {
        self.dl.read.set_deadline(t);
        self.pfd.deadline_changed(Mode::Read);
    }

    /// Absolute send deadline (Go: `SetWriteDeadline`).
    pub fn set_write_deadline(&self, t: Option<Instant>) {
        self.dl.write.set_deadline(t);
        self.pfd.deadline_changed(Mode::Write);
    }

    /// Sets `SO_BROADCAST`.
    ///
    /// # Errors
    /// The OS's error.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.inner.set_broadcast(on)
    }

    /// Another handle to the same socket.
    ///
    /// # Errors
    /// The OS's error, or `Unsupported` off a gort runtime.
    pub fn try_clone(&self) -> io::Result<UdpSocket> {
        UdpSocket::from_std(self.inner.try_clone()?)
    }
}

impl AsRawFd for UdpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}
