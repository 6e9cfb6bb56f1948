//! `Trace`: how the collector finds the `Gc` pointers inside a value, with impls for std types.

use core::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet, LinkedList, VecDeque};

use crate::mark::Tracer;

/// A type whose `Gc` pointers the collector can enumerate precisely.
///
/// `#[derive(Trace)]` (gort-derive) writes the impl for structs and enums: it traces every
/// field.
///
/// # Safety
///
/// `trace` must call `Trace::trace` on every field or element that may hold a `Gc` (or
/// report it another way: [`Tracer::scan_conservative`], [`Tracer::mark_address`]). A
/// missed `Gc` may be freed while still reachable. `trace` runs with the world stopped
/// on a collector thread: it must not allocate, lock, block or panic, and must not
/// assume the value is in a consistent state beyond what its own fields guarantee (a
/// `RefCell` may be mutably borrowed by a stopped thread). `NO_TRACE = true` promises
/// the type holds no `Gc` at all (it then allocates in a noscan span).
///
/// # Owned buffers
///
/// A type that owns manual allocations (frees them in its `Drop`: a buffer, a boxed
/// value, collection nodes) must also report them with [`Tracer::owned`], and while
/// [`Tracer::reports_owned`] is true descend into its fields and elements that own
/// allocations even when they are `NO_TRACE` (elements without drop glue own nothing
/// and may be skipped). The collector uses this before running `Drop`: an unreachable
/// object whose owned buffer is still reached (a borrow `g.v.as_slice()` taken through
/// a `Gc` that is itself dead, still in use) is kept for this cycle. The std impls here
/// and `#[derive(Trace)]` (which traces every field) follow the rule; a custom impl that
/// skips it loses that protection (see docs/design/gort-gc.md, "Borrows through a dead
/// handle").
pub unsafe trait Trace {
    /// True when the type can never hold a `Gc` (its objects are not scanned).
    const NO_TRACE: bool = false;

