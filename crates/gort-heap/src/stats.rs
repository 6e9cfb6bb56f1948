//! `HeapStats`: the heap's memory statistics, with Go's `MemStats` meanings.
//! See the crate docs for the overview.

/// A snapshot of a heap's statistics (Go: the heap fields of `runtime.MemStats`).
///
/// Go's identities hold: `heap_idle = heap_sys - heap_inuse`, and `heap_idle -
/// heap_released` is what the scavenger could still return to the OS. Fields are read
/// one by one without a lock, so a snapshot taken during concurrent allocation may be
/// off by the pages of the operations in flight.
#[non_exhaustive]
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct HeapStats {
    /// Bytes of heap memory obtained from the OS and made usable (Go: `HeapSys`),
    /// including memory since released by the scavenger. Grows in 4 MiB chunks.
    pub heap_sys: usize,
    /// Bytes in spans in state `InUse` or `Manual` (Go: `HeapInuse`; Go counts its
    /// manual stack spans under `StackInuse` instead, see `heap_manual`).
    pub heap_inuse: usize,
    /// The part of `heap_inuse` in `Manual` spans.
    pub heap_manual: usize,
    /// Bytes in free pages (Go: `HeapIdle`): `heap_sys - heap_inuse`.
    pub heap_idle: usize,
    /// Bytes of free pages whose physical memory was returned to the OS or never touched
    /// (Go: `HeapReleased`). Such pages read as zero.
    pub heap_released: usize,
    /// Bytes of address space reserved for the heap, usable or not yet (virtual only).
    pub heap_reserved: usize,
    /// Live spans (`InUse` or `Manual`).
    pub spans: usize,
    /// The scavenger's goal for retained memory (`heap_sys - heap_released`).
    pub retained_goal: usize,
    /// Bytes released to the OS by scavenging so far (cumulative).
    pub scavenged_total: usize,
    /// Whether this heap's background scavenger thread is running.
    pub scavenger_running: bool,
    /// Bytes obtained by `persistent_alloc`, process-wide (Go: part of `OtherSys`).
    pub persistent_sys: usize,
}

impl HeapStats {
    /// Memory the heap holds from the OS: `heap_sys - heap_released` (Go's "retained").
    pub fn retained(&self) -> usize {
        self.heap_sys - self.heap_released
    }
}
