//! Unit tests of the collector's pure parts (pacer, env parsing, gctrace format).
mod finalizer_queue;
mod unit;
