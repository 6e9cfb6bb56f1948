//! `Tracer`: the on/off switch, the buffer hand-off lists and start/stop (Go: the
//! `trace` global of trace.go). See the crate docs for the overview.

use std::collections::HashMap;
use std::io::Write;

use crate::buffer::{BufList, BufPtr, CAP};
use crate::clock::{Calibration, Stamp};
use crate::error::Error;
use crate::event::{Event, NO_PROC};
use crate::sync::atomic::{AtomicU64, Ordering};
use crate::sync::{Mutex, MutexGuard};
use crate::trace::Trace;
use crate::writer::{OffP, ProcBuf, WriterState};

/// Free buffers kept for reuse after a trace stops (4 MiB); the rest go back to the OS.
const MAX_FREE: usize = 64;

/// A running trace's settings. Protected by `Tracer::lists`.
struct Session {
    /// The generation its buffers carry.
    epoch: u64,
    /// Clock pair taken at start.
    start: Stamp,
    /// Where [`Tracer::stop`] writes the JSON, if anywhere.
    sink: Option<Box<dyn Write + Send>>,
    /// Flight-recorder mode: keep at most this many full buffers, dropping the oldest.
    ring: Option<usize>,
}

impl core::fmt::Debug for Session {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Session")
            .field("epoch", &self.epoch)
            .field("start", &self.start)
            .field("sink", &self.sink.is_some())
            .field("ring", &self.ring)
            .finish()
    }
}

/// The buffers not owned by a writer, and the session. Protected by `Tracer::lists`.
#[derive(Debug)]
struct Lists {
    /// Full (or flushed) buffers of the current generation, in hand-off order.
    /// Invariant: every buffer here has `epoch == session.epoch` and `len > 0`.
    full: BufList,
    /// Empty buffers for reuse (Go: `trace.empty`).
    free: BufList,
    /// The last generation handed out; generations are never reused.
    last_epoch: u64,
    /// The running trace, if any. Invariant: `Tracer::epoch == session.epoch` (or 0 when
    /// `None`) whenever the lock is free.
    session: Option<Session>,
    /// Events the flight recorder dropped (records of evicted buffers) in this trace.
    overwritten: u64,
}

impl Lists {
    /// The running session's epoch (0: none) and flight-recorder capacity.
    fn current(&self) -> (u64, Option<usize>) {
        self.session
            .as_ref()
            .map_or((0, None), |s| (s.epoch, s.ring))
    }
}

/// The tracer: one per process ([`Tracer::global`]); tests make private ones.
///
/// Lock order (a < b: take a before b): `off_p` < `lists`; `stop_hook`'s lock is never
/// held with another. `lists` is a leaf in the whole runtime: nothing is called
/// while it is held except list surgery on buffer headers; mapping memory and writing
/// output happen outside it.
pub struct Tracer {
    /// 0 when tracing is off, else the current generation. Atomic; written only under
    /// `lists`; read with `Relaxed` by every writer's disabled check.
    pub(crate) epoch: AtomicU64,
    /// See [`Lists`].
    lists: Mutex<Lists>,
    /// The buffer for events emitted off any P (Go: the global `trace.buf` under
    /// `trace.bufLock`). Protected by its mutex.
    off_p: Mutex<WriterState>,
    /// Events dropped because the OS refused buffer memory. Atomic; reset at start.
    lost: AtomicU64,
    /// Run at the start of `stop`, before collecting (see [`Tracer::set_stop_hook`]).
    stop_hook: Mutex<Option<fn()>>,
}

impl core::fmt::Debug for Tracer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Tracer")
            .field("epoch", &self.epoch.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// Builds a `Tracer` (shared by the `const` and the loom constructors).
macro_rules! new_tracer {
    () => {
        Tracer {
            epoch: AtomicU64::new(0),
            lists: Mutex::new(Lists {
                full: BufList::new(),
                free: BufList::new(),
                last_epoch: 0,
                session: None,
                overwritten: 0,
            }),
            off_p: Mutex::new(WriterState::new(NO_PROC)),
            lost: AtomicU64::new(0),
            stop_hook: Mutex::new(None),
        }
    };
}

/// What [`Tracer::stop`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TraceStats {
    /// Events collected.
    pub events: usize,
    /// Events lost because the OS refused buffer memory.
    pub lost: u64,
    /// Events the flight recorder dropped to stay within its buffers.
    pub overwritten: u64,
    /// Length of the trace in nanoseconds.
    pub duration_ns: u64,
}

