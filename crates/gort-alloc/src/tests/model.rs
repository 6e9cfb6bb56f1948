//! Model test: random alloc/free/realloc sequences on two caches, across size classes,
//! alignments and scan/noscan, checked against a reference map of live allocations.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::collections::BTreeMap;

use core::alloc::Layout;
use core::ptr::NonNull;

use gort_heap::Address;
use proptest::prelude::*;

use crate::testing::new_allocator;

#[derive(Clone, Debug)]
enum Op {
    Alloc {
        cache: bool,
        size: usize,
        align_shift: u32,
        noscan: bool,
        zeroed: bool,
    },
    Free {
        cache: bool,
        pick: usize,
    },
    Realloc {
        cache: bool,
        pick: usize,
        size: usize,
    },
    Flush {
        cache: bool,
    },
}

fn size() -> impl Strategy<Value = usize> {
    prop_oneof![4 => 1usize..64, 3 => 64usize..1100, 2 => 1000usize..33_000, 1 => 32_000usize..140_000]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (any::<bool>(), size(), 0u32..15, any::<bool>(), any::<bool>()).prop_map(
            |(cache, size, align_shift, noscan, zeroed)| Op::Alloc { cache, size, align_shift, noscan, zeroed }
        ),
        4 => (any::<bool>(), any::<usize>()).prop_map(|(cache, pick)| Op::Free { cache, pick }),
        2 => (any::<bool>(), any::<usize>(), size()).prop_map(|(cache, pick, size)| Op::Realloc { cache, pick, size }),
        1 => any::<bool>().prop_map(|cache| Op::Flush { cache }),
    ]
}

struct Live {
    layout: Layout,
    noscan: bool,
    fill: u8,
}

fn check_fill(p: usize, live: &Live) {
    // SAFETY: the object is a live allocation of this test holding at least that many bytes.
    let s = unsafe { core::slice::from_raw_parts(p as *const u8, live.layout.size()) };
    assert!(
        s.iter().all(|&b| b == live.fill),
        "contents of {p:#x} changed"
    );
}

fn run(ops: Vec<Op>) {
    let a = new_allocator().unwrap();
    let mut caches = [a.new_cache().unwrap(), a.new_cache().unwrap()];
    let mut live: BTreeMap<usize, Live> = BTreeMap::new();
    let mut fill = 0u8;
    for op in ops {
        match op {
            Op::Alloc {
                cache,
                size,
                align_shift,
                noscan,
                zeroed,
            } => {
                let layout = Layout::from_size_align(size, 1 << align_shift).unwrap();
                let c = &mut caches[cache as usize];
                let p = match (noscan, zeroed) {
                    (true, _) => c.alloc_noscan(layout),
                    (false, true) => c.alloc_zeroed(layout),
                    (false, false) => c.alloc(layout),
                }
                .unwrap();
                let addr = p.as_ptr() as usize;
                assert_eq!(addr % layout.align(), 0, "{layout:?}");
                if zeroed && !noscan {
                    // SAFETY: the object is a live allocation of this test holding at least that many bytes.
                    let s = unsafe { core::slice::from_raw_parts(p.as_ptr(), size) };
                    assert!(s.iter().all(|&b| b == 0), "alloc_zeroed not zero");
                }
                // No overlap with a live allocation.
                if let Some((&q, l)) = live.range(..addr + size).next_back() {
                    assert!(q + l.layout.size() <= addr, "{addr:#x} overlaps {q:#x}");
                }
                let info = a.find_object(Address::new(addr + size - 1)).unwrap();
                assert_eq!(info.base.as_usize(), addr);
                assert!(info.size >= size && info.allocated);
                assert_eq!(info.span_class.noscan(), noscan || layout.align() < 8);
                fill = fill.wrapping_add(1);
                // SAFETY: the object is a live allocation of this test holding at least that many bytes.
                unsafe { core::ptr::write_bytes(p.as_ptr(), fill, size) };
                live.insert(
                    addr,
                    Live {
                        layout,
                        noscan,
                        fill,
                    },
                );
            }
            Op::Free { cache, pick } => {
                if live.is_empty() {
                    continue;
                }
                let addr = *live.keys().nth(pick % live.len()).unwrap();
                let l = live.remove(&addr).unwrap();
                check_fill(addr, &l);
                let p = NonNull::new(addr as *mut u8).unwrap();
                let c = &mut caches[cache as usize];
                // SAFETY: the pointer is a live allocation of this test, used with its allocation layout and not used afterwards.
                unsafe {
                    if l.noscan {
                        c.dealloc_noscan(p, l.layout);
                    } else {
                        c.dealloc(p, l.layout);
                    }
                }
            }
            Op::Realloc { cache, pick, size } => {
                let Some(addr) = live
                    .iter()
                    .filter(|(_, l)| !l.noscan)
                    .map(|(&k, _)| k)
                    .nth(pick % live.len().max(1))
                else {
                    continue;
                };
                let l = live.remove(&addr).unwrap();
                check_fill(addr, &l);
                let c = &mut caches[cache as usize];
                let p = NonNull::new(addr as *mut u8).unwrap();
                // SAFETY: the pointer is a live allocation of this test, used with its allocation layout and not used afterwards.
                let q = unsafe { c.realloc(p, l.layout, size) }.unwrap();
                let qa = q.as_ptr() as usize;
                let keep = size.min(l.layout.size());
                // SAFETY: the object is a live allocation of this test holding at least that many bytes.
                let s = unsafe { core::slice::from_raw_parts(q.as_ptr(), keep) };
                assert!(s.iter().all(|&b| b == l.fill), "realloc lost contents");
                assert_eq!(qa % l.layout.align(), 0);
                let layout = Layout::from_size_align(size, l.layout.align()).unwrap();
                // SAFETY: the object is a live allocation of this test holding at least that many bytes.
                unsafe { core::ptr::write_bytes(q.as_ptr(), l.fill, size) };
                live.insert(
                    qa,
                    Live {
                        layout,
                        noscan: false,
                        fill: l.fill,
                    },
                );
            }
            Op::Flush { cache } => caches[cache as usize].flush(),
        }
    }
    a.check_invariants();
    let st = a.stats();
    assert_eq!(st.heap_objects, live.len() as u64);
    let want: usize = live
        .keys()
        .map(|&p| a.find_object(Address::new(p)).unwrap().size)
        .sum();
    assert_eq!(st.heap_alloc, want as u64);
    for (addr, l) in std::mem::take(&mut live) {
        check_fill(addr, &l);
        let p = NonNull::new(addr as *mut u8).unwrap();
        // SAFETY: the pointer is a live allocation of this test, used with its allocation layout and not used afterwards.
        unsafe {
            if l.noscan {
                caches[0].dealloc_noscan(p, l.layout);
            } else {
                caches[0].dealloc(p, l.layout);
            }
        }
    }
    for c in &mut caches {
        c.flush();
    }
    let st = a.stats();
    assert_eq!((st.heap_objects, st.heap_alloc), (0, 0));
    a.release_spare_spans();
    assert_eq!(a.stats().spans_inuse, 0);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn alloc_free_realloc_match_the_model(ops in proptest::collection::vec(op(), 1..300)) {
        run(ops);
    }
}
