//! `Untraced<T>`: a field the collector does not look into, by the author's `unsafe`
//! promise that it never holds a `Gc`.

use gort_gc::{Trace, Tracer};

/// A value the collector never traces, for a field of a `#[derive(Trace)]` type whose
/// type has no [`Trace`] impl (a foreign handle, a C pointer's owner). Its `NO_TRACE` is
/// true. Made only by the `unsafe` [`Untraced::new`]: skipping a field that holds a
/// `Gc` would let the collector free an object that is still reachable, so safe code
/// cannot do it (the derive takes no "skip" option for this reason).
///
/// ```compile_fail,E0133
/// let name = gort::gc::Untraced::new(String::from("x")); // needs `unsafe`
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Untraced<T>(T);

impl<T> Untraced<T> {
    /// Wraps `value` so that the collector does not trace it.
    ///
    /// # Safety
    ///
    /// `value` holds no [`Gc`](crate::gc::Gc), directly or through anything it owns, and
    /// none is ever stored into it through [`Untraced::get_mut`] for as long as it lives
    /// (an object reachable only through it would be freed while still in use).
    pub const unsafe fn new(value: T) -> Untraced<T> {
        Untraced(value)
    }

    /// The value.
    pub const fn get(&self) -> &T {
        &self.0
    }

    /// The value, mutably (the promise of [`Untraced::new`] still holds: store no
    /// `Gc` into it).
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.0
    }

    /// Unwraps the value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> core::ops::Deref for Untraced<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

// SAFETY: the caller of `Untraced::new` promised the value never holds a `Gc`, so there
// is nothing to trace and no pointer to report: NO_TRACE is true and `trace` visits
// nothing.
unsafe impl<T> Trace for Untraced<T> {
    const NO_TRACE: bool = true;

    #[inline]
    fn trace(&self, _: &mut Tracer<'_>) {}
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "test code")]
mod tests {
    use super::*;

    #[derive(crate::gc::Trace)]
    #[trace(crate = "crate::gc")]
    struct WithHandle {
        value: u64,
        handle: Untraced<std::fs::File>,
    }

    #[test]
    fn an_untraced_field_makes_a_no_trace_type() {
        const { assert!(<WithHandle as Trace>::NO_TRACE) };
        let file = std::fs::File::open("/dev/null").unwrap();
        // SAFETY: a File holds no Gc.
        let handle = unsafe { Untraced::new(file) };
        let w = WithHandle { value: 1, handle };
        assert_eq!(w.value, 1);
        assert!(w.handle.metadata().is_ok());
        assert!(w.handle.into_inner().metadata().is_ok());
    }
}
