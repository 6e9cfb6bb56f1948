//! The per-scheduler poller (epoll, registry, waiter count) and [`PollFd`], the
//! handle the `gort::net` sockets wait through.

use std::io;
use std::os::fd::RawFd;
use std::time::Instant;

use super::epoll::{Epoll, Event};
use super::poll_desc::{Mode, PollDesc};
use crate::m::{current_g, current_m};
use crate::park::Parker;
use crate::sched::{Sched, current_sched};
use crate::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use crate::sync::{Arc, Mutex, static_atomic};
use crate::time::timers::{self, Callback, Fire, NONE};

/// sysmon polls if nobody has for this long (Go: 10 ms).
const SYSMON_POLL_NS: u64 = 10_000_000;

/// A scheduler's netpoller slot: created on the first registration (Go:
/// `netpollGenericInit`). tidy: allow(std-sync) `OnceLock` has no loom twin and this
/// type is not built under loom.
#[derive(Debug, Default)]
pub(crate) struct Netpoll {
    /// The poller, once any descriptor was registered. Set once.
    poller: std::sync::OnceLock<Arc<Poller>>, // tidy: allow(std-sync) set-once slot, not built under loom
}

impl Netpoll {
    /// The poller, if the netpoller is in use.
    fn get(&self) -> Option<&Arc<Poller>> {
        self.poller.get()
    }
}

/// Descriptors by registration key: index in the low 32 bits, generation in the high.
#[derive(Debug, Default)]
struct Registry {
    /// Slot `i` holds the descriptor registered under index `i`, if any.
    slots: Vec<Option<Arc<PollDesc>>>,
    /// Free indices.
    free: Vec<u32>,
    /// Next generation (makes keys of reused indices distinct).
    gen_next: u32,
}

impl Registry {
    /// Every live slot holds the descriptor registered under its index; free indices
    /// are distinct and empty. O(n): called under debug assertions for small registries.
    fn check_invariants(&self) {
        for (i, slot) in self.slots.iter().enumerate() {
            if let Some(pd) = slot
                && (pd.key & 0xffff_ffff) as usize != i
            {
                crate::fatal::throw("netpoll: registry slot holds another index's descriptor");
            }
        }
        let mut seen = vec![false; self.slots.len()];
        for &f in &self.free {
            let f = f as usize;
            if f >= self.slots.len() || self.slots[f].is_some() || seen[f] {
                crate::fatal::throw("netpoll: registry free list is corrupt");
            }
            seen[f] = true;
        }
    }

    /// [`Registry::check_invariants`] in debug builds while the registry is small.
    fn debug_check(&self) {
        if cfg!(debug_assertions) && self.slots.len() <= 256 {
            self.check_invariants();
        }
    }
}

/// The epoll instance and what the scheduler needs to know about it. Shared (`Arc`) by
/// the scheduler and every [`PollFd`], so a socket may outlive its scheduler.
#[derive(Debug)]
pub(crate) struct Poller {
    /// The instance. Immutable.
    epoll: Epoll,
    /// Registered descriptors. Own lock, held briefly (register, deregister, and once
    /// per poll to look up a batch of events).
    registry: Mutex<Registry>,
    /// Parties parked on a slot (Go: `netpollWaiters`). SeqCst.
    waiters: AtomicUsize,
    /// An M is inside a blocking `epoll_wait` (Go: `sched.lastpoll == 0`). SeqCst.
    blocked: AtomicBool,
    /// A break is pending in the eventfd (Go: `netpollWakeSig`). SeqCst.
    wake_sig: AtomicBool,
    /// When a poll last ended, in scheduler nanotime. Relaxed (a sysmon hint).
    last_poll: AtomicU64,
}

impl Poller {
    /// Polls once (`timeout_ms`: 0 = no wait, -1 = forever) and collects the parties to
    /// wake into `ready`. Returns the number of events.
    fn poll(&self, timeout_ms: i32, ready: &mut Vec<Parker>) -> usize {
        let mut evs: Vec<Event> = Vec::new();
        // Only a waiting poll drains the break and clears `wake_sig` (see `Epoll::wait`):
        // a non-blocking poll racing a sleeper about to block must not eat the break
        // meant for it.
        let broke = self.epoll.wait(timeout_ms, |e| evs.push(e));
        if broke {
            self.wake_sig.store(false, Ordering::SeqCst);
        }
        if evs.is_empty() {
            return 0;
        }
        let reg = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        for e in &evs {
            let idx = (e.key & 0xffff_ffff) as usize;
            let Some(Some(pd)) = reg.slots.get(idx) else {
                continue;
            };
            if pd.key != e.key {
                // A stale event of a deregistered descriptor whose index was reused.
                continue;
            }
            if e.read
                && let Some(p) = pd.rd.slot.unblock(true)
            {
                ready.push(p);
            }
            if e.write
                && let Some(p) = pd.wr.slot.unblock(true)
            {
                ready.push(p);
            }
        }
        evs.len()
    }

