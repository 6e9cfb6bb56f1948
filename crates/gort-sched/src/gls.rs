//! Goroutine-local storage: values keyed by a `static` [`GoroutineLocal`], one per
//! goroutine, dropped when the goroutine exits (gort's answer to `thread_local!`, whose
//! values a goroutine must not rely on: it may resume on another thread).

use core::any::Any;
use core::cell::UnsafeCell;

use crate::m;

/// The per-goroutine map. Touched only by its goroutine.
#[derive(Default)]
pub(crate) struct Gls {
    /// (key address, value) pairs; few per goroutine, so a vector beats a hash map.
    slots: Vec<(usize, Box<dyn Any>)>,
}

impl core::fmt::Debug for Gls {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Gls")
            .field("len", &self.slots.len())
            .finish()
    }
}

impl Gls {
    /// The value stored under `key`, if any.
    fn get(&self, key: usize) -> Option<*const dyn Any> {
        self.slots
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| &**v as *const dyn Any)
    }

    /// The value under `key`, inserting `v` if there is none; also returns `v` back if it
    /// was not inserted, for the caller to drop once it holds no borrow of the map.
    fn get_or_insert(
        &mut self,
        key: usize,
        v: Box<dyn Any>,
    ) -> (*const dyn Any, Option<Box<dyn Any>>) {
        if let Some(found) = self.get(key) {
            return (found, Some(v));
        }
        let ptr: *const dyn Any = &*v;
        self.slots.push((key, v));
        (ptr, None)
    }

    /// Takes every value out (to drop them on the goroutine's own stack).
    pub(crate) fn take(&mut self) -> Vec<(usize, Box<dyn Any>)> {
        core::mem::take(&mut self.slots)
    }
}

/// A goroutine-local variable: declare it as a `static` and call [`GoroutineLocal::with`];
/// each goroutine sees its own value, created by `init` on first use and dropped when
/// the goroutine exits. Outside a goroutine, `with` returns `None`.
///
/// `T` must be `Send`: a goroutine, and with it its values, may resume on another OS
/// thread after any blocking point.
///
/// ```
/// use std::cell::Cell;
/// use gort_sched::GoroutineLocal;
/// static COUNTER: GoroutineLocal<Cell<u32>> = GoroutineLocal::new(|| Cell::new(0));
/// assert_eq!(COUNTER.with(|c| c.get()), None); // not on a goroutine
/// ```
///
/// A value that must stay on one thread is refused:
///
/// ```compile_fail,E0277
/// use std::rc::Rc;
/// use gort_sched::GoroutineLocal;
/// static SHARED: GoroutineLocal<Rc<u32>> = GoroutineLocal::new(|| Rc::new(0));
/// ```
pub struct GoroutineLocal<T: Send + 'static> {
    init: fn() -> T,
    /// Makes the static's address unique even for zero-sized payloads.
    _unique: UnsafeCell<u8>,
}

// SAFETY: the static itself holds no value (values live in each goroutine's map, touched
// only by that goroutine, which may move between threads: hence `T: Send`); `_unique` is
// never accessed.
unsafe impl<T: Send + 'static> Sync for GoroutineLocal<T> {}

impl<T: Send + 'static> core::fmt::Debug for GoroutineLocal<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("GoroutineLocal")
    }
}

impl<T: Send + 'static> GoroutineLocal<T> {
    /// A key whose value starts as `init()` in each goroutine.
    pub const fn new(init: fn() -> T) -> Self {
        GoroutineLocal {
            init,
            _unique: UnsafeCell::new(0),
        }
    }

    /// Runs `f` with this goroutine's value; `None` when not called on a goroutine.
    /// `init` and `f` may use other goroutine-locals (or, in `f`, this one) freely.
    pub fn with<R>(&'static self, f: impl FnOnce(&T) -> R) -> Option<R> {
        let g = m::current_g()?;
        let key = self as *const Self as usize;
        // SAFETY: only the running goroutine touches its own map; this borrow ends here,
        // before any user code runs.
        let found = unsafe { (*(*g).gls.get()).get(key) };
        let value = match found {
            Some(v) => v,
            None => {
                // No borrow of the map is held while `init` runs: it may use
                // goroutine-locals itself.
                let v: Box<dyn Any> = Box::new((self.init)());
                // SAFETY: as above; a fresh borrow, ended before `spare` is dropped.
                let (v, spare) = unsafe { (*(*g).gls.get()).get_or_insert(key, v) };
                // `init` reached this key through a nested `with`: keep the first value.
                drop(spare);
                v
            }
        };
        // SAFETY: boxes are never removed while the goroutine runs (only at its exit,
        // after its function returned), so the value outlives `f` even if `f` grows the
        // map (moving the boxes, not their contents).
        let value = unsafe { &*value };
        value.downcast_ref::<T>().map(f)
    }
}
