//! The event model: the raw fixed-size record written on the hot path and the decoded
//! [`Event`] the exporter reads. See the crate docs for the overview.

/// The proc id of events written to the off-P buffer (threads without a P).
pub const NO_PROC: u32 = u32::MAX;

/// Why a running goroutine blocked (Go: `waitReason`, the string of `GoBlock`). The
/// names are Go's, so a Go programmer reads a gort trace at sight. gort-sched re-exports
/// this type as its `WaitReason`: one list of reasons serves parking, dumps and traces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
#[non_exhaustive]
pub enum BlockReason {
    /// "chan receive".
    ChanReceive = 0,
    /// "chan send".
    ChanSend,
    /// "select".
    Select,
    /// "select (no cases)".
    SelectNoCases,
    /// "chan receive (nil chan)".
    ChanReceiveNil,
    /// "chan send (nil chan)".
    ChanSendNil,
    /// "sync.Mutex.Lock".
    SyncMutexLock,
    /// "sync.RWMutex.RLock".
    SyncRWMutexRLock,
    /// "sync.RWMutex.Lock".
    SyncRWMutexLock,
    /// "sync.Cond.Wait".
    SyncCondWait,
    /// "sync.WaitGroup.Wait".
    SyncWaitGroupWait,
    /// "semacquire".
    Semacquire,
    /// "sleep".
    Sleep,
    /// "IO wait".
    IoWait,
    /// "preempted".
    Preempted,
    /// "finalizer wait".
    FinalizerWait,
    /// "GC assist wait" (a mark assist waiting for credit).
    GcAssistWait,
    /// Any other reason: "other".
    Other,
}

impl BlockReason {
    const ALL: [BlockReason; 18] = [
        Self::ChanReceive,
        Self::ChanSend,
        Self::Select,
        Self::SelectNoCases,
        Self::ChanReceiveNil,
        Self::ChanSendNil,
        Self::SyncMutexLock,
        Self::SyncRWMutexRLock,
        Self::SyncRWMutexLock,
        Self::SyncCondWait,
        Self::SyncWaitGroupWait,
        Self::Semacquire,
        Self::Sleep,
        Self::IoWait,
        Self::Preempted,
        Self::FinalizerWait,
        Self::GcAssistWait,
        Self::Other,
    ];

    /// Go's string for this reason ("chan receive", "sync.Mutex.Lock", ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ChanReceive => "chan receive",
            Self::ChanSend => "chan send",
            Self::Select => "select",
            Self::SelectNoCases => "select (no cases)",
            Self::ChanReceiveNil => "chan receive (nil chan)",
            Self::ChanSendNil => "chan send (nil chan)",
            Self::SyncMutexLock => "sync.Mutex.Lock",
            Self::SyncRWMutexRLock => "sync.RWMutex.RLock",
            Self::SyncRWMutexLock => "sync.RWMutex.Lock",
            Self::SyncCondWait => "sync.Cond.Wait",
            Self::SyncWaitGroupWait => "sync.WaitGroup.Wait",
            Self::Semacquire => "semacquire",
            Self::Sleep => "sleep",
            Self::IoWait => "IO wait",
            Self::Preempted => "preempted",
            Self::FinalizerWait => "finalizer wait",
            Self::GcAssistWait => "GC assist wait",
            Self::Other => "other",
        }
    }

    fn from_u8(v: u8) -> Self {
        Self::from_index(v).unwrap_or(Self::Other)
    }

    /// The reason whose discriminant is `i` (`r as u8`), if there is one.
    pub fn from_index(i: u8) -> Option<Self> {
        Self::ALL.get(usize::from(i)).copied()
    }
}

impl core::fmt::Display for BlockReason {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a running goroutine stopped while staying runnable (Go: the reason of `GoStop`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
#[non_exhaustive]
pub enum StopReason {
    /// It yielded (`gort::yield_now`, Go's `Gosched`): "yield".
    Yield = 0,
    /// The scheduler preempted it (time slice over): "preempted".
    Preempted,
}

impl StopReason {
    /// Go's string for this reason.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Yield => "yield",
            Self::Preempted => "preempted",
        }
    }