    /// Breaks a blocking `epoll_wait`, or makes the next return at once.
    fn wake(&self) {
        if self
            .wake_sig
            .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            self.epoll.wake();
        }
    }
}

/// The poller of `sched` if it is in use and goroutines wait on it.
fn busy(sched: &Sched) -> Option<&Arc<Poller>> {
    sched
        .netpoll
        .get()
        .filter(|p| p.waiters.load(Ordering::SeqCst) > 0)
}

/// Whether anyone waits on `sched`'s netpoller (Go: `netpollAnyWaiters`).
pub(crate) fn has_waiters(sched: &Sched) -> bool {
    busy(sched).is_some()
}

/// `find_runnable`'s non-blocking poll, on an M holding a P with empty queues: readied
/// goroutines go to this P's run queue. Returns whether any was readied.
pub(crate) fn find_runnable_poll(m: &crate::m::M) -> bool {
    let sched = m.sched();
    let Some(poller) = busy(sched) else {
        return false;
    };
    if poller.blocked.load(Ordering::SeqCst) {
        // The blocked poller receives the events (Go: `sched.lastpoll != 0`).
        return false;
    }
    let mut ready = Vec::new();
    poller.poll(0, &mut ready);
    poller
        .last_poll
        .store(timers::nanotime(sched), Ordering::Relaxed);
    let any = !ready.is_empty();
    for p in ready {
        p.unpark();
    }
    any
}

/// The timer sleeper's wait when the netpoller is in use: `epoll_wait` for up to
/// `timeout_ns` ([`NONE`]: no timer), the parties readied collected into `ready` (the
/// caller unparks them once it knows whether it has a P). Returns false, without
/// waiting, if the netpoller is not in use (the caller sleeps on its note instead).
pub(crate) fn block(sched: &Sched, timeout_ns: u64, ready: &mut Vec<Parker>) -> bool {
    let Some(poller) = sched.netpoll.get() else {
        return false;
    };
    let ms = if timeout_ns == NONE {
        -1
    } else {
        // Round up: waking early only to sleep again wastes a round trip.
        i32::try_from(timeout_ns.div_ceil(1_000_000)).unwrap_or(i32::MAX)
    };
    poller.blocked.store(true, Ordering::SeqCst);
    poller.poll(ms, ready);
    poller.blocked.store(false, Ordering::SeqCst);
    poller
        .last_poll
        .store(timers::nanotime(sched), Ordering::Relaxed);
    true
}

/// Breaks the blocking poll of `sched`'s timer sleeper, if the netpoller is in use
/// (Go: `netpollBreak` from `wakeNetPoller`).
pub(crate) fn wake_poller(sched: &Sched) {
    if let Some(p) = sched.netpoll.get() {
        p.wake();
    }
}

/// sysmon: poll if goroutines wait and nobody has polled for 10 ms; what is readied
/// goes to the global run queue (Go: sysmon's `netpoll(0)` + `injectglist`).
pub(crate) fn sysmon_poll(sched: &Sched, now: u64) {
    let Some(poller) = busy(sched) else { return };
    if poller.blocked.load(Ordering::SeqCst)
        || poller.last_poll.load(Ordering::Relaxed) + SYSMON_POLL_NS > now
    {
        return;
    }
    let mut ready = Vec::new();
    poller.poll(0, &mut ready);
    poller.last_poll.store(now, Ordering::Relaxed);
    for p in ready {
        p.unpark();
    }
}

/// Raises the soft limit on open descriptors to the hard limit, once per process, as
/// Go 1.19 does at startup (a server with a goroutine per connection otherwise stops
/// at 1024 connections on many systems). Children started later inherit the raised
/// limit. Failure is ignored: the old limit stays.
fn raise_nofile_limit() {
    static DONE: static_atomic::AtomicBool = static_atomic::AtomicBool::new(false);
    if DONE.swap(true, static_atomic::Ordering::Relaxed) {
        return;
    }
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid out-parameter.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 && lim.rlim_cur < lim.rlim_max
    {
        lim.rlim_cur = lim.rlim_max;
        // SAFETY: `lim` is a valid limit no higher than the hard one.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
    }
}

