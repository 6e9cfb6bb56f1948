//! `Scavenger`: the background thread that returns idle pages to the OS toward the
//! retained goal (Go: mgcscavenge.go, `bgscavenge`). See the crate docs for the overview.
//!
//! Why a raw `pthread_create` thread: gort-alloc is the `#[global_allocator]` on top of
//! this heap, and the heap starts its scavenger from inside `alloc_span`, that is from
//! inside someone's `GlobalAlloc::alloc`, possibly while gort-alloc holds its own locks.
//! `std::thread::spawn` allocates (the closure box, the `Thread` handle, the name) and
//! would re-enter that allocator there. `pthread_create` allocates only from libc's own
//! malloc (thread stacks are mmapped), and the thread body below never touches the Rust
//! global allocator nor `std::thread` APIs (which lazily allocate a handle): it uses the
//! heap's lock, atomics, a futex and `nanosleep`. The thread is started after the heap
//! lock is released.
//!
//! Protocol: the thread loops: while `PageHeap::scavenge_excess() > 0` it releases a
//! batch of at most 64 pages (512 KiB, Go's quantum is 64 KiB) and then sleeps in
//! proportion to the time the batch took, so it uses about `cpu_percent`% of one CPU
//! (Go: 1%). With nothing to do it parks on a futex; `free_span` and
//! `set_retained_goal` wake it when the excess becomes positive (a Dekker handshake on
//! `parked` and the heap counters with `SeqCst` fences, so no wake-up is lost). It also
//! wakes every 10 s as a safety net, so it runs even when every mutator is idle.

// The scavenger's state is never loom-modelled (it is a real OS thread), so it uses std
// atomics under every cfg.
use crate::sync::static_atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::page_heap::PageHeap;

/// Pages released per batch by the background thread.
const BATCH_BYTES: usize = 64 * crate::PAGE_SIZE;
/// Longest park without a wake-up.
const PARK_TIMEOUT: Duration = Duration::from_secs(10);
/// Sleep after a batch that could release nothing.
const STUCK_SLEEP: Duration = Duration::from_secs(1);
/// Longest pacing sleep between batches.
const MAX_PACE_SLEEP: Duration = Duration::from_millis(100);

/// The state of one heap's background scavenger.
#[derive(Debug)]
pub(crate) struct Scavenger {
    /// Set once a start was attempted (never cleared: a failed start is not retried).
    started: AtomicBool,
    /// Set while the thread runs.
    running: AtomicBool,
    /// 1 while the thread is parked (or about to park) waiting for work.
    parked: AtomicU32,
    /// The futex word: bumped by every wake-up.
    wake_seq: AtomicU32,
    /// Share of one CPU to use, percent (1..=100). Immutable.
    cpu_percent: u32,
}

impl Scavenger {
    pub(crate) fn new(cpu_percent: u32) -> Scavenger {
        Scavenger {
            started: AtomicBool::new(false),
            running: AtomicBool::new(false),
            parked: AtomicU32::new(0),
            wake_seq: AtomicU32::new(0),
            cpu_percent: cpu_percent.clamp(1, 100),
        }
    }

    pub(crate) fn started(&self) -> bool {
        self.started.load(Ordering::Relaxed)
    }

    pub(crate) fn running(&self) -> bool {
        self.running.load(Ordering::Relaxed)
    }

