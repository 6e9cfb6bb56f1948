//! Unrecovered goroutine panics, reported Go's way: `panic: <msg>`, a blank line,
//! `goroutine N [running]:` with where it happened, then exit status 2.

use core::any::Any;
use core::cell::RefCell;
use std::io::Write;

use crate::fatal::exit2;
use crate::g::G;
use crate::m;
use crate::sync::static_atomic::{AtomicBool, Ordering};

std::thread_local! {
    /// Where the last panic on this thread happened (and its backtrace, when
    /// `RUST_BACKTRACE` asks for one), recorded by the hook for the crash report.
    static LAST: RefCell<Option<String>> = const { RefCell::new(None) };
}

static INSTALLED: AtomicBool = AtomicBool::new(false);

/// Installs (once per process) a panic hook that stays quiet for panics on goroutines,
/// recording where they happened instead: a recovered panic prints nothing (as in Go),
/// an unrecovered one is reported by [`goroutine_panicked`]. Panics elsewhere go to the
/// previous hook.
pub(crate) fn install_hook() {
    if INSTALLED.swap(true, Ordering::AcqRel) {
        return;
    }
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !on_goroutine_stack() {
            prev(info);
            return;
        }
        let mut s = String::new();
        if let Some(loc) = info.location() {
            s.push_str(&format!(
                "\t{}:{}:{}\n",
                loc.file(),
                loc.line(),
                loc.column()
            ));
        }
        let bt = std::backtrace::Backtrace::capture();
        if bt.status() == std::backtrace::BacktraceStatus::Captured {
            s.push_str(&format!("{bt}\n"));
        }
        LAST.with(|l| *l.borrow_mut() = Some(s));
    }));
}

/// Whether this thread is running on the stack of its current goroutine (and not on
/// its M's own stack, where a panic is a runtime bug to report loudly).
fn on_goroutine_stack() -> bool {
    let Some(g) = m::current_g() else {
        return false;
    };
    let sp = gort_stack::stack_pointer();
    // SAFETY: the running G's stack slot is not changed while it runs.
    unsafe { (*(*g).stack.get()).as_ref() }.is_some_and(|s| (s.limit()..s.base()).contains(&sp))
}

/// The text of a panic payload.
pub(crate) fn payload_str(p: &(dyn Any + Send)) -> &str {
    if let Some(s) = p.downcast_ref::<&str>() {
        s
    } else if let Some(s) = p.downcast_ref::<String>() {
        s
    } else {
        "(non-string panic payload)"
    }
}

/// A goroutine's panic reached its entry: print Go's report and exit with status 2.
pub(crate) fn goroutine_panicked(g: *mut G, payload: &(dyn Any + Send)) -> ! {
    // SAFETY: the G is the one running on this thread.
    let gr = unsafe { &*g };
    let where_ = LAST.with(|l| l.borrow_mut().take()).unwrap_or_default();
    // SAFETY: the running G owns its name.
    let name = unsafe {
        (*gr.name.get())
            .as_deref()
            .map(|n| format!(" {n:?}"))
            .unwrap_or_default()
    };
    let mut err = std::io::stderr().lock();
    let _ = write!(
        err,
        "panic: {}\n\ngoroutine {}{} [running]:\n{}",
        payload_str(payload),
        gr.goid(),
        name,
        where_
    );
    let _ = err.flush();
    exit2()
}
