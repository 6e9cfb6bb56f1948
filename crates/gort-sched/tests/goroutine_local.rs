//! Goroutine-locals: a destructor that touches a goroutine-local while the goroutine's
//! locals are being dropped must not leave a value behind for the next goroutine that
//! reuses the exited goroutine's G (regression), and `with` nested in `init` works.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering}; // tidy: allow(std-sync) test code
use std::time::Duration;

use gort_sched::time::sleep;
use gort_sched::{Chan, Config, GoroutineLocal, run_with, spawn};

/// Set by `Guard`'s destructor on the goroutine that is exiting.
static MARK: GoroutineLocal<Cell<u32>> = GoroutineLocal::new(|| Cell::new(0));

/// A goroutine-local whose destructor writes another goroutine-local.
struct Guard;

impl Drop for Guard {
    fn drop(&mut self) {
        MARK.with(|m| m.set(99));
    }
}

static GUARD: GoroutineLocal<Guard> = GoroutineLocal::new(|| Guard);

#[test]
fn locals_recreated_by_a_destructor_do_not_leak_into_the_next_goroutine() {
    let mut config = Config::default();
    config.maxprocs = 1;
    run_with(config, || {
        for _ in 0..20 {
            let done: Chan<()> = Chan::new(0);
            let tx = done.clone();
            spawn(move || {
                GUARD.with(|_| ());
                tx.send(());
            })
            .unwrap();
            done.recv();
            // Let the goroutine finish exiting (and its G go to the free list).
            sleep(Duration::from_millis(1));
            let seen: Chan<u32> = Chan::new(1);
            let tx = seen.clone();
            // Reuses the exited goroutine's G (one P: its free list is LIFO).
            spawn(move || tx.send(MARK.with(Cell::get).unwrap())).unwrap();
            assert_eq!(
                seen.recv(),
                Some(0),
                "a goroutine-local leaked into a new goroutine"
            );
        }
    })
    .unwrap();
}

/// Drops of `Looper` so far.
static LOOPER_DROPS: AtomicUsize = AtomicUsize::new(0);

/// A goroutine-local whose destructor re-creates itself, forever.
struct Looper;

impl Drop for Looper {
    fn drop(&mut self) {
        LOOPER_DROPS.fetch_add(1, Ordering::SeqCst);
        LOOPER.with(|_| ());
    }
}

static LOOPER: GoroutineLocal<Looper> = GoroutineLocal::new(|| Looper);

#[test]
fn a_destructor_that_recreates_itself_forever_is_bounded() {
    run_with(Config::default(), || {
        let done: Chan<()> = Chan::new(0);
        let tx = done.clone();
        spawn(move || {
            LOOPER.with(|_| ());
            tx.send(());
        })
        .unwrap();
        done.recv();
        sleep(Duration::from_millis(5));
    })
    .unwrap();
    // Four rounds of drops, then the fifth value is leaked.
    assert_eq!(LOOPER_DROPS.load(Ordering::SeqCst), 4);
}

static BASE: GoroutineLocal<Cell<u32>> = GoroutineLocal::new(|| Cell::new(40));

/// Its `init` uses another goroutine-local (a nested `with` while the outer one is
/// creating a value).
static DERIVED: GoroutineLocal<u32> = GoroutineLocal::new(|| BASE.with(Cell::get).unwrap() + 2);

#[test]
fn init_may_use_other_goroutine_locals() {
    let got = run_with(Config::default(), || {
        DERIVED.with(|d| {
            // `f` may use this and other goroutine-locals too.
            BASE.with(|b| b.set(*d));
            *d + DERIVED.with(|d2| *d2).unwrap()
        })
    })
    .unwrap();
    assert_eq!(got, Some(84));
}
