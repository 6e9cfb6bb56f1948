//! Allocates and frees 8 GiB of pages in total (touching every OS page), then scavenges
//! to the retained goal and checks that the resident set size (`/proc/self/statm`)
//! returns to within 10% of its baseline plus the goal: `rss <= 1.1 * (baseline + goal)`.
//!
//! Its own test binary and its own heap (`PageHeap::new_private`), so no other test's
//! memory moves the RSS it measures. The live set peaks at 256 MiB and is reused 32
//! times; every fourth round the heap is scavenged first, so released pages are faulted
//! back in as they are reused (the path that proves released pages come back zeroed).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use gort_heap::{HeapConfig, PAGE_SIZE, PageHeap, Span, SpanState};

const TOTAL: usize = 8 << 30;
const LIVE: usize = 256 << 20;
const GOAL: usize = 32 << 20;

fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * gort_heap::os::os_page_size()
}

/// A small deterministic generator (xorshift), so runs are reproducible.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 as usize
    }
}

/// Allocates spans of 1..=256 pages until `LIVE` bytes are live, touching each OS page
/// when `touch`, and returns them.
fn fill(heap: &PageHeap, rng: &mut Rng, spans: &mut Vec<&'static Span>, touch: bool) -> usize {
    let os_page = gort_heap::os::os_page_size();
    let mut live = 0;
    while live < LIVE {
        let n = 1 + rng.next() % 256;
        let s = heap.alloc_span(n, SpanState::Manual).unwrap();
        if touch {
            let base: *mut u8 = s.start().as_ptr();
            let mut off = 0;
            while off < s.bytes() {
                // SAFETY: the span's pages are ours and committed.
                unsafe {
                    if !s.needs_zeroing() {
                        assert_eq!(base.add(off).read(), 0, "known-zero page is not zero");
                    }
                    base.add(off).write(1);
                }
                off += os_page;
            }
        }
        live += s.bytes();
        spans.push(s);
    }
    live
}

fn free_all(heap: &PageHeap, rng: &mut Rng, spans: &mut Vec<&'static Span>) {
    while !spans.is_empty() {
        let i = rng.next() % spans.len();
        let s = spans.swap_remove(i);
        // SAFETY: each span is freed once and not used again.
        unsafe { heap.free_span(s) };
    }
}

#[test]
fn heap_rss_returns_to_baseline_after_8_gib() {
    let heap = PageHeap::new_private(
        HeapConfig::new()
            .background_scavenger(false)
            .retained_goal(GOAL),
    )
    .unwrap();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut spans = Vec::with_capacity(LIVE / PAGE_SIZE);
    // Warm up without touching the pages: the heap grows to its peak size and its
    // metadata (span map, bitmaps, summaries, span structs) is in place for the baseline.
    fill(heap, &mut rng, &mut spans, false);
    free_all(heap, &mut rng, &mut spans);
    let baseline = rss();

    let mut total = 0;
    let mut peak = 0;
    let mut round = 0;
    while total < TOTAL {
        if round % 4 == 3 {
            heap.scavenge(usize::MAX);
        }
        total += fill(heap, &mut rng, &mut spans, true);
        peak = peak.max(rss());
        free_all(heap, &mut rng, &mut spans);
        round += 1;
    }
    assert!(
        peak >= baseline + LIVE / 2,
        "pages were not touched: peak {peak}, baseline {baseline}"
    );
    let st = heap.stats();
    assert_eq!(st.heap_inuse, 0);

    heap.scavenge_to_goal();
    let st = heap.stats();
    assert!(
        st.retained() <= GOAL,
        "retained {} above goal: {st:?}",
        st.retained()
    );
    let after = rss();
    // Within 10% of (baseline + retained goal).
    let limit = (baseline + GOAL) / 10 * 11;
    eprintln!(
        "rounds {round}, total {} MiB, baseline {} KiB, peak {} KiB, after {} KiB, limit {} KiB",
        total >> 20,
        baseline >> 10,
        peak >> 10,
        after >> 10,
        limit >> 10
    );
    assert!(
        after <= limit,
        "RSS {after} above (baseline {baseline} + goal {GOAL}) + 10%"
    );
}
