//! gort-heap: (being written).

mod sync;
