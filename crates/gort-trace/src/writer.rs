//! The writers: `ProcBuf` (one per P, lock-free), `OffP` (the shared buffer for
//! threads without a P) and the `Emit` methods they share (Go: `traceWriter`). See the
//! crate docs for the overview.

use crate::buffer::{BufPtr, CAP};
use crate::clock;
use crate::event::{BlockReason, Kind, Record, StaticStr, StopReason, StwKind};
use crate::sync::MutexGuard;
use crate::sync::atomic::Ordering;
use crate::tracer::Tracer;

/// A writer's own state: its current buffer and last timestamp. Owned by one writer
/// (a P, or the off-P mutex); never shared.
#[derive(Debug)]
pub(crate) struct WriterState {
    /// The buffer being filled. Invariant: owned by this writer.
    cur: Option<BufPtr>,
    /// Records written to `cur` (its header's `len` is brought up to date when the
    /// buffer leaves the writer). Invariant: `len <= CAP`; 0 when `cur` is `None`.
    len: usize,
    /// The epoch `cur` belongs to (a copy of its header's, so the fast path reads no
    /// header). 0 when `cur` is `None`.
    epoch: u64,
    /// The last timestamp written, for the per-writer monotonic clamp.
    last_ts: u64,
    /// The P this writer belongs to, or `NO_PROC`.
    proc: u32,
}

impl WriterState {
    pub(crate) const fn new(proc: u32) -> Self {
        Self {
            cur: None,
            len: 0,
            epoch: 0,
            last_ts: 0,
            proc,
        }
    }

    /// Takes the current buffer away (for a flush or a hand-off), with its header's
    /// length brought up to date.
    pub(crate) fn take_buffer(&mut self) -> Option<BufPtr> {
        let b = self.cur.take()?;
        let len = u32::try_from(self.len).unwrap_or(0);
        // SAFETY: this writer owns its current buffer until it returns it here.
        unsafe { b.with(|i| i.header.len = len) };
        self.len = 0;
        self.epoch = 0;
        Some(b)
    }

    /// Appends `rec` for generation `epoch` (the fast path: a clock read, two compares
    /// and a 32-byte store).
    #[inline(always)]
    fn write(&mut self, tracer: &Tracer, epoch: u64, mut rec: Record) {
        let mut ts = clock::ticks();
        if ts <= self.last_ts {
            ts = self.last_ts + 1;
        }
        self.last_ts = ts;
        rec.ts = ts;
        if let Some(b) = self.cur
            && self.epoch == epoch
            && self.len < CAP
        {
            // SAFETY: this writer owns its current buffer; `len < CAP` is in bounds.
            unsafe { b.with(|i| *i.records.get_unchecked_mut(self.len) = rec) };
            self.len += 1;
            return;
        }
        self.write_slow(tracer, epoch, rec);
    }

    /// The buffer is full, missing or of an older trace: hand it off and take a fresh
    /// one (Go: `traceFlush`).
    #[cold]
    #[inline(never)]
    fn write_slow(&mut self, tracer: &Tracer, epoch: u64, rec: Record) {
        let old = self.take_buffer();
        self.cur = tracer.refill(old, epoch, self.proc);
        if let Some(b) = self.cur {
            // SAFETY: `refill` handed us this empty buffer: we own it.
            unsafe { b.with(|i| i.records[0] = rec) };
            self.len = 1;
            self.epoch = epoch;
        }
    }
}

mod sealed {
    /// Seals [`super::Emit`]: only this crate's writers implement it.
    pub trait Sealed {}
}

/// The event methods, shared by [`ProcBuf`] and [`OffP`]. Each one costs one relaxed
/// load and a predictable branch when tracing is off; when on, a clock read and a
/// 32-byte store into a buffer this writer owns, with no lock and no atomic
/// read-modify-write (a full buffer takes one uncontended lock round trip).
pub trait Emit: sealed::Sealed {
    /// Writes one record (the sealed primitive behind the methods below).
    #[doc(hidden)]
    fn emit_raw(&mut self, kind: u8, small: u8, str_len: u16, a: u64, b: u64);

