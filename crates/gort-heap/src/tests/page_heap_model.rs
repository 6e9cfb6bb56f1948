//! Proptest model of the page heap: random sequences of span allocations, frees and
//! scavenges checked against a reference model that predicts every answer exactly —
//! first-fit addresses (which requires full coalescing of free neighbours), when the
//! heap must grow, which pages the scavenger releases (highest first), and
//! `needs_zeroing`. After every step the span map must agree with the model on every
//! page of the heap, and the heap's own invariant walk must pass.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::collections::BTreeMap;

use proptest::prelude::*;

use crate::testing::new_for_test;
use crate::{Address, PAGE_SIZE, PageHeap, Span, SpanState};

#[derive(Clone, Debug)]
enum Op {
    /// Allocate this many pages.
    Alloc(usize, bool),
    /// Free the live span at this index (modulo the number of live spans).
    Free(usize),
    /// Scavenge this many pages.
    Scavenge(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1usize..=16, any::<bool>()).prop_map(|(n, m)| Op::Alloc(n, m)),
        1 => (17usize..=1300, any::<bool>()).prop_map(|(n, m)| Op::Alloc(n, m)),
        4 => any::<usize>().prop_map(Op::Free),
        1 => (1usize..=700).prop_map(Op::Scavenge),
    ]
}

/// What the model knows about one page of the heap.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
enum Page {
    /// Free, and its memory is released (or was never touched): reads as zero.
    FreeReleased,
    /// Free, and may hold old data.
    FreeDirty,
    /// Part of the live span starting at this page number.
    Used(usize),
}

struct Model {
    /// Every page of the heap by page number.
    pages: BTreeMap<usize, Page>,
    /// Live spans by start page: (npages, handle).
    live: BTreeMap<usize, (usize, &'static Span)>,
}

impl Model {
    /// Adds pages the heap grew into (fresh memory is released) by diffing its ranges.
    fn sync_growth(&mut self, heap: &PageHeap) {
        for (start, end) in heap.grown_ranges() {
            for p in start.page_number()..end.page_number() {
                self.pages.entry(p).or_insert(Page::FreeReleased);
            }
        }
    }

    fn is_free(&self, p: usize) -> bool {
        matches!(
            self.pages.get(&p),
            Some(Page::FreeReleased | Page::FreeDirty)
        )
    }

    /// The first-fit answer: the lowest page starting `n` free, contiguous pages.
    fn first_fit(&self, n: usize) -> Option<usize> {
        let mut run = 0;
        let mut prev = None;
        for (&p, _) in self.pages.iter() {
            if prev.is_some_and(|q| q + 1 != p) || !self.is_free(p) {
                run = 0;
            }
            if self.is_free(p) {
                run += 1;
                if run == n {
                    return Some(p + 1 - n);
                }
            }
            prev = Some(p);
        }
        None
    }

    fn check_map(&self, heap: &PageHeap) {
        for (&p, &page) in &self.pages {
            let a = Address::new(p * PAGE_SIZE + (p % 7) * 1000);
            match (page, heap.span_of(a)) {
                (Page::Used(start), Some(s)) => {
                    assert_eq!(s.start().page_number(), start, "page {p:#x}");
                    assert!(core::ptr::eq(s, self.live[&start].1));
                }
                (Page::Used(_), None) => panic!("live page {p:#x} not in the span map"),
                (_, Some(s)) => panic!("free page {p:#x} maps to span at {:?}", s.start()),
                (_, None) => {}
            }
        }
    }
}

fn run(ops: Vec<Op>) {
    let heap = new_for_test(usize::MAX).unwrap();
    let mut m = Model {
        pages: BTreeMap::new(),
        live: BTreeMap::new(),
    };
    for op in ops {
        match op {
            Op::Alloc(n, manual) => {
                let predicted = m.first_fit(n);
                let sys = heap.stats().heap_sys;
                let state = if manual {
                    SpanState::Manual
                } else {
                    SpanState::InUse
                };
                let s = heap.alloc_span(n, state).unwrap();
                let start = s.start().page_number();
                if let Some(p) = predicted {
                    assert_eq!(start, p, "first fit of {n} pages");
                    assert_eq!(heap.stats().heap_sys, sys, "grew although {n} pages fit");
                } else {
                    assert!(
                        heap.stats().heap_sys > sys,
                        "no fit for {n} pages but no growth"
                    );
                    m.sync_growth(heap);
                }
                let mut all_zero = true;
                for p in start..start + n {
                    let page = m.pages.get(&p).copied();
                    assert!(
                        matches!(page, Some(Page::FreeReleased | Page::FreeDirty)),
                        "span overlaps page {p:#x} in state {page:?}"
                    );
                    all_zero &= page == Some(Page::FreeReleased);
                    m.pages.insert(p, Page::Used(start));
                }
                assert_eq!(s.needs_zeroing(), !all_zero, "needs_zeroing of {n} pages");
                assert_eq!(s.state(), state);
                m.live.insert(start, (n, s));
            }
            Op::Free(i) => {
                if m.live.is_empty() {
                    continue;
                }
                let (&start, &(n, s)) = m.live.iter().nth(i % m.live.len()).unwrap();
                // SAFETY: the span is live, from this heap, and dropped from the model.
                unsafe { heap.free_span(s) };
                m.live.remove(&start);
                for p in start..start + n {
                    m.pages.insert(p, Page::FreeDirty);
                }
            }
            Op::Scavenge(n) => {
                let released = heap.scavenge(n * PAGE_SIZE);
                let mut expect = 0;
                for (_, page) in m.pages.iter_mut().rev() {
                    if expect == n {
                        break;
                    }
                    if *page == Page::FreeDirty {
                        *page = Page::FreeReleased;
                        expect += 1;
                    }
                }
                assert_eq!(released, expect * PAGE_SIZE, "scavenged bytes");
            }
        }
        m.check_map(heap);
        heap.check_invariants();
        let st = heap.stats();
        let used: usize = m.live.values().map(|&(n, _)| n).sum();
        assert_eq!(st.heap_inuse, used * PAGE_SIZE);
        assert_eq!(st.heap_sys, m.pages.len() * PAGE_SIZE);
        let released = m
            .pages
            .values()
            .filter(|&&p| p == Page::FreeReleased)
            .count();
        assert_eq!(st.heap_released, released * PAGE_SIZE);
    }
    // Free everything: the heap must be one fully coalesced free space again.
    for (_, (_, s)) in std::mem::take(&mut m.live) {
        // SAFETY: each live span is freed once.
        unsafe { heap.free_span(s) };
    }
    heap.check_invariants();
    for (a, b) in heap.grown_ranges() {
        let n = b.offset_from(a) / PAGE_SIZE;
        let sys = heap.stats().heap_sys;
        let s = heap.alloc_span(n, SpanState::InUse).unwrap();
        assert_eq!(s.start(), a, "whole range {a:?}..{b:?} is one free run");
        assert_eq!(heap.stats().heap_sys, sys);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn page_heap_matches_model(ops in proptest::collection::vec(op(), 1..60)) {
        run(ops);
    }
}

#[test]
fn model_straddle_chunks_and_arenas() {
    // Named cases: a run straddling chunk boundaries, then arena boundaries.
    run(vec![
        Op::Alloc(500, false),
        Op::Alloc(30, false),
        Op::Free(0),
        Op::Alloc(520, true),
        Op::Alloc(8000, false),
        Op::Alloc(300, false),
        Op::Free(1),
        Op::Scavenge(600),
        Op::Alloc(8500, false),
        Op::Free(0),
        Op::Free(0),
        Op::Alloc(1, false),
    ]);
}