/// Locks `m`, ignoring poisoning (the protected data stays consistent: no code panics
/// while holding these locks).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(not(loom))]
static GLOBAL: Tracer = Tracer::new();

impl Tracer {
    /// A new, stopped tracer.
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        new_tracer!()
    }

    /// A new, stopped tracer.
    #[cfg(loom)]
    pub fn new() -> Self {
        new_tracer!()
    }

    /// The process's tracer, which [`crate::start`] and [`crate::stop`] drive.
    #[cfg(not(loom))]
    pub fn global() -> &'static Tracer {
        &GLOBAL
    }

    /// Whether a trace is running: one relaxed load.
    #[inline(always)]
    pub fn is_enabled(&self) -> bool {
        self.epoch.load(Ordering::Relaxed) != 0
    }

    /// A writer for P `proc` (the scheduler keeps one in each P; see the crate docs).
    pub fn proc_buf(&self, proc: u32) -> ProcBuf<'_> {
        ProcBuf::new(self, proc)
    }

    /// The off-P writer, or `None` when tracing is off (one relaxed load; the lock is
    /// taken only when tracing is on). For threads without a P: sysmon, GC workers,
    /// a goroutine's M in a system call.
    #[inline]
    pub fn off_p(&self) -> Option<OffP<'_>> {
        if !self.is_enabled() {
            return None;
        }
        Some(OffP::new(self, lock(&self.off_p)))
    }

    /// Sets a function that [`stop`](Self::stop) runs first, so that every P flushes its
    /// buffer (the scheduler installs one that runs [`ProcBuf::flush`] on each P at a
    /// safe point, as Go's `traceStop` does with `forEachP`).
    pub fn set_stop_hook(&self, hook: Option<fn()>) {
        *lock(&self.stop_hook) = hook;
    }

    /// Starts a trace whose JSON [`stop`](Self::stop) writes to `sink`.
    pub fn start<W: Write + Send + 'static>(&self, sink: W) -> Result<(), Error> {
        self.start_session(Some(Box::new(sink)), None)
    }

    /// Starts a trace whose JSON goes to the file `path` (created now, so a bad path
    /// fails here and not at stop).
    pub fn start_file(&self, path: impl AsRef<std::path::Path>) -> Result<(), Error> {
        let path = path.as_ref();
        let file = std::fs::File::create(path).map_err(|source| Error::CreateFile {
            path: path.to_path_buf(),
            source,
        })?;
        self.start(std::io::BufWriter::new(file))
    }

    /// Starts a trace without a sink: collect it with [`stop_collect`](Self::stop_collect).
    pub fn start_collecting(&self) -> Result<(), Error> {
        self.start_session(None, None)
    }

    /// Starts a trace in flight-recorder mode (Go 1.25's `trace.FlightRecorder`): only
    /// the newest `max_buffers` full buffers (at least 1; 2047 events each) are kept,
    /// older ones are recycled, so memory stays bounded however long it runs. Collect
    /// the recent window with [`stop_collect`](Self::stop_collect); the live dashboard
    /// is meant to run this way.
    pub fn start_flight_recorder(&self, max_buffers: usize) -> Result<(), Error> {
        self.start_session(None, Some(max_buffers.max(1)))
    }

    fn start_session(
        &self,
        sink: Option<Box<dyn Write + Send>>,
        ring: Option<usize>,
    ) -> Result<(), Error> {
        let mut l = lock(&self.lists);
        if l.session.is_some() {
            return Err(Error::AlreadyStarted);
        }
        l.last_epoch += 1;
        let epoch = l.last_epoch;
        self.lost.store(0, Ordering::Relaxed);
        l.overwritten = 0;
        l.session = Some(Session {
            epoch,
            start: Stamp::now(),
            sink,
            ring,
        });
        self.epoch.store(epoch, Ordering::Release);
        Ok(())
    }

    /// Stops the trace and writes it, as Perfetto/Chrome trace-event JSON, to the sink
    /// given at start (if any). Must not be called while the calling thread holds an
    /// [`OffP`] (it takes the off-P lock).
    pub fn stop(&self) -> Result<TraceStats, Error> {
        let (trace, sink) = self.stop_inner()?;
        let stats = TraceStats {
            events: trace.events.len(),
            lost: trace.lost,
            overwritten: trace.overwritten,
            duration_ns: trace.duration_ns,
        };
        if let Some(mut sink) = sink {
            trace.write_chrome_json(&mut sink).map_err(Error::Write)?;
            sink.flush().map_err(Error::Write)?;
        }
        Ok(stats)
    }

    /// Stops the trace and returns its decoded events (the sink, if any, is dropped
    /// unwritten).
    pub fn stop_collect(&self) -> Result<Trace, Error> {
        self.stop_inner().map(|(t, _)| t)
    }

    fn stop_inner(&self) -> Result<(Trace, Option<Box<dyn Write + Send>>), Error> {
        let hook = *lock(&self.stop_hook);
        if let Some(hook) = hook {
            hook();
        }
        let (session, stop, mut full, overwritten) = {
            let mut off = lock(&self.off_p);
            let off_buf = off.take_buffer();
            let mut l = lock(&self.lists);
            let Some(session) = l.session.take() else {
                drop(l);
                if let Some(b) = off_buf {
                    self.recycle(b);
                }
                return Err(Error::NotStarted);
            };
            if let Some(b) = off_buf {
                Self::file_locked(&mut l, session.epoch, session.ring, b);
            }
            if cfg!(debug_assertions) {
                self.check_invariants_locked(&l, session.epoch);
            }
            self.epoch.store(0, Ordering::Release);
            (session, Stamp::now(), l.full.take(), l.overwritten)
        };
        let cal = Calibration::new(session.start, stop);
        let mut events = Vec::new();
        let mut done = BufList::new();
        // Per writer (P, or the off-P writer), the last nanosecond handed out: ticks
        // finer than a nanosecond may round to the same value, and a writer's events
        // must stay strictly ordered.
        let mut last_ns: HashMap<u32, u64> = HashMap::new();
        let mut end_ns = cal.ns(stop.ticks);
        while let Some(b) = full.pop_front() {
            // SAFETY: `b` came off the full list, which we detached under the lock: we
            // own it now.
            unsafe {
                b.with(|inner| {
                    let n = (inner.header.len as usize).min(CAP);
                    let proc = inner.header.proc;
                    let mut last = last_ns.get(&proc).copied();
                    for r in &inner.records[..n] {
                        if let Some(data) = r.decode() {
                            let ts = match last {
                                Some(l) if cal.ns(r.ts) <= l => l + 1,
                                _ => cal.ns(r.ts),
                            };
                            last = Some(ts);
                            end_ns = end_ns.max(ts);
                            events.push(Event {
                                ts,
                                proc,
                                thread: r.tid,
                                data,
                            });
                        }
                    }
                    if let Some(l) = last {
                        last_ns.insert(proc, l);
                    }
                });
                done.push_back(b);
            }
        }
        // Stable: events of one buffer keep their order even at equal timestamps.
        events.sort_by_key(|e| e.ts);
        while let Some(b) = done.pop_front() {
            self.recycle(b);
        }
        let trace = Trace {
            events,
            lost: self.lost.load(Ordering::Relaxed),
            overwritten,
            duration_ns: end_ns,
        };
        Ok((trace, session.sink))
    }

    /// Checks the lists' invariants (CONVENTIONS 6): every buffer on the full list
    /// belongs to the running epoch and holds 1..=CAP records, the counts match the
    /// links, and the atomic epoch is `epoch` (the running session's, or 0). Called
    /// under `debug_assertions` at each stop, with the lists lock held; aborts with
    /// [`fatal!`](crate::fatal!).
    fn check_invariants_locked(&self, l: &Lists, epoch: u64) {
        if self.epoch.load(Ordering::Relaxed) != epoch {
            crate::fatal!("runtime: trace epoch disagrees with its session");
        }
        for (list, is_full) in [(&l.full, true), (&l.free, false)] {
            let mut n = 0;
            let mut cur = list.head;
            while let Some(b) = cur {
                // SAFETY: `b` is on a list, which the caller's lock protects and owns.
                let (next, bepoch, len) =
                    unsafe { b.with(|i| (i.header.next, i.header.epoch, i.header.len)) };
                if is_full && (bepoch != epoch || len == 0 || len as usize > CAP) {
                    crate::fatal!(
                        "runtime: full trace buffer of epoch {bepoch} with {len} records in epoch {epoch}"
                    );
                }
                n += 1;
                cur = next;
            }
            if n != list.len {
                crate::fatal!(
                    "runtime: trace buffer list of {} links counts {}",
                    n,
                    list.len
                );
            }
        }
    }

    /// Files `b` under the lock: onto the full list if it holds events of generation
    /// `epoch`, else onto the free list. In flight-recorder mode (`ring`), the oldest
    /// full buffer is recycled first when the full list is at capacity.
    fn file_locked(l: &mut Lists, epoch: u64, ring: Option<usize>, b: BufPtr) {
        // SAFETY: the caller owns `b` and hands it to the lists.
        let (bepoch, len) = unsafe { b.with(|i| (i.header.epoch, i.header.len)) };
        if bepoch == epoch && len > 0 {
            if let Some(cap) = ring
                && l.full.len >= cap
                && let Some(old) = l.full.pop_front()
            {
                // SAFETY: `old` came off the full list, which owned it; the free list
                // owns it now.
                let n = unsafe { old.with(|i| i.header.len) };
                l.overwritten += u64::from(n);
                // SAFETY: as above.
                unsafe { l.free.push_back(old) };
            }
            // SAFETY: as above; the full list now owns `b`.
            unsafe { l.full.push_back(b) };
        } else {
            // SAFETY: as above; the free list now owns `b`.
            unsafe { l.free.push_back(b) };
        }
    }

    /// Hands `old` (if any) to the lists and returns an empty buffer for `epoch` and
    /// `proc`, or `None` if the OS refused memory (Go: `traceFlush`). One lock round
    /// trip; mapping new memory happens outside the lock.
    pub(crate) fn refill(&self, old: Option<BufPtr>, epoch: u64, proc: u32) -> Option<BufPtr> {
        let reused = {
            let mut l = lock(&self.lists);
            if let Some(old) = old {
                let (epoch, ring) = l.current();
                Self::file_locked(&mut l, epoch, ring, old);
            }
            l.free.pop_front()
        };
        let b = match reused {
            Some(b) => b,
            None => match self.alloc_buffers() {
                Some(b) => b,
                None => {
                    self.lost.fetch_add(1, Ordering::Relaxed);
                    return None;
                }
            },
        };
        // SAFETY: `b` is fresh or came off the free list: we own it.
        unsafe {
            b.with(|i| {
                i.header.next = None;
                i.header.epoch = epoch;
                i.header.proc = proc;
                i.header.len = 0;
            });
        }
        Some(b)
    }

    /// New buffer memory, called outside the lock: a huge-page chunk whose other
    /// buffers go onto the free list, or a single mapping if the chunk is refused.
    fn alloc_buffers(&self) -> Option<BufPtr> {
        #[cfg(not(loom))]
        if let Some((b, mut rest)) = BufPtr::alloc_chunk() {
            let mut l = lock(&self.lists);
            while let Some(r) = rest.pop_front() {
                // SAFETY: `rest` owned `r`; the free list does now.
                unsafe { l.free.push_back(r) };
            }
            return Some(b);
        }
        BufPtr::alloc()
    }

    /// Hands a writer's buffer back: onto the full list if it holds events of the
    /// running trace, else onto the free list.
    pub(crate) fn hand_off(&self, b: BufPtr) {
        let mut l = lock(&self.lists);
        let (epoch, ring) = l.current();
        Self::file_locked(&mut l, epoch, ring, b);
    }

    /// Returns `b` to the free list, or to the OS beyond [`MAX_FREE`].
    fn recycle(&self, b: BufPtr) {
        let excess = {
            let mut l = lock(&self.lists);
            if l.free.len < MAX_FREE {
                // SAFETY: we own `b`; the free list now does.
                unsafe { l.free.push_back(b) };
                None
            } else {
                Some(b)
            }
        };
        if let Some(b) = excess {
            // SAFETY: we own `b` and nothing else refers to it.
            unsafe { b.free() };
        }
    }

    /// Buffers on the free list and the full list (for tests and the dashboard).
    pub fn buffer_counts(&self) -> (usize, usize) {
        let l = lock(&self.lists);
        (l.free.len, l.full.len)
    }

    /// Events lost so far in this trace because the OS refused buffer memory.
    pub fn lost(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }
}

impl Default for Tracer {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Tracer {
    fn drop(&mut self) {
        let off = lock(&self.off_p).take_buffer();
        let mut l = lock(&self.lists);
        let mut all = l.full.take();
        let mut free = l.free.take();
        drop(l);
        while let Some(b) = all.pop_front().or_else(|| free.pop_front()) {
            // SAFETY: the lists owned `b`; the tracer is being dropped, and every writer
            // borrows it, so no writer is alive.
            unsafe { b.free() };
        }
        if let Some(b) = off {
            // SAFETY: as above, for the off-P writer's buffer.
            unsafe { b.free() };
        }
    }
}
