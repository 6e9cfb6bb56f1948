//! Tests of the thread handshake and the ranges [`Roots`] reports: a value held only by
//! another thread's stack, registers or TLS, or by a static, is inside a reported range.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use super::*;
use crate::sync::static_atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Barrier, Mutex, MutexGuard}; // tidy: allow(std-sync) test-only locks between plain threads

/// Serialises the tests that stop threads: one of them leaves a thread that never
/// answers, which would fail a concurrent stop.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Buffers for [`Scan::find`], allocated before threads are stopped: nothing may
/// allocate while they are (a stopped thread may hold the malloc lock).
struct Scan {
    ranges: Vec<(usize, usize, RootKind)>,
    kinds: Vec<RootKind>,
}

impl Scan {
    fn new() -> Scan {
        Scan {
            ranges: Vec::with_capacity(4096),
            kinds: Vec::with_capacity(4096),
        }
    }

    /// The kinds of the reported ranges that hold the word `needle`, aligned.
    fn find(&mut self, roots: &Roots, needle: usize) -> &[RootKind] {
        let (ranges, kinds) = (&mut self.ranges, &mut self.kinds);
        ranges.clear();
        kinds.clear();
        roots.for_each_range(&|_| None, &mut |s, e, k| {
            if ranges.len() < ranges.capacity() {
                ranges.push((s, e, k));
            }
        });
        for &(s, e, k) in ranges.iter() {
            let mut p = (s + 7) & !7;
            while p + 8 <= e {
                // SAFETY: the range was reported readable and the threads are stopped.
                if unsafe { core::ptr::read_volatile(p as *const usize) } == needle {
                    if kinds.len() < kinds.capacity() {
                        kinds.push(k);
                    }
                    break;
                }
                p += 8;
            }
        }
        kinds
    }
}

/// A value unlikely to appear by chance, different per call site.
fn pattern(salt: usize) -> usize {
    0x5a5a_0000_0000_0000 ^ (salt << 12) ^ 0x0123_4567
}

#[test]
fn a_value_on_another_threads_stack_is_reported_and_the_thread_resumes() {
    let _serial = serial();
    let needle = pattern(1);
    let ready = std::sync::Arc::new(Barrier::new(2)); // tidy: allow(std-sync) test-only
    let stop = std::sync::Arc::new(AtomicBool::new(false)); // tidy: allow(std-sync) test-only
    let spins = std::sync::Arc::new(AtomicUsize::new(0)); // tidy: allow(std-sync) test-only
    let t = {
        let (ready, stop, spins) = (ready.clone(), stop.clone(), spins.clone());
        std::thread::spawn(move || {
            // Only this thread's stack holds the value (built from two halves so no
            // constant in the binary's data holds it).
            let held = [core::hint::black_box(needle ^ 1) ^ 1; 4];
            ready.wait();
            while !stop.load(Ordering::Acquire) {
                core::hint::black_box(&held);
                spins.fetch_add(1, Ordering::Relaxed);
            }
            held[0]
        })
    };
    ready.wait();
    let mut roots = Roots::new();
    let mut scan = Scan::new();
    roots.prepare(&[]).unwrap();
    roots.stop_threads(&[]).unwrap();
    let mut tids = 0;
    roots.for_each_stopped(|_| tids += 1);
    let before = spins.load(Ordering::Relaxed);
    let on_stack = scan.find(&roots, needle).contains(&RootKind::Stack);
    assert_eq!(
        spins.load(Ordering::Relaxed),
        before,
        "the thread ran while stopped"
    );
    roots.resume_threads();
    stop.store(true, Ordering::Release);
    assert_eq!(t.join().unwrap(), needle);
    assert!(tids >= 1);
    assert!(on_stack);
}

