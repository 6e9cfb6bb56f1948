//! binarytrees (the benchmarks game's, one goroutine per depth) on collected `Gc` nodes.
//! Twin of benches/go/binarytrees. Flags: -n DEPTH (default 21). Prints one JSON line last.

use std::time::Instant;

use gort::chan::Chan;
use gort::gc::{Gc, Trace};

#[global_allocator]
static ALLOC: gort::GortAlloc = gort::GortAlloc;

#[derive(Trace)]
struct Node {
    left: Option<Gc<Node>>,
    right: Option<Gc<Node>>,
}

fn bottom_up(d: u32) -> Gc<Node> {
    if d == 0 {
        return Gc::new(Node {
            left: None,
            right: None,
        });
    }
    Gc::new(Node {
        left: Some(bottom_up(d - 1)),
        right: Some(bottom_up(d - 1)),
    })
}

fn check(n: &Node) -> u64 {
    match (n.left, n.right) {
        (Some(l), Some(r)) => 1 + check(&l) + check(&r),
        _ => 1,
    }
}

fn flag(name: &str, default: u32) -> u32 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let max_depth = flag("-n", 21).max(6);
    let (total, el, procs) = gort::run(move || {
        let start = Instant::now();
        let mut total = 0;
        let stretch = check(&bottom_up(max_depth + 1));
        eprintln!("stretch tree of depth {}\t check: {stretch}", max_depth + 1);
        total += stretch;
        let long_lived = bottom_up(max_depth);
        let done: Chan<(u32, u64)> = Chan::new(16);
        let mut depths = 0;
        for d in (4..=max_depth).step_by(2) {
            let done = done.clone();
            depths += 1;
            gort::go(move || {
                let iters = 1u64 << (max_depth - d + 4);
                let mut c = 0;
                for _ in 0..iters {
                    c += check(&bottom_up(d));
                }
                done.send((d, c));
            });
        }
        let mut results = Vec::new();
        for _ in 0..depths {
            results.push(done.recv().unwrap_or((0, 0)));
        }
        results.sort();
        for (d, c) in results {
            eprintln!(
                "{}\t trees of depth {d}\t check: {c}",
                1u64 << (max_depth - d + 4)
            );
            total += c;
        }
        let ll = check(&long_lived);
        eprintln!("long lived tree of depth {max_depth}\t check: {ll}");
        total += ll;
        (total, start.elapsed(), gort::gomaxprocs())
    });
    let ms = gort::gc::read_mem_stats();
    let max_pause = ms.pause_ns.iter().copied().max().unwrap_or(0);
    println!(
        "{{\"bench\":\"binarytrees\",\"impl\":\"gort\",\"procs\":{},\"depth\":{},\"result\":{},\"total_ms\":{:.3},\"max_pause_ms\":{:.3},\"num_gc\":{},\"heap_alloc_mib\":{},\"heap_inuse_mib\":{},\"heap_sys_mib\":{}}}",
        procs,
        max_depth,
        total,
        el.as_secs_f64() * 1e3,
        max_pause as f64 / 1e6,
        ms.num_gc,
        ms.heap_alloc >> 20,
        ms.heap_inuse >> 20,
        ms.heap_sys >> 20
    );
}
