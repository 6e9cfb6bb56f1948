//! The Linux epoll instance and the eventfd that breaks a blocking `epoll_wait` (Go:
//! netpoll_epoll.go `netpollinit`, `netpollopen`, `netpollclose`, `netpollBreak`).

use std::io;
use std::os::fd::RawFd;

/// Events every descriptor is registered for, once, edge-triggered (Go: `netpollopen`).
const EVENTS: u32 = (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32;

/// The `u64` key of the break eventfd's registration (descriptor keys never reach it).
pub(crate) const BREAK_KEY: u64 = u64::MAX;

/// One readiness report: the key a descriptor was registered with and what it is ready
/// for (errors and hang-ups make both directions ready, as in Go's `netpoll`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Event {
    /// The registration key.
    pub(crate) key: u64,
    /// Readable, peer closed its side, hung up or errored.
    pub(crate) read: bool,
    /// Writable, hung up or errored.
    pub(crate) write: bool,
}

/// An epoll instance with its break eventfd. Both descriptors are owned and closed on
/// drop. All methods take `&self`: the kernel serialises concurrent calls.
#[derive(Debug)]
pub(crate) struct Epoll {
    /// The epoll descriptor. Immutable.
    epfd: RawFd,
    /// The eventfd registered level-triggered for reading under [`BREAK_KEY`]. Immutable.
    breakfd: RawFd,
}

impl Epoll {
    /// Creates the instance and registers its break eventfd (Go: `netpollinit`).
    pub(crate) fn new() -> io::Result<Epoll> {
        // SAFETY: plain syscall with valid flags.
        let epfd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if epfd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: plain syscall with valid flags.
        let breakfd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if breakfd < 0 {
            let e = io::Error::last_os_error();
            // SAFETY: we own `epfd` and close it once.
            unsafe { libc::close(epfd) };
            return Err(e);
        }
        let ep = Epoll { epfd, breakfd };
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: BREAK_KEY,
        };
        // SAFETY: both descriptors are ours and `ev` is a valid event.
        if unsafe { libc::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, breakfd, &mut ev) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(ep)
    }

    /// Registers `fd` under `key` for both directions, edge-triggered.
    pub(crate) fn add(&self, fd: RawFd, key: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: EVENTS,
            u64: key,
        };
        // SAFETY: `ev` is a valid event; a bad `fd` is reported as an error.
        if unsafe { libc::epoll_ctl(self.epfd, libc::EPOLL_CTL_ADD, fd, &mut ev) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Removes `fd` (Go: `netpollclose`). Errors are ignored: closing the descriptor
    /// removes it anyway.
    pub(crate) fn del(&self, fd: RawFd) {
        let mut ev = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: as in `add`.
        unsafe { libc::epoll_ctl(self.epfd, libc::EPOLL_CTL_DEL, fd, &mut ev) };
    }

    /// Waits up to `timeout_ms` (-1: forever, 0: poll) and calls `f` for each event;
    /// the break eventfd is not reported. A waiting call (`timeout_ms != 0`) drains it
    /// and returns whether it fired; a non-blocking poll leaves it pending for the
    /// sleeper it is meant for and returns false (Go: `netpoll(0)` does not consume a
    /// `netpollBreak`).
    pub(crate) fn wait(&self, timeout_ms: i32, mut f: impl FnMut(Event)) -> bool {
        const N: usize = 128;
        let mut evs = [libc::epoll_event { events: 0, u64: 0 }; N];
        // SAFETY: `evs` has room for `N` events.
        let n = unsafe { libc::epoll_wait(self.epfd, evs.as_mut_ptr(), N as i32, timeout_ms) };
        let mut broke = false;
        for ev in evs.iter().take(usize::try_from(n).unwrap_or(0)) {
            let (events, key) = (ev.events, ev.u64);
            if key == BREAK_KEY {
                if timeout_ms == 0 {
                    continue;
                }
                let mut buf = 0u64;
                // SAFETY: reads 8 bytes into `buf`; the eventfd is non-blocking.
                unsafe { libc::read(self.breakfd, (&raw mut buf).cast(), 8) };
                broke = true;
                continue;
            }
            let err = (libc::EPOLLERR | libc::EPOLLHUP) as u32;
            f(Event {
                key,
                read: events & (libc::EPOLLIN | libc::EPOLLRDHUP) as u32 != 0 || events & err != 0,
                write: events & libc::EPOLLOUT as u32 != 0 || events & err != 0,
            });
        }
        broke
    }

    /// Makes a blocked (or the next) `wait` return (Go: `netpollBreak`).
    pub(crate) fn wake(&self) {
        let one = 1u64;
        // SAFETY: writes 8 bytes from `one`; EAGAIN (counter full) still leaves it
        // readable, which is all we need.
        unsafe { libc::write(self.breakfd, (&raw const one).cast(), 8) };
    }
}

impl Drop for Epoll {
    fn drop(&mut self) {
        // SAFETY: we own both descriptors and close each once.
        unsafe {
            libc::close(self.breakfd);
            libc::close(self.epfd);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_non_blocking_poll_leaves_a_break_for_the_sleeper() {
        let ep = Epoll::new().unwrap();
        ep.wake();
        // A poll(0) (find_runnable's, sysmon's) sees the break but must not eat it ...
        assert!(!ep.wait(0, |_| {}));
        assert!(!ep.wait(0, |_| {}));
        // ... so the sleeper's blocking wait still returns at once, and drains it.
        let t0 = std::time::Instant::now();
        assert!(ep.wait(10_000, |_| {}));
        assert!(t0.elapsed() < std::time::Duration::from_secs(5));
        assert!(!ep.wait(1, |_| {}));
    }
}
