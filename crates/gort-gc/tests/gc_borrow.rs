//! Borrows through a dead handle: an object awaiting `Drop` whose owned buffer is still
//! borrowed (`let sl = g.v.as_slice();` in use after `g`'s last use) is kept.
#![allow(clippy::unwrap_used, clippy::panic, reason = "test code")]

use std::sync::OnceLock; // tidy: allow(std-sync) (test host)
use std::sync::atomic::{AtomicUsize, Ordering}; // tidy: allow(std-sync) (test counters)

use gort_gc::testing::{MockHost, finalizers_pending};
use gort_gc::{Gc, Trace, Tracer, gc};

#[global_allocator]
static A: gort_alloc::GortAlloc = gort_alloc::GortAlloc;

fn host() -> &'static MockHost {
    static H: OnceLock<&'static MockHost> = OnceLock::new();
    H.get_or_init(|| {
        let h = MockHost::new(1);
        gort_gc::install(h).unwrap();
        h
    })
}

/// An object owning manual buffers (traced like `#[derive(Trace)]` would).
struct Owner {
    v: Vec<u64>,
    vv: Vec<Vec<u64>>,
    /// This owner's drop counter.
    drops: &'static AtomicUsize,
}

impl Drop for Owner {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

// SAFETY: traces every field.
unsafe impl Trace for Owner {
    fn trace(&self, t: &mut Tracer<'_>) {
        self.v.trace(t);
        self.vv.trace(t);
    }
}

/// Makes an owner and, when `keep`, returns only an address derived from it (into its
/// `v` buffer): the machine state of `let sl = g.v.as_slice();` after `g`'s last use,
/// where nothing holds `g` any more.
#[inline(never)]
fn make(keep: bool, d: &'static AtomicUsize) -> usize {
    let g = Gc::new(Owner {
        v: vec![7; 64],
        vv: vec![vec![1; 64], vec![2; 64]],
        drops: d,
    });
    if keep { g.v.as_ptr() as usize } else { 0 }
}

/// As `make`, but the address is into its `vv[1]` buffer (owned through `vv`'s).
#[inline(never)]
fn make_inner(keep: bool, d: &'static AtomicUsize) -> usize {
    let g = Gc::new(Owner {
        v: vec![7; 64],
        vv: vec![vec![1; 64], vec![2; 64]],
        drops: d,
    });
    if keep { g.vv[1].as_ptr() as usize } else { 0 }
}

/// Overwrites the dead stack below the caller and the caller-saved registers (so no
/// stale copy of the `Gc` survives where the conservative scan would find it).
#[inline(never)]
fn scrub() {
    let mut a = [0u64; 8192];
    std::hint::black_box(&mut a);
    // SAFETY: only zeroes registers the asm declares clobbered.
    unsafe {
        core::arch::asm!(
            "xor eax, eax",
            "xor ecx, ecx",
            "xor edx, edx",
            "xor esi, esi",
            "xor edi, edi",
            "xor r8d, r8d",
            "xor r9d, r9d",
            "xor r10d, r10d",
            "xor r11d, r11d",
            out("rax") _,
            out("rcx") _,
            out("rdx") _,
            out("rsi") _,
            out("rdi") _,
            out("r8") _,
            out("r9") _,
            out("r10") _,
            out("r11") _,
            options(nostack),
        );
    }
}

/// Set in the child process that runs [`borrow_child`].
const CHILD: &str = "GORT_GC_TEST_BORROW_CHILD";

/// Runs [`borrow_child`] in a child process without the harness's output capture: with
/// capture, an unreferenced owner in this test survives its first cycle (something the
/// capture allocates keeps it, not yet understood), so neither outcome could be seen.
#[test]
fn borrow_through_a_dead_gc_keeps_its_owner() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "borrow_child", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "child failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("1 passed"), "child ran no test:\n{stdout}");
}

/// The check itself; runs only in the child process `borrow_through_a_dead_gc_keeps_its_owner`
/// starts.
#[test]
fn borrow_child() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let h = host();
    for inner in [false, true] {
        for keep in [false, true, false, true] {
            let d: &'static AtomicUsize = Box::leak(Box::new(AtomicUsize::new(0)));
            std::thread::scope(|s| {
                let t = s.spawn(|| {
                    let _r = h.register();
                    let p = std::hint::black_box(if inner {
                        make_inner(keep, d)
                    } else {
                        make(keep, d)
                    });
                    scrub();
                    gc();
                    while finalizers_pending() != 0 {
                        std::thread::sleep(std::time::Duration::from_millis(1));
                    }
                    std::hint::black_box(p);
                    d.load(Ordering::SeqCst)
                });
                let dropped = h.blocking(|| t.join().unwrap());
                eprintln!("keep={keep} inner={inner} drops={dropped}");
                if keep {
                    assert_eq!(dropped, 0, "owner dropped while its buffer was borrowed");
                } else {
                    assert_eq!(dropped, 1, "an unreferenced owner was not dropped");
                }
            });
        }
    }
}
