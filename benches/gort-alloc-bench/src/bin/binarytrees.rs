//! binarytrees-manual: the Benchmarks Game binary-trees at depth 18 with `Box` nodes
//! freed by drop (no GC), the iterations of each depth split over 2 threads.
#![allow(clippy::unwrap_used, reason = "bench code")]

use gort_alloc_bench::Switch;

#[global_allocator]
static A: Switch = Switch;

struct Node {
    kids: Option<(Box<Node>, Box<Node>)>,
}

fn make(d: u32) -> Box<Node> {
    Box::new(Node {
        kids: (d > 0).then(|| (make(d - 1), make(d - 1))),
    })
}

fn check(n: &Node) -> u64 {
    1 + n.kids.as_ref().map_or(0, |(l, r)| check(l) + check(r))
}

fn work() -> u64 {
    const MAX: u32 = 18;
    let mut total = check(&make(MAX + 1));
    let long_lived = make(MAX);
    for d in (4..=MAX).step_by(2) {
        let iters = 1u64 << (MAX - d + 4);
        let half = iters / 2;
        let other = std::thread::spawn(move || (0..half).map(|_| check(&make(d))).sum::<u64>());
        let mine: u64 = (half..iters).map(|_| check(&make(d))).sum();
        total += mine + other.join().unwrap();
    }
    total + check(&long_lived)
}

fn main() {
    gort_alloc_bench::main("binarytrees", work);
}