/// A deadline timer's argument: the wait generation and the direction.
fn deadline_arg(seq: u64, mode: Mode) -> u64 {
    seq << 1 | u64::from(mode == Mode::Write)
}

impl Callback for PollDesc {
    fn fire(&self, arg: u64) {
        let mode = if arg & 1 == 1 {
            Mode::Write
        } else {
            Mode::Read
        };
        if let Some(p) = self.deadline_fired(mode, arg >> 1) {
            p.unpark();
        }
    }

    fn is_current(&self, arg: u64) -> bool {
        let mode = if arg & 1 == 1 {
            Mode::Write
        } else {
            Mode::Read
        };
        self.dir(mode).seq.load(Ordering::Relaxed) == arg >> 1
    }
}

/// A descriptor registered with the netpoller of the scheduler it was created on (Go:
/// `internal/poll.pollDesc`). It does not own the descriptor: drop it (which wakes
/// waiters with an error and deregisters) before closing the descriptor.
///
/// Operations on one direction are serialised (Go: `fdMutex`'s read and write locks),
/// so several goroutines may share a socket.
pub struct PollFd {
    /// The descriptor. Immutable.
    fd: RawFd,
    /// The runtime side. Shared with the registry and armed deadline timers.
    pd: Arc<PollDesc>,
    /// The poller it is registered with.
    poller: Arc<Poller>,
    /// Serialises readers (one waiter per slot).
    rlock: crate::gosync::Mutex<()>,
    /// Serialises writers.
    wlock: crate::gosync::Mutex<()>,
}

impl core::fmt::Debug for PollFd {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PollFd").field("fd", &self.fd).finish()
    }
}

/// The error of an operation on a descriptor being closed (Go: `ErrNetClosing`).
fn closing_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "use of closed network connection",
    )
}

/// The error of an expired deadline (Go: `os.ErrDeadlineExceeded`), with std's kind.
fn timeout_error() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "i/o timeout")
}

