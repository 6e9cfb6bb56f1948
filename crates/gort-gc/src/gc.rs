//! `Gc<T>`: a copyable handle to a collected object, its header and allocation.

use core::alloc::Layout;
use core::fmt;
use core::marker::PhantomData;
use core::ops::Deref;
use core::ptr::NonNull;

use crate::collector::{Collector, fatal_gc};
use crate::mark::Tracer;
use crate::sync::static_atomic::{AtomicUsize, Ordering};
use crate::trace::Trace;

/// Header flag: the object's value still needs its `Drop` (set at allocation for types
/// with drop glue; cleared when the finalizer goroutine takes the object).
pub(crate) const FINALIZABLE: usize = 1;
/// Header flag: the value was dropped (a `Gc` resurrected by a `Drop` that reaches it
/// afterwards aborts instead of reading freed contents).
pub(crate) const DROPPED: usize = 2;
/// Header flag: a cycle found the object unreachable but reachable from another object
/// awaiting `Drop`, and deferred its own `Drop` (Go's ordering rule). The second time,
/// it is queued anyway, after the objects that reach it (this breaks cycles).
pub(crate) const DEFERRED: usize = 4;
/// Header bits that are flags; the rest is the `&'static VTable`.
pub(crate) const FLAG_MASK: usize = 7;

/// Per-type facts the collector needs about a `Gc` object, found through its header.
#[derive(Debug)]
#[repr(align(8))]
pub(crate) struct VTable {
    /// Traces the value at the given address.
    pub(crate) trace: unsafe fn(usize, &mut Tracer<'_>),
    /// Drops the value at the given address in place.
    pub(crate) drop: unsafe fn(usize),
    /// Bytes from the object's base to its value.
    pub(crate) value_offset: usize,
    /// The value's size.
    pub(crate) value_size: usize,
    /// The type's name (for checkmark's report).
    pub(crate) name: fn() -> &'static str,
}

/// The header word at an object's base: `&'static VTable | flags`.
///
/// # Safety
/// `base` is the base of a published `Gc` object.
#[inline]
pub(crate) unsafe fn header(base: usize) -> &'static AtomicUsize {
    // SAFETY: [Safety]: the first word of a Gc object is its header, written before
    // the object was published and only changed atomically afterwards.
    unsafe { AtomicUsize::from_ptr(base as *mut usize) }
}

/// The vtable in a header word.
///
/// # Safety
/// `h` was read from the header of a published `Gc` object.
#[inline]
pub(crate) unsafe fn vtable(h: usize) -> &'static VTable {
    // SAFETY: [Safety]: headers hold a `&'static VTable` in their high bits.
    unsafe { &*((h & !FLAG_MASK) as *const VTable) }
}

/// A pointer to a collected object holding a `T`: pointer-sized, `Copy`, dereferences
/// to `&T`. The object lives while any `Gc` to it is reachable — from a root (a stack,
/// a register, a global, TLS), from a manual allocation reachable from one, or from
/// another live object. Mutate through cells ([`GcCell`](crate::GcCell),
/// [`GcRefCell`](crate::GcRefCell)).
///
/// `Gc<T>` is 8-aligned (`#[repr(align(8))]`; its size and `Option<Gc<T>>`'s niche are
/// those of a pointer): the collector scans memory only at aligned words, so a `Gc` at
/// an unaligned offset would be invisible. A `#[repr(packed)]` type therefore cannot
/// hold one (error E0588):
///
/// ```compile_fail,E0588
/// use gort_gc::Gc;
/// #[repr(C, packed)]
/// struct Packed {
///     g: Gc<u64>,
///     tag: u8,
/// }
/// ```
///
/// while the same struct without `packed` compiles:
///
/// ```
/// use gort_gc::Gc;
/// #[repr(C)]
/// struct Unpacked {
///     g: Gc<u64>,
///     tag: u8,
/// }
/// ```
#[repr(align(8))]
pub struct Gc<T: Trace + 'static> {
    /// The value (inside the object, `OFFSET` bytes after its header).
    ptr: NonNull<T>,
    /// `Gc<T>` shares a `T`.
    _marker: PhantomData<T>,
}

// A `Gc` is one aligned pointer word, and `Option<Gc<T>>` uses the null niche.
const _: () = {
    assert!(core::mem::size_of::<Gc<u64>>() == core::mem::size_of::<usize>());
    assert!(core::mem::align_of::<Gc<u8>>() == 8);
    assert!(core::mem::size_of::<Option<Gc<u64>>>() == core::mem::size_of::<usize>());
};

