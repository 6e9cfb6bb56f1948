//! `MockHost`: a `Host` over plain threads that stop cooperatively, for tests without a scheduler.

use crate::host::{Event, Host, RootKind};
use crate::sync::static_sync::{StdMutex as Mutex, StdMutexGuard as MutexGuard};

/// A test host: threads that hold `Gc`s register (their stacks become roots) and stop
/// at [`MockHost::safepoint`] or while blocked in [`Host::block_until`]; tests may add
/// explicit root ranges. Workers are scoped threads.
#[derive(Debug)]
pub struct MockHost {
    /// Registered threads and roots. Protected by the lock.
    state: Mutex<MockState>,
    /// Signalled on every change of `state` (stop, start, park, wake).
    cv: std::sync::Condvar, // tidy: allow(std-sync) (a test host's condition variable; pairs with the static_sync Mutex)
    /// Mark workers to report.
    workers: usize,
}

#[derive(Debug, Default)]
struct MockState {
    /// Registered threads.
    threads: Vec<ThreadRec>,
    /// Explicit root ranges.
    roots: Vec<(usize, usize)>,
    /// A stop is requested or in effect.
    stopping: bool,
    /// Wake-up count per event kind (index 0: cycle done, 1: finalizers).
    wakes: [u64; 2],
}

#[derive(Debug)]
struct ThreadRec {
    /// `pthread_self`.
    id: libc::pthread_t,
    /// Stack top (highest address).
    stack_hi: usize,
    /// Stack pointer saved when parked (0 when running).
    parked_sp: usize,
    /// Parked where it holds no collected object (the background goroutine waiting
    /// for work): its stack is not scanned, so its stale words keep nothing alive.
    idle: bool,
}

/// Unregisters its thread when dropped.
#[derive(Debug)]
pub struct Registration {
    host: &'static MockHost,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let me = // SAFETY: pthread_self has no preconditions.
            unsafe { libc::pthread_self() };
        let mut g = self.host.lock();
        g.threads.retain(|t| t.id != me);
        drop(g);
        self.host.cv.notify_all();
    }
}

fn stack_top() -> usize {
    // SAFETY: querying our own thread's attributes into local storage.
    unsafe {
        let mut attr: libc::pthread_attr_t = core::mem::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) != 0 {
            crate::collector::fatal_gc("pthread_getattr_np failed");
        }
        let mut addr: *mut libc::c_void = core::ptr::null_mut();
        let mut size: libc::size_t = 0;
        libc::pthread_attr_getstack(&attr, &mut addr, &mut size);
        libc::pthread_attr_destroy(&mut attr);
        addr as usize + size
    }
}

/// The current stack pointer (approximately: an address in this frame).
#[inline(never)]
fn current_sp() -> usize {
    let x = 0usize;
    core::hint::black_box(&x) as *const usize as usize
}

impl MockHost {
    /// A host reporting `workers` mark workers, leaked to `'static`.
    pub fn new(workers: usize) -> &'static MockHost {
        Box::leak(Box::new(MockHost {
            state: Mutex::new(MockState::default()),
            cv: std::sync::Condvar::new(), // tidy: allow(std-sync) (see the field)
            workers: workers.max(1),
        }))
    }

    fn lock(&self) -> MutexGuard<'_, MockState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers the calling thread: its stack is scanned from now on.
    pub fn register(&'static self) -> Registration {
        let rec = ThreadRec {
            // SAFETY: pthread_self has no preconditions.
            id: unsafe { libc::pthread_self() },
            stack_hi: stack_top(),
            parked_sp: 0,
            idle: false,
        };
        self.lock().threads.push(rec);
        Registration { host: self }
    }

    /// Adds an explicit root range.
    pub fn add_root(&self, start: usize, len: usize) {
        self.lock().roots.push((start, start + len));
    }

    /// Removes every explicit root range.
    pub fn clear_roots(&self) {
        self.lock().roots.clear();
    }

    /// Stops here while the world is stopped.
    pub fn safepoint(&self) {
        if self.lock().stopping {
            self.park_while(&|| true, false);
        }
    }

    /// Runs `f` with the calling thread counted as stopped (Go's `entersyscall` /
    /// `exitsyscall`): `f` must not touch collected objects (joining a thread is
    /// fine). Returns once the world runs.
    #[inline(never)]
    pub fn blocking<R>(&self, f: impl FnOnce() -> R) -> R {
        let mut regs = [0usize; 8];
        spill(&mut regs);
        let sp = current_sp();
        // SAFETY: pthread_self has no preconditions.
        let me = unsafe { libc::pthread_self() };
        {
            let mut g = self.lock();
            set_parked(&mut g, me, sp);
        }
        self.cv.notify_all();
        let r = f();
        let mut g = self.lock();
        while g.stopping {
            g = self.cv.wait(g).unwrap_or_else(|e| e.into_inner());
        }
        set_parked(&mut g, me, 0);
        drop(g);
        core::hint::black_box(&regs);
        r
    }

    /// Parks the calling thread (stack scanned from here) until the world runs and
    /// `ready()` holds.
    #[inline(never)]
    fn park_while(&self, ready: &dyn Fn() -> bool, idle: bool) {
        let mut regs = [0usize; 8];
        spill(&mut regs);
        let sp = current_sp();
        // SAFETY: pthread_self has no preconditions.
        let me = unsafe { libc::pthread_self() };
        let mut g = self.lock();
        set_parked(&mut g, me, sp);
        set_idle(&mut g, me, idle);
        self.cv.notify_all();
        while g.stopping || !ready() {
            g = self.cv.wait(g).unwrap_or_else(|e| e.into_inner());
        }
        set_parked(&mut g, me, 0);
        set_idle(&mut g, me, false);
        drop(g);
        core::hint::black_box(&regs);
    }
}

