//! Thin wrappers over the Linux system calls the stopped window uses: none allocates or
//! takes a user-space lock, so they are safe to call while other threads are stopped at
//! arbitrary points (holding the malloc or loader lock) and from a signal handler. See
//! `roots/mod.rs` for the overview.

use core::ffi::c_char;
use core::time::Duration;

use crate::sync::static_atomic::AtomicU32;

/// The calling thread's errno.
pub(crate) fn errno() -> i32 {
    // SAFETY: `__errno_location` returns the calling thread's errno slot, valid for the
    // thread's lifetime.
    unsafe { *libc::__errno_location() }
}

/// Sets the calling thread's errno (a signal handler restores the interrupted value).
pub(crate) fn set_errno(v: i32) {
    // SAFETY: as in `errno`; the slot is the calling thread's own.
    unsafe { *libc::__errno_location() = v }
}

/// The calling thread's kernel thread id.
pub(crate) fn gettid() -> u32 {
    // SAFETY: gettid takes no arguments and cannot fail.
    let tid = unsafe { libc::syscall(libc::SYS_gettid) };
    u32::try_from(tid).unwrap_or(0)
}

/// The process id.
pub(crate) fn getpid() -> u32 {
    // SAFETY: getpid takes no arguments and cannot fail.
    let pid = unsafe { libc::getpid() };
    u32::try_from(pid).unwrap_or(0)
}

/// Sends `sig` (0: only checks that the thread exists) to thread `tid` of this process.
/// `Err(errno)` on failure (`ESRCH`: the thread has exited).
pub(crate) fn tgkill(tid: u32, sig: i32) -> Result<(), i32> {
    // SAFETY: tgkill reads only its integer arguments.
    let r = unsafe { libc::syscall(libc::SYS_tgkill, getpid(), tid, sig) };
    if r == 0 { Ok(()) } else { Err(errno()) }
}

/// Sleeps while `*word == expected`, at most `timeout` (forever if `None`). Spurious
/// returns are allowed: callers re-check their condition.
pub(crate) fn futex_wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) {
    let ts = timeout.map(|d| libc::timespec {
        tv_sec: libc::time_t::try_from(d.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: libc::c_long::from(d.subsec_nanos()),
    });
    let ts_ptr = ts
        .as_ref()
        .map_or(core::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: `word` is a live, aligned 32-bit word; `ts_ptr` is null or points to a
    // timespec on this frame; FUTEX_WAIT only reads both.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            expected,
            ts_ptr,
        );
    }
}

/// Wakes every thread sleeping in [`futex_wait`] on `word`.
pub(crate) fn futex_wake_all(word: &AtomicU32) {
    // SAFETY: `word` is a live, aligned 32-bit word; FUTEX_WAKE does not access it.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
            i32::MAX,
        );
    }
}

/// An open file descriptor, closed on drop.
struct Fd(i32);

impl Fd {
    /// Opens `path` (NUL-terminated) read-only.
    fn open(path: *const c_char, flags: i32) -> Result<Fd, i32> {
        // SAFETY: `path` is a NUL-terminated string (the callers pass C string literals).
        let fd = unsafe { libc::open(path, libc::O_RDONLY | libc::O_CLOEXEC | flags) };
        if fd < 0 { Err(errno()) } else { Ok(Fd(fd)) }
    }
}

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: `self.0` is a descriptor this value opened and nobody else closes.
        unsafe { libc::close(self.0) };
    }
}

/// Reads `fd` into `buf` from where it stands until EOF or `buf` is full; the bytes read.
fn read_all(fd: &Fd, buf: &mut [u8]) -> Result<usize, i32> {
    let mut n = 0;
    while n < buf.len() {
        let rest = &mut buf[n..];
        // SAFETY: `rest` is a writable buffer of `rest.len()` bytes.
        let r = unsafe { libc::read(fd.0, rest.as_mut_ptr().cast(), rest.len()) };
        match r {
            0 => break,
            r if r > 0 => n += r.unsigned_abs(),
            _ if errno() == libc::EINTR => {}
            _ => return Err(errno()),
        }
    }
    Ok(n)
}

/// Reads the file at `path` (NUL-terminated) into `buf`; the bytes read (equal to
/// `buf.len()` when the file may be longer).
pub(crate) fn read_file(path: *const c_char, buf: &mut [u8]) -> Result<usize, i32> {
    let fd = Fd::open(path, 0)?;
    read_all(&fd, buf)
}

/// The length of the file at `path` by reading it through (`/proc` files report size 0).
pub(crate) fn file_len(path: *const c_char) -> Result<usize, i32> {
    let fd = Fd::open(path, 0)?;
    let mut chunk = [0u8; 4096];
    let mut total = 0;
    loop {
        let n = read_all(&fd, &mut chunk)?;
        total += n;
        if n < chunk.len() {
            return Ok(total);
        }
    }
}

