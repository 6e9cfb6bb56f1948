//! SIGQUIT (Ctrl-\): print every goroutine and exit with status 2, as Go does.
//!
//! The handler only writes a byte to a pipe (async-signal-safe); a watcher thread
//! blocked on the pipe's other end does the dump, which allocates and symbolizes.

use std::io::Write as _;

use crate::sync::static_atomic::{AtomicU32, Ordering};

/// The pipe's write end, or `u32::MAX` before `install`.
static PIPE_WR: AtomicU32 = AtomicU32::new(u32::MAX);

/// The signal handler: wakes the watcher.
extern "C" fn on_sigquit(_sig: libc::c_int) {
    let fd = PIPE_WR.load(Ordering::Relaxed);
    if let Ok(fd) = libc::c_int::try_from(fd) {
        let b = b'q';
        // SAFETY: `write` is async-signal-safe; `b` is a valid one-byte buffer. A full
        // pipe (a dump already pending) loses nothing that matters.
        let _ = unsafe { libc::write(fd, (&raw const b).cast(), 1) };
    }
}

/// Installs the handler and starts the watcher (once per process; called when the
/// first scheduler registers). Failing to (no pipe, no thread) leaves SIGQUIT's
/// default action, which also ends the process.
pub(super) fn install() {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` has room for the two descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return;
    }
    let [rd, wr] = fds;
    let spawned = crate::sync::thread::Builder::new()
        .name("gort-sigquit".into())
        .spawn(move || watch(rd));
    if spawned.is_err() {
        return;
    }
    PIPE_WR.store(wr.unsigned_abs(), Ordering::Relaxed);
    // SAFETY: a zeroed `sigaction` is a valid starting value; we set the handler and
    // an empty mask, and `on_sigquit` is async-signal-safe.
    unsafe {
        let mut sa: libc::sigaction = core::mem::zeroed();
        sa.sa_sigaction = on_sigquit as *const () as usize;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGQUIT, &sa, core::ptr::null_mut());
    }
}

/// The watcher: waits for the handler's byte, prints the dump, exits 2.
fn watch(rd: libc::c_int) {
    let mut b = 0u8;
    loop {
        // SAFETY: `b` is a valid one-byte buffer; `rd` is the pipe's read end, ours.
        let n = unsafe { libc::read(rd, (&raw mut b).cast(), 1) };
        if n == 1 {
            break;
        }
        if n == 0 {
            return;
        }
    }
    let mut out = String::from("SIGQUIT: quit\n\n");
    for s in super::schedulers() {
        super::dump::dump_sched(&s, &mut out);
    }
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(out.as_bytes());
    let _ = err.flush();
    // SAFETY: `_exit` ends the process at once, as Go's dieFromSignal does; nothing
    // of ours needs running first (stderr is flushed).
    unsafe { libc::_exit(2) };
}