fn set_idle(g: &mut MockState, me: libc::pthread_t, idle: bool) {
    for t in &mut g.threads {
        if t.id == me {
            t.idle = idle;
        }
    }
}

fn set_parked(g: &mut MockState, me: libc::pthread_t, sp: usize) {
    for t in &mut g.threads {
        if t.id == me {
            t.parked_sp = sp;
        }
    }
}

#[inline(always)]
fn spill(regs: &mut [usize; 8]) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: only stores registers into the array.
    unsafe {
        core::arch::asm!(
            "mov [{0}], rbx",
            "mov [{0} + 8], rbp",
            "mov [{0} + 16], r12",
            "mov [{0} + 24], r13",
            "mov [{0} + 32], r14",
            "mov [{0} + 40], r15",
            in(reg) regs.as_mut_ptr(),
            options(nostack, preserves_flags),
        );
    }
    core::hint::black_box(regs);
}

// SAFETY: registered threads stop only parked (in `park_while`, registers spilled into
// the parked frame, stack reported from there to its top); the caller's stack is
// reported from its current frame; workers are scoped threads joined before
// `run_workers` returns; `block_until` re-checks `ready` under the lock `wake_all` takes.
// Unregistered threads must hold no `Gc` (a test-host limitation).
unsafe impl Host for MockHost {
    fn stop_the_world(&self) {
        // SAFETY: pthread_self has no preconditions.
        let me = unsafe { libc::pthread_self() };
        let mut g = self.lock();
        while g.stopping {
            g = self.cv.wait(g).unwrap_or_else(|e| e.into_inner());
        }
        g.stopping = true;
        self.cv.notify_all();
        while g.threads.iter().any(|t| t.id != me && t.parked_sp == 0) {
            g = self.cv.wait(g).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn start_the_world(&self) {
        self.lock().stopping = false;
        self.cv.notify_all();
    }

    fn for_each_root_range(&self, f: &mut dyn FnMut(usize, usize, RootKind)) {
        // SAFETY: pthread_self has no preconditions.
        let me = unsafe { libc::pthread_self() };
        let sp = current_sp();
        let g = self.lock();
        for t in &g.threads {
            if t.id == me {
                f(sp, t.stack_hi, RootKind::Stack);
            } else if t.parked_sp != 0 && !t.idle {
                f(t.parked_sp, t.stack_hi, RootKind::Stack);
            }
        }
        if !g.threads.iter().any(|t| t.id == me) {
            f(sp, stack_top(), RootKind::Stack);
        }
        for &(s, e) in &g.roots {
            f(s, e, RootKind::Other);
        }
    }

    fn num_workers(&self) -> usize {
        self.workers
    }

    fn run_workers(&self, n: usize, work: &(dyn Fn(usize) + Sync)) {
        std::thread::scope(|s| {
            for i in 1..n {
                s.spawn(move || work(i));
            }
            work(0);
        });
    }

    fn spawn_finalizer_goroutine(&self, f: Box<dyn FnOnce() + Send>) {
        // SAFETY: MockHost values are only made leaked by `new`.
        let me: &'static MockHost = unsafe { &*(self as *const MockHost) };
        std::thread::spawn(move || {
            let _r = me.register();
            f();
        });
    }

    fn block_until(&self, event: Event, ready: &dyn Fn() -> bool) {
        // SAFETY: pthread_self has no preconditions.
        let me = unsafe { libc::pthread_self() };
        let registered = self.lock().threads.iter().any(|t| t.id == me);
        if registered {
            // The background goroutine waits for work in its own loop, holding no
            // collected object.
            self.park_while(ready, event == Event::FinalizersQueued);
        } else {
            let mut g = self.lock();
            while !ready() {
                g = self.cv.wait(g).unwrap_or_else(|e| e.into_inner());
            }
        }
    }

    fn wake_all(&self, event: Event) {
        let mut g = self.lock();
        let i = usize::from(event != Event::CycleDone);
        g.wakes[i] += 1;
        drop(g);
        self.cv.notify_all();
    }

    fn out_of_memory(&self, bytes: usize) -> ! {
        eprintln!("fatal error: runtime: out of memory allocating {bytes} bytes");
        std::process::exit(2)
    }
}