impl PollFd {
    /// Registers `fd` (which the caller has made non-blocking) with the current
    /// scheduler's netpoller, starting the netpoller on first use.
    ///
    /// # Errors
    /// Not on a gort runtime (`ErrorKind::Unsupported`, naming the problem), or the
    /// OS refused the registration.
    pub fn new(fd: RawFd) -> io::Result<PollFd> {
        let Some(sched) = current_sched() else {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "gort::net: not inside a gort runtime (create sockets from a goroutine: \
                 inside gort::run or #[gort::main])",
            ));
        };
        let mut fresh = false;
        let poller = match sched.netpoll.poller.get() {
            Some(p) => Arc::clone(p),
            None => {
                let epoll = Epoll::new()?;
                let p = sched.netpoll.poller.get_or_init(|| {
                    fresh = true;
                    Arc::new(Poller {
                        epoll,
                        registry: Mutex::new(Registry::default()),
                        waiters: AtomicUsize::new(0),
                        blocked: AtomicBool::new(false),
                        wake_sig: AtomicBool::new(false),
                        last_poll: AtomicU64::new(0),
                    })
                });
                Arc::clone(p)
            }
        };
        if fresh {
            // An M may be sleeping for timers on its note: make it come back and sleep
            // in epoll_wait from now on.
            timers::wake_sleeper(sched);
            raise_nofile_limit();
        }
        let pd = {
            let mut reg = poller.registry.lock().unwrap_or_else(|e| e.into_inner());
            let idx = match reg.free.pop() {
                Some(i) => i,
                None => {
                    reg.slots.push(None);
                    u32::try_from(reg.slots.len() - 1).unwrap_or(u32::MAX)
                }
            };
            reg.gen_next = reg.gen_next.wrapping_add(1);
            let key = u64::from(reg.gen_next) << 32 | u64::from(idx);
            let pd = Arc::new(PollDesc::new(key));
            reg.slots[idx as usize] = Some(Arc::clone(&pd));
            reg.debug_check();
            pd
        };
        let pfd = PollFd {
            fd,
            pd,
            poller,
            rlock: crate::gosync::Mutex::new(()),
            wlock: crate::gosync::Mutex::new(()),
        };
        // On failure `pfd`'s drop takes the registry entry back.
        pfd.poller.epoll.add(fd, pfd.pd.key)?;
        Ok(pfd)
    }

    /// The descriptor.
    pub fn fd(&self) -> RawFd {
        self.fd
    }

    /// Runs `op` until it does not fail with `WouldBlock`, waiting for `mode`
    /// readiness in between (Go: `fd.Read`'s loop over `pd.waitRead`). `deadline` is
    /// re-evaluated before each attempt and bounds the operation: past it the result
    /// is `ErrorKind::TimedOut`; [`PollFd::deadline_changed`] makes a blocked wait
    /// re-evaluate it at once. `EINTR` is retried.
    ///
    /// # Errors
    /// `op`'s error, `TimedOut`, or `NotConnected` if the descriptor is being closed.
    pub fn io<R>(
        &self,
        mode: Mode,
        deadline: impl Fn() -> Option<Instant>,
        mut op: impl FnMut() -> io::Result<R>,
    ) -> io::Result<R> {
        let _serial = match mode {
            Mode::Read => self.rlock.lock(),
            Mode::Write => self.wlock.lock(),
        };
        let dir = self.pd.dir(mode);
        loop {
            // Before reading the deadline: a change after this load is seen by the
            // wait's error check (`deadline_changed` bumps, then wakes).
            let kick = dir.kick.load(Ordering::SeqCst);
            let d = deadline();
            if self.pd.closing.load(Ordering::SeqCst) {
                return Err(closing_error());
            }
            if d.is_some_and(|d| d <= Instant::now()) {
                return Err(timeout_error());
            }
            match op() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => return r,
            }
            self.wait(mode, d, kick)?;
        }
    }

    /// The deadline of `mode` changed: a goroutine blocked in [`PollFd::io`] re-reads
    /// it now (Go: `SetReadDeadline` on a blocked connection; setting it to the past
    /// is the idiom for interrupting a reader). A wait on a plain thread (`poll(2)`)
    /// notices only at its old deadline.
    pub fn deadline_changed(&self, mode: Mode) {
        let dir = self.pd.dir(mode);
        dir.kick.fetch_add(1, Ordering::SeqCst);
        if let Some(p) = dir.slot.unblock(false) {
            p.unpark();
        }
    }

    /// Marks the descriptor closing and wakes blocked operations, which fail (as do
    /// later ones) with `NotConnected` "use of closed network connection" (Go: `Close`
    /// waking a blocked `Accept` or `Read`). The descriptor stays registered and open
    /// until the `PollFd` and its socket are dropped.
    pub fn evict(&self) {
        for p in self.pd.evict().into_iter().flatten() {
            p.unpark();
        }
    }

    /// Waits once for `mode` readiness (an edge since the last wait), `deadline`,
    /// closing, or a deadline change since `kick` was read. Callers use
    /// [`PollFd::io`], which serialises waiters.
    fn wait(&self, mode: Mode, deadline: Option<Instant>, kick: u64) -> io::Result<()> {
        let on_goroutine =
            current_g().is_some() && current_m().is_some_and(|m| !m.p.get().is_null());
        if !on_goroutine {
            return self.wait_thread(mode, deadline);
        }
        let dir = self.pd.dir(mode);
        let seq = dir.seq.fetch_add(1, Ordering::SeqCst) + 1;
        // The heap's stale-entry counter, if a deadline timer was armed.
        let mut armed = None;
        if let Some(d) = deadline {
            let left = d.saturating_duration_since(Instant::now());
            if let Some(m) = current_m() {
                // SAFETY: the M owns its P (checked non-null above); Ps live as long
                // as the scheduler.
                armed = unsafe { m.p.get().as_ref() }.map(|p| p.timers.stale_counter());
                let when = timers::when_after(m.sched(), left);
                let cb: Arc<dyn Callback> = self.pd.clone();
                timers::add(m, when, Fire::Call(cb, deadline_arg(seq, mode)));
            }
        }
        let pd = &*self.pd;
        let ready = dir.slot.wait(&self.poller.waiters, || {
            pd.closing.load(Ordering::SeqCst)
                || dir.expired.load(Ordering::SeqCst) == seq
                || dir.kick.load(Ordering::SeqCst) != kick
        });
        if let Some(stale) = armed
            && dir.expired.load(Ordering::SeqCst) != seq
        {
            // The wait ended before its deadline: retire the timer's generation so
            // the heap may drop the entry early (the `Timer::stop` hint).
            dir.seq.fetch_add(1, Ordering::SeqCst);
            stale.fetch_add(1, Ordering::Relaxed);
        }
        if ready {
            return Ok(());
        }
        if pd.closing.load(Ordering::SeqCst) {
            return Err(closing_error());
        }
        if dir.expired.load(Ordering::SeqCst) == seq {
            return Err(timeout_error());
        }
        // A deadline change (or a spurious return): the caller re-evaluates.
        Ok(())
    }

    /// [`PollFd::wait`] off a goroutine: a blocking `poll(2)` on the descriptor.
    fn wait_thread(&self, mode: Mode, deadline: Option<Instant>) -> io::Result<()> {
        let events = match mode {
            Mode::Read => libc::POLLIN | libc::POLLRDHUP,
            Mode::Write => libc::POLLOUT,
        };
        let mut pfd = libc::pollfd {
            fd: self.fd,
            events,
            revents: 0,
        };
        let ms = match deadline {
            None => -1,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                i32::try_from(left.as_nanos().div_ceil(1_000_000)).unwrap_or(i32::MAX)
            }
        };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, ms) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        Ok(())
    }
}