impl<T: Trace + 'static> Clone for Gc<T> {
    #[inline]
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: Trace + 'static> Copy for Gc<T> {}

// SAFETY: a Gc shares its T between threads (Deref gives &T on any thread): T: Sync.
// Dropping happens on the finalizer goroutine: T: Send.
unsafe impl<T: Trace + Send + Sync + 'static> Send for Gc<T> {}
// SAFETY: as Send.
unsafe impl<T: Trace + Send + Sync + 'static> Sync for Gc<T> {}

impl<T: Trace + 'static> Gc<T> {
    /// Bytes from the object's base to the value: the header word, padded to T's alignment.
    pub(crate) const OFFSET: usize = if core::mem::align_of::<T>() > 8 {
        core::mem::align_of::<T>()
    } else {
        8
    };

    const VTABLE: VTable = VTable {
        trace: trace_value::<T>,
        drop: drop_value::<T>,
        value_offset: Self::OFFSET,
        value_size: core::mem::size_of::<T>(),
        name: core::any::type_name::<T>,
    };

    /// Allocates a collected object holding `value`. May run a collection first (when
    /// the heap reached its goal), from the calling goroutine.
    ///
    /// Requires `GortAlloc` as the global allocator (the facade checks at start).
    #[inline]
    pub fn new(value: T) -> Gc<T>
    where
        T: Send,
    {
        let c = Collector::get();
        let layout =
            match Layout::from_size_align(Self::OFFSET + core::mem::size_of::<T>(), Self::OFFSET) {
                Ok(l) => l,
                Err(_) => fatal_gc("Gc object too large"),
            };
        let base = c.alloc_object(layout, T::NO_TRACE);
        let vt: &'static VTable = &Self::VTABLE;
        let flags = if core::mem::needs_drop::<T>() {
            FINALIZABLE
        } else {
            0
        };
        let value_ptr = (base + Self::OFFSET) as *mut T;
        // SAFETY: `base` is a fresh allocation of `layout`: the header word and the
        // value slot are in bounds, aligned and ours.
        unsafe {
            (base as *mut usize).write(vt as *const VTable as usize | flags);
            value_ptr.write(value);
        }
        // SAFETY: the object is fully initialised and owned by us.
        unsafe { c.publish_object(base, flags & FINALIZABLE != 0) };
        Gc {
            // SAFETY: inside a live allocation, so non-null.
            ptr: unsafe { NonNull::new_unchecked(value_ptr) },
            _marker: PhantomData,
        }
    }

    /// The object's base address (its header).
    #[inline]
    pub(crate) fn base(self) -> usize {
        self.ptr.as_ptr() as usize - Self::OFFSET
    }

    /// A raw pointer to the value.
    #[inline]
    pub fn as_ptr(this: Gc<T>) -> *const T {
        this.ptr.as_ptr()
    }

    /// True when both point to the same object.
    #[inline]
    pub fn ptr_eq(a: Gc<T>, b: Gc<T>) -> bool {
        a.ptr == b.ptr
    }
}

/// Traces the `T` at `addr`.
///
/// # Safety
/// `addr` holds a live `T` (the world is stopped).
unsafe fn trace_value<T: Trace>(addr: usize, t: &mut Tracer<'_>) {
    // SAFETY: [Safety].
    unsafe { (*(addr as *const T)).trace(t) }
}

/// Drops the `T` at `addr` in place.
///
/// # Safety
/// `addr` holds a live `T` that nothing uses again.
unsafe fn drop_value<T>(addr: usize) {
    // SAFETY: [Safety].
    unsafe { core::ptr::drop_in_place(addr as *mut T) }
}

impl<T: Trace + 'static> Deref for Gc<T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        if core::mem::needs_drop::<T>() {
            // SAFETY: a Gc points to a live object; its header is at its base.
            let h = unsafe { header(self.base()) }.load(Ordering::Relaxed);
            if h & DROPPED != 0 {
                fatal_gc("Gc dereferenced after its value was dropped (resurrected by a Drop)");
            }
        }
        // SAFETY: the object is live while this Gc is reachable, and the value was
        // initialised before the Gc existed.
        unsafe { self.ptr.as_ref() }
    }
}

// SAFETY: a Gc reports itself.
unsafe impl<T: Trace + 'static> Trace for Gc<T> {
    #[inline]
    fn trace(&self, t: &mut Tracer<'_>) {
        t.mark_gc(self.base());
    }
}

impl<T: Trace + fmt::Debug + 'static> fmt::Debug for Gc<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

impl<T: Trace + fmt::Display + 'static> fmt::Display for Gc<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

impl<T: Trace + PartialEq + 'static> PartialEq for Gc<T> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}