    /// Goroutine `g` was created by goroutine `parent` (0: none). Go: GoCreate.
    #[inline(always)]
    fn go_create(&mut self, g: u64, parent: u64) {
        self.emit_raw(Kind::GoCreate as u8, 0, 0, g, parent);
    }
    /// Goroutine `g` starts running on this P. Go: GoStart.
    #[inline(always)]
    fn go_start(&mut self, g: u64) {
        self.emit_raw(Kind::GoStart as u8, 0, 0, g, 0);
    }
    /// Goroutine `g` stops running but stays runnable. Go: GoStop.
    #[inline(always)]
    fn go_stop(&mut self, g: u64, reason: StopReason) {
        self.emit_raw(Kind::GoStop as u8, reason as u8, 0, g, 0);
    }
    /// Goroutine `g` blocks for `reason`. Go: GoBlock.
    #[inline(always)]
    fn go_block(&mut self, g: u64, reason: BlockReason) {
        self.emit_raw(Kind::GoBlock as u8, reason as u8, 0, g, 0);
    }
    /// Goroutine `g` is made runnable. Go: GoUnblock.
    #[inline(always)]
    fn go_unblock(&mut self, g: u64) {
        self.emit_raw(Kind::GoUnblock as u8, 0, 0, g, 0);
    }
    /// Goroutine `g` exits. Go: GoDestroy.
    #[inline(always)]
    fn go_end(&mut self, g: u64) {
        self.emit_raw(Kind::GoEnd as u8, 0, 0, g, 0);
    }
    /// Goroutine `g` enters a system call. Go: GoSyscallBegin.
    #[inline(always)]
    fn syscall_begin(&mut self, g: u64) {
        self.emit_raw(Kind::GoSyscallBegin as u8, 0, 0, g, 0);
    }
    /// Goroutine `g` returns from its system call. Go: GoSyscallEnd.
    #[inline(always)]
    fn syscall_end(&mut self, g: u64) {
        self.emit_raw(Kind::GoSyscallEnd as u8, 0, 0, g, 0);
    }
    /// This P starts running on the calling OS thread (an M acquired it). Go: ProcStart.
    #[inline]
    fn proc_start(&mut self) {
        let tid = u64::from(crate::os::thread_id());
        self.emit_raw(Kind::ProcStart as u8, 0, 0, tid, 0);
    }
    /// This P stops (its M released it). Go: ProcStop.
    #[inline(always)]
    fn proc_stop(&mut self) {
        self.emit_raw(Kind::ProcStop as u8, 0, 0, 0, 0);
    }
    /// This P stole `count` goroutines from P `victim`.
    #[inline(always)]
    fn proc_steal(&mut self, victim: u32, count: u32) {
        self.emit_raw(
            Kind::ProcSteal as u8,
            0,
            0,
            u64::from(victim),
            u64::from(count),
        );
    }
    /// GOMAXPROCS became `n`. Go: ProcsChange.
    #[inline(always)]
    fn gomaxprocs(&mut self, n: u32) {
        self.emit_raw(Kind::Gomaxprocs as u8, 0, 0, u64::from(n), 0);
    }
    /// GC cycle `seq` begins. Go: GCBegin.
    #[inline(always)]
    fn gc_begin(&mut self, seq: u64) {
        self.emit_raw(Kind::GcBegin as u8, 0, 0, seq, 0);
    }
    /// GC cycle `seq` ends. Go: GCEnd.
    #[inline(always)]
    fn gc_end(&mut self, seq: u64) {
        self.emit_raw(Kind::GcEnd as u8, 0, 0, seq, 0);
    }
    /// Marking begins.
    #[inline(always)]
    fn gc_mark_begin(&mut self) {
        self.emit_raw(Kind::GcMarkBegin as u8, 0, 0, 0, 0);
    }
    /// Marking ends.
    #[inline(always)]
    fn gc_mark_end(&mut self) {
        self.emit_raw(Kind::GcMarkEnd as u8, 0, 0, 0, 0);
    }
    /// Sweeping begins. Go: GCSweepBegin.
    #[inline(always)]
    fn gc_sweep_begin(&mut self) {
        self.emit_raw(Kind::GcSweepBegin as u8, 0, 0, 0, 0);
    }
    /// Sweeping ends. Go: GCSweepEnd.
    #[inline(always)]
    fn gc_sweep_end(&mut self) {
        self.emit_raw(Kind::GcSweepEnd as u8, 0, 0, 0, 0);
    }
    /// The world stops for `kind`. Go: STWBegin.
    #[inline(always)]
    fn stw_begin(&mut self, kind: StwKind) {
        self.emit_raw(Kind::StwBegin as u8, kind as u8, 0, 0, 0);
    }
    /// The world starts again. Go: STWEnd.
    #[inline(always)]
    fn stw_end(&mut self) {
        self.emit_raw(Kind::StwEnd as u8, 0, 0, 0, 0);
    }
    /// The live heap is `bytes`. Go: HeapAlloc.
    #[inline(always)]
    fn heap_alloc(&mut self, bytes: u64) {
        self.emit_raw(Kind::HeapAlloc as u8, 0, 0, bytes, 0);
    }
    /// The heap goal is `bytes`. Go: HeapGoal.
    #[inline(always)]
    fn heap_goal(&mut self, bytes: u64) {
        self.emit_raw(Kind::HeapGoal as u8, 0, 0, bytes, 0);
    }
    /// Goroutine `g` enters user region `name` (names over 64 KiB are cut). Go:
    /// `trace.StartRegion`.
    #[inline]
    fn region_begin(&mut self, g: u64, name: &'static str) {
        let s = StaticStr::new(name);
        self.emit_raw(Kind::RegionBegin as u8, 0, s.len, g, s.ptr);
    }
    /// Goroutine `g` leaves user region `name`. Go: `Region.End`.
    #[inline]
    fn region_end(&mut self, g: u64, name: &'static str) {
        let s = StaticStr::new(name);
        self.emit_raw(Kind::RegionEnd as u8, 0, s.len, g, s.ptr);
    }
    /// Goroutine `g` logs `message`. Go: `trace.Log`.
    #[inline]
    fn log(&mut self, g: u64, message: &'static str) {
        let s = StaticStr::new(message);
        self.emit_raw(Kind::Log as u8, 0, s.len, g, s.ptr);
    }
}