impl Drop for PollFd {
    fn drop(&mut self) {
        self.evict();
        self.poller.epoll.del(self.fd);
        let mut reg = self
            .poller
            .registry
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let idx = (self.pd.key & 0xffff_ffff) as u32;
        if let Some(slot) = reg.slots.get_mut(idx as usize)
            && slot.as_ref().is_some_and(|p| p.key == self.pd.key)
        {
            *slot = None;
            reg.free.push(idx);
        }
        reg.debug_check();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, run_with};

    /// A non-blocking pipe: (read end, write end).
    fn pipe() -> (RawFd, RawFd) {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for two descriptors.
        let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) };
        assert_eq!(r, 0);
        (fds[0], fds[1])
    }

    fn close(fd: RawFd) {
        // SAFETY: the test owns `fd` and closes it once.
        unsafe { libc::close(fd) };
    }

    fn read_byte(fd: RawFd) -> io::Result<u8> {
        let mut b = 0u8;
        // SAFETY: reads at most one byte into `b`.
        let n = unsafe { libc::read(fd, (&raw mut b).cast(), 1) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(b)
        }
    }

    #[test]
    fn a_goroutine_parked_on_a_pipe_wakes_for_its_byte() {
        let c = Config {
            maxprocs: 1,
            ..Config::default()
        };
        let got = run_with(c, || {
            let (r, w) = pipe();
            let pfd = Arc::new(PollFd::new(r).unwrap());
            let out = crate::Chan::new(1);
            let (p2, o2) = (Arc::clone(&pfd), out.clone());
            crate::spawn(move || {
                o2.send(p2.io(Mode::Read, || None, || read_byte(p2.fd())).unwrap());
            })
            .unwrap();
            crate::time::sleep(core::time::Duration::from_millis(10));
            // SAFETY: writes one byte from a live buffer.
            assert_eq!(unsafe { libc::write(w, b"z".as_ptr().cast(), 1) }, 1);
            let b = out.recv().unwrap();
            drop(pfd);
            close(r);
            close(w);
            b
        })
        .unwrap();
        assert_eq!(got, b'z');
    }

    #[test]
    fn registry_reuses_indices_with_new_generations() {
        run_with(Config::default(), || {
            let (r, w) = pipe();
            let mut keys = Vec::new();
            for _ in 0..5 {
                let pfd = PollFd::new(r).unwrap();
                keys.push(pfd.pd.key);
                let reg = pfd.poller.registry.lock().unwrap();
                reg.check_invariants();
            }
            // One index, reused, never the same key twice.
            assert!(
                keys.iter()
                    .all(|k| k & 0xffff_ffff == keys[0] & 0xffff_ffff)
            );
            let mut dedup = keys.clone();
            dedup.dedup();
            assert_eq!(dedup.len(), keys.len());
            // A deadline in the past fails at once; closing fails later waits.
            let pfd = PollFd::new(r).unwrap();
            let e = pfd
                .io(Mode::Read, || Some(Instant::now()), || read_byte(r))
                .unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::TimedOut);
            close(r);
            close(w);
        })
        .unwrap();
    }
}
