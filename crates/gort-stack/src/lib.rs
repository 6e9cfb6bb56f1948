//! gort-stack: (being written).

mod sync;
