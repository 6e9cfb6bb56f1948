//! Cells through which `Gc` fields are stored: the write-barrier hook point.

use core::cell::{Cell, Ref, RefCell, RefMut};

use crate::mark::Tracer;
use crate::trace::Trace;

/// The write barrier: every store of a value that may hold a `Gc` into a collected
/// object goes through here. Marking stops the world in this version, so the barrier
/// does nothing; the concurrent marker will shade here (Go's hybrid barrier), and this
/// stays a single predictable branch while marking is off.
#[inline(always)]
fn write_barrier() {}

/// A `Cell` for `Copy` values (a `Gc`, an `Option<Gc<T>>`, a number) inside a collected
/// object. Not `Sync`, like `Cell`.
#[derive(Default)]
pub struct GcCell<T: Trace + Copy> {
    /// The value.
    value: Cell<T>,
}

impl<T: Trace + Copy> GcCell<T> {
    /// A cell holding `v`.
    pub const fn new(v: T) -> Self {
        GcCell {
            value: Cell::new(v),
        }
    }

    /// The value.
    #[inline]
    pub fn get(&self) -> T {
        self.value.get()
    }

    /// Stores `v` (through the write barrier).
    #[inline]
    pub fn set(&self, v: T) {
        write_barrier();
        self.value.set(v);
    }

    /// Stores `v` and returns the old value.
    #[inline]
    pub fn replace(&self, v: T) -> T {
        write_barrier();
        self.value.replace(v)
    }
}

impl<T: Trace + Copy + core::fmt::Debug> core::fmt::Debug for GcCell<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("GcCell").field(&self.get()).finish()
    }
}

// SAFETY: traces a copy of the value.
unsafe impl<T: Trace + Copy> Trace for GcCell<T> {
    const NO_TRACE: bool = T::NO_TRACE;
    fn trace(&self, t: &mut Tracer<'_>) {
        self.get().trace(t);
    }
}

/// A `RefCell` inside a collected object: `borrow_mut` goes through the write barrier.
/// Not `Sync`, like `RefCell`.
#[derive(Default)]
pub struct GcRefCell<T: Trace> {
    /// The value.
    value: RefCell<T>,
}

impl<T: Trace> GcRefCell<T> {
    /// A cell holding `v`.
    pub const fn new(v: T) -> Self {
        GcRefCell {
            value: RefCell::new(v),
        }
    }

    /// Borrows the value; panics if it is mutably borrowed (as `RefCell::borrow`).
    #[inline]
    pub fn borrow(&self) -> Ref<'_, T> {
        self.value.borrow()
    }

    /// Borrows the value mutably (through the write barrier); panics if it is borrowed
    /// (as `RefCell::borrow_mut`).
    #[inline]
    pub fn borrow_mut(&self) -> RefMut<'_, T> {
        write_barrier();
        self.value.borrow_mut()
    }

    /// Replaces the value.
    pub fn replace(&self, v: T) -> T {
        write_barrier();
        self.value.replace(v)
    }
}

impl<T: Trace + core::fmt::Debug> core::fmt::Debug for GcRefCell<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.value.fmt(f)
    }
}

// SAFETY: as `RefCell`'s impl (conservative scan when mutably borrowed).
unsafe impl<T: Trace> Trace for GcRefCell<T> {
    const NO_TRACE: bool = T::NO_TRACE;
    fn trace(&self, t: &mut Tracer<'_>) {
        self.value.trace(t);
    }
}
