//! gcpause: 4M live small `Gc` objects, then 50M short-lived allocations of which every
//! 16th replaces a live one; reports collection pause percentiles. Twin of
//! benches/go/gcpause. Flags: -live N -churn N. Prints one JSON line last.

use std::time::Instant;

use gort::gc::{Gc, GcCell, Trace};

#[global_allocator]
static ALLOC: gort::GortAlloc = gort::GortAlloc;

#[derive(Trace)]
struct Item {
    next: GcCell<Option<Gc<Item>>>,
    v: u64,
}

fn flag(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let live = flag("-live", 4_000_000);
    let churn = flag("-churn", 50_000_000);
    let (sum, el, procs) = gort::run(move || {
        let start = Instant::now();
        let mut set: Vec<Gc<Item>> = (0..live)
            .map(|i| {
                Gc::new(Item {
                    next: GcCell::new(None),
                    v: i as u64,
                })
            })
            .collect();
        for i in 0..churn {
            let it = Gc::new(Item {
                next: GcCell::new(None),
                v: i as u64,
            });
            if i % 16 == 0 {
                let j = (i / 16) % live;
                let old = set[j];
                it.next.set(Some(old));
                old.next.set(None);
                set[j] = it;
            }
            std::hint::black_box(it);
        }
        let sum: u64 = set.iter().map(|it| it.v).sum();
        (sum, start.elapsed(), gort::gomaxprocs())
    });
    let ms = gort::gc::read_mem_stats();
    let n = (ms.num_gc as usize).min(256);
    let mut pauses: Vec<f64> = (0..n)
        .map(|i| ms.pause_ns[(ms.num_gc as usize + 255 - i) % 256] as f64 / 1e6)
        .collect();
    pauses.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        if pauses.is_empty() {
            0.0
        } else {
            pauses[(p * (pauses.len() - 1) as f64) as usize]
        }
    };
    println!(
        "{{\"bench\":\"gcpause\",\"impl\":\"gort\",\"procs\":{},\"live\":{},\"churn\":{},\"result\":{},\"total_ms\":{:.3},\"p50_pause_ms\":{:.3},\"p99_pause_ms\":{:.3},\"max_pause_ms\":{:.3},\"num_gc\":{}}}",
        procs,
        live,
        churn,
        sum,
        el.as_secs_f64() * 1e3,
        pct(0.5),
        pct(0.99),
        pct(1.0),
        ms.num_gc
    );
}