    /// Reports every `Gc` in `self` to `t`.
    fn trace(&self, t: &mut Tracer<'_>);
}

macro_rules! no_trace {
    ($($t:ty),* $(,)?) => {$(
        // SAFETY: the type holds no `Gc`.
        unsafe impl Trace for $t {
            const NO_TRACE: bool = true;
            #[inline]
            fn trace(&self, _: &mut Tracer<'_>) {}
        }
    )*};
}

no_trace!(
    (),
    bool,
    char,
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    f32,
    f64,
    &'static str,
    core::time::Duration,
    std::time::Instant,
    std::time::SystemTime,
    core::sync::atomic::AtomicBool, // tidy: allow(std-sync) (a Trace impl for the std type)
    core::sync::atomic::AtomicUsize, // tidy: allow(std-sync) (a Trace impl for the std type)
    core::sync::atomic::AtomicU64,  // tidy: allow(std-sync) (a Trace impl for the std type)
    core::sync::atomic::AtomicI64,  // tidy: allow(std-sync) (a Trace impl for the std type)
    core::sync::atomic::AtomicU32,  // tidy: allow(std-sync) (a Trace impl for the std type)
);

/// True when a container must visit its `T` elements: they may hold a `Gc`, or the
/// tracer asks for owned buffers and they may own some (they have drop glue).
#[inline]
fn visit<T: Trace>(t: &Tracer<'_>) -> bool {
    !T::NO_TRACE || (core::mem::needs_drop::<T>() && t.reports_owned())
}

// SAFETY: owns no Gc; reports its buffer.
unsafe impl Trace for String {
    const NO_TRACE: bool = true;
    #[inline]
    fn trace(&self, t: &mut Tracer<'_>) {
        if self.capacity() != 0 {
            t.owned(self.as_ptr());
        }
    }
}

// SAFETY: owns no Gc; reports its buffer.
unsafe impl Trace for std::path::PathBuf {
    const NO_TRACE: bool = true;
    #[inline]
    fn trace(&self, t: &mut Tracer<'_>) {
        let b = self.as_os_str().as_encoded_bytes();
        if !b.is_empty() {
            t.owned(b.as_ptr());
        }
    }
}

// SAFETY: traces the boxed value; reports the box.
unsafe impl<T: Trace + ?Sized> Trace for Box<T> {
    const NO_TRACE: bool = T::NO_TRACE;
    #[inline]
    fn trace(&self, t: &mut Tracer<'_>) {
        if core::mem::size_of_val::<T>(self) != 0 {
            t.owned((&raw const **self).cast::<u8>());
        }
        if !T::NO_TRACE || t.reports_owned() {
            (**self).trace(t);
        }
    }
}

// SAFETY: traces every element.
unsafe impl<T: Trace> Trace for [T] {
    const NO_TRACE: bool = T::NO_TRACE;
    fn trace(&self, t: &mut Tracer<'_>) {
        if visit::<T>(t) {
            for x in self {
                x.trace(t);
            }
        }
    }
}

// SAFETY: traces every element.
unsafe impl<T: Trace, const N: usize> Trace for [T; N] {
    const NO_TRACE: bool = T::NO_TRACE;
    fn trace(&self, t: &mut Tracer<'_>) {
        self.as_slice().trace(t);
    }
}

// SAFETY: traces every element; reports the buffer.
unsafe impl<T: Trace> Trace for Vec<T> {
    const NO_TRACE: bool = T::NO_TRACE;
    fn trace(&self, t: &mut Tracer<'_>) {
        if self.capacity() != 0 && core::mem::size_of::<T>() != 0 {
            t.owned(self.as_ptr().cast::<u8>());
        }
        self.as_slice().trace(t);
    }
}

macro_rules! trace_iter {
    ($($name:ident < $($p:ident),* > => |$s:ident| $iter:expr, [$($bound:tt)*];)*) => {$(
        // SAFETY: traces every element; reports each element's place (inside the
        // container's buffer or nodes).
        unsafe impl<$($p: Trace),* $($bound)*> Trace for $name<$($p),*> {
            const NO_TRACE: bool = $($p::NO_TRACE)&&*;
            fn trace(&self, t: &mut Tracer<'_>) {
                if Self::NO_TRACE && !t.reports_owned() {
                    return;
                }
                let $s = self;
                for x in $iter {
                    owned_place(x, t);
                    x.trace(t);
                }
            }
        }
    )*};
}

trace_iter! {
    VecDeque<T> => |s| s.iter(), [];
    LinkedList<T> => |s| s.iter(), [];
    BTreeSet<T> => |s| s.iter(), [];
    BinaryHeap<T> => |s| s.iter(), [];
}

// SAFETY: traces every key and value.
unsafe impl<K: Trace, V: Trace> Trace for BTreeMap<K, V> {
    const NO_TRACE: bool = K::NO_TRACE && V::NO_TRACE;
    fn trace(&self, t: &mut Tracer<'_>) {
        if Self::NO_TRACE && !t.reports_owned() {
            return;
        }
        for (k, v) in self {
            owned_place(k, t);
            owned_place(v, t);
            k.trace(t);
            v.trace(t);
        }
    }
}

/// Reports the place of a container's element (inside its buffer or node).
#[inline]
fn owned_place<T>(x: &T, t: &mut Tracer<'_>) {
    if core::mem::size_of::<T>() != 0 {
        t.owned(core::ptr::from_ref(x).cast::<u8>());
    }
}

// SAFETY: traces the hasher and every key and value.
unsafe impl<K: Trace, V: Trace, S: Trace> Trace for HashMap<K, V, S> {
    const NO_TRACE: bool = K::NO_TRACE && V::NO_TRACE && S::NO_TRACE;
    fn trace(&self, t: &mut Tracer<'_>) {
        if Self::NO_TRACE && !t.reports_owned() {
            return;
        }
        self.hasher().trace(t);
        for (k, v) in self {
            owned_place(k, t);
            owned_place(v, t);
            k.trace(t);
            v.trace(t);
        }
    }
}

// SAFETY: traces the hasher and every element.
unsafe impl<T: Trace, S: Trace> Trace for HashSet<T, S> {
    const NO_TRACE: bool = T::NO_TRACE && S::NO_TRACE;
    fn trace(&self, t: &mut Tracer<'_>) {
        if Self::NO_TRACE && !t.reports_owned() {
            return;
        }
        self.hasher().trace(t);
        for x in self {
            owned_place(x, t);
            x.trace(t);
        }
    }
}

no_trace!(std::hash::RandomState);

// SAFETY: a `BuildHasherDefault` holds no value (only a `PhantomData<fn() -> H>`).
unsafe impl<H> Trace for core::hash::BuildHasherDefault<H> {
    const NO_TRACE: bool = true;
    #[inline]
    fn trace(&self, _: &mut Tracer<'_>) {}
}

// SAFETY: traces the value if present.
unsafe impl<T: Trace> Trace for Option<T> {
    const NO_TRACE: bool = T::NO_TRACE;
    #[inline]
    fn trace(&self, t: &mut Tracer<'_>) {
        if let Some(x) = self {
            x.trace(t);
        }
    }
}

// SAFETY: traces whichever value is present.
unsafe impl<T: Trace, E: Trace> Trace for Result<T, E> {
    const NO_TRACE: bool = T::NO_TRACE && E::NO_TRACE;
    fn trace(&self, t: &mut Tracer<'_>) {
        match self {
            Ok(x) => x.trace(t),
            Err(e) => e.trace(t),
        }
    }
}

// SAFETY: traces a copy of the value (no reference into the cell escapes).
unsafe impl<T: Trace + Copy> Trace for Cell<T> {
    const NO_TRACE: bool = T::NO_TRACE;
    fn trace(&self, t: &mut Tracer<'_>) {
        self.get().trace(t);
    }
}

// SAFETY: a cell mutably borrowed by a stopped thread may be mid-update: its bytes are
// then scanned conservatively (which finds every pointer it holds, and through the
// manual objects it points to, everything behind them).
unsafe impl<T: Trace> Trace for RefCell<T> {
    const NO_TRACE: bool = T::NO_TRACE;
    fn trace(&self, t: &mut Tracer<'_>) {
        if !visit::<T>(t) {
            return;
        }
        // SAFETY: the world is stopped, so no borrow can start or end while we read;
        // an outstanding mutable borrow makes `try_borrow_unguarded` fail.
        match unsafe { self.try_borrow_unguarded() } {
            Ok(v) => v.trace(t),
            Err(_) => t.scan_conservative_ptr(self.as_ptr().cast(), core::mem::size_of::<T>()),
        }
    }
}

// SAFETY: the mutex may be held by a stopped thread mid-update: its value's bytes are
// scanned conservatively instead of traced.
unsafe impl<T: Trace> Trace for std::sync::Mutex<T> {
    // tidy: allow(std-sync) (a Trace impl for the std type)
    const NO_TRACE: bool = T::NO_TRACE;
    fn trace(&self, t: &mut Tracer<'_>) {
        if !T::NO_TRACE {
            t.scan_conservative(self);
        }
    }
}

// SAFETY: the Arc's allocation is a manual object: marking it scans it conservatively
// (an `Arc` cycle cannot loop the tracer, the mark bit stops it).
unsafe impl<T: ?Sized> Trace for std::sync::Arc<T> {
    // tidy: allow(std-sync) (a Trace impl for the std type)
    fn trace(&self, t: &mut Tracer<'_>) {
        t.mark_address(std::sync::Arc::as_ptr(self).cast::<u8>() as usize); // tidy: allow(std-sync) (a Trace impl for the std type)
    }
}

macro_rules! trace_tuple {
    ($(($($n:tt $p:ident),+))*) => {$(
        // SAFETY: traces every field.
        unsafe impl<$($p: Trace),+> Trace for ($($p,)+) {
            const NO_TRACE: bool = $($p::NO_TRACE)&&+;
            fn trace(&self, t: &mut Tracer<'_>) {
                $(self.$n.trace(t);)+
            }
        }
    )*};
}

trace_tuple! {
    (0 A)
    (0 A, 1 B)
    (0 A, 1 B, 2 C)
    (0 A, 1 B, 2 C, 3 D)
    (0 A, 1 B, 2 C, 3 D, 4 E)
    (0 A, 1 B, 2 C, 3 D, 4 E, 5 F)
}
