//! Segmented growth: `grow(red_zone, f)` runs `f` on a linked next segment when the
//! running one has less than `red_zone` bytes left, and `StackChain` keeps that segment
//! cached for the next time (no Go 1.2 "hot split"). See the crate docs for the overview.

use core::cell::{Cell, UnsafeCell};
use core::ops::Range;
use std::panic::{self, AssertUnwindSafe};

use crate::arch;
use crate::current::{self, Cache, StackInfo};
use crate::guard::GuardKind;
use crate::stack::Stack;

/// Smallest segment `grow` links (a larger red zone asks for four times the red zone).
pub const GROW_SEGMENT_MIN: usize = 256 * 1024;

/// A segment linked below a stack's root segment.
#[derive(Debug)]
struct Link {
    /// The segment.
    stack: Stack,
    /// While in use: the stack pointer in the previous segment at the moment `grow`
    /// entered this one (everything live in the previous segment is above it). 0 when
    /// the segment is cached but unused.
    entered_from_sp: usize,
}

/// The segments `grow` has linked to one stack, in order, kept cached after `f` returns
/// so that a call loop at a segment boundary does not allocate on every iteration.
///
/// Owned by whoever owns the root stack (a [`crate::Coroutine`], a goroutine); made
/// known to `grow` through [`StackInfo::with_chain`]. Used only by the thread running
/// that stack.
#[derive(Debug, Default)]
pub struct StackChain {
    /// `links[d]` is segment `d + 1` (the root is segment 0). Accessed only by the thread
    /// running the stack, never while a reference into it is held across a switch.
    links: UnsafeCell<Vec<Link>>,
    /// How many linked segments are in use (0 = running on the root).
    depth: Cell<usize>,
}

impl StackChain {
    /// An empty chain.
    pub const fn new() -> StackChain {
        StackChain {
            links: UnsafeCell::new(Vec::new()),
            depth: Cell::new(0),
        }
    }

    /// How many linked segments are in use now (0 = on the root segment).
    pub fn depth(&self) -> usize {
        self.depth.get()
    }

    /// How many linked segments the chain holds (in use or cached).
    pub fn segments(&self) -> usize {
        // SAFETY: a shared read of the length; no `&mut` to the Vec is alive (they are
        // only formed briefly inside `grow_slow`, never across calls out).
        unsafe { (*self.links.get()).len() }
    }

    /// Frees the cached segments beyond the one below the deepest in use (Go shrinks
    /// stacks at GC; a scheduler may call this then).
    pub fn trim(&self) {
        let keep = self.depth.get() + 1;
        // SAFETY: the segments past `keep` are not in use; no other reference into the
        // Vec is alive (see `segments`).
        unsafe { (*self.links.get()).truncate(keep) };
    }

    /// The bounds `(limit, base)` and guard of the deepest linked segment in use, or
    /// `None` while the stack runs on its root segment.
    #[inline]
    pub(crate) fn deepest_in_use(&self) -> Option<(usize, usize, GuardKind)> {
        let d = self.depth.get().checked_sub(1)?;
        // SAFETY: shared access; see `segments`.
        let links = unsafe { &*self.links.get() };
        links
            .get(d)
            .map(|l| (l.stack.limit(), l.stack.base(), l.stack.guard_kind()))
    }

    /// Calls `f` with the live range of every segment of a suspended stack, from the
    /// root down: `root_base` is the root segment's base and `top_sp` the saved stack
    /// pointer of the suspended context (on the deepest segment in use).
    pub fn for_each_live_range(
        &self,
        root_base: usize,
        top_sp: usize,
        mut f: impl FnMut(Range<usize>),
    ) {
        // SAFETY: shared access; see `segments`.
        let links = unsafe { &*self.links.get() };
        let depth = self.depth.get();
        let mut base = root_base;
        for link in &links[..depth] {
            f(link.entered_from_sp..base);
            base = link.stack.base();
        }
        f(top_sp..base);
    }
}

thread_local! {
    /// The chain of the OS thread's own stack.
    static THREAD_CHAIN: StackChain = const { StackChain::new() };
    /// The OS thread's own stack (bounds read once), with `THREAD_CHAIN`.
    static THREAD_INFO: Cell<StackInfo> = const { Cell::new(StackInfo::from_bounds(0, 0, 0, "thread")) };
}

/// The OS thread's own stack info (with its chain); `None` if its bounds are unknown.
fn thread_info() -> Option<*const StackInfo> {
    THREAD_INFO.with(|c| {
        if c.get().base() == 0 {
            let (limit, base) = crate::os::thread_stack_bounds()?;
            let info = StackInfo::from_bounds(limit, base, 0, "thread");
            // SAFETY: the thread-local chain lives as long as the thread, is used only by
            // this thread's own stack, and the info is current only on this thread.
            let info = THREAD_CHAIN
                .with(|chain| unsafe { info.with_chain(&*(chain as *const StackChain)) });
            c.set(info);
        }
        Some(c.as_ptr() as *const StackInfo)
    })
}

/// Runs `f`, on a linked next segment if fewer than `red_zone` bytes remain on the
/// running stack (stacker's `maybe_grow` with Go 1.2's segment caching).
///
/// Put it at the top of a deeply recursive function: the fast path is a thread-local
/// read, a footer read and two comparisons. A panic in `f` is caught on the new segment
/// and resumed on the old one, so it propagates as if `f` had been called directly. On a
/// stack gort-stack does not know (neither a coroutine's, nor given to
/// [`crate::set_current`], nor the thread's own), `f` is simply called.
#[inline]
pub fn grow<R>(red_zone: usize, f: impl FnOnce() -> R) -> R {
    let sp = arch::stack_pointer();
    let c = current::cache();
    if c.valid_for(sp) && sp - c.limit >= red_zone {
        return f();
    }
    grow_slow(red_zone, sp, f)
}