    fn from_u8(v: u8) -> Self {
        if v == Self::Preempted as u8 {
            Self::Preempted
        } else {
            Self::Yield
        }
    }
}

/// Why the world was stopped (Go: `stwReason`, the string of `STWBegin`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
#[non_exhaustive]
pub enum StwKind {
    /// "GC sweep termination".
    GcSweepTermination = 0,
    /// "GC mark termination".
    GcMarkTermination,
    /// "GOMAXPROCS".
    Gomaxprocs,
    /// "start trace" / "stop trace".
    Trace,
    /// "goroutine profile", "ReadMemStats" and the rest: "other".
    Other,
}

impl StwKind {
    /// Go's string for this kind.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::GcSweepTermination => "GC sweep termination",
            Self::GcMarkTermination => "GC mark termination",
            Self::Gomaxprocs => "GOMAXPROCS",
            Self::Trace => "trace",
            Self::Other => "other",
        }
    }

    fn from_u8(v: u8) -> Self {
        match v {
            0 => Self::GcSweepTermination,
            1 => Self::GcMarkTermination,
            2 => Self::Gomaxprocs,
            3 => Self::Trace,
            _ => Self::Other,
        }
    }
}

/// The record type byte (Go: `traceEv`). Begin/End name ranges, Start/Stop/Create/
/// Block/Unblock/End name scheduling resources, as in Go's tracev2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Kind {
    GoCreate = 1,
    GoStart,
    GoStop,
    GoBlock,
    GoUnblock,
    GoEnd,
    GoSyscallBegin,
    GoSyscallEnd,
    ProcStart,
    ProcStop,
    ProcSteal,
    Gomaxprocs,
    GcBegin,
    GcEnd,
    GcMarkBegin,
    GcMarkEnd,
    GcSweepBegin,
    GcSweepEnd,
    StwBegin,
    StwEnd,
    HeapAlloc,
    HeapGoal,
    RegionBegin,
    RegionEnd,
    Log,
}

impl Kind {
    const ALL: [Kind; 25] = [
        Self::GoCreate,
        Self::GoStart,
        Self::GoStop,
        Self::GoBlock,
        Self::GoUnblock,
        Self::GoEnd,
        Self::GoSyscallBegin,
        Self::GoSyscallEnd,
        Self::ProcStart,
        Self::ProcStop,
        Self::ProcSteal,
        Self::Gomaxprocs,
        Self::GcBegin,
        Self::GcEnd,
        Self::GcMarkBegin,
        Self::GcMarkEnd,
        Self::GcSweepBegin,
        Self::GcSweepEnd,
        Self::StwBegin,
        Self::StwEnd,
        Self::HeapAlloc,
        Self::HeapGoal,
        Self::RegionBegin,
        Self::RegionEnd,
        Self::Log,
    ];

    fn from_u8(v: u8) -> Option<Self> {
        Self::ALL.get(usize::from(v).checked_sub(1)?).copied()
    }
}

/// One raw event as stored in a buffer: 32 bytes, fixed size, written with plain
/// stores by the buffer's owner (Go writes varint-encoded bytes; see the design doc for
/// why gort does not).
///
/// Invariant: for `RegionBegin`, `RegionEnd` and `Log`, `b` and `str_len` hold the
/// pointer and length of (a prefix, cut at a character boundary, of) a `&'static str`,
/// stored by [`StaticStr::new`] in this process.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub(crate) struct Record {
    /// Clock ticks ([`crate::clock::ticks`]), strictly increasing within one writer.
    pub(crate) ts: u64,
    /// [`Kind`] as a byte.
    pub(crate) kind: u8,
    /// A reason byte ([`BlockReason`], [`StopReason`], [`StwKind`]) or 0.
    pub(crate) small: u8,
    /// The byte length of a string argument (`RegionBegin`, `RegionEnd`, `Log`), else 0.
    pub(crate) str_len: u16,
    /// The OS thread id for off-P records, else 0.
    pub(crate) tid: u32,
    /// First argument (usually a goroutine id).
    pub(crate) a: u64,
    /// Second argument.
    pub(crate) b: u64,
}