#[test]
fn a_value_in_another_threads_register_is_reported() {
    let _serial = serial();
    let needle = pattern(2);
    let ready = std::sync::Arc::new(Barrier::new(2)); // tidy: allow(std-sync) test-only
    let stop = std::sync::Arc::new(AtomicBool::new(false)); // tidy: allow(std-sync) test-only
    let t = {
        let (ready, stop) = (ready.clone(), stop.clone());
        std::thread::spawn(move || {
            ready.wait();
            let stop_ptr = &raw const *stop;
            // Keep the value in r12 only, in a loop that touches no memory but the flag.
            // SAFETY: reads the flag through a valid pointer; clobbers only r12 (restored
            // from the stack slot by the compiler, declared as an output).
            unsafe {
                let out: usize;
                core::arch::asm!(
                    "2:",
                    "cmp byte ptr [{flag}], 0",
                    "je 2b",
                    flag = in(reg) stop_ptr,
                    inout("r12") core::hint::black_box(needle) => out,
                    options(nostack, readonly),
                );
                out
            }
        })
    };
    ready.wait();
    let mut roots = Roots::new();
    let mut scan = Scan::new();
    roots.prepare(&[]).unwrap();
    // The thread may not have entered the loop yet: retry a few times.
    let mut found = false;
    for _ in 0..50 {
        roots.stop_threads(&[]).unwrap();
        found = scan.find(&roots, needle).contains(&RootKind::Registers);
        roots.resume_threads();
        if found {
            break;
        }
        std::thread::yield_now();
    }
    stop.store(true, Ordering::Release);
    assert_eq!(t.join().unwrap(), needle);
    assert!(found);
}

/// Keeps `v` only in the upper half of ymm0 (no general register, no memory) until
/// `*stop` is set, then returns it.
///
/// # Safety
///
/// The CPU has AVX; `stop` is valid for reads while this runs.
#[target_feature(enable = "avx")]
unsafe fn hold_in_ymm_upper(v: usize, stop: *const AtomicBool) -> usize {
    let out: usize;
    // SAFETY: AVX is present (the caller's contract); reads only the flag; the vector
    // registers it writes are declared clobbered.
    unsafe {
        core::arch::asm!(
            "vmovq xmm1, {v}",
            "vinsertf128 ymm0, ymm0, xmm1, 1",
            "vpxor xmm1, xmm1, xmm1",
            "xor {v:e}, {v:e}",
            "2:",
            "cmp byte ptr [{flag}], 0",
            "je 2b",
            "vextractf128 xmm1, ymm0, 1",
            "vmovq {v}, xmm1",
            v = inout(reg) v => out,
            flag = in(reg) stop,
            out("ymm0") _,
            out("ymm1") _,
            options(nostack, readonly),
        );
    }
    out
}

#[test]
fn a_value_in_the_upper_half_of_another_threads_ymm_register_is_reported() {
    if !std::arch::is_x86_feature_detected!("avx") {
        eprintln!("no AVX: nothing to test");
        return;
    }
    let _serial = serial();
    let needle = pattern(7);
    let ready = std::sync::Arc::new(Barrier::new(2)); // tidy: allow(std-sync) test-only
    let stop = std::sync::Arc::new(AtomicBool::new(false)); // tidy: allow(std-sync) test-only
    let tid = std::sync::Arc::new(AtomicUsize::new(0)); // tidy: allow(std-sync) test-only
    let t = {
        let (ready, stop, tid) = (ready.clone(), stop.clone(), tid.clone());
        std::thread::spawn(move || {
            tid.store(current_tid() as usize, Ordering::Release);
            ready.wait();
            // SAFETY: AVX was detected; the flag lives in the Arc this thread holds.
            unsafe { hold_in_ymm_upper(core::hint::black_box(needle ^ 1) ^ 1, &raw const *stop) }
        })
    };
    ready.wait();
    let tid = tid.load(Ordering::Acquire) as u32;
    let mut roots = Roots::new();
    roots.prepare(&[]).unwrap();
    // The thread's own records are searched (the collecting thread's spilled registers
    // may hold the needle too). It may not have entered its loop yet: retry.
    let (mut in_fp_state, mut reported, mut fp_bytes) = (false, false, 0);
    for _ in 0..50 {
        roots.stop_threads(&[]).unwrap();
        let mut range = 0..0;
        roots.for_each_stopped(|t| {
            if t.tid == tid {
                range = t.fp_state.clone();
            }
        });
        fp_bytes = range.len();
        in_fp_state = range.clone().step_by(8).any(|p| {
            // SAFETY: the thread's saved state stays readable while it is stopped.
            unsafe { core::ptr::read_volatile(p as *const usize) == needle }
        });
        reported = false;
        roots.for_each_range(&|_| None, &mut |s, e, k| {
            reported |= k == RootKind::Registers && s == range.start && e == range.end;
        });
        roots.resume_threads();
        if in_fp_state {
            break;
        }
        std::thread::yield_now();
    }
    stop.store(true, Ordering::Release);
    assert_eq!(t.join().unwrap(), needle);
    assert!(
        fp_bytes > 512,
        "only the FXSAVE area was recorded ({fp_bytes} bytes)"
    );
    assert!(in_fp_state, "ymm0's upper half is not in the saved state");
    assert!(reported, "the saved vector state is not reported as a root");
}

