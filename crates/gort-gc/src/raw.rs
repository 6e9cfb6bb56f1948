//! Memory the collector uses while the world is stopped, taken straight from the OS (no allocator locks).

use core::ptr::NonNull;

/// A growable array of `T: Copy` in anonymous mmap memory. The collector cannot use the
/// global allocator while the world is stopped (a stopped thread may hold an allocator
/// lock), so its root lists, mark stacks and queues live here.
#[derive(Debug)]
pub(crate) struct RawVec<T: Copy> {
    /// Start of the mapping (dangling when `cap == 0`).
    ptr: NonNull<T>,
    /// Elements in use.
    len: usize,
    /// Elements the mapping holds.
    cap: usize,
}

// SAFETY: a RawVec owns its mapping; sending it sends the elements (`T: Send`).
unsafe impl<T: Copy + Send> Send for RawVec<T> {}

impl<T: Copy> RawVec<T> {
    /// An empty array (no mapping).
    pub(crate) const fn new() -> RawVec<T> {
        RawVec {
            ptr: NonNull::dangling(),
            len: 0,
            cap: 0,
        }
    }

    /// Elements in use.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// True when empty.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends `v`, growing the mapping (doubling) when full.
    #[inline]
    pub(crate) fn push(&mut self, v: T) {
        if self.len == self.cap {
            self.grow();
        }
        // SAFETY: `len < cap` after growing; the slot is inside the mapping.
        unsafe { self.ptr.as_ptr().add(self.len).write(v) };
        self.len += 1;
    }

    /// Removes and returns the last element.
    #[inline]
    pub(crate) fn pop(&mut self) -> Option<T> {
        if self.len == 0 {
            return None;
        }
        self.len -= 1;
        // SAFETY: the slot below the old `len` was written by `push`.
        Some(unsafe { self.ptr.as_ptr().add(self.len).read() })
    }

    /// Forgets every element (keeps the mapping).
    pub(crate) fn clear(&mut self) {
        self.len = 0;
    }

    /// The elements.
    pub(crate) fn as_slice(&self) -> &[T] {
        // SAFETY: the first `len` slots are initialised; the pointer is non-null and
        // aligned (mmap is page-aligned, or dangling for len 0).
        unsafe { core::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    #[cold]
    fn grow(&mut self) {
        let size = core::mem::size_of::<T>().max(1);
        let new_cap = (self.cap * 2).max(65536 / size);
        let bytes = new_cap * size;
        let p = match gort_heap::os::map_zeroed(bytes) {
            Ok(a) => a.as_usize() as *mut u8,
            Err(_) => gort_heap::fatal("out of memory for the collector's work lists"),
        };
        let new = p.cast::<T>();
        let len = self.len;
        if self.cap != 0 {
            // SAFETY: both mappings hold at least `len` elements and do not overlap.
            unsafe { core::ptr::copy_nonoverlapping(self.ptr.as_ptr(), new, len) };
            // `unmap` forgets the elements; they live on in the new mapping.
            self.unmap();
        }
        // SAFETY: mmap never returns null on success.
        self.ptr = unsafe { NonNull::new_unchecked(new) };
        self.cap = new_cap;
        self.len = len;
    }

    fn unmap(&mut self) {
        if self.cap != 0 {
            // SAFETY: `ptr`/`cap` describe our own mapping, unused from here on.
            unsafe {
                gort_heap::os::release(
                    gort_heap::Address::new(self.ptr.as_ptr() as usize),
                    self.cap * core::mem::size_of::<T>().max(1),
                )
            };
            self.cap = 0;
            self.len = 0;
            self.ptr = NonNull::dangling();
        }
    }
}

impl<T: Copy> Drop for RawVec<T> {
    fn drop(&mut self) {
        self.unmap();
    }
}

#[cfg(test)]
mod tests {
    use super::RawVec;

    #[test]
    fn growing_keeps_every_element() {
        let mut v = RawVec::<usize>::new();
        for i in 0..20_000 {
            v.push(i);
        }
        assert_eq!(v.len(), 20_000);
        assert!(v.as_slice().iter().copied().eq(0..20_000));
        assert_eq!(v.pop(), Some(19_999));
    }
}
