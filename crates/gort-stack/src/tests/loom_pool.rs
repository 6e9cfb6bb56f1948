//! Loom models of the stack pool: concurrent alloc/free never hand one slot to two
//! owners, and the warm/cold bookkeeping adds up, including the release path (under loom
//! a reservation holds two slots and one cold segment is released at a time).

use crate::guard::GuardPolicy;
use crate::pool::StackPool;
use crate::sync::{Arc, thread};

/// Marks a slot as owned by `who` (a word past the canary), yields so loom can run the
/// other thread, and checks nobody else wrote it.
fn own(slot: usize, who: usize) {
    let page = crate::os::page_size();
    let word = ((slot & !(page - 1)) + page + 8) as *mut usize;
    // SAFETY: the slot was just handed to us; its usable part is ours until freed.
    unsafe { word.write_volatile(who) };
    thread::yield_now();
    // SAFETY: as above.
    assert_eq!(
        unsafe { word.read_volatile() },
        who,
        "slot handed out twice"
    );
}

#[test]
fn loom_pool_alloc_free_is_exclusive_and_balanced() {
    loom::model(|| {
        // A warm bound of zero bytes: every free beyond one warm segment releases one.
        let pool = Arc::new(StackPool::new(GuardPolicy::Canary, 0));
        let p2 = Arc::clone(&pool);
        let t = thread::spawn(move || {
            let a = p2.alloc_slot(0).unwrap();
            own(a, 1);
            p2.free_slot(0, a);
            let b = p2.alloc_slot(0).unwrap();
            own(b, 2);
            p2.free_slot(0, b);
        });
        let c = pool.alloc_slot(0).unwrap();
        own(c, 3);
        let d = pool.alloc_slot(0).unwrap();
        own(d, 4);
        assert_ne!(c, d);
        pool.free_slot(0, c);
        pool.free_slot(0, d);
        t.join().unwrap();
        let s = pool.stats();
        assert_eq!(s.in_use, 0);
        // Every carved slot is in exactly one free list.
        assert_eq!(s.warm + s.cold, s.carved);
        pool.check_invariants();
    });
}
