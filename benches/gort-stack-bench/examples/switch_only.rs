//! One implementation's resume+suspend loop alone, for `perf stat`:
//! `cargo run --release --example switch_only -- gort|corosensei [iterations]`.

use std::hint::black_box;

fn main() {
    let which = std::env::args().nth(1).unwrap_or_else(|| "gort".into());
    let n: u64 = std::env::args()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000_000);
    let t = std::time::Instant::now();
    if which == "gort" {
        let mut g = gort_stack::Coroutine::<u64, u64, ()>::new(|y, mut x| {
            loop {
                x = y.suspend(x.wrapping_add(1));
            }
        });
        for i in 0..n {
            black_box(g.resume(black_box(i)));
        }
    } else {
        let mut c = corosensei::Coroutine::<u64, u64, ()>::new(|y, mut x| {
            loop {
                x = y.suspend(x.wrapping_add(1));
            }
        });
        for i in 0..n {
            black_box(c.resume(black_box(i)));
        }
    }
    println!(
        "{which}: {:.2} ns/op",
        t.elapsed().as_nanos() as f64 / n as f64
    );
}
