//! `Buffer`: one fixed-size block of raw event records (Go: `traceBuf`). See the crate
//! docs for the overview.

use core::ptr::NonNull;

use crate::event::Record;
use crate::sync::UnsafeCell;

/// Bytes of one buffer (Go's traceBuf is 64 KiB too).
#[cfg(not(loom))]
pub(crate) const BUFFER_BYTES: usize = 64 << 10;

/// Records per buffer: what fits in [`BUFFER_BYTES`] after the header.
/// Buffers cut from one huge-page chunk (`BufPtr::alloc_chunk`).
#[cfg(not(loom))]
pub(crate) const PER_CHUNK: usize = crate::os::HUGE / BUFFER_BYTES;

#[cfg(not(loom))]
pub(crate) const CAP: usize = (BUFFER_BYTES - size_of::<Header>()) / size_of::<Record>();

/// Under loom a buffer holds two records, so a handful of events crosses a hand-off.
#[cfg(loom)]
pub(crate) const CAP: usize = 2;

/// The buffer's bookkeeping.
#[derive(Debug)]
#[repr(C)]
pub(crate) struct Header {
    /// The next buffer on the tracer's full or free list. Protected by `Tracer::lists`
    /// while the buffer is on a list; meaningless while a writer owns it.
    pub(crate) next: Option<BufPtr>,
    /// The trace generation whose events this buffer holds (0: none yet).
    pub(crate) epoch: u64,
    /// The P whose events these are, or `NO_PROC`.
    pub(crate) proc: u32,
    /// Records written. Invariant: `len as usize <= CAP`; `records[..len]` are written.
    pub(crate) len: u32,
}

/// The contents of a buffer: the header then the records.
#[derive(Debug)]
#[repr(C)]
pub(crate) struct BufInner {
    pub(crate) header: Header,
    pub(crate) records: [Record; CAP],
}

/// One buffer. Exactly one party owns it at a time: a writer (which appends with plain
/// stores), or the tracer's lists (under `Tracer::lists`), or `stop` while it decodes.
/// Ownership moves only under the lists lock, which orders the writes before the reads.
#[derive(Debug)]
#[repr(transparent)]
pub(crate) struct Buffer {
    pub(crate) inner: UnsafeCell<BufInner>,
}

/// An owning pointer to a [`Buffer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BufPtr(pub(crate) NonNull<Buffer>);

// SAFETY: a `BufPtr` is a unique owner of its buffer (see `Buffer`); moving the pointer
// to another thread moves the ownership, and every move goes through a mutex.
unsafe impl Send for BufPtr {}

impl BufPtr {
    /// A new, zeroed buffer from the OS (never from the Rust global allocator), or
    /// `None` if the OS refuses memory.
    #[cfg(not(loom))]
    pub(crate) fn alloc() -> Option<Self> {
        const _: () = assert!(size_of::<Buffer>() <= BUFFER_BYTES);
        let p = crate::os::map(BUFFER_BYTES)?;
        // Zeroed memory is a valid `Buffer`: `next` None, counters 0, records all zero,
        // and the facade's `UnsafeCell` is `repr(transparent)` over std's.
        Some(Self(p.cast()))
    }

    /// Maps a 2 MiB huge-page chunk and cuts it into buffers: the first is returned,
    /// the rest come linked in a list for the free list. Touching a chunk's memory costs
    /// one page fault where 64 KiB mappings cost 16 per buffer. `None` if the OS
    /// refuses the chunk (the caller falls back to [`alloc`](Self::alloc)).
    #[cfg(not(loom))]
    pub(crate) fn alloc_chunk() -> Option<(Self, BufList)> {
        const _: () = assert!(PER_CHUNK >= 1 && crate::os::HUGE.is_multiple_of(BUFFER_BYTES));
        let base = crate::os::map_huge()?;
        let mut rest = BufList::new();
        for i in 1..PER_CHUNK {
            // SAFETY: `i * BUFFER_BYTES` is inside the chunk just mapped.
            let p = unsafe { base.add(i * BUFFER_BYTES) };
            // SAFETY: a fresh, zeroed, buffer-sized piece of the chunk is a valid empty
            // buffer that we own; the list takes it.
            unsafe { rest.push_back(Self(p.cast())) };
        }
        Some((Self(base.cast()), rest))
    }

    /// Under loom, buffers live on the heap so loom tracks their cells.
    #[cfg(loom)]
    pub(crate) fn alloc() -> Option<Self> {
        let b = Box::new(Buffer {
            inner: UnsafeCell::new(BufInner {
                header: Header {
                    next: None,
                    epoch: 0,
                    proc: 0,
                    len: 0,
                },
                records: [Record::default(); CAP],
            }),
        });
        NonNull::new(Box::into_raw(b)).map(Self)
    }

    /// Returns the buffer's memory.
    ///
    /// # Safety
    ///
    /// The caller owns the buffer and nothing uses it afterwards.
    pub(crate) unsafe fn free(self) {
        #[cfg(not(loom))]
        // SAFETY: by the contract, this whole mapping from `alloc` is ours and dead.
        unsafe {
            crate::os::unmap(self.0.cast(), BUFFER_BYTES);
        }
        #[cfg(loom)]
        // SAFETY: under loom `alloc` made this pointer with `Box::into_raw`; by the
        // contract, it is owned and dead.
        unsafe {
            drop(Box::from_raw(self.0.as_ptr()));
        }
    }

    /// Runs `f` on the buffer's contents.
    ///
    /// # Safety
    ///
    /// The caller owns the buffer (see [`Buffer`]) for the duration of the call.
    #[inline(always)]
    pub(crate) unsafe fn with<R>(self, f: impl FnOnce(&mut BufInner) -> R) -> R {
        // SAFETY: the buffer is live (owned pointers are freed only by their owner).
        let buf = unsafe { self.0.as_ref() };
        buf.inner.with_mut(|p| {
            // SAFETY: the caller owns the buffer, so no other reference to its contents
            // exists during `f`.
            f(unsafe { &mut *p })
        })
    }
}

/// A singly linked FIFO of buffers threaded through `Header::next`. Protected by
/// `Tracer::lists`.
#[derive(Debug, Default)]
pub(crate) struct BufList {
    pub(crate) head: Option<BufPtr>,
    pub(crate) tail: Option<BufPtr>,
    pub(crate) len: usize,
}

impl BufList {
    pub(crate) const fn new() -> Self {
        Self {
            head: None,
            tail: None,
            len: 0,
        }
    }

    /// Appends `b`.
    ///
    /// # Safety
    ///
    /// The caller owns `b` and gives it to the list; the list's buffers are owned by it.
    pub(crate) unsafe fn push_back(&mut self, b: BufPtr) {
        // SAFETY: the caller owns `b`.
        unsafe { b.with(|i| i.header.next = None) };
        match self.tail {
            // SAFETY: `t` is on this list, which owns it; the caller holds the lock that
            // protects the list.
            Some(t) => unsafe { t.with(|i| i.header.next = Some(b)) },
            None => self.head = Some(b),
        }
        self.tail = Some(b);
        self.len += 1;
    }

    /// Removes and returns the first buffer.
    pub(crate) fn pop_front(&mut self) -> Option<BufPtr> {
        let b = self.head?;
        // SAFETY: `b` is on this list, which owns it.
        let next = unsafe { b.with(|i| i.header.next.take()) };
        self.head = next;
        if next.is_none() {
            self.tail = None;
        }
        self.len -= 1;
        Some(b)
    }

    /// Takes the whole list, leaving this one empty.
    pub(crate) fn take(&mut self) -> BufList {
        core::mem::take(self)
    }
}
