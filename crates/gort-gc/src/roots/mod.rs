//! Root enumeration for hosts: every other thread's stack, registers and TLS (stopped by a
//! signal handshake, as Boehm does), the caller's own, and the writable data segments of
//! every loaded object. The facade's host uses [`Roots`] inside its
//! [`Host::stop_the_world`](crate::Host::stop_the_world) and
//! [`Host::for_each_root_range`](crate::Host::for_each_root_range).
//!
//! # Protocol (x86-64 Linux)
//!
//! 1. [`Roots::prepare`] — everything that allocates or takes a libc lock, done while
//!    every thread runs: install the `SIGPWR` handler, size the slot table and the
//!    `/proc` buffers from the current thread count and mappings, walk the loaded objects
//!    with `dl_iterate_phdr` (writable `PT_LOAD` minus RELRO; `PT_TLS` sizes).
//! 2. [`Roots::stop_threads`] — list `/proc/self/task` with `getdents64`, write each
//!    thread's id (but io_uring's kernel threads') into a free slot (state `SIGNALLED`), `tgkill` it with `SIGPWR`. The
//!    handler (async-signal-safe: atomics, `gettid`, `futex`) finds its slot, copies the
//!    general and xmm registers and the stack pointer out of its `ucontext`, notes where
//!    its whole saved vector state lies (the `XSAVE` area in the signal frame:
//!    `_fpx_sw_bytes.xstate_size` bytes, ymm/zmm upper halves and zmm16-31 included,
//!    which glibc's EVEX `memmove` uses; else the 512-byte `FXSAVE` area), reads its
//!    thread pointer (`%fs:0`), moves the slot to `STOPPED`, wakes the stopper and
//!    futex-waits for the restart epoch to change. The stopper waits for every answer,
//!    dropping threads that exited (`tgkill(tid, 0)` says `ESRCH`), and re-lists the
//!    directory until no new thread appears (a running thread may have created one).
//!    Then it re-reads `/proc/self/maps` with raw system calls into the buffer sized in
//!    step 1. A thread that does not answer within the timeout fails the stop with
//!    [`RootsError::ThreadDidNotStop`] naming it; a full buffer restarts the threads,
//!    grows it and tries again. Nothing in this window allocates or takes a lock another
//!    thread could hold (a stopped thread may hold the malloc or the loader lock).
//! 3. [`Roots::for_each_range`] — with threads stopped: for each stopped thread its
//!    saved registers and vector state, its stack from the saved SP (less the 128-byte
//!    red zone) to the top of the goroutine stack segment holding it (asked of the host)
//!    or else of the mapping holding it, and its static TLS block and thread control block around the thread
//!    pointer, clamped to the mapping; the same for the caller with its callee-saved
//!    registers spilled ([`with_spilled_registers`]); the data segments, clamped to the
//!    readable mappings read in step 2 (an object `dlclose`d after step 1 is gone).
//! 4. [`Roots::resume_threads`] — clear the slots (stale register values would retain
//!    garbage), bump the epoch and wake every handler, without waiting for them to run:
//!    a handler's last touch of its slot is a compare-and-swap that fails once the slot
//!    is freed, and a thread still in its handler when the next stop comes answers the
//!    new (pending) signal after returning.
//!
//! Restart is a futex on the epoch word rather than Boehm's second signal
//! (`SIGXCPU`): one signal fewer to reserve, and no lost-restart race.
//!
//! # Not done
//!
//! A thread that blocks `SIGPWR` (some libraries' helper threads block every signal)
//! never answers: the stop fails with its id. io_uring's kernel threads (`iou-wrk-*`,
//! `iou-sqp-*`, told by the kernel's `PF_IO_WORKER` task flag) are not stopped: they
//! never run user code nor answer a signal. The dynamic TLS of `dlopen`ed modules
//! (glibc mallocs it) and memory from any allocator but gort's are not roots: a `Gc`
//! kept only there is freed. `SIGPWR` makes `epoll_wait`, `poll`, `select` and the
//! other calls the kernel never restarts return `EINTR` in the threads it stops, even
//! with `SA_RESTART`: plain threads must retry them. A thread interrupted while running on its
//! signal stack has its signal stack scanned, not the stack it was interrupted on
//! (the outer signal frame holding that stack pointer is on the signal stack, but the
//! stack below is not followed). Only x86-64 Linux.

