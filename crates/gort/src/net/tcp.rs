//! TCP: [`TcpListener`] and [`TcpStream`] (Go: `net.TCPListener`, `net.TCPConn`).

use std::io;
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, RawFd};
use std::time::{Duration, Instant};

use gort_sched::netpoll::{Mode, PollFd};

use super::deadline::Deadlines;
use super::resolve::each_addr;

/// A TCP socket server, listening for connections (Go: `net.TCPListener`).
///
/// `accept` parks the goroutine until a connection arrives.
pub struct TcpListener {
    // Field order matters: the registration is dropped before the descriptor closes.
    /// The netpoller registration.
    pfd: PollFd,
    /// The non-blocking socket (owns the descriptor).
    inner: std::net::TcpListener,
    /// Accept deadline and timeout.
    dl: Deadlines,
}

impl core::fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TcpListener")
            .field("fd", &self.pfd.fd())
            .field("addr", &self.inner.local_addr().ok())
            .finish()
    }
}

impl TcpListener {
    /// Binds to `addr` (resolved through the syscall path) and listens (Go:
    /// `net.Listen("tcp", addr)`). Port 0 picks a free port; see
    /// [`TcpListener::local_addr`].
    ///
    /// # Errors
    /// `Unsupported` off a gort runtime; `InvalidInput` for a bad address; the OS's
    /// error (`AddrInUse`, `PermissionDenied` …).
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        each_addr(addr, |a| {
            let inner = std::net::TcpListener::bind(a)?;
            TcpListener::from_std(inner)
        })
    }

    /// Adopts a std listener (made non-blocking here).
    ///
    /// # Errors
    /// As [`TcpListener::bind`].
    pub fn from_std(inner: std::net::TcpListener) -> io::Result<TcpListener> {
        inner.set_nonblocking(true)?;
        let pfd = PollFd::new(inner.as_raw_fd())?;
        Ok(TcpListener {
            pfd,
            inner,
            dl: Deadlines::default(),
        })
    }

    /// Waits for a connection (Go: `Accept`).
    ///
    /// # Errors
    /// The OS's error, or `TimedOut` past a deadline set by
    /// [`TcpListener::set_deadline`].
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (s, a) = self.pfd.io(Mode::Read, self.dl.read.op_deadline(), || {
            self.inner.accept()
        })?;
        Ok((TcpStream::from_std(s)?, a))
    }

    /// An iterator over accepted connections (std's `incoming`).
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    /// The bound address.
    ///
    /// # Errors
    /// The OS's error.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// Makes `accept` fail with `TimedOut` after `t` (Go: `SetDeadline`); `None`
    /// clears it.
    pub fn set_deadline(&self, t: Option<Instant>) {
        self.dl.read.set_deadline(t);
        self.pfd.deadline_changed(Mode::Read);
    }

    /// Stops accepting (Go: `Listener.Close`): a goroutine blocked in `accept` and
    /// every later `accept` on this handle fail with `NotConnected` ("use of closed
    /// network connection"). The socket itself closes when the handle drops.
    pub fn close(&self) {
        self.pfd.evict();
    }

    /// Another handle to the same socket (std's `try_clone`).
    ///
    /// # Errors
    /// The OS's error, or `Unsupported` off a gort runtime.
    pub fn try_clone(&self) -> io::Result<TcpListener> {
        TcpListener::from_std(self.inner.try_clone()?)
    }

    /// The pending socket error (`SO_ERROR`), clearing it.
    ///
    /// # Errors
    /// The OS's error.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.take_error()
    }
}

impl AsRawFd for TcpListener {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}

/// Iterator returned by [`TcpListener::incoming`]; never ends.
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a TcpListener,
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<TcpStream>;
    fn next(&mut self) -> Option<io::Result<TcpStream>> {
        Some(self.listener.accept().map(|(s, _)| s))
    }
}

