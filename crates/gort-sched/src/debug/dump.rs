//! Formatting goroutine dumps: headers in Go's shape, frame-pointer walks of parked
//! goroutines' stacks read through the kernel, and symbolization.

use core::fmt::Write as _;

use crate::g::{G, GStatus};
use crate::m::current_m;
use crate::sched::Sched;
use crate::sync::atomic::Ordering;

/// The most frames printed per goroutine (Go prints 100, then "...additional frames
/// elided...").
const MAX_FRAMES: usize = 100;

/// How far above its saved stack pointer a goroutine's frames may lie: a frame
/// pointer beyond this ends the walk (stacks are at most a few MiB).
const MAX_STACK_SPAN: usize = 64 << 20;

/// `CLOCK_MONOTONIC` in milliseconds (never 0, which means "not stamped").
pub(crate) fn now_ms() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000).max(1)
}

/// Go's wait-duration suffix: `", N minutes"` once a goroutine has waited a minute or
/// more (Go: traceback.go `goroutineheader`), else nothing.
pub fn wait_duration_label(waited_ms: u64) -> String {
    let minutes = waited_ms / 60_000;
    if minutes >= 1 {
        format!(", {minutes} minutes")
    } else {
        String::new()
    }
}

/// What to print under one goroutine's header.
enum Frames {
    /// Code addresses, innermost first; `true` = a return address (resolve `pc - 1`).
    Pcs(Vec<(usize, bool)>),
    /// Running on another thread: its stack is live and cannot be read.
    OtherThread,
    /// Nothing could be read (never ran, or not on this architecture).
    None,
}

/// One goroutine as seen at the moment of the dump.
struct Seen {
    goid: u64,
    header: String,
    frames: Frames,
}

/// Appends the dump of every live goroutine of `sched` to `out`.
pub(crate) fn dump_sched(sched: &Sched, out: &mut String) {
    let me = current_m()
        .filter(|m| core::ptr::eq(m.sched, sched))
        .map_or(core::ptr::null_mut(), |m| m.curg.get());
    let now = now_ms();
    let mut seen = Vec::new();
    for g in sched.allg() {
        // SAFETY: G structs live as long as their scheduler, which the caller holds.
        let gr = unsafe { &*g.0 };
        let st = gr.status();
        if matches!(st, GStatus::Dead | GStatus::Idle) {
            continue;
        }
        let goid = gr.goid();
        let frames = if core::ptr::eq(g.0, me) {
            Frames::Pcs(own_pcs())
        } else {
            match st {
                GStatus::Running | GStatus::Syscall => Frames::OtherThread,
                _ => parked_pcs(gr),
            }
        };
        // A goroutine that changed state while we read its stack: its frames may be a
        // mix of two moments; keep the header, drop the frames.
        let frames = if gr.status() != st || gr.goid() != goid {
            Frames::None
        } else {
            frames
        };
        seen.push(Seen {
            goid,
            header: header(gr, st, now),
            frames,
        });
    }
    seen.sort_by_key(|s| s.goid);
    let all_pcs: Vec<usize> = seen
        .iter()
        .flat_map(|s| match &s.frames {
            Frames::Pcs(p) => p.iter().map(|&(pc, ret)| lookup_pc(pc, ret)).collect(),
            _ => Vec::new(),
        })
        .collect();
    let symbols = symbolize(all_pcs);
    for s in &seen {
        if !out.is_empty() {
            out.push('\n');
        }
        let _ = writeln!(out, "{}", s.header);
        match &s.frames {
            Frames::Pcs(pcs) => {
                for &(pc, ret) in pcs.iter().take(MAX_FRAMES) {
                    match symbols.get(&lookup_pc(pc, ret)) {
                        Some(lines) if !lines.is_empty() => out.push_str(lines),
                        _ => {
                            let _ = writeln!(out, "?()\n\t?:0 pc={pc:#x}");
                        }
                    }
                }
                if pcs.len() > MAX_FRAMES {
                    out.push_str("...additional frames elided...\n");
                }
            }
            Frames::OtherThread => {
                out.push_str("\tgoroutine running on other thread; stack unavailable\n");
            }
            Frames::None => {}
        }
    }
}

/// The address to resolve for a frame: a return address points after its call, so the
/// call itself is at `pc - 1`.
fn lookup_pc(pc: usize, is_return: bool) -> usize {
    if is_return { pc.saturating_sub(1) } else { pc }
}

/// `goroutine N [state, M minutes]:` (Go: `goroutineheader`).
fn header(g: &G, st: GStatus, now: u64) -> String {
    let state = match st {
        GStatus::Waiting => g
            .wait_reason()
            .map_or(GStatus::Waiting.as_str(), |r| r.as_str()),
        other => other.as_str(),
    };
    let since = g.wait_since.load(Ordering::Relaxed);
    let waited = if st == GStatus::Waiting && since != 0 {
        wait_duration_label(now.saturating_sub(since))
    } else {
        String::new()
    };
    let locked = if g.locked_m.load(Ordering::Relaxed).is_null() {
        ""
    } else {
        ", locked to thread"
    };
    format!("goroutine {} [{state}{waited}{locked}]:", g.goid())
}

