//! `SchedHost`: gort-gc's [`Host`] on gort-sched — stop-the-world plus the thread
//! handshake, root ranges, mark workers, parking. See `gc/mod.rs` for the overview.

use core::cell::RefCell;
use std::sync::{Condvar, Mutex}; // tidy: allow(std-sync) the collector's own state and waiters, never taken by a stopped thread

use gort_gc::roots::Roots;
use gort_gc::{Event, Host, RootKind};

use super::workers::Pool;

/// Most worker threads the host keeps (besides the collecting thread itself).
const MAX_WORKERS: usize = 32;

std::thread_local! {
    /// The stopped world, held by the thread that stopped it (between
    /// `stop_the_world` and `start_the_world`, which the collector calls on one thread).
    static WORLD: RefCell<Option<gort_sched::WorldStopped>> = const { RefCell::new(None) };
}

/// One [`Event`]'s waiters: a std mutex and condition variable, waited on inside
/// `gort_sched::syscall` so a goroutine's P is released (and can be stopped) while it
/// waits. Not gort-sched's parking `Mutex`/`Cond`: the collector's threads (background
/// sweeper, forced GC, mark workers) are plain threads, which the deadlock check does not
/// count as wakers, so a goroutine parked on them looked like "all goroutines are asleep";
/// a goroutine inside `syscall` counts as running, as in Go. Both sides count the lock as
/// a runtime lock, so no goroutine is stopped in place while holding it.
#[derive(Debug)]
struct Waiters {
    lock: Mutex<()>,
    cond: Condvar,
}

impl Waiters {
    fn new() -> Waiters {
        Waiters {
            lock: Mutex::new(()),
            cond: Condvar::new(),
        }
    }
}

/// The facade's host: one per process, leaked at install.
pub(crate) struct SchedHost {
    /// Root finder state; used by the collecting thread between stop and start only.
    roots: Mutex<Roots>,
    /// Scratch for the workers' thread ids (filled before each stop).
    exempt: Mutex<Vec<u32>>,
    /// The mark workers.
    workers: &'static Pool,
    /// Waiters for [`Event::CycleDone`].
    cycle_done: Waiters,
    /// Waiters for [`Event::FinalizersQueued`].
    finalizers: Waiters,
}

impl core::fmt::Debug for SchedHost {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SchedHost").finish_non_exhaustive()
    }
}

impl SchedHost {
    pub(crate) fn new() -> SchedHost {
        static POOL: Pool = Pool::new();
        SchedHost {
            roots: Mutex::new(Roots::new()),
            exempt: Mutex::new(Vec::with_capacity(MAX_WORKERS)),
            workers: &POOL,
            cycle_done: Waiters::new(),
            finalizers: Waiters::new(),
        }
    }

    fn waiters(&self, event: Event) -> &Waiters {
        match event {
            Event::CycleDone => &self.cycle_done,
            _ => &self.finalizers,
        }
    }
}

/// Prints a Go-style fatal error and aborts (a broken runtime invariant).
#[cold]
fn fatal(msg: core::fmt::Arguments<'_>) -> ! {
    gort_trace::fatal_args(msg)
}