#[test]
fn an_io_uring_kernel_thread_is_not_waited_for() {
    let _serial = serial();
    // io_uring_params: 10 words, then the two 40-byte ring offset blocks.
    let mut params = [0u32; 30];
    params[2] = 2; // flags = IORING_SETUP_SQPOLL: starts an `iou-sqp-*` thread now
    params[4] = 60_000; // sq_thread_idle, ms
    // SAFETY: `params` is a writable io_uring_params (120 bytes) for the call.
    let fd = unsafe { libc::syscall(libc::SYS_io_uring_setup, 4u32, params.as_mut_ptr()) };
    if fd < 0 {
        eprintln!(
            "io_uring with SQPOLL unavailable (errno {}): nothing to test",
            raw::errno()
        );
        return;
    }
    let mut dents = vec![0u8; 16 * 1024];
    let mut workers = 0;
    raw::for_each_task(&mut dents, |t| workers += usize::from(raw::is_io_worker(t))).unwrap();
    let mut roots = Roots::new();
    roots.set_timeout(core::time::Duration::from_secs(1));
    roots.prepare(&[]).unwrap();
    let stopped = roots.stop_threads(&[]);
    roots.resume_threads();
    // SAFETY: closes the ring this test opened.
    unsafe { libc::close(fd as i32) };
    assert!(workers >= 1, "no io_uring thread found among the tasks");
    stopped.unwrap();
}

thread_local! {
    static TLS_WORD: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
}

#[test]
fn a_value_in_another_threads_tls_is_reported() {
    let _serial = serial();
    let needle = pattern(3);
    let ready = std::sync::Arc::new(Barrier::new(2)); // tidy: allow(std-sync) test-only
    let done = std::sync::Arc::new(Barrier::new(2)); // tidy: allow(std-sync) test-only
    let t = {
        let (ready, done) = (ready.clone(), done.clone());
        std::thread::spawn(move || {
            TLS_WORD.with(|w| w.set(core::hint::black_box(needle ^ 1) ^ 1));
            ready.wait();
            done.wait();
            TLS_WORD.with(core::cell::Cell::get)
        })
    };
    ready.wait();
    let mut roots = Roots::new();
    let mut scan = Scan::new();
    roots.prepare(&[]).unwrap();
    roots.stop_threads(&[]).unwrap();
    let found_tls = scan.find(&roots, needle).contains(&RootKind::Tls);
    roots.resume_threads();
    done.wait();
    assert_eq!(t.join().unwrap(), needle);
    assert!(found_tls);
}

static DATA_WORD: AtomicUsize = AtomicUsize::new(0);

#[test]
fn a_static_and_the_callers_stack_are_reported() {
    let _serial = serial();
    let needle = pattern(4);
    DATA_WORD.store(core::hint::black_box(needle ^ 1) ^ 1, Ordering::Relaxed);
    let local = [core::hint::black_box(pattern(5) ^ 1) ^ 1; 2];
    let mut roots = Roots::new();
    let mut scan = Scan::new();
    roots.prepare(&[]).unwrap();
    roots.stop_threads(&[]).unwrap();
    let in_data = scan.find(&roots, needle).contains(&RootKind::Data);
    let in_stack = scan.find(&roots, pattern(5)).contains(&RootKind::Stack);
    roots.resume_threads();
    core::hint::black_box(&local);
    let addr = &raw const DATA_WORD as usize;
    assert!(in_data, "{addr:#x} not in {:x?}", roots.data_segments());
    assert!(in_stack);
}

#[test]
fn threads_that_come_and_go_do_not_stall_the_stop() {
    let _serial = serial();
    let stop = std::sync::Arc::new(AtomicBool::new(false)); // tidy: allow(std-sync) test-only
    let churn = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut n = 0u32;
            while !stop.load(Ordering::Acquire) {
                std::thread::spawn(|| core::hint::black_box(1))
                    .join()
                    .unwrap();
                n += 1;
            }
            n
        })
    };
    let mut roots = Roots::new();
    for _ in 0..30 {
        roots.prepare(&[]).unwrap();
        roots.stop_threads(&[]).unwrap();
        roots.resume_threads();
    }
    stop.store(true, Ordering::Release);
    assert!(churn.join().unwrap() > 0);
}

