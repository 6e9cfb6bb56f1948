//! Cells through which `Gc` fields are stored: the write-barrier hook point.

use core::cell::{Ref, RefCell, RefMut};
use core::marker::PhantomData;

use crate::gc::Gc;
use crate::sync::static_atomic::{AtomicU64, Ordering};

use crate::mark::Tracer;
use crate::trace::Trace;

/// The write barrier: every store of a value that may hold a `Gc` into a collected
/// object goes through here. Marking stops the world in this version, so the barrier
/// does nothing; the concurrent marker will shade here (Go's hybrid barrier), and this
/// stays a single predictable branch while marking is off.
#[inline(always)]
fn write_barrier() {}

/// Values a [`GcCell`] holds: at most 8 bytes, no padding, `Copy` — a `Gc`, an
/// `Option<Gc<T>>`, an integer, a `bool`, a `char`. Sealed.
pub trait CellValue: Copy + Trace + cell_value::Sealed {}

mod cell_value {
    /// Seals [`CellValue`](super::CellValue).
    pub trait Sealed {}
}

macro_rules! cell_value {
    ($($t:ty),*) => {$(
        impl cell_value::Sealed for $t {}
        impl CellValue for $t {}
    )*};
}
cell_value!(
    u8, u16, u32, u64, usize, i8, i16, i32, i64, isize, bool, char
);
impl<T: Trace + 'static> cell_value::Sealed for Gc<T> {}
impl<T: Trace + 'static> CellValue for Gc<T> {}
impl<T: Trace + 'static> cell_value::Sealed for Option<Gc<T>> {}
impl<T: Trace + 'static> CellValue for Option<Gc<T>> {}

/// A mutable slot for a small `Copy` value (a `Gc`, an `Option<Gc<T>>`, a number)
/// inside a collected object, shareable between goroutines: loads and stores are
/// single relaxed atomic word accesses (Go's racy pointer writes, without tearing).
pub struct GcCell<T: CellValue> {
    /// The value's bytes, zero-extended to a word.
    bits: AtomicU64,
    /// Holds a `T`.
    _marker: PhantomData<T>,
}

// SAFETY: the cell holds a `T` by value behind atomic accesses; sharing it shares `T`s
// between threads (`T: Send + Sync`).
unsafe impl<T: CellValue + Send + Sync> Sync for GcCell<T> {}
// SAFETY: as Sync.
unsafe impl<T: CellValue + Send> Send for GcCell<T> {}

impl<T: CellValue> GcCell<T> {
    #[inline(always)]
    fn to_bits(v: T) -> u64 {
        const { assert!(core::mem::size_of::<T>() <= 8) };
        let mut b = 0u64;
        // SAFETY: `T` is at most 8 bytes and has no padding (sealed list), so every
        // byte copied is initialised; the destination is a local word.
        unsafe {
            core::ptr::copy_nonoverlapping(
                core::ptr::from_ref(&v).cast::<u8>(),
                core::ptr::from_mut(&mut b).cast::<u8>(),
                core::mem::size_of::<T>(),
            );
        }
        b
    }

    /// A cell holding `v`.
    #[inline]
    pub fn new(v: T) -> Self {
        GcCell {
            bits: AtomicU64::new(Self::to_bits(v)),
            _marker: PhantomData,
        }
    }

    /// The value.
    #[inline]
    pub fn get(&self) -> T {
        let b = self.bits.load(Ordering::Relaxed);
        // SAFETY: the word holds the bytes of a valid `T` written by `new`/`set`.
        unsafe { core::mem::transmute_copy::<u64, T>(&b) }
    }

    /// Stores `v` (through the write barrier).
    #[inline]
    pub fn set(&self, v: T) {
        write_barrier();
        self.bits.store(Self::to_bits(v), Ordering::Relaxed);
    }

    /// Stores `v` and returns the old value.
    #[inline]
    pub fn replace(&self, v: T) -> T {
        write_barrier();
        let b = self.bits.swap(Self::to_bits(v), Ordering::Relaxed);
        // SAFETY: as `get`.
        unsafe { core::mem::transmute_copy::<u64, T>(&b) }
    }
}

impl<T: CellValue + Default> Default for GcCell<T> {
    fn default() -> Self {
        GcCell::new(T::default())
    }
}

impl<T: CellValue + core::fmt::Debug> core::fmt::Debug for GcCell<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("GcCell").field(&self.get()).finish()
    }
}

// SAFETY: traces a copy of the value.
unsafe impl<T: CellValue> Trace for GcCell<T> {
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
