//! Name resolution through the syscall path (Go: `net.Resolver` on cgo's thread).

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

/// Resolves `addr` (`"host:port"`, a `SocketAddr`, `(host, port)` …) to socket
/// addresses. The lookup runs inside [`crate::syscall`], so a slow DNS server blocks
/// this goroutine only, never a P.
///
/// # Errors
/// `InvalidInput` for a malformed address or one that resolves to nothing; the
/// resolver's error otherwise.
pub fn lookup<A: ToSocketAddrs>(addr: A) -> io::Result<Vec<SocketAddr>> {
    let v: Vec<SocketAddr> = crate::syscall(|| addr.to_socket_addrs())?.collect();
    if v.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "could not resolve to any addresses",
        ));
    }
    Ok(v)
}

/// Tries `f` on each address of `addr` in turn; the last error if all fail.
pub(crate) fn each_addr<A: ToSocketAddrs, T>(
    addr: A,
    mut f: impl FnMut(&SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = None;
    for a in lookup(addr)? {
        match f(&a) {
            Ok(v) => return Ok(v),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "could not resolve to any addresses",
        )
    }))
}
