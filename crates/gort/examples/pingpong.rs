//! pingpong: two goroutines bounce a value over unbuffered channels; ns per round trip.
//! Twin of benches/go/pingpong. Flags: -n N (default 2000000). Prints one JSON line last.

use std::time::Instant;

use gort::chan::Chan;

fn flag(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let n = flag("-n", 2_000_000);
    let (v, el, procs) = gort::run(move || {
        let (a, b) = (Chan::<u64>::new(0), Chan::<u64>::new(0));
        let (a2, b2) = (a.clone(), b.clone());
        gort::go(move || {
            for v in a2.iter() {
                b2.send(v + 1);
            }
            b2.close();
        });
        let start = Instant::now();
        let mut v = 0;
        for _ in 0..n {
            a.send(v);
            v = b.recv().unwrap_or(0);
        }
        a.close();
        (v, start.elapsed(), gort::gomaxprocs())
    });
    println!(
        "{{\"bench\":\"pingpong\",\"impl\":\"gort\",\"procs\":{},\"n\":{},\"v\":{},\"total_ms\":{:.3},\"ns_per_op\":{:.1}}}",
        procs,
        n,
        v,
        el.as_secs_f64() * 1e3,
        el.as_nanos() as f64 / n as f64
    );
}