/// Calls `f(tid)` for every thread of the process (the entries of `/proc/self/task`),
/// reading the directory with `getdents64` into `buf`.
pub(crate) fn for_each_task(buf: &mut [u8], mut f: impl FnMut(u32)) -> Result<(), i32> {
    let fd = Fd::open(c"/proc/self/task".as_ptr(), libc::O_DIRECTORY)?;
    loop {
        // SAFETY: `buf` is a writable buffer of `buf.len()` bytes.
        let r = unsafe { libc::syscall(libc::SYS_getdents64, fd.0, buf.as_mut_ptr(), buf.len()) };
        if r < 0 {
            return Err(errno());
        }
        if r == 0 {
            return Ok(());
        }
        let filled = &buf[..r.unsigned_abs() as usize];
        let mut off = 0;
        // struct linux_dirent64 { u64 d_ino; i64 d_off; u16 d_reclen; u8 d_type; char d_name[]; }
        while off + 19 <= filled.len() {
            let reclen = usize::from(u16::from_ne_bytes([filled[off + 16], filled[off + 17]]));
            if reclen == 0 || off + reclen > filled.len() {
                break;
            }
            let name = &filled[off + 19..off + reclen];
            let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
            if let Some(tid) = parse_decimal(name) {
                f(tid);
            }
            off += reclen;
        }
    }
}

/// `PF_IO_WORKER` (linux/sched.h, 5.12+): the task is an io_uring worker (`iou-wrk-*`)
/// or submission-poll (`iou-sqp-*`) thread.
const PF_IO_WORKER: u32 = 0x10;

/// Whether thread `tid` of this process is an io_uring kernel thread: it shares the
/// address space but never runs user code and never handles a signal, so it is not
/// stopped. Decided by the kernel's task flags (field 9 of `/proc/self/task/<tid>/stat`),
/// not by the name, which any thread may set. Reads with raw system calls into stack
/// buffers (no allocation, no lock); false when it cannot tell (the thread exited).
pub(crate) fn is_io_worker(tid: u32) -> bool {
    let mut path = [0u8; 40];
    let prefix = b"/proc/self/task/";
    path[..prefix.len()].copy_from_slice(prefix);
    let mut len = prefix.len();
    let mut digits = [0u8; 10];
    let mut n = 0;
    let mut t = tid;
    loop {
        digits[n] = b'0' + (t % 10) as u8;
        n += 1;
        t /= 10;
        if t == 0 {
            break;
        }
    }
    for &d in digits[..n].iter().rev() {
        path[len] = d;
        len += 1;
    }
    let suffix = b"/stat\0";
    path[len..len + suffix.len()].copy_from_slice(suffix);
    let mut buf = [0u8; 1024];
    let Ok(n) = read_file(path.as_ptr().cast(), &mut buf) else {
        return false;
    };
    stat_flags(&buf[..n]).is_some_and(|f| f & PF_IO_WORKER != 0)
}

/// The `flags` field of a `/proc/<pid>/stat` line (after the parenthesised name, which
/// may hold spaces and parentheses: `state ppid pgrp session tty_nr tpgid flags`).
fn stat_flags(line: &[u8]) -> Option<u32> {
    let close = line.iter().rposition(|&b| b == b')')?;
    let mut fields = line[close + 1..]
        .split(|&b| b == b' ')
        .filter(|f| !f.is_empty());
    parse_decimal(fields.nth(6)?)
}

/// Parses a non-empty string of decimal digits; `None` for `.` and `..` and overflow.
fn parse_decimal(s: &[u8]) -> Option<u32> {
    if s.is_empty() {
        return None;
    }
    let mut v: u32 = 0;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u32::from(c - b'0'))?;
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_this_thread() {
        let me = gettid();
        let mut found = false;
        let mut buf = vec![0u8; 256];
        for_each_task(&mut buf, |t| found |= t == me).unwrap();
        assert!(found);
        assert_eq!(parse_decimal(b".."), None);
        assert_eq!(parse_decimal(b"4294967296"), None);
        assert_eq!(parse_decimal(b"123"), Some(123));
    }

    #[test]
    fn reads_task_flags() {
        let line = b"42 (iou-wrk-7 (x) y) S 1 42 42 0 -1 2130000 0 0";
        assert_eq!(stat_flags(line), Some(2_130_000));
        assert_eq!(stat_flags(b"42 (short) S 1"), None);
        assert!(!is_io_worker(gettid()));
        assert!(!is_io_worker(u32::MAX));
    }

    #[test]
    fn reads_proc_files_without_allocating() {
        let len = file_len(c"/proc/self/maps".as_ptr()).unwrap();
        assert!(len > 0);
        let mut buf = vec![0u8; len + 4096];
        let n = read_file(c"/proc/self/maps".as_ptr(), &mut buf).unwrap();
        assert!(n > 0 && n < buf.len());
        assert_eq!(tgkill(gettid(), 0), Ok(()));
    }
}
