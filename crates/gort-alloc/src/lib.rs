//! gort-alloc: (being written).

mod sync;