const _: () = assert!(size_of::<Record>() == 32);

/// A string argument stored in a record: a `&'static str` split into pointer and length
/// (at most `u16::MAX` bytes; longer strings are cut at a character boundary).
#[derive(Clone, Copy)]
pub(crate) struct StaticStr {
    pub(crate) ptr: u64,
    pub(crate) len: u16,
}

impl StaticStr {
    pub(crate) fn new(s: &'static str) -> Self {
        let mut len = s.len().min(usize::from(u16::MAX));
        while !s.is_char_boundary(len) {
            len -= 1;
        }
        Self {
            ptr: s.as_ptr() as usize as u64,
            len: u16::try_from(len).unwrap_or(0),
        }
    }
}

/// What happened, with its arguments (the decoded form of a record).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventData {
    /// Goroutine `g` was created by `parent` (0 if created by no goroutine). Go: GoCreate.
    GoCreate {
        /// The new goroutine's id.
        g: u64,
        /// The creating goroutine's id, or 0.
        parent: u64,
    },
    /// Goroutine `g` starts running on the event's P. Go: GoStart.
    GoStart {
        /// The goroutine.
        g: u64,
    },
    /// Goroutine `g` stops running but stays runnable. Go: GoStop (yield, preempt).
    GoStop {
        /// The goroutine.
        g: u64,
        /// Why.
        reason: StopReason,
    },
    /// Goroutine `g` blocks. Go: GoBlock with its reason string.
    GoBlock {
        /// The goroutine.
        g: u64,
        /// Why.
        reason: BlockReason,
    },
    /// Goroutine `g` is made runnable by the event's P (or thread). Go: GoUnblock.
    GoUnblock {
        /// The goroutine.
        g: u64,
    },
    /// Goroutine `g` exits. Go: GoDestroy (old format: GoEnd).
    GoEnd {
        /// The goroutine.
        g: u64,
    },
    /// Goroutine `g` enters a system call (`gort::syscall`). Go: GoSyscallBegin.
    GoSyscallBegin {
        /// The goroutine.
        g: u64,
    },
    /// Goroutine `g` returns from its system call. Go: GoSyscallEnd.
    GoSyscallEnd {
        /// The goroutine.
        g: u64,
    },
    /// The event's P starts running on OS thread `thread` (an M acquires it). Go:
    /// ProcStart.
    ProcStart {
        /// The M's OS thread id.
        thread: u32,
    },
    /// The event's P stops (its M releases it). Go: ProcStop.
    ProcStop,
    /// The event's P stole `count` goroutines from P `victim` (gort addition; Go shows
    /// steals only indirectly).
    ProcSteal {
        /// The P stolen from.
        victim: u32,
        /// How many goroutines moved.
        count: u32,
    },
    /// GOMAXPROCS became `n`. Go: ProcsChange.
    Gomaxprocs {
        /// The new value.
        n: u32,
    },
    /// GC cycle `seq` begins. Go: GCBegin.
    GcBegin {
        /// The cycle number.
        seq: u64,
    },
    /// GC cycle `seq` ends. Go: GCEnd.
    GcEnd {
        /// The cycle number.
        seq: u64,
    },
    /// Marking begins.
    GcMarkBegin,
    /// Marking ends.
    GcMarkEnd,
    /// Sweeping begins. Go: GCSweepBegin.
    GcSweepBegin,
    /// Sweeping ends. Go: GCSweepEnd.
    GcSweepEnd,
    /// The world stops. Go: STWBegin with its kind string.
    StwBegin {
        /// Why.
        kind: StwKind,
    },
    /// The world starts again. Go: STWEnd.
    StwEnd,
    /// The live heap is now `bytes`. Go: HeapAlloc.
    HeapAlloc {
        /// Bytes.
        bytes: u64,
    },
    /// The heap goal is now `bytes`. Go: HeapGoal.
    HeapGoal {
        /// Bytes.
        bytes: u64,
    },
    /// Goroutine `g` enters user region `name`. Go: UserRegionBegin.
    RegionBegin {
        /// The goroutine.
        g: u64,
        /// The region's name.
        name: &'static str,
    },
    /// Goroutine `g` leaves user region `name`. Go: UserRegionEnd.
    RegionEnd {
        /// The goroutine.
        g: u64,
        /// The region's name.
        name: &'static str,
    },
    /// Goroutine `g` logs `message`. Go: UserLog.
    Log {
        /// The goroutine.
        g: u64,
        /// The message.
        message: &'static str,
    },
}