/// A P's event writer (Go: `p.trace.buf`). The scheduler keeps one in each P and only
/// the P's owner (the M running it) calls it, through `&mut`: that exclusive access is
/// why appending needs no lock and no atomic read-modify-write. Dropping it (or
/// [`flush`](Self::flush)) hands its partial buffer to the tracer.
#[derive(Debug)]
pub struct ProcBuf<'t> {
    tracer: &'t Tracer,
    st: WriterState,
}

impl<'t> ProcBuf<'t> {
    pub(crate) fn new(tracer: &'t Tracer, proc: u32) -> Self {
        Self {
            tracer,
            st: WriterState::new(proc),
        }
    }

    /// The P this writer belongs to.
    pub fn proc(&self) -> u32 {
        self.st.proc
    }

    /// Whether tracing is on (one relaxed load): lets a call site skip computing
    /// arguments that are not free.
    #[inline(always)]
    pub fn is_enabled(&self) -> bool {
        self.tracer.is_enabled()
    }

    /// Hands the partial buffer to the tracer so [`Tracer::stop`] sees its events
    /// (Go: the flush in `traceStop`'s `forEachP`). Cheap when there is no buffer.
    pub fn flush(&mut self) {
        if let Some(b) = self.st.take_buffer() {
            self.tracer.hand_off(b);
        }
    }
}

impl sealed::Sealed for ProcBuf<'_> {}

impl Emit for ProcBuf<'_> {
    #[inline(always)]
    fn emit_raw(&mut self, kind: u8, small: u8, str_len: u16, a: u64, b: u64) {
        let epoch = self.tracer.epoch.load(Ordering::Relaxed);
        if epoch == 0 {
            return;
        }
        let rec = Record {
            ts: 0,
            kind,
            small,
            str_len,
            tid: 0,
            a,
            b,
        };
        self.st.write(self.tracer, epoch, rec);
    }
}

impl Drop for ProcBuf<'_> {
    fn drop(&mut self) {
        self.flush();
    }
}

/// The off-P writer, holding the off-P buffer's lock (from [`Tracer::off_p`]). Its
/// records carry the emitting thread's id.
#[derive(Debug)]
pub struct OffP<'t> {
    tracer: &'t Tracer,
    st: MutexGuard<'t, WriterState>,
}

impl<'t> OffP<'t> {
    pub(crate) fn new(tracer: &'t Tracer, st: MutexGuard<'t, WriterState>) -> Self {
        Self { tracer, st }
    }
}

impl sealed::Sealed for OffP<'_> {}

impl Emit for OffP<'_> {
    #[inline]
    fn emit_raw(&mut self, kind: u8, small: u8, str_len: u16, a: u64, b: u64) {
        let epoch = self.tracer.epoch.load(Ordering::Relaxed);
        if epoch == 0 {
            return;
        }
        let rec = Record {
            ts: 0,
            kind,
            small,
            str_len,
            tid: crate::os::thread_id(),
            a,
            b,
        };
        self.st.write(self.tracer, epoch, rec);
    }
}