/// Where `f` and its result live while `f` runs on another segment.
struct Call<F, R> {
    f: Option<F>,
    result: Option<std::thread::Result<R>>,
}

/// Runs the closure of a `Call` on the new segment, catching its panic there.
unsafe extern "C" fn call_trampoline<F: FnOnce() -> R, R>(arg: usize) {
    // SAFETY: `arg` is the address of a live `Call<F, R>` on the old segment, which is
    // not used by anyone else until `on_stack_raw` returns.
    let call = unsafe { &mut *(arg as *mut Call<F, R>) };
    if let Some(f) = call.f.take() {
        call.result = Some(panic::catch_unwind(AssertUnwindSafe(f)));
    }
}

/// Finds the segment holding `sp`: a footer, the `set_current` slot, or the thread's
/// own stack.
fn resolve(sp: usize) -> Option<Cache> {
    if let Some(p) = current::footer_of(sp) {
        // SAFETY: a valid footer points at a live info.
        let i = unsafe { *p };
        return Some(Cache {
            limit: i.limit(),
            base: i.base(),
            info: p,
            explicit: false,
        });
    }
    if let Some(i) = current::explicit().filter(|i| i.contains(sp)) {
        return Some(Cache {
            limit: i.limit(),
            base: i.base(),
            info: current::explicit_ptr(),
            explicit: true,
        });
    }
    let p = thread_info()?;
    // SAFETY: the thread info lives as long as the thread.
    let i = unsafe { *p };
    i.contains(sp).then_some(Cache {
        limit: i.limit(),
        base: i.base(),
        info: p,
        explicit: true,
    })
}

#[cold]
#[inline(never)]
fn grow_slow<R>(red_zone: usize, sp: usize, f: impl FnOnce() -> R) -> R {
    let Some(c) = resolve(sp) else { return f() };
    current::replace_cache(c);
    if sp - c.limit >= red_zone {
        return f();
    }
    let want = GROW_SEGMENT_MIN.max(red_zone.saturating_mul(4));
    // SAFETY: the cache's info is live (a footer's, the slot, or the thread's).
    let info = unsafe { *c.info };
    if info.chain().is_null() {
        run_on_segment(None, info, sp, want, f)
    } else {
        // SAFETY: `with_chain`'s contract: the chain outlives the info being current.
        run_on_segment(Some(unsafe { &*info.chain() }), info, sp, want, f)
    }
}

/// Runs `f` on the next segment of `chain` (or on a pooled segment without a chain).
fn run_on_segment<F: FnOnce() -> R, R>(
    chain: Option<&StackChain>,
    info: StackInfo,
    sp: usize,
    want: usize,
    f: F,
) -> R {
    // Pick the segment: the cached one at this depth if big enough, else a new one.
    let mut owned = None;
    let (limit, base) = match chain {
        Some(chain) => {
            let d = chain.depth.get();
            // SAFETY: only this thread touches the chain and no other reference
            // into its Vec is alive here.
            let links = unsafe { &mut *chain.links.get() };
            if links.len() > d && links[d].stack.size() < want {
                links.truncate(d);
            }
            if links.len() == d {
                links.push(Link {
                    stack: new_segment(want),
                    entered_from_sp: 0,
                });
            }
            links[d].entered_from_sp = sp;
            chain.depth.set(d + 1);
            (links[d].stack.limit(), links[d].stack.base())
        }
        None => {
            let s = new_segment(want);
            let b = (s.limit(), s.base());
            owned = Some(s);
            b
        }
    };
    let seg_info = info.on_segment(limit, base);
    // SAFETY: the segment is ours for the call; `seg_info` outlives the footer, which is
    // cleared below before this frame returns.
    unsafe { current::write_footer(base, &seg_info) };
    let prev = current::replace_cache(Cache {
        limit,
        base,
        info: &seg_info,
        explicit: false,
    });
    let mut call = Call {
        f: Some(f),
        result: None,
    };
    // SAFETY: [1] `base - FOOTER_SIZE` is 16-byte aligned, the top of a segment we own
    // for the call (cached in the chain or `owned`), used by nothing else meanwhile;
    // [2] the trampoline catches every panic, so nothing unwinds through the assembly.
    unsafe {
        arch::on_stack_raw(
            &mut call as *mut Call<F, R> as usize,
            call_trampoline::<F, R>,
            base - current::FOOTER_SIZE,
        )
    };
    // SAFETY: written above; the segment is still ours.
    unsafe { current::clear_footer(base) };
    current::replace_cache(prev);
    if let Some(chain) = chain {
        let d = chain.depth.get() - 1;
        chain.depth.set(d);
        // SAFETY: as above; the nested calls have returned.
        unsafe { (&mut *chain.links.get())[d].entered_from_sp = 0 };
    }
    drop(owned);
    match call.result {
        Some(Ok(r)) => r,
        Some(Err(payload)) => panic::resume_unwind(payload),
        None => crate::fatal::fatal("grow: the closure did not run"),
    }
}

/// A segment of `size` bytes for `grow`, or a fatal error (Go: "stack overflow" when a
/// stack cannot grow).
fn new_segment(size: usize) -> Stack {
    match Stack::new(size) {
        Ok(s) => s,
        Err(e) => crate::fatal::fatal_error(format_args!("runtime: cannot grow stack: {e}")),
    }
}
