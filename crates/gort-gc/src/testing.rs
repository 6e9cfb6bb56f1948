//! White-box hooks and a mock host for tests of this crate and the layers above.

use crate::collector::Collector;
use crate::gc::Gc;
use crate::trace::Trace;

pub use crate::mock_host::MockHost;

/// The next normal mark skips `g`'s object (checkmark then must abort naming it).
pub fn hide_from_next_mark<T: Trace + 'static>(g: Gc<T>) {
    Collector::get().hide(g.base());
}

/// Objects queued for `Drop` and not yet dropped.
pub fn finalizers_pending() -> usize {
    Collector::get().fin.pending()
}

/// Sweeps every unswept span now (as the background sweeper does).
pub fn sweep_now() {
    Collector::get().sweep_all(false);
}

/// The collected bytes the pacer counts as live or allocated since the last mark.
pub fn heap_live() -> u64 {
    Collector::get().heap_live()
}