/// The calling goroutine's own frames (unwound by the `backtrace` crate), without the
/// dump's frames and without what lies below the goroutine's entry.
fn own_pcs() -> Vec<(usize, bool)> {
    let mut pcs = Vec::new();
    backtrace::trace(|frame| {
        pcs.push((frame.ip() as usize, true));
        pcs.len() < 4 * MAX_FRAMES
    });
    // The first frames are this function and the dump; they are named after this module,
    // which symbolization tells. Keep it simple: drop frames until the public entry.
    let names = symbolize(pcs.iter().map(|&(pc, r)| lookup_pc(pc, r)).collect());
    let skip = pcs
        .iter()
        .rposition(|&(pc, r)| {
            names
                .get(&lookup_pc(pc, r))
                .is_some_and(|s| s.contains("gort_sched::debug::") || s.starts_with("backtrace::"))
        })
        .map_or(0, |i| i + 1);
    let mut out: Vec<(usize, bool)> = pcs.split_off(skip.min(pcs.len()));
    if let Some(end) = out.iter().position(|&(pc, r)| {
        names
            .get(&lookup_pc(pc, r))
            .is_some_and(|s| s.contains("gort_sched::sched::g_entry"))
    }) {
        out.truncate(end + 1);
    }
    out
}

/// Reads `N` words at `addr` of this process through the kernel: an unmapped or
/// guard page gives `None` instead of a fault, and no Rust reference to memory another
/// thread may be writing is made.
fn read_words<const N: usize>(addr: usize) -> Option<[usize; N]> {
    let mut buf = [0usize; N];
    let len = core::mem::size_of_val(&buf);
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: len,
    };
    let remote = libc::iovec {
        iov_base: addr as *mut libc::c_void,
        iov_len: len,
    };
    // SAFETY: `local` describes `buf`, which we own, with its exact length; the kernel
    // validates `remote` and reports unmapped memory as an error (EFAULT).
    let n = unsafe { libc::process_vm_readv(libc::getpid(), &local, 1, &remote, 1, 0) };
    (n == len as isize).then_some(buf)
}

/// A parked or runnable goroutine's frames: the resume address saved by its last
/// switch, then the frame-pointer chain from the rbp saved next to it.
#[cfg(target_arch = "x86_64")]
fn parked_pcs(g: &G) -> Frames {
    // `Context` is `#[repr(C)] { sp: usize }`; the switch saved [rbx, rbp, resume] at sp.
    let Some([sp]) = read_words::<1>(g.ctx.get() as usize) else {
        return Frames::None;
    };
    if sp == 0 {
        return Frames::None;
    }
    let Some([_rbx, rbp, resume]) = read_words::<3>(sp) else {
        return Frames::None;
    };
    let mut pcs = vec![(resume, false)];
    let mut fp = rbp;
    let mut prev = sp;
    while pcs.len() <= MAX_FRAMES {
        // A frame pointer points into the stack above the previous frame, 16-aligned
        // (the push of rbp after a call leaves rsp 16-aligned).
        if fp == 0 || fp % 16 != 0 || fp <= prev || fp - sp > MAX_STACK_SPAN {
            break;
        }
        let Some([next, ret]) = read_words::<2>(fp) else {
            break;
        };
        if ret == 0 {
            break;
        }
        pcs.push((ret, true));
        prev = fp;
        fp = next;
    }
    Frames::Pcs(pcs)
}

/// Other architectures: the header only.
#[cfg(not(target_arch = "x86_64"))]
fn parked_pcs(_g: &G) -> Frames {
    Frames::None
}

/// Resolves addresses to Go-style frame lines (`name(...)\n\tfile:line\n`, one pair per
/// inlined function). Runs on a helper thread with a large stack: loading debug info
/// is deep and heavy, and the caller may be a goroutine on a small stack.
fn symbolize(mut pcs: Vec<usize>) -> std::collections::HashMap<usize, String> {
    pcs.sort_unstable();
    pcs.dedup();
    let work = move || {
        let mut map = std::collections::HashMap::new();
        for pc in pcs {
            let mut s = String::new();
            backtrace::resolve(pc as *mut core::ffi::c_void, |sym| {
                let name = sym
                    .name()
                    .map_or_else(|| "?".to_string(), |n| format!("{n:#}"));
                let file = sym
                    .filename()
                    .map_or_else(|| "?".to_string(), |f| f.display().to_string());
                let line = sym.lineno().unwrap_or(0);
                let _ = writeln!(s, "{name}(...)\n\t{file}:{line}");
            });
            map.insert(pc, s);
        }
        map
    };
    crate::sync::thread::Builder::new()
        .name("gort-symbolize".into())
        .stack_size(8 << 20)
        .spawn(work)
        .ok()
        .and_then(|h| h.join().ok())
        .unwrap_or_default()
}