// SAFETY: [1] stop_the_world stops every P of every scheduler (gort-sched's
// stop_the_world: goroutines park at safe points or are preempted, Ps in syscalls are
// taken) and then every other thread of the process but the exempt mark workers (the
// SIGPWR handshake: each thread is inside its signal handler, its registers saved in
// its slot); both synchronise through atomics with release/acquire. [2]
// for_each_root_range reports every stopped goroutine's stack from its saved SP (or
// interrupted SP and signal context), every stopped thread's registers, stack from its
// SP (to its goroutine segment's top when it runs a goroutine) and TLS, the caller's
// spilled registers and stack, and the data segments. [3] run_workers returns after
// every call (Pool::run waits for `busy == 0`). [4] block_until re-checks `ready` under
// the event's lock, which wake_all takes before broadcasting.
unsafe impl Host for SchedHost {
    fn stop_the_world(&self) {
        // Everything that allocates or takes a lock a stopped thread may hold happens
        // before `stop_threads`: the root finder's buffers, the workers, this thread's
        // `WORLD` slot (its first use registers a TLS destructor: calloc and the loader
        // lock), and every scheduler's `allg` lock (sysmon, dumps and schedtrace copy
        // `allg` under it; for_each_root_range reads it with the threads stopped).
        WORLD.with(|w| drop(w.borrow_mut().take()));
        let mut roots = self.roots.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = roots.prepare(&[]) {
            fatal(format_args!("runtime: GC cannot find its roots: {e}"));
        }
        let mut exempt = self.exempt.lock().unwrap_or_else(|e| e.into_inner());
        let want = self.num_workers().saturating_sub(1).min(MAX_WORKERS);
        self.workers.ensure(want, &mut exempt);
        let mut world = match gort_sched::stop_the_world("GC") {
            Ok(w) => w,
            Err(e) => fatal(format_args!("runtime: GC cannot stop the world: {e}")),
        };
        world.lock_allg();
        WORLD.with(|w| *w.borrow_mut() = Some(world));
        if let Err(e) = roots.stop_threads(&exempt) {
            drop(WORLD.with(|w| w.borrow_mut().take()));
            fatal(format_args!("runtime: GC cannot stop the world: {e}"));
        }
    }

    fn start_the_world(&self) {
        self.roots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .resume_threads();
        // Dropping the world releases the allg locks and restarts the schedulers.
        let world = WORLD.with(|w| w.borrow_mut().take());
        drop(world);
    }

    fn for_each_root_range(&self, f: &mut dyn FnMut(usize, usize, RootKind)) {
        WORLD.with(|w| {
            if let Some(world) = &*w.borrow() {
                world.for_each_g(|g| {
                    g.for_each_stack_range(|lo, hi| f(lo, hi, RootKind::Stack));
                });
            }
        });
        let roots = self.roots.lock().unwrap_or_else(|e| e.into_inner());
        roots.for_each_range(
            &|sp| gort_stack::stack_segment_of(sp).map(|(lo, hi)| lo..hi),
            f,
        );
    }

    fn num_workers(&self) -> usize {
        let procs = gort_sched::gomaxprocs();
        if procs > 0 {
            procs
        } else {
            std::thread::available_parallelism().map_or(1, usize::from)
        }
    }

    fn run_workers(&self, n: usize, work: &(dyn Fn(usize) + Sync)) {
        self.workers.run(n, work);
    }

    fn spawn_finalizer_goroutine(&self, f: Box<dyn FnOnce() + Send>) {
        // A plain thread rather than a goroutine: it outlives every `gort::run` (the
        // collector is process-wide; a goroutine would end with its scheduler).
        let spawned = std::thread::Builder::new()
            .name("gort-gc-background".into())
            .spawn(f);
        if let Err(e) = spawned {
            fatal(format_args!(
                "runtime: cannot start the GC's background thread: {e}"
            ));
        }
    }

    fn block_until(&self, event: Event, ready: &dyn Fn() -> bool) {
        let w = self.waiters(event);
        gort_sched::syscall(|| {
            gort_heap::runtime_lock::enter();
            let guard = w.lock.lock().unwrap_or_else(|e| e.into_inner());
            drop(
                w.cond
                    .wait_while(guard, |_| !ready())
                    .unwrap_or_else(|e| e.into_inner()),
            );
            gort_heap::runtime_lock::exit();
        });
    }

    fn wake_all(&self, event: Event) {
        let w = self.waiters(event);
        gort_heap::runtime_lock::enter();
        let guard = w.lock.lock().unwrap_or_else(|e| e.into_inner());
        w.cond.notify_all();
        drop(guard);
        gort_heap::runtime_lock::exit();
    }

    fn out_of_memory(&self, bytes: usize) -> ! {
        use std::io::Write as _;
        let mut err = std::io::stderr().lock();
        let _ = writeln!(
            err,
            "runtime: out of memory: cannot allocate {bytes}-byte block\nfatal error: out of memory"
        );
        let _ = err.flush();
        std::process::exit(2)
    }
}
