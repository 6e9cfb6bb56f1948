//! `Trace`: the decoded events of a finished trace. See the crate docs for the overview.

use std::io::{self, Write};

use crate::event::Event;

/// A finished trace: every collected event in timestamp order (events of one writer
/// keep their emission order).
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Trace {
    /// The events, sorted by [`Event::ts`] (stable).
    pub events: Vec<Event>,
    /// Events lost because the OS refused buffer memory.
    pub lost: u64,
    /// Events the flight recorder dropped (oldest first) to stay within its buffers.
    pub overwritten: u64,
    /// Nanoseconds from start to stop.
    pub duration_ns: u64,
}

impl Trace {
    /// Writes the trace as Chrome/Perfetto trace-event JSON (the `{"traceEvents": [...]}`
    /// format that ui.perfetto.dev and chrome://tracing open). See `chrome.rs` for the
    /// tracks it draws.
    pub fn write_chrome_json<W: Write>(&self, out: W) -> io::Result<()> {
        crate::chrome::write(self, out)
    }

    /// The events of P `proc` (or [`NO_PROC`](crate::NO_PROC)), in order.
    pub fn proc_events(&self, proc: u32) -> impl Iterator<Item = &Event> {
        self.events.iter().filter(move |e| e.proc == proc)
    }
}