mod data_segments;
mod proc_maps;
mod raw;
mod registers;
mod roots_error;
mod thread_handshake;

pub use registers::{CALLEE_SAVED, RED_ZONE, with_spilled_registers};
pub use roots_error::RootsError;
pub use thread_handshake::{SAVED_WORDS, SUSPEND_SIGNAL, StoppedThread};

use core::ops::Range;
use core::time::Duration;

use crate::host::RootKind;
use data_segments::Image;
use proc_maps::Maps;
use thread_handshake::{StopFailure, Stopper};

/// Bytes scanned above a thread pointer: glibc's thread control block (`struct pthread`,
/// about 2.3 KiB on x86-64, holding the DTV pointer and the first 32 pthread keys),
/// rounded up; clamped to the mapping.
pub const TCB_BYTES: usize = 4096;

/// How long [`Roots::stop_threads`] waits for a thread to answer by default.
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// Times [`Roots::stop_threads`] grows its buffers and retries before giving up.
const MAX_TRIES: usize = 6;

/// The root finder: stops the other threads and reports their stacks, registers and TLS,
/// the caller's, and the data segments. One per host; see the module docs.
#[derive(Debug)]
pub struct Roots {
    /// The handshake state. Owned by the collecting thread.
    stopper: Stopper,
    /// `/proc/self/maps`, re-read in the stopped window.
    maps: Maps,
    /// Data segments and static TLS size, from the last [`Roots::prepare`].
    image: Image,
    /// How long to wait for a thread to answer.
    timeout: Duration,
}

impl Default for Roots {
    fn default() -> Roots {
        Roots::new()
    }
}

impl Roots {
    /// A root finder with the default timeout; installs nothing until
    /// [`Roots::prepare`].
    pub fn new() -> Roots {
        Roots {
            stopper: Stopper::new(),
            maps: Maps::default(),
            image: Image::default(),
            timeout: DEFAULT_STOP_TIMEOUT,
        }
    }

    /// Sets how long [`Roots::stop_threads`] waits for each round of answers.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Does everything that allocates or takes a libc lock, before threads are stopped:
    /// installs the signal handler, sizes the buffers, collects the data segments
    /// (leaving out `exclude`, e.g. the collector's own heap).
    pub fn prepare(&mut self, exclude: &[Range<usize>]) -> Result<(), RootsError> {
        self.stopper.prepare().map_err(|errno| RootsError::Os {
            what: "installing the SIGPWR handler or listing /proc/self/task",
            errno,
        })?;
        self.maps.reserve().map_err(|errno| RootsError::Os {
            what: "reading /proc/self/maps",
            errno,
        })?;
        self.image.collect(exclude);
        Ok(())
    }

    /// Stops every other thread of the process but those in `exempt` (the collector's
    /// own workers), after [`Roots::prepare`]. On error no thread stays stopped.
    pub fn stop_threads(&mut self, exempt: &[u32]) -> Result<(), RootsError> {
        for _ in 0..MAX_TRIES {
            match self.stopper.stop(self.timeout, exempt) {
                Ok(()) => {}
                Err(StopFailure::Grow) => {
                    self.stopper.grow();
                    continue;
                }
                Err(StopFailure::NoAnswer(tid)) => {
                    return Err(RootsError::ThreadDidNotStop {
                        tid,
                        waited: self.timeout,
                    });
                }
                Err(StopFailure::Errno(what, errno)) => {
                    return Err(RootsError::Os { what, errno });
                }
            }
            match self.maps.read_raw() {
                Ok(()) => return Ok(()),
                Err(err) => {
                    self.stopper.resume();
                    if let Some(errno) = err {
                        return Err(RootsError::Os {
                            what: "reading /proc/self/maps",
                            errno,
                        });
                    }
                    self.maps.reserve().map_err(|errno| RootsError::Os {
                        what: "reading /proc/self/maps",
                        errno,
                    })?;
                }
            }
        }
        Err(RootsError::KeptGrowing { tries: MAX_TRIES })
    }

