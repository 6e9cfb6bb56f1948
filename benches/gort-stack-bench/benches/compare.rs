//! gort-stack vs corosensei vs generator (may's stack layer), run alternately in one
//! process: in each round every implementation runs one timed batch, in turn, so machine
//! noise hits all of them alike. Prints the median and minimum ns/op per implementation
//! and the ratios gort / peer (below 1.0 = gort faster).
//!
//! Run: `cd benches/gort-stack-bench && cargo bench --bench compare`
//! (optional args: rounds, then batch size).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "bench code")]

use std::hint::black_box;
use std::time::Instant;

/// One implementation's measurement: runs `iters` operations, returns elapsed ns.
type Case<'a> = (&'static str, Box<dyn FnMut(u64) -> u64 + 'a>);

fn run_alternating(
    title: &str,
    rounds: usize,
    iters: u64,
    cases: &mut [Case<'_>],
) -> Vec<(&'static str, f64, f64)> {
    // Warm up every case once.
    for (_, f) in cases.iter_mut() {
        f(iters / 10 + 1);
    }
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    for _ in 0..rounds {
        for (i, (_, f)) in cases.iter_mut().enumerate() {
            let ns = f(iters);
            samples[i].push(ns as f64 / iters as f64);
        }
    }
    println!("\n## {title} ({rounds} rounds x {iters} ops, alternating)");
    let mut out = Vec::new();
    for (i, (name, _)) in cases.iter().enumerate() {
        let s = &mut samples[i];
        s.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let med = s[s.len() / 2];
        let min = s[0];
        println!("{name:<34} median {med:>9.2} ns/op   min {min:>9.2} ns/op");
        out.push((*name, med, min));
    }
    let (g, gm, gmin) = out[0];
    for &(name, med, min) in &out[1..] {
        println!(
            "ratio {g} / {name}: median {:.3}x   min {:.3}x",
            gm / med,
            gmin / min
        );
    }
    out
}

fn timed(iters: u64, mut f: impl FnMut(u64)) -> u64 {
    let t = Instant::now();
    for i in 0..iters {
        f(i);
    }
    t.elapsed().as_nanos() as u64
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let rounds: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(31);
    let iters: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(200_000);

    // 1. Resume + suspend round trip on a long-lived coroutine.
    {
        let mut g = gort_stack::Coroutine::<u64, u64, ()>::new(|y, mut x| {
            loop {
                x = y.suspend(x.wrapping_add(1));
            }
        });
        let mut c = corosensei::Coroutine::<u64, u64, ()>::new(|y, mut x| {
            loop {
                x = y.suspend(x.wrapping_add(1));
            }
        });
        let mut gen_ = generator::Gn::<u64>::new_scoped(|mut s| {
            let mut x = 0u64;
            loop {
                x = s.yield_(x.wrapping_add(1)).unwrap_or(0);
            }
        });
        gen_.send(0);
        let mut cases: Vec<Case<'_>> = vec![
            (
                "gort-stack Coroutine",
                Box::new(|n| {
                    timed(n, |i| {
                        black_box(g.resume(black_box(i)));
                    })
                }),
            ),
            (
                "corosensei Coroutine",
                Box::new(|n| {
                    timed(n, |i| {
                        black_box(c.resume(black_box(i)));
                    })
                }),
            ),
            (
                "generator Gn (may)",
                Box::new(|n| {
                    timed(n, |i| {
                        black_box(gen_.send(black_box(i)));
                    })
                }),
            ),
        ];
        run_alternating("resume+suspend round trip", rounds, iters, &mut cases);
    }

    // 2. Create + run to completion + drop.
    {
        // corosensei's coroutines on a borrowed stack need the borrow to be 'static: leak
        // the stack and re-borrow it for each coroutine (each is dropped before the next).
        let reused: *mut corosensei::stack::DefaultStack = Box::into_raw(Box::new(
            corosensei::stack::DefaultStack::new(64 * 1024).unwrap(),
        ));
        let citers = iters / 4;
        let mut cases: Vec<Case<'_>> = vec![
            (
                "gort-stack Coroutine::new (pool)",
                Box::new(|n| {
                    timed(n, |i| {
                        let mut co = gort_stack::Coroutine::<u64, (), u64>::new(|_, x| x + 1);
                        black_box(co.resume(black_box(i)));
                    })
                }),
            ),
            (
                "corosensei Coroutine::new",
                Box::new(|n| {
                    timed(n, |i| {
                        let mut co = corosensei::Coroutine::<u64, (), u64>::new(|_, x| x + 1);
                        black_box(co.resume(black_box(i)));
                    })
                }),
            ),
            (
                "generator Gn::new_scoped (may)",
                Box::new(|n| {
                    timed(n, |i| {
                        let mut g = generator::Gn::<u64>::new_scoped(move |_| black_box(i) + 1);
                        black_box(g.resume());
                    })
                }),
            ),
            (
                "corosensei with_stack(reused)",
                Box::new(move |n| {
                    timed(n, |i| {
                        // SAFETY: the stack is leaked (lives forever) and the previous coroutine on
                        // it was dropped at the end of the previous iteration.
                        let stack: &'static mut corosensei::stack::DefaultStack =
                            unsafe { &mut *reused };
                        let mut co =
                            corosensei::Coroutine::<u64, (), u64, _>::with_stack(stack, |_, x| {
                                x + 1
                            });
                        black_box(co.resume(black_box(i)));
                    })
                }),
            ),
        ];
        run_alternating("create+run+drop", rounds, citers, &mut cases);
    }
}
