//! `GortAlloc` as the global allocator under a 4-thread std-collections stress: HashMap,
//! BTreeMap, String and Vec churn, with objects handed to and freed on other threads,
//! every value checked.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, mpsc};
use std::thread;

use gort_alloc::{Allocator, GortAlloc};

#[global_allocator]
static A: GortAlloc = GortAlloc;

/// The tests compare global statistics before and after; they run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// A deterministic xorshift generator (no allocation, no dependency).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn value(k: u64) -> String {
    format!("v{k:x}-{}", "x".repeat((k % 97) as usize))
}

/// One thread's churn; sends some of its objects to the next thread, which checks and
/// frees them.
fn worker(
    id: u64,
    tx: mpsc::Sender<(u64, String, Vec<u64>)>,
    rx: mpsc::Receiver<(u64, String, Vec<u64>)>,
) -> u64 {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (id + 1));
    let mut map: HashMap<u64, String> = HashMap::new();
    let mut tree: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    let mut received = 0u64;
    for round in 0..60_000u64 {
        let k = rng.next() % 4096;
        match rng.next() % 6 {
            0 | 1 => {
                map.insert(k, value(k));
            }
            2 => {
                if let Some(v) = map.remove(&k) {
                    assert_eq!(v, value(k));
                }
            }
            3 => {
                let n = (k % 300) as usize;
                tree.insert(k, (0..n as u64).map(|i| i * k).collect());
            }
            4 => {
                if let Some(v) = tree.remove(&k) {
                    assert!(v.iter().enumerate().all(|(i, &x)| x == i as u64 * k));
                }
            }
            _ => {
                // Hand an object to the next thread: it is freed there.
                let n = (k % 200) as usize;
                tx.send((k, value(k), (0..n as u64).map(|i| i ^ k).collect()))
                    .unwrap();
            }
        }
        if round % 64 == 0 {
            while let Ok((k, s, v)) = rx.try_recv() {
                assert_eq!(s, value(k));
                assert!(v.iter().enumerate().all(|(i, &x)| x == i as u64 ^ k));
                received += 1;
            }
        }
    }
    for (k, v) in &map {
        assert_eq!(*v, value(*k));
    }
    drop(tx);
    for (k, s, v) in rx {
        assert_eq!(s, value(k));
        assert!(v.iter().enumerate().all(|(i, &x)| x == i as u64 ^ k));
        received += 1;
    }
    received
}

#[test]
fn four_threads_std_collections_with_cross_thread_frees() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let before = Allocator::global().stats();
    let mut txs = Vec::new();
    let mut rxs = Vec::new();
    for _ in 0..4 {
        let (tx, rx) = mpsc::channel();
        txs.push(tx);
        rxs.push(rx);
    }
    // Thread i sends to thread (i + 1) % 4.
    rxs.rotate_left(1);
    rxs.reverse();
    let mut handles = Vec::new();
    for (id, tx) in txs.into_iter().enumerate() {
        let rx = rxs.pop().unwrap();
        handles.push(thread::spawn(move || worker(id as u64, tx, rx)));
    }
    // Walk every central's lists while the workers run: a corrupted list aborts with a
    // `fatal error: runtime: ...` message.
    while !handles.iter().all(|h| h.is_finished()) {
        Allocator::global().check_invariants();
        thread::yield_now();
    }
    let received: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert!(received > 10_000, "only {received} objects crossed threads");
    let after = Allocator::global().stats();
    assert!(after.mallocs - before.mallocs > 400_000);
    // Every worker thread has exited and returned its cache; what is still allocated is
    // this thread's and the test harness's, a small amount.
    let live = after.heap_objects as i64 - before.heap_objects as i64;
    assert!(live.abs() < 10_000, "{live} objects leaked");
}

#[test]
fn realloc_grows_and_shrinks_in_place_or_moves() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut v: Vec<u8> = Vec::new();
    for i in 0..200_000u32 {
        v.push(i as u8);
    }
    assert!(v.iter().enumerate().all(|(i, &b)| b == i as u8));
    v.truncate(10);
    v.shrink_to_fit();
    assert_eq!(v, (0..10).collect::<Vec<u8>>());
    let z = vec![0u64; 1 << 20];
    assert!(z.iter().all(|&x| x == 0));
    let aligned = std::alloc::Layout::from_size_align(100, 4096).unwrap();
    // SAFETY: the pointer is a live allocation of this test, used with its allocation layout and not used afterwards.
    unsafe {
        let p = std::alloc::alloc(aligned);
        assert_eq!(p as usize % 4096, 0);
        std::alloc::dealloc(p, aligned);
    }
}

#[test]
fn short_lived_threads_return_their_caches() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let before = Allocator::global().stats();
    let mut survivors: Vec<Box<[u64]>> = Vec::new();
    for round in 0..25u64 {
        let handles: Vec<_> = (0..4u64)
            .map(|t| {
                thread::spawn(move || {
                    let k = round * 4 + t;
                    let v: Vec<Box<[u64]>> = (0..1000u64)
                        .map(|i| vec![i ^ k; (i % 40) as usize + 1].into())
                        .collect();
                    // Free half here; hand the other half to the main thread.
                    v.into_iter()
                        .enumerate()
                        .filter(|(i, _)| i % 2 == 0)
                        .map(|(_, b)| b)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            survivors.extend(h.join().unwrap());
        }
    }
    assert_eq!(survivors.len(), 100 * 500);
    for b in &survivors {
        let x = b[0];
        assert!(b.iter().all(|&y| y == x));
    }
    drop(survivors);
    let after = Allocator::global().stats();
    let live = after.heap_objects as i64 - before.heap_objects as i64;
    assert!(live.abs() < 10_000, "{live} objects leaked");
}

/// Cross-thread frees mixing objects of several central shards while short-lived
/// threads keep recycling caches and spans (a regression test: a flush that mixed
/// shards once read the shard of a span it had just released and another thread had
/// recycled).
#[test]
fn mixed_shard_flushes_while_threads_come_and_go() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let churn = thread::spawn(|| {
        for round in 0..40u64 {
            let hs: Vec<_> = (0..3u64)
                .map(|t| {
                    thread::spawn(move || {
                        let v: Vec<Box<[u64]>> = (0..2000u64)
                            .map(|i| vec![i ^ round ^ t; (i % 40) as usize + 1].into())
                            .collect();
                        v.into_iter().step_by(3).collect::<Vec<_>>()
                    })
                })
                .collect();
            let kept: Vec<Box<[u64]>> = hs.into_iter().flat_map(|h| h.join().unwrap()).collect();
            assert!(kept.iter().all(|b| b.iter().all(|&x| x == b[0])));
        }
    });
    let mut txs = Vec::new();
    let mut rxs = Vec::new();
    for _ in 0..4 {
        let (tx, rx) = mpsc::channel();
        txs.push(tx);
        rxs.push(rx);
    }
    rxs.rotate_left(1);
    rxs.reverse();
    let mut handles = Vec::new();
    for (id, tx) in txs.into_iter().enumerate() {
        let rx = rxs.pop().unwrap();
        handles.push(thread::spawn(move || worker(id as u64 + 10, tx, rx)));
    }
    while !handles.iter().all(|h| h.is_finished()) || !churn.is_finished() {
        Allocator::global().check_invariants();
        thread::yield_now();
    }
    churn.join().unwrap();
    let received: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert!(received > 10_000);
}