    /// Restarts the threads stopped by [`Roots::stop_threads`]; a no-op if none are.
    pub fn resume_threads(&mut self) {
        self.stopper.resume();
    }

    /// Calls `f` for every stopped thread's record (between [`Roots::stop_threads`] and
    /// [`Roots::resume_threads`]).
    pub fn for_each_stopped(&self, f: impl FnMut(StoppedThread<'_>)) {
        self.stopper.for_each_stopped(f);
    }

    /// The readable mapping holding `addr`, from the `/proc/self/maps` read while the
    /// threads were stopped.
    pub fn mapping_of(&self, addr: usize) -> Option<Range<usize>> {
        self.maps.readable_range_of(addr)
    }

    /// The writable data segments found by the last [`Roots::prepare`].
    pub fn data_segments(&self) -> &[Range<usize>] {
        &self.image.segments
    }

    /// Calls `f(start, end, kind)` for every root outside goroutine bookkeeping: each
    /// stopped thread's registers, stack and TLS, the caller's, and the data segments.
    /// `segment_of(sp)` returns the goroutine stack segment (usable part) holding `sp`,
    /// if any, so a thread running a goroutine (in a system call, or mid-switch) is
    /// scanned to that segment's top and not through a whole stack reservation.
    /// Allocates nothing. Call between [`Roots::stop_threads`] and
    /// [`Roots::resume_threads`].
    pub fn for_each_range(
        &self,
        segment_of: &dyn Fn(usize) -> Option<Range<usize>>,
        f: &mut dyn FnMut(usize, usize, RootKind),
    ) {
        self.stopper.for_each_stopped(|t| {
            let regs = t.registers.as_ptr() as usize;
            f(regs, regs + size_of_val(t.registers), RootKind::Registers);
            if !t.fp_state.is_empty() {
                f(t.fp_state.start, t.fp_state.end, RootKind::Registers);
            }
            self.thread_ranges(t.sp, t.thread_pointer, segment_of, f);
        });
        with_spilled_registers(|regs, sp| {
            let start = regs.as_ptr() as usize;
            f(start, start + size_of_val(regs), RootKind::Registers);
            self.thread_ranges(sp, thread_pointer(), segment_of, f);
        });
        // Clamped to the mappings read in the stopped window: an object unloaded
        // (`dlclose`) between `prepare` and the stop left its segments unmapped.
        for r in &self.image.segments {
            self.maps
                .for_each_readable_part(r.clone(), |lo, hi| f(lo, hi, RootKind::Data));
        }
    }

    /// The stack and TLS ranges of a thread with stack pointer `sp` and thread pointer
    /// `tp`.
    fn thread_ranges(
        &self,
        sp: usize,
        tp: usize,
        segment_of: &dyn Fn(usize) -> Option<Range<usize>>,
        f: &mut dyn FnMut(usize, usize, RootKind),
    ) {
        let stack = segment_of(sp).or_else(|| self.maps.readable_range_of(sp));
        if let Some(stack) = stack {
            let lo = sp.saturating_sub(RED_ZONE).max(stack.start);
            if lo < stack.end {
                f(lo, stack.end, RootKind::Stack);
            }
        }
        if let Some(m) = self.maps.readable_range_of(tp) {
            let lo = tp.saturating_sub(self.image.static_tls).max(m.start);
            let hi = tp.saturating_add(TCB_BYTES).min(m.end);
            if lo < hi {
                f(lo, hi, RootKind::Tls);
            }
        }
    }
}

impl Drop for Roots {
    fn drop(&mut self) {
        self.stopper.resume();
    }
}

/// The calling thread's kernel thread id (for [`Roots::stop_threads`]'s `exempt`).
pub fn current_tid() -> u32 {
    raw::gettid()
}

/// The calling thread's thread pointer (`%fs` base).
pub fn thread_pointer() -> usize {
    let tp: usize;
    // SAFETY: on x86-64 Linux the word at %fs:0 is the thread control block's pointer to
    // itself; reading it has no side effect.
    unsafe {
        core::arch::asm!("mov {}, qword ptr fs:[0]", out(reg) tp, options(nostack, readonly, preserves_flags));
    }
    tp
}

#[cfg(test)]
mod tests;
