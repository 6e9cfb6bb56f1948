//! skynet: a tree of 1M goroutines; each leaf sends its number, parents sum ten
//! children (result 499999500000 for 1M). Twin of benches/go/skynet. Flags: -size N.
//! Prints one JSON line last.

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

fn skynet(c: Chan<u64>, num: u64, size: u64, div: u64) {
    if size == 1 {
        c.send(num);
        return;
    }
    let rc = Chan::new(div as usize);
    for i in 0..div {
        let sub = num + i * (size / div);
        let rc = rc.clone();
        gort::go(move || skynet(rc, sub, size / div, div));
    }
    let mut sum = 0;
    for _ in 0..div {
        sum += rc.recv().unwrap_or(0);
    }
    c.send(sum);
}

fn main() {
    let size = flag("-size", 1_000_000) as u64;
    let (r, el, procs) = gort::run(move || {
        let start = Instant::now();
        let c = Chan::new(0);
        let c2 = c.clone();
        gort::go(move || skynet(c2, 0, size, 10));
        let r = c.recv().unwrap_or(0);
        (r, start.elapsed(), gort::gomaxprocs())
    });
    println!(
        "{{\"bench\":\"skynet\",\"impl\":\"gort\",\"procs\":{},\"size\":{},\"result\":{},\"total_ms\":{:.3}}}",
        procs,
        size,
        r,
        el.as_secs_f64() * 1e3
    );
    let want = (size - 1) * size / 2;
    if r != want {
        eprintln!("skynet: wrong result {r}, want {want}");
        std::process::exit(1);
    }
}