    /// Starts the thread for `heap` unless already started. Call without the heap lock.
    pub(crate) fn start(&self, heap: &PageHeap) {
        if self.started.swap(true, Ordering::AcqRel) {
            return;
        }
        // SAFETY: `attr` is initialised by pthread_attr_init before use and destroyed
        // after; `heap` outlives the thread because heaps are never freed (the global
        // heap is a static, private heaps live in persistent memory) — every `PageHeap`
        // with a scavenger is reachable as `&'static`; `thread_main` matches the
        // signature pthread_create expects.
        unsafe {
            let mut attr: libc::pthread_attr_t = core::mem::zeroed();
            if libc::pthread_attr_init(&mut attr) != 0 {
                return;
            }
            libc::pthread_attr_setstacksize(&mut attr, 256 << 10);
            libc::pthread_attr_setdetachstate(&mut attr, libc::PTHREAD_CREATE_DETACHED);
            let mut tid: libc::pthread_t = core::mem::zeroed();
            self.running.store(true, Ordering::Release);
            let arg = core::ptr::from_ref(heap).cast_mut().cast::<libc::c_void>();
            if libc::pthread_create(&mut tid, &attr, thread_main, arg) != 0 {
                self.running.store(false, Ordering::Release);
            }
            libc::pthread_attr_destroy(&mut attr);
        }
    }

    /// Wakes the parked thread if the heap is above its goal. Cheap when there is nothing
    /// to do: one fence and one load.
    pub(crate) fn wake_if_needed(&self, heap: &PageHeap) {
        core::sync::atomic::fence(Ordering::SeqCst); // tidy: allow(std-sync) Dekker fence, see module docs
        if self.parked.load(Ordering::Relaxed) == 1 && heap.scavenge_excess() > 0 {
            self.parked.store(0, Ordering::Relaxed);
            self.wake_seq.fetch_add(1, Ordering::Release);
            futex_wake(&self.wake_seq);
        }
    }

    /// The thread's loop.
    fn run(&self, heap: &PageHeap) -> ! {
        let fraction = f64::from(self.cpu_percent) / 100.0;
        loop {
            let excess = heap.scavenge_excess();
            if excess == 0 {
                let seq = self.wake_seq.load(Ordering::Acquire);
                self.parked.store(1, Ordering::Relaxed);
                core::sync::atomic::fence(Ordering::SeqCst); // tidy: allow(std-sync) Dekker fence
                if heap.scavenge_excess() == 0 {
                    futex_wait(&self.wake_seq, seq, PARK_TIMEOUT);
                }
                self.parked.store(0, Ordering::Relaxed);
                continue;
            }
            let t0 = Instant::now();
            let got = heap.scavenge(excess.min(BATCH_BYTES));
            let spent = t0.elapsed();
            if got == 0 {
                // Excess that cannot be released now (runs in flight, or partial OS pages
                // when they are larger than 8 KiB): back off without parking, so frees do
                // not wake the thread for it.
                sleep(STUCK_SLEEP);
                continue;
            }
            if fraction < 1.0 {
                sleep(spent.mul_f64(1.0 / fraction - 1.0).min(MAX_PACE_SLEEP));
            }
        }
    }
}

extern "C" fn thread_main(arg: *mut libc::c_void) -> *mut libc::c_void {
    // SAFETY: `start` passed a pointer to a PageHeap that lives for the process.
    let heap: &PageHeap = unsafe { &*arg.cast::<PageHeap>() };
    heap.scavenger.run(heap)
}

fn sleep(d: Duration) {
    let ts = libc::timespec {
        tv_sec: d.as_secs() as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    };
    // SAFETY: `ts` is a valid timespec; a null remainder pointer is allowed.
    unsafe { libc::nanosleep(&ts, core::ptr::null_mut()) };
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn futex_wait(word: &AtomicU32, expected: u32, timeout: Duration) {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: `word` is a live, aligned u32 for the call; `ts` is a valid relative timeout.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            expected,
            &ts as *const libc::timespec,
        );
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn futex_wake(word: &AtomicU32) {
    // SAFETY: `word` is a live, aligned u32 for the call.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
            1,
        );
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn futex_wait(word: &AtomicU32, expected: u32, timeout: Duration) {
    // Without futexes, poll: short sleeps until the word changes or the timeout passes.
    let t0 = Instant::now();
    while word.load(Ordering::Acquire) == expected && t0.elapsed() < timeout {
        sleep(Duration::from_millis(10));
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn futex_wake(_word: &AtomicU32) {}
