//! Whether gort's allocator is the program's global allocator (the collector needs it:
//! every manual allocation must be findable from an interior pointer). See `gc/mod.rs`.

/// True when a fresh `Box` comes from gort-alloc's heap, i.e. the program declared
/// `#[global_allocator] static A: gort::GortAlloc = gort::GortAlloc;`.
pub(crate) fn gort_alloc_is_global() -> bool {
    let probe = Box::new(0x5eed_u64);
    let addr = core::ptr::from_ref::<u64>(&probe) as usize;
    let found = gort_alloc::Allocator::global()
        .find_object(gort_heap::Address::new(addr))
        .is_some_and(|o| o.allocated);
    drop(probe);
    found
}
