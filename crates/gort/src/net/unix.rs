//! Unix-domain stream sockets: [`UnixListener`], [`UnixStream`] (Go: `net.UnixListener`,
//! `net.UnixConn`).

use std::io;
use std::net::Shutdown;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use gort_sched::netpoll::{Mode, PollFd};

use super::deadline::Deadlines;

/// A Unix-domain socket server (Go: `net.UnixListener`).
pub struct UnixListener {
    // Field order matters: the registration is dropped before the descriptor closes.
    /// The netpoller registration.
    pfd: PollFd,
    /// The non-blocking socket (owns the descriptor).
    inner: std::os::unix::net::UnixListener,
}

impl core::fmt::Debug for UnixListener {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("UnixListener")
            .field("fd", &self.pfd.fd())
            .finish()
    }
}

impl UnixListener {
    /// Binds to the socket file `path` and listens.
    ///
    /// # Errors
    /// `Unsupported` off a gort runtime; the OS's error (`AddrInUse` if the file
    /// exists …).
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixListener> {
        let inner = std::os::unix::net::UnixListener::bind(path)?;
        inner.set_nonblocking(true)?;
        let pfd = PollFd::new(inner.as_raw_fd())?;
        Ok(UnixListener { pfd, inner })
    }

    /// Waits for a connection.
    ///
    /// # Errors
    /// The OS's error.
    pub fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let (s, a) = self.pfd.io(Mode::Read, || None, || self.inner.accept())?;
        Ok((UnixStream::from_std(s)?, a))
    }

    /// The bound address.
    ///
    /// # Errors
    /// The OS's error.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// Stops accepting, as [`crate::net::TcpListener::close`].
    pub fn close(&self) {
        self.pfd.evict();
    }
}

/// A Unix-domain stream connection (Go: `net.UnixConn`).
pub struct UnixStream {
    // Field order matters: the registration is dropped before the descriptor closes.
    /// The netpoller registration.
    pfd: PollFd,
    /// The non-blocking socket (owns the descriptor).
    inner: std::os::unix::net::UnixStream,
    /// Timeouts and deadlines.
    dl: Deadlines,
}

impl core::fmt::Debug for UnixStream {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("UnixStream")
            .field("fd", &self.pfd.fd())
            .finish()
    }
}

impl UnixStream {
    /// Connects to the socket file `path`. The connect runs inside
    /// [`crate::syscall`] (a full backlog can make it block).
    ///
    /// # Errors
    /// `Unsupported` off a gort runtime; the OS's error (`NotFound`,
    /// `ConnectionRefused` …).
    pub fn connect<P: AsRef<Path>>(path: P) -> io::Result<UnixStream> {
        let p = path.as_ref();
        let s = crate::syscall(|| std::os::unix::net::UnixStream::connect(p))?;
        UnixStream::from_std(s)
    }

    /// A connected pair (`socketpair(2)`).
    ///
    /// # Errors
    /// The OS's error, or `Unsupported` off a gort runtime.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = std::os::unix::net::UnixStream::pair()?;
        Ok((UnixStream::from_std(a)?, UnixStream::from_std(b)?))
    }

    /// Adopts a std stream (made non-blocking here).
    ///
    /// # Errors
    /// The OS's error, or `Unsupported` off a gort runtime.
    pub fn from_std(inner: std::os::unix::net::UnixStream) -> io::Result<UnixStream> {
        inner.set_nonblocking(true)?;
        let pfd = PollFd::new(inner.as_raw_fd())?;
        Ok(UnixStream {
            pfd,
            inner,
            dl: Deadlines::default(),
        })
    }

    /// The local address.
    ///
    /// # Errors
    /// The OS's error.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// The peer's address.
    ///
    /// # Errors
    /// The OS's error.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }

    /// Shuts down one or both directions.
    ///
    /// # Errors
    /// The OS's error.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.shutdown(how)
    }

    /// Read timeout per operation (std's).
    ///
    /// # Errors
    /// `InvalidInput` for `Some(Duration::ZERO)`.
    pub fn set_read_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        self.dl.read.set_timeout(d)
    }

    /// Write timeout per operation (std's).
    ///
    /// # Errors
    /// `InvalidInput` for `Some(Duration::ZERO)`.
    pub fn set_write_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        self.dl.write.set_timeout(d)
    }

    /// Absolute read deadline (Go: `SetReadDeadline`).
    pub fn set_read_deadline(&self, t: Option<Instant>) {
        self.dl.read.set_deadline(t);
        self.pfd.deadline_changed(Mode::Read);
    }

    /// Absolute write deadline (Go: `SetWriteDeadline`).
    pub fn set_write_deadline(&self, t: Option<Instant>) {
        self.dl.write.set_deadline(t);
        self.pfd.deadline_changed(Mode::Write);
    }

    /// Another handle to the same connection.
    ///
    /// # Errors
    /// The OS's error, or `Unsupported` off a gort runtime.
    pub fn try_clone(&self) -> io::Result<UnixStream> {
        UnixStream::from_std(self.inner.try_clone()?)
    }
}

stream_io!(UnixStream);

impl AsRawFd for UnixStream {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}
