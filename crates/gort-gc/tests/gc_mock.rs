//! The collector alone against the MockHost: reachability, interior pointers, cycles,
//! finalizers, noscan, conservative scanning of manual memory, checkmark, Pool, and a
//! random object graph against a reference model.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::sync::atomic::{AtomicUsize, Ordering}; // tidy: allow(std-sync) (test counters)
use std::sync::{Mutex, MutexGuard, OnceLock}; // tidy: allow(std-sync) (test serialisation)
use std::time::{Duration, Instant};

use gort_gc::testing::{MockHost, finalizers_pending};
use gort_gc::{Gc, GcCell, GcRefCell, Pool, Trace, Tracer, gc};

#[global_allocator]
static A: gort_alloc::GortAlloc = gort_alloc::GortAlloc;

fn host() -> &'static MockHost {
    static H: OnceLock<&'static MockHost> = OnceLock::new();
    H.get_or_init(|| {
        let h = MockHost::new(2);
        gort_gc::install(h).unwrap();
        h
    })
}

/// Collector tests share one heap and one mock host: run them one at a time.
fn serial() -> MutexGuard<'static, ()> {
    static L: Mutex<()> = Mutex::new(());
    L.lock().unwrap_or_else(|e| e.into_inner())
}

/// Waits until the finalizer goroutine has dropped everything queued.
fn wait_finalizers() {
    let t = Instant::now();
    while finalizers_pending() != 0 {
        assert!(t.elapsed() < Duration::from_secs(10), "finalizers stuck");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Runs `f` on a registered thread that exits afterwards, so nothing it left on its
/// stack keeps objects alive.
fn on_thread<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    let h = host();
    std::thread::scope(|s| {
        let t = s.spawn(|| {
            let _r = h.register();
            f()
        });
        h.blocking(|| t.join().unwrap())
    })
}

/// A node counting its drops, with a mutable edge.
struct Node {
    id: usize,
    next: GcCell<Option<Gc<Node>>>,
    drops: &'static AtomicUsize,
}

// SAFETY: traces its only Gc field.
unsafe impl Trace for Node {
    fn trace(&self, t: &mut Tracer<'_>) {
        self.next.trace(t);
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

// SAFETY: test nodes are only touched by one thread at a time (the test serialises).
unsafe impl Sync for Node {}

fn node(id: usize, drops: &'static AtomicUsize) -> Gc<Node> {
    Gc::new(Node {
        id,
        next: GcCell::new(None),
        drops,
    })
}

/// A full cycle run from a fresh thread (so no stale word on a long-lived stack keeps
/// garbage), then the finalizers.
fn collect() {
    on_thread(gc);
    wait_finalizers();
}

#[test]
fn reachable_survive_and_unreachable_are_dropped() {
    let _s = serial();
    let h = host();
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    // Garbage made on a thread that exits.
    on_thread(|| {
        for i in 0..1000 {
            node(i, &DROPS);
        }
    });
    // The kept nodes are rooted through an explicit range over their manual Vec (this
    // test thread is unregistered: its stack is not scanned).
    let keep: Vec<Gc<Node>> = on_thread(|| (0..100).map(|i| node(10_000 + i, &DROPS)).collect());
    h.add_root(keep.as_ptr() as usize, keep.len() * 8);
    let before = DROPS.load(Ordering::SeqCst);
    collect();
    collect();
    // A stale word in a stack slot (conservative roots) may keep a node or two.
    let dropped = DROPS.load(Ordering::SeqCst) - before;
    assert!(
        (990..=1000).contains(&dropped),
        "unreachable nodes dropped: {dropped} of 1000"
    );
    collect();
    for (i, k) in keep.iter().enumerate() {
        assert_eq!(k.id, 10_000 + i);
    }
    let dropped = DROPS.load(Ordering::SeqCst) - before;
    assert!(
        dropped <= 1000,
        "no kept node is dropped, none twice: {dropped}"
    );
    h.clear_roots();
}

#[test]
fn interior_pointer_keeps_object() {
    let _s = serial();
    let h = host();
    let _r = h.register();
    let g = Gc::new([7u64; 64]);
    // Only an interior address, hidden as an integer in a manual allocation.
    let inner = Box::new((Gc::as_ptr(g) as usize) + 200);
    let raw = Gc::as_ptr(g);
    gc();
    gc();
    // SAFETY: the object is alive through the interior pointer in `inner`.
    let v = unsafe { &*raw };
    assert!(v.iter().all(|&x| x == 7));
    std::hint::black_box(&inner);
}

#[test]
fn cycles_are_collected() {
    let _s = serial();
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    on_thread(|| {
        for i in 0..200 {
            let a = node(i, &DROPS);
            let b = node(i, &DROPS);
            a.next.set(Some(b));
            b.next.set(Some(a));
        }
        // A self-loop too.
        let s = node(999, &DROPS);
        s.next.set(Some(s));
    });
    let before = DROPS.load(Ordering::SeqCst);
    // The first cycle defers objects reachable from other dying objects (Go's order
    // rule); the second drops them all.
    collect();
    collect();
    assert_eq!(DROPS.load(Ordering::SeqCst) - before, 401);
}

/// Reads its target in `Drop`.
struct Reader {
    target: Gc<Vec<u64>>,
    seen: &'static AtomicUsize,
}

// SAFETY: traces its Gc field.
unsafe impl Trace for Reader {
    fn trace(&self, t: &mut Tracer<'_>) {
        self.target.trace(t);
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        // The target survives the cycle that found us unreachable.
        let sum: u64 = self.target.iter().sum();
        self.seen.store(sum as usize, Ordering::SeqCst);
    }
}

#[test]
fn finalizer_keeps_its_referents_alive_for_one_cycle() {
    let _s = serial();
    let h = host();
    // This test thread holds no Gc and stays unregistered; collections run on fresh
    // threads, so no stale word in an old frame can keep the reader alive.
    static SEEN: AtomicUsize = AtomicUsize::new(0);
    on_thread(|| {
        let target = Gc::new((1..=100u64).collect::<Vec<u64>>());
        Gc::new(Reader {
            target,
            seen: &SEEN,
        });
    });
    on_thread(gc);
    wait_finalizers();
    assert_eq!(SEEN.load(Ordering::SeqCst), 5050);
    let before = gort_gc::read_mem_stats().frees;
    on_thread(gc);
    gort_gc::testing::sweep_now();
    assert!(
        gort_gc::read_mem_stats().frees > before,
        "the reader is freed the next cycle"
    );
    let _ = h;
}

#[test]
fn pointer_free_values_allocate_noscan() {
    let _s = serial();
    let h = host();
    let _r = h.register();
    let g = Gc::new(12345u64);
    let heap = gort_alloc::Allocator::global();
    let span = heap
        .span_ref_of(gort_heap::Address::new(Gc::as_ptr(g) as usize))
        .unwrap();
    assert!(span.is_noscan());
    let n = node(0, Box::leak(Box::new(AtomicUsize::new(0))));
    let span = heap
        .span_ref_of(gort_heap::Address::new(Gc::as_ptr(n) as usize))
        .unwrap();
    assert!(!span.is_noscan());
    gc();
    assert_eq!(*g, 12345);
}

#[test]
fn manual_memory_is_scanned_conservatively() {
    let _s = serial();
    let h = host();
    let _r = h.register();
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    // Gc pointers stored as integers two manual allocations deep: Box -> Vec buffer.
    let holder: Box<Vec<usize>> = on_thread(|| {
        Box::new(
            (0..50)
                .map(|i| Gc::as_ptr(node(i, &DROPS)) as usize)
                .collect(),
        )
    });
    let before = DROPS.load(Ordering::SeqCst);
    gc();
    wait_finalizers();
    gc();
    wait_finalizers();
    assert_eq!(
        DROPS.load(Ordering::SeqCst),
        before,
        "nothing reachable was dropped"
    );
    for (i, &p) in holder.iter().enumerate() {
        // SAFETY: kept alive by the conservative scan of `holder`.
        assert_eq!(unsafe { &*(p as *const Node) }.id, i);
    }
}

#[test]
fn explicit_root_ranges_are_roots() {
    let _s = serial();
    let h = host();
    let _r = h.register();
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    static mut SLOT: usize = 0;
    on_thread(|| {
        let n = node(77, &DROPS);
        // SAFETY: the test is serialised; nothing else touches SLOT.
        unsafe { SLOT = Gc::as_ptr(n) as usize };
    });
    h.add_root(&raw const SLOT as usize, 8);
    let before = DROPS.load(Ordering::SeqCst);
    gc();
    wait_finalizers();
    assert_eq!(DROPS.load(Ordering::SeqCst), before);
    // SAFETY: rooted through SLOT.
    assert_eq!(unsafe { &*(SLOT as *const Node) }.id, 77);
    h.clear_roots();
    gc();
    wait_finalizers();
    assert_eq!(DROPS.load(Ordering::SeqCst), before + 1);
}

/// A hash map's hasher that holds a `Gc`.
struct GcHasher(Gc<Node>);

impl BuildHasher for GcHasher {
    type Hasher = DefaultHasher;
    fn build_hasher(&self) -> DefaultHasher {
        DefaultHasher::new()
    }
}

// SAFETY: traces its only Gc field.
unsafe impl Trace for GcHasher {
    fn trace(&self, t: &mut Tracer<'_>) {
        self.0.trace(t);
    }
}

#[test]
fn hash_map_and_set_hashers_are_traced() {
    let _s = serial();
    let h = host();
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    // std's hashers hold no Gc: such maps of plain data stay noscan.
    const {
        assert!(<HashMap<u32, u32> as Trace>::NO_TRACE);
        assert!(<HashSet<u32, BuildHasherDefault<DefaultHasher>> as Trace>::NO_TRACE);
        assert!(!<HashMap<u32, u32, GcHasher> as Trace>::NO_TRACE);
        assert!(!<HashSet<u32, GcHasher> as Trace>::NO_TRACE);
    }
    type Maps = (Gc<HashMap<u32, u32, GcHasher>>, Gc<HashSet<u32, GcHasher>>);
    // The only path to the two nodes is through the hashers of a map and a set rooted
    // by an explicit range over a manual Box.
    let keep: Box<Maps> = on_thread(|| {
        let mut m = HashMap::with_hasher(GcHasher(node(1, &DROPS)));
        m.insert(1, 2);
        let mut s = HashSet::with_hasher(GcHasher(node(2, &DROPS)));
        s.insert(3);
        Box::new((Gc::new(m), Gc::new(s)))
    });
    h.add_root(&*keep as *const Maps as usize, core::mem::size_of::<Maps>());
    collect();
    collect();
    assert_eq!(DROPS.load(Ordering::SeqCst), 0, "a hasher's Gc was freed");
    assert_eq!(keep.0.hasher().0.id, 1);
    assert_eq!(keep.1.hasher().0.id, 2);
    assert_eq!(keep.0.get(&1), Some(&2));
    h.clear_roots();
}

#[test]
fn refcell_fields_are_traced() {
    let _s = serial();
    let h = host();
    let _r = h.register();
    let list: Gc<GcRefCell<Vec<Gc<u64>>>> = Gc::new(GcRefCell::new(Vec::new()));
    for i in 0..1000u64 {
        list.borrow_mut().push(Gc::new(i));
    }
    gc();
    gc();
    let sum: u64 = list.borrow().iter().map(|g| **g).sum();
    assert_eq!(sum, 999 * 1000 / 2);
}

#[test]
fn heap_growth_triggers_cycles_and_memory_returns() {
    let _s = serial();
    let h = host();
    let _r = h.register();
    let n0 = gort_gc::num_gc();
    on_thread(|| {
        for i in 0..200_000u64 {
            std::hint::black_box(Gc::new([i; 8]));
        }
    });
    assert!(
        gort_gc::num_gc() > n0,
        "allocation started cycles by itself"
    );
    gc();
    gort_gc::testing::sweep_now();
    let live = gort_gc::testing::heap_live();
    assert!(
        live < 4 << 20,
        "live collected bytes after collection: {live}"
    );
}

#[test]
fn gc_percent_off_stops_heap_triggered_cycles() {
    let _s = serial();
    let old = gort_gc::set_gc_percent(-1);
    let n0 = gort_gc::num_gc();
    on_thread(|| {
        for i in 0..200_000u64 {
            std::hint::black_box(Gc::new([i; 8]));
        }
    });
    assert_eq!(
        gort_gc::num_gc(),
        n0,
        "GORT_GC=off: no cycle from allocation"
    );
    assert_eq!(gort_gc::set_gc_percent(old), -1);
    collect();
    assert!(gort_gc::num_gc() > n0, "gc() still collects");
}

#[test]
fn pool_is_emptied_by_collections() {
    let _s = serial();
    let h = host();
    let _r = h.register();
    static POOL: Pool<Vec<u8>> = Pool::new(Vec::new);
    POOL.put(vec![1, 2, 3]);
    assert_eq!(POOL.len(), 1);
    gc();
    assert_eq!(POOL.len(), 1, "one cycle moves values to the victim list");
    gc();
    assert_eq!(POOL.len(), 0, "two cycles drop them");
    assert!(POOL.get().is_empty());
}

#[test]
fn concurrent_gc_callers_wait_for_the_running_cycle() {
    let _s = serial();
    let h = host();
    let _r = h.register();
    let n0 = gort_gc::num_gc();
    let keep = Gc::new(5u64);
    std::thread::scope(|s| {
        let ts: Vec<_> = (0..3)
            .map(|_| {
                s.spawn(|| {
                    let _r = h.register();
                    for _ in 0..5 {
                        gc();
                        h.safepoint();
                    }
                })
            })
            .collect();
        h.blocking(|| ts.into_iter().for_each(|t| t.join().unwrap()));
    });
    assert!(gort_gc::num_gc() >= n0 + 5);
    assert_eq!(*keep, 5);
}

#[test]
fn mem_stats_count_cycles_and_pauses() {
    let _s = serial();
    let h = host();
    let _r = h.register();
    let before = gort_gc::read_mem_stats();
    gc();
    let after = gort_gc::read_mem_stats();
    assert_eq!(after.num_gc, before.num_gc + 1);
    assert_eq!(after.num_forced_gc, before.num_forced_gc + 1);
    assert!(after.pause_total_ns >= before.pause_total_ns);
    assert!(after.last_gc >= before.last_gc && after.last_gc > 0);
    assert!(after.heap_sys >= after.heap_inuse);
    assert!(after.enable_gc);
}

/// A random object graph, mutated and collected, checked against a reference model.
mod model {
    use super::*;
    use proptest::prelude::*;

    struct Obj {
        id: usize,
        edges: GcRefCell<Vec<Gc<Obj>>>,
    }

    // SAFETY: traces its edges.
    unsafe impl Trace for Obj {
        fn trace(&self, t: &mut Tracer<'_>) {
            self.edges.trace(t);
        }
    }

    // SAFETY: used by one thread at a time (the tests are serialised).
    unsafe impl Sync for Obj {}

    static LIVE: Mutex<Option<HashSet<usize>>> = Mutex::new(None);

    impl Drop for Obj {
        fn drop(&mut self) {
            LIVE.lock()
                .unwrap()
                .get_or_insert_with(HashSet::new)
                .remove(&self.id);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
        #[test]
        fn random_graph_matches_reachability(
            n in 2usize..60,
            edges in proptest::collection::vec((0usize..60, 0usize..60), 0..150),
            roots in proptest::collection::vec(0usize..60, 0..6),
        ) {
            let _s = serial();
            let h = host();
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let base = NEXT.fetch_add(1000, Ordering::SeqCst);
            wait_finalizers();
            *LIVE.lock().unwrap() = Some((base..base + n).collect());
            // Build on a thread that exits; the roots go to a manual Vec registered as
            // an explicit root range (this test thread stays unregistered, and every
            // collection runs on a fresh thread: no stale stack word keeps anything).
            let root_objs: Vec<Gc<Obj>> = on_thread(|| {
                let objs: Vec<Gc<Obj>> = (0..n)
                    .map(|i| Gc::new(Obj { id: base + i, edges: GcRefCell::new(Vec::new()) }))
                    .collect();
                for &(a, b) in &edges {
                    objs[a % n].edges.borrow_mut().push(objs[b % n]);
                }
                roots.iter().map(|&r| objs[r % n]).collect()
            });
            h.add_root(root_objs.as_ptr() as usize, root_objs.len() * 8);
            // Reference reachability.
            let mut adj = vec![Vec::new(); n];
            for &(a, b) in &edges {
                adj[a % n].push(b % n);
            }
            let mut reach = HashSet::new();
            let mut stack: Vec<usize> = roots.iter().map(|&r| r % n).collect();
            while let Some(x) = stack.pop() {
                if reach.insert(x) {
                    stack.extend(adj[x].iter().copied());
                }
            }
            // Objects reached from other dying objects are dropped a cycle later (Go's
            // order rule), at most two cycles later for chains and cycles.
            for _ in 0..3 {
                on_thread(gc);
                wait_finalizers();
            }
            let live = LIVE.lock().unwrap().clone().unwrap();
            let expect: HashSet<usize> = reach.iter().map(|&i| base + i).collect();
            // Soundness: everything reachable is alive, exactly. Completeness: a stale
            // stack word (conservative roots) may keep an unreachable component in some
            // case, so it is checked over all cases: most garbage is collected.
            prop_assert!(expect.is_subset(&live), "reachable objects were dropped");
            static GARBAGE: AtomicUsize = AtomicUsize::new(0);
            static KEPT: AtomicUsize = AtomicUsize::new(0);
            let garbage = GARBAGE.fetch_add(n - expect.len(), Ordering::SeqCst) + n - expect.len();
            let kept = KEPT.fetch_add(live.len() - expect.len(), Ordering::SeqCst) + live.len() - expect.len();
            prop_assert!(kept <= garbage / 2 + 60, "kept {} of {} unreachable objects so far", kept, garbage);
            for r in &root_objs {
                let _ = r.edges.borrow().len();
            }
            h.clear_roots();
            drop(root_objs);
        }
    }
}
