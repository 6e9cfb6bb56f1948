//! The runtime the collector runs in: stopping the world, roots, workers, blocking (MMTk's `VMBinding`).

/// What memory a root range is. Every kind is scanned conservatively, word by word; the
/// kind feeds statistics (the pacer counts stack and global bytes, as Go 1.18+ does) and
/// gctrace.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RootKind {
    /// A goroutine stack segment or a thread stack (the live part: from the saved stack
    /// pointer to the top).
    Stack,
    /// Saved registers of a stopped goroutine or thread (a spilled register file).
    Registers,
    /// A writable data segment (`.data`, `.bss`; Go's globals).
    Data,
    /// A thread's TLS block.
    Tls,
    /// Anything else the host wants scanned (host-private tables).
    Other,
}

/// Something a caller of [`Host::block_until`] waits for.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Event {
    /// A collection cycle finished (`gc()` callers and allocators waiting on a running
    /// cycle wait for this).
    CycleDone,
    /// Objects were queued for finalization (the finalizer goroutine waits for this).
    FinalizersQueued,
}

/// The runtime services the collector needs. The facade implements it on top of
/// gort-sched; gort-gc's tests implement it with plain threads (`MockHost`).
///
/// # Safety
///
/// The collector's soundness rests on these promises:
/// - Between [`Host::stop_the_world`] and [`Host::start_the_world`] no thread other than
///   the caller and the workers of [`Host::run_workers`] runs code that reads or writes
///   memory that may hold a pointer to a collected object (every goroutine, every plain
///   thread, signal handlers included). Stopping synchronises-with the stopped threads
///   (their earlier writes are visible), and starting synchronises-with their resumption.
/// - With the world stopped, [`Host::for_each_root_range`] reports every range of memory
///   that may hold the only pointer to an object: every goroutine's stack segments (the
///   used part) and saved registers, every other thread's stack and registers, the
///   writable data segments and TLS blocks of the process, and the calling thread's own
///   stack from its current stack pointer up (the collector spills its registers onto
///   its stack before asking). Ranges need not be aligned;
///   the collector scans the aligned words inside them. Memory that is itself allocated
///   from the collected heap (heap-allocated stacks excepted) need not be reported: the
///   collector finds it through the pointers to it.
/// - [`Host::run_workers`] returns only after every call of `work` has returned.
/// - [`Host::block_until`] returns only once `ready()` returned true, and does not miss a
///   [`Host::wake_all`] that follows a state change making `ready()` true (a condition
///   variable's contract: check `ready` under the lock `wake_all` takes).
pub unsafe trait Host: Send + Sync + 'static {
    /// Stops every mutator (goroutines and other threads) at a point where its registers
    /// are saved where [`Host::for_each_root_range`] reports them. Called with no
    /// collector lock held; the world is never stopped twice at once.
    fn stop_the_world(&self);

    /// Resumes the mutators stopped by [`Host::stop_the_world`].
    fn start_the_world(&self);

    /// Calls `f(start, end, kind)` for every root range `[start, end)`; the world is
    /// stopped.
    fn for_each_root_range(&self, f: &mut dyn FnMut(usize, usize, RootKind));

    /// How many mark workers to run (Go: `GOMAXPROCS`), at least 1.
    fn num_workers(&self) -> usize;

    /// Runs `work(i)` for every `i` in `0..n` on up to `n` threads (the caller may run
    /// some itself) and returns when all have returned. The world is stopped: the
    /// workers must not be threads the stop waits for.
    fn run_workers(&self, n: usize, work: &(dyn Fn(usize) + Sync));

    /// Starts `f` on a goroutine (or thread) of its own; `f` runs the finalizer loop and
    /// never returns while the process runs. Called once, at the first finalizer.
    fn spawn_finalizer_goroutine(&self, f: Box<dyn FnOnce() + Send>);

    /// Blocks the caller until `ready()` is true, re-checking after each
    /// [`Host::wake_all`] of `event`. A goroutine must park (releasing its P), not spin:
    /// the cycle it waits for may need that P's thread to stop.
    fn block_until(&self, event: Event, ready: &dyn Fn() -> bool);

    /// Wakes every caller blocked in [`Host::block_until`] on `event`.
    fn wake_all(&self, event: Event);

    /// The heap cannot grow by `bytes`: print Go's message and exit (Go: `throw("out of
    /// memory")`).
    fn out_of_memory(&self, bytes: usize) -> !;
}
