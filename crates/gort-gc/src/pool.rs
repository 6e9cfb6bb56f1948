//! `Pool`: a cache of reusable values the collector empties (Go: sync/pool.go, with its victim cache).

use crate::collector::Collector;
use crate::sync::static_sync::Mutex;

/// A set of spare values that any goroutine may take or return (Go `sync.Pool`). Each
/// cycle moves the values into a victim list, and the next cycle drops them: a value
/// unused for two cycles is gone, so a pool never pins memory a quiet program does not
/// use.
#[derive(Debug)]
pub struct Pool<T: Send> {
    /// Makes a value when the pool is empty.
    new: fn() -> T,
    /// Primary values, victim values and the cycle count they belong to. Protected by
    /// the lock.
    inner: Mutex<PoolInner<T>>,
}

#[derive(Debug)]
struct PoolInner<T> {
    /// Cycle count when `primary` was last aged.
    cycle: u64,
    /// Values returned since then.
    primary: Vec<T>,
    /// Values from the cycle before.
    victim: Vec<T>,
}

impl<T: Send> Pool<T> {
    /// An empty pool that makes values with `new`.
    pub const fn new(new: fn() -> T) -> Pool<T> {
        Pool {
            new,
            inner: Mutex::new(PoolInner {
                cycle: 0,
                primary: Vec::new(),
                victim: Vec::new(),
            }),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut PoolInner<T>) -> R) -> R {
        let now = Collector::get().cycles();
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (old_primary, old_victim);
        if g.cycle != now {
            let aged = now - g.cycle;
            g.cycle = now;
            old_victim = core::mem::take(&mut g.victim);
            if aged == 1 {
                g.victim = core::mem::take(&mut g.primary);
                old_primary = Vec::new();
            } else {
                old_primary = core::mem::take(&mut g.primary);
            }
        } else {
            (old_primary, old_victim) = (Vec::new(), Vec::new());
        }
        let r = f(&mut g);
        drop(g);
        // Dropped outside the lock.
        drop(old_primary);
        drop(old_victim);
        r
    }

    /// Takes a value (the most recently returned, then the victims), or makes one.
    pub fn get(&self) -> T {
        match self.with(|g| g.primary.pop().or_else(|| g.victim.pop())) {
            Some(v) => v,
            None => (self.new)(),
        }
    }

    /// Returns a value for reuse.
    pub fn put(&self, v: T) {
        self.with(|g| g.primary.push(v));
    }

    /// Values held (both lists), for tests.
    pub fn len(&self) -> usize {
        self.with(|g| g.primary.len() + g.victim.len())
    }

    /// True when the pool holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
