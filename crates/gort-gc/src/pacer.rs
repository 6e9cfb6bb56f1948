//! The pacer: heap goal and trigger from GORT_GC and GORT_MEMLIMIT (Go 1.18+: mgcpacer.go).

/// Go's `defaultHeapMinimum`: the goal never drops below 4 MiB × GC percent / 100.
pub const HEAP_MINIMUM: u64 = 4 << 20;

/// The collector's pacing state (Go `gcControllerState`, the parts a stop-the-world
/// collector needs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pacer {
    /// GC percent (Go `GOGC`); negative = off.
    gc_percent: i32,
    /// Soft memory limit in bytes (`u64::MAX` = none).
    mem_limit: u64,
    /// Collected bytes marked by the last cycle (Go `heapMarked`).
    heap_marked: u64,
    /// Stack (and register) bytes scanned by the last cycle (Go `lastStackScan`).
    stack_scan: u64,
    /// Data segment and TLS bytes scanned by the last cycle (Go `globalsScan`).
    globals_scan: u64,
    /// Manual bytes found reachable and scanned by the last cycle (gort's addition:
    /// scan work Go does not have).
    manual_scan: u64,
}

impl Default for Pacer {
    fn default() -> Self {
        Pacer::new()
    }
}

impl Pacer {
    /// GC percent 100, no limit, nothing marked yet.
    pub const fn new() -> Pacer {
        Pacer {
            gc_percent: 100,
            mem_limit: u64::MAX,
            heap_marked: 0,
            stack_scan: 0,
            globals_scan: 0,
            manual_scan: 0,
        }
    }

    /// The GC percent (negative = off).
    pub fn gc_percent(&self) -> i32 {
        self.gc_percent
    }

    /// Sets the GC percent (negative = off); returns the old one.
    pub fn set_gc_percent(&mut self, p: i32) -> i32 {
        core::mem::replace(&mut self.gc_percent, p.max(-1))
    }

    /// The memory limit (`u64::MAX` = none).
    pub fn mem_limit(&self) -> u64 {
        self.mem_limit
    }

    /// Sets the memory limit; returns the old one.
    pub fn set_mem_limit(&mut self, l: u64) -> u64 {
        core::mem::replace(&mut self.mem_limit, l)
    }

    /// Records a cycle's measurements.
    pub fn end_cycle(&mut self, marked: u64, stack: u64, globals: u64, manual: u64) {
        self.heap_marked = marked;
        self.stack_scan = stack;
        self.globals_scan = globals;
        self.manual_scan = manual;
    }

    /// The GC-percent goal: `marked + (marked + stacks + globals + manual) × GOGC/100`,
    /// at least `HEAP_MINIMUM × GOGC/100`; `u64::MAX` when off.
    pub fn gogc_goal(&self) -> u64 {
        if self.gc_percent < 0 {
            return u64::MAX;
        }
        let pct = self.gc_percent as u64;
        let roots = self.heap_marked + self.stack_scan + self.globals_scan + self.manual_scan;
        let goal = self.heap_marked + roots.saturating_mul(pct) / 100;
        goal.max(HEAP_MINIMUM.saturating_mul(pct) / 100)
    }

    /// The memory-limit goal: the limit minus everything mapped that is not collected
    /// heap, minus headroom (max of 3% and 1 MiB), at least the marked heap; `u64::MAX`
    /// without a limit. `mapped` is the process's mapped heap bytes, `gc_heap` the
    /// collected bytes in it.
    pub fn limit_goal(&self, mapped: u64, gc_heap: u64) -> u64 {
        if self.mem_limit == u64::MAX {
            return u64::MAX;
        }
        let other = mapped.saturating_sub(gc_heap);
        let goal = self.mem_limit.saturating_sub(other);
        let headroom = (goal / 100 * 3).max(1 << 20);
        goal.saturating_sub(headroom).max(self.heap_marked)
    }

    /// The next cycle's goal: the smaller of the two.
    pub fn goal(&self, mapped: u64, gc_heap: u64) -> u64 {
        self.gogc_goal().min(self.limit_goal(mapped, gc_heap))
    }

    /// The trigger for `goal`. The mark stops the world, so there is no runway to leave:
    /// the cycle starts when the heap reaches its goal.
    pub fn trigger_for(&self, goal: u64) -> u64 {
        goal
    }

    /// The trigger before any cycle ran.
    pub fn trigger(&self) -> u64 {
        self.trigger_for(self.gogc_goal())
    }
}