/// One decoded event of a finished trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    /// Nanoseconds since the trace started.
    pub ts: u64,
    /// The P whose buffer holds the event, or [`NO_PROC`] for the off-P buffer.
    pub proc: u32,
    /// For off-P events, the emitting OS thread id; 0 for P events (the P's thread is
    /// the one named by its last [`EventData::ProcStart`]).
    pub thread: u32,
    /// What happened.
    pub data: EventData,
}

impl Record {
    /// Decodes this record's payload, or `None` for a corrupt kind byte.
    pub(crate) fn decode(&self) -> Option<EventData> {
        let (a, b) = (self.a, self.b);
        let u32a = u32::try_from(a).unwrap_or(u32::MAX);
        let u32b = u32::try_from(b).unwrap_or(u32::MAX);
        Some(match Kind::from_u8(self.kind)? {
            Kind::GoCreate => EventData::GoCreate { g: a, parent: b },
            Kind::GoStart => EventData::GoStart { g: a },
            Kind::GoStop => EventData::GoStop {
                g: a,
                reason: StopReason::from_u8(self.small),
            },
            Kind::GoBlock => EventData::GoBlock {
                g: a,
                reason: BlockReason::from_u8(self.small),
            },
            Kind::GoUnblock => EventData::GoUnblock { g: a },
            Kind::GoEnd => EventData::GoEnd { g: a },
            Kind::GoSyscallBegin => EventData::GoSyscallBegin { g: a },
            Kind::GoSyscallEnd => EventData::GoSyscallEnd { g: a },
            Kind::ProcStart => EventData::ProcStart { thread: u32a },
            Kind::ProcStop => EventData::ProcStop,
            Kind::ProcSteal => EventData::ProcSteal {
                victim: u32a,
                count: u32b,
            },
            Kind::Gomaxprocs => EventData::Gomaxprocs { n: u32a },
            Kind::GcBegin => EventData::GcBegin { seq: a },
            Kind::GcEnd => EventData::GcEnd { seq: a },
            Kind::GcMarkBegin => EventData::GcMarkBegin,
            Kind::GcMarkEnd => EventData::GcMarkEnd,
            Kind::GcSweepBegin => EventData::GcSweepBegin,
            Kind::GcSweepEnd => EventData::GcSweepEnd,
            Kind::StwBegin => EventData::StwBegin {
                kind: StwKind::from_u8(self.small),
            },
            Kind::StwEnd => EventData::StwEnd,
            Kind::HeapAlloc => EventData::HeapAlloc { bytes: a },
            Kind::HeapGoal => EventData::HeapGoal { bytes: a },
            Kind::RegionBegin => EventData::RegionBegin {
                g: a,
                name: self.str_arg(),
            },
            Kind::RegionEnd => EventData::RegionEnd {
                g: a,
                name: self.str_arg(),
            },
            Kind::Log => EventData::Log {
                g: a,
                message: self.str_arg(),
            },
        })
    }

    /// The string argument of a `RegionBegin`, `RegionEnd` or `Log` record.
    fn str_arg(&self) -> &'static str {
        let Ok(ptr) = usize::try_from(self.b) else {
            return "";
        };
        if ptr == 0 {
            return "";
        }
        // SAFETY: only called for string records, whose invariant (see `Record`) makes
        // `b`/`str_len` a prefix of a `&'static str` ending at a character boundary:
        // valid, initialised, immutable UTF-8 for the rest of the process.
        unsafe {
            core::str::from_utf8_unchecked(core::slice::from_raw_parts(
                ptr as *const u8,
                usize::from(self.str_len),
            ))
        }
    }
}