#[test]
fn an_exempt_thread_keeps_running() {
    let _serial = serial();
    let tid = std::sync::Arc::new(AtomicUsize::new(0)); // tidy: allow(std-sync) test-only
    let spins = std::sync::Arc::new(AtomicUsize::new(0)); // tidy: allow(std-sync) test-only
    let stop = std::sync::Arc::new(AtomicBool::new(false)); // tidy: allow(std-sync) test-only
    let t = {
        let (tid, spins, stop) = (tid.clone(), spins.clone(), stop.clone());
        std::thread::spawn(move || {
            tid.store(current_tid() as usize, Ordering::Release);
            while !stop.load(Ordering::Acquire) {
                spins.fetch_add(1, Ordering::Relaxed);
                core::hint::spin_loop();
            }
        })
    };
    while tid.load(Ordering::Acquire) == 0 {
        std::thread::yield_now();
    }
    let exempt = [u32::try_from(tid.load(Ordering::Acquire)).unwrap()];
    let mut roots = Roots::new();
    roots.prepare(&[]).unwrap();
    roots.stop_threads(&exempt).unwrap();
    let mut exempt_stopped = false;
    roots.for_each_stopped(|t| exempt_stopped |= t.tid == exempt[0]);
    let before = spins.load(Ordering::Relaxed);
    let mut moved = false;
    for _ in 0..100_000_000u64 {
        if spins.load(Ordering::Relaxed) != before {
            moved = true;
            break;
        }
        core::hint::spin_loop();
    }
    roots.resume_threads();
    stop.store(true, Ordering::Release);
    t.join().unwrap();
    assert!(!exempt_stopped);
    assert!(moved);
}

#[test]
fn a_thread_that_blocks_the_signal_fails_the_stop_by_name_and_nothing_stays_stopped() {
    let _serial = serial();
    let tid = std::sync::Arc::new(AtomicUsize::new(0)); // tidy: allow(std-sync) test-only
    let release = std::sync::Arc::new(AtomicBool::new(false)); // tidy: allow(std-sync) test-only
    let deaf = {
        let (tid, release) = (tid.clone(), release.clone());
        std::thread::spawn(move || {
            // SAFETY: blocks SUSPEND_SIGNAL in this thread's mask (sets on the stack).
            unsafe {
                let mut set: libc::sigset_t = core::mem::zeroed();
                libc::sigemptyset(&mut set);
                libc::sigaddset(&mut set, SUSPEND_SIGNAL);
                libc::pthread_sigmask(libc::SIG_BLOCK, &set, core::ptr::null_mut());
            }
            tid.store(current_tid() as usize, Ordering::Release);
            while !release.load(Ordering::Acquire) {
                std::thread::yield_now();
            }
            // SAFETY: unblocks it again; the pending signal then finds no slot.
            unsafe {
                let mut set: libc::sigset_t = core::mem::zeroed();
                libc::sigemptyset(&mut set);
                libc::sigaddset(&mut set, SUSPEND_SIGNAL);
                libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, core::ptr::null_mut());
            }
        })
    };
    let spins = std::sync::Arc::new(AtomicUsize::new(0)); // tidy: allow(std-sync) test-only
    let stop = std::sync::Arc::new(AtomicBool::new(false)); // tidy: allow(std-sync) test-only
    let spinner = {
        let (spins, stop) = (spins.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Acquire) {
                spins.fetch_add(1, Ordering::Relaxed);
                std::thread::yield_now();
            }
        })
    };
    while tid.load(Ordering::Acquire) == 0 {
        std::thread::yield_now();
    }
    let mut roots = Roots::new();
    roots.set_timeout(Duration::from_millis(200));
    roots.prepare(&[]).unwrap();
    let err = roots.stop_threads(&[]).unwrap_err();
    let want = u32::try_from(tid.load(Ordering::Acquire)).unwrap();
    assert!(
        matches!(err, RootsError::ThreadDidNotStop { tid, .. } if tid == want),
        "{err}"
    );
    assert!(err.to_string().contains(&want.to_string()));
    // Nothing stays stopped: the spinner moves on.
    let before = spins.load(Ordering::Relaxed);
    while spins.load(Ordering::Relaxed) == before {
        std::thread::yield_now();
    }
    release.store(true, Ordering::Release);
    deaf.join().unwrap();
    // And the next stop works.
    roots.prepare(&[]).unwrap();
    roots.stop_threads(&[]).unwrap();
    roots.resume_threads();
    stop.store(true, Ordering::Release);
    spinner.join().unwrap();
}