/// A TCP connection (Go: `net.TCPConn`). Reads and writes park the goroutine while the
/// socket is not ready; `&TcpStream` is `Read` and `Write` too, so one goroutine may
/// read while another writes.
pub struct TcpStream {
    // Field order matters: the registration is dropped before the descriptor closes.
    /// The netpoller registration.
    pfd: PollFd,
    /// The non-blocking socket (owns the descriptor).
    inner: std::net::TcpStream,
    /// Timeouts and deadlines.
    dl: Deadlines,
}

impl core::fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TcpStream")
            .field("fd", &self.pfd.fd())
            .field("local", &self.inner.local_addr().ok())
            .field("peer", &self.inner.peer_addr().ok())
            .finish()
    }
}

/// `sockaddr` storage for `addr` (Go: `sockaddr` of `net.TCPAddr`).
fn sockaddr(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: all-zero is a valid `sockaddr_storage`.
    let mut ss: libc::sockaddr_storage = unsafe { core::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: `sockaddr_storage` is larger than and aligned for `sockaddr_in`.
            unsafe { core::ptr::write((&raw mut ss).cast(), sin) };
            core::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: as above, for `sockaddr_in6`.
            unsafe { core::ptr::write((&raw mut ss).cast(), sin6) };
            core::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (ss, len as libc::socklen_t)
}

impl TcpStream {
    /// Connects to `addr` (resolved through the syscall path), trying each address in
    /// turn (Go: `net.Dial("tcp", addr)`). The goroutine parks while the handshake is
    /// in flight.
    ///
    /// # Errors
    /// `Unsupported` off a gort runtime; `InvalidInput` for a bad address;
    /// `ConnectionRefused` and the OS's other errors.
    pub fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        each_addr(addr, |a| TcpStream::connect_deadline(a, None))
    }

    /// Connects with a timeout (std's `connect_timeout`).
    ///
    /// # Errors
    /// As [`TcpStream::connect`], or `TimedOut`.
    pub fn connect_timeout(addr: &SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        if timeout.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot set a 0 duration timeout",
            ));
        }
        TcpStream::connect_deadline(addr, Some(Instant::now() + timeout))
    }

    fn connect_deadline(addr: &SocketAddr, deadline: Option<Instant>) -> io::Result<TcpStream> {
        let domain = match addr {
            SocketAddr::V4(_) => libc::AF_INET,
            SocketAddr::V6(_) => libc::AF_INET6,
        };
        // SAFETY: plain syscall.
        let fd = unsafe {
            libc::socket(
                domain,
                libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                0,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh socket we own; the std stream closes it.
        let inner = unsafe { std::net::TcpStream::from_raw_fd(fd) };
        let pfd = PollFd::new(fd)?;
        let s = TcpStream {
            pfd,
            inner,
            dl: Deadlines::default(),
        };
        let (ss, len) = sockaddr(addr);
        // SAFETY: `ss` holds a valid address of `len` bytes.
        let r = unsafe { libc::connect(fd, (&raw const ss).cast(), len) };
        if r == 0 {
            return Ok(s);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINPROGRESS) && e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
        // Writable once the handshake ended; SO_ERROR says how (Go: `fd.connect`).
        let mut first = true;
        s.pfd.io(
            Mode::Write,
            || deadline,
            || {
                if first {
                    first = false;
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                match s.inner.take_error()? {
                    Some(e) => Err(e),
                    None => match s.inner.peer_addr() {
                        Ok(_) => Ok(()),
                        Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                            Err(io::ErrorKind::WouldBlock.into())
                        }
                        Err(e) => Err(e),
                    },
                }
            },
        )?;
        Ok(s)
    }

    /// Adopts a std stream (made non-blocking here).
    ///
    /// # Errors
    /// The OS's error, or `Unsupported` off a gort runtime.
    pub fn from_std(inner: std::net::TcpStream) -> io::Result<TcpStream> {
        inner.set_nonblocking(true)?;
        let pfd = PollFd::new(inner.as_raw_fd())?;
        Ok(TcpStream {
            pfd,
            inner,
            dl: Deadlines::default(),
        })
    }

    /// The remote address.
    ///
    /// # Errors
    /// The OS's error (`NotConnected`).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }

    /// The local address.
    ///
    /// # Errors
    /// The OS's error.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// Shuts down one or both directions (Go: `CloseRead`/`CloseWrite`); a blocked
    /// reader then sees end of file.
    ///
    /// # Errors
    /// The OS's error.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.shutdown(how)
    }

    /// Disables (true) or enables Nagle's algorithm (Go's default: no delay).
    ///
    /// # Errors
    /// The OS's error.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.inner.set_nodelay(nodelay)
    }

    /// Whether Nagle's algorithm is off.
    ///
    /// # Errors
    /// The OS's error.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.inner.nodelay()
    }

    /// Each read fails with `TimedOut` if it waits longer than `d` (std's); `None`
    /// waits forever. A zero duration is `InvalidInput`.
    ///
    /// # Errors
    /// `InvalidInput` for `Some(Duration::ZERO)`.
    pub fn set_read_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        self.dl.read.set_timeout(d)
    }

    /// As [`TcpStream::set_read_timeout`], for writes.
    ///
    /// # Errors
    /// `InvalidInput` for `Some(Duration::ZERO)`.
    pub fn set_write_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        self.dl.write.set_timeout(d)
    }

    /// The read timeout.
    ///
    /// # Errors
    /// Never; `Result` for std's signature.
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.dl.read.timeout())
    }

    /// The write timeout.
    ///
    /// # Errors
    /// Never; `Result` for std's signature.
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.dl.write.timeout())
    }

    /// Reads fail with `TimedOut` once `t` has passed, including one blocked now (Go:
    /// `SetReadDeadline`; a time in the past interrupts a blocked reader); `None`
    /// clears it.
    pub fn set_read_deadline(&self, t: Option<Instant>) {
        self.dl.read.set_deadline(t);
        self.pfd.deadline_changed(Mode::Read);
    }

    /// As [`TcpStream::set_read_deadline`], for writes (Go: `SetWriteDeadline`).
    pub fn set_write_deadline(&self, t: Option<Instant>) {
        self.dl.write.set_deadline(t);
        self.pfd.deadline_changed(Mode::Write);
    }

    /// Both deadlines (Go: `SetDeadline`).
    pub fn set_deadline(&self, t: Option<Instant>) {
        self.set_read_deadline(t);
        self.set_write_deadline(t);
    }

    /// Another handle to the same connection, registered with the current runtime
    /// (std's `try_clone`).
    ///
    /// # Errors
    /// The OS's error, or `Unsupported` off a gort runtime.
    pub fn try_clone(&self) -> io::Result<TcpStream> {
        TcpStream::from_std(self.inner.try_clone()?)
    }

    /// Reads without removing the data from the queue.
    ///
    /// # Errors
    /// As `read`.
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.pfd.io(Mode::Read, self.dl.read.op_deadline(), || {
            self.inner.peek(buf)
        })
    }

    /// Sets `IP_TTL`.
    ///
    /// # Errors
    /// The OS's error.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.inner.set_ttl(ttl)
    }

    /// The pending socket error (`SO_ERROR`), clearing it.
    ///
    /// # Errors
    /// The OS's error.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.take_error()
    }

    /// Gives up the runtime registration and returns the std stream, still
    /// non-blocking.
    pub fn into_std(self) -> std::net::TcpStream {
        let TcpStream { pfd, inner, dl: _ } = self;
        drop(pfd);
        inner
    }
}

stream_io!(TcpStream);

impl AsRawFd for TcpStream {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}

impl IntoRawFd for TcpStream {
    fn into_raw_fd(self) -> RawFd {
        self.into_std().into_raw_fd()
    }
}
