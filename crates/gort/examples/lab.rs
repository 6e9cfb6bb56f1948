//! lab: watch the scheduler work — a live dashboard with controls.
//!
//! ```text
//! cargo run --release -p gort --example lab        # then open http://127.0.0.1:6060/
//! ```
//!
//! The page shows each P (run queue, current goroutine, owning M), each M's state,
//! goroutines by status and wait reason, recent steals, handoffs and scheduling
//! latency, live. Its buttons start load in this program: CPU-bound goroutines (watch
//! idle Ps steal them), channel ping-pong pairs, sleepers, goroutines blocked in system
//! calls (watch sysmon hand their Ps to other Ms), GOMAXPROCS changes, garbage for the
//! collector (watch the heap, its goal and the stop-the-world pauses) and a forced GC.
//!
//! Flags: `-addr HOST:PORT` (default `127.0.0.1:6060`, or `GORT_DEBUG=dashboard=...`),
//! `-exit-after SECONDS` (default: run until killed; for tests).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "example code")]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gort::chan::Chan;
use gort::dashboard::Controls;
use gort::gc::{Gc, Trace};

/// gort's allocator, which the collector needs.
#[global_allocator]
static ALLOC: gort::GortAlloc = gort::GortAlloc;

/// A garbage-collected list node with some payload (about 0.5 KiB).
#[derive(Trace)]
struct Junk {
    payload: [u64; 60],
    next: Option<Gc<Junk>>,
}

/// A command from the page to the lab's dispatcher goroutine.
#[derive(Clone, Copy, Debug)]
enum Command {
    Cpu(u64),
    Chan(u64),
    Sleep(u64),
    Syscall(u64),
    Maxprocs(u64),
    Garbage(u64),
    Gc,
}

/// About `ms` milliseconds of arithmetic with preemption points.
fn burn(ms: u64) -> u64 {
    let end = Instant::now() + Duration::from_millis(ms);
    let mut x = 1u64;
    while Instant::now() < end {
        for i in 0..10_000u64 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(i);
        }
        gort::preempt_check!();
    }
    x
}

/// Carries out one command (on a goroutine: it spawns).
fn run(cmd: Command) {
    match cmd {
        Command::Cpu(n) => {
            // All spawned here, on this P: idle Ps steal them.
            for _ in 0..n {
                gort::go(|| {
                    std::hint::black_box(burn(3000));
                });
            }
        }
        Command::Chan(n) => {
            for _ in 0..n {
                let (ping, pong) = (Chan::<u64>::new(0), Chan::<u64>::new(0));
                let (rx, tx) = (ping.clone(), pong.clone());
                gort::go(move || {
                    while let Some(v) = rx.recv() {
                        tx.send(v + 1);
                    }
                });
                gort::go(move || {
                    let end = Instant::now() + Duration::from_secs(5);
                    let mut v = 0;
                    while Instant::now() < end {
                        ping.send(v);
                        v = pong.recv().unwrap_or(0);
                    }
                    ping.close();
                });
            }
        }
        Command::Sleep(n) => {
            for i in 0..n {
                gort::go(move || gort::time::sleep(Duration::from_millis(5000 + i % 1000)));
            }
        }
        Command::Syscall(n) => {
            for _ in 0..n {
                gort::go(|| {
                    gort::syscall(|| std::thread::sleep(Duration::from_secs(4)));
                });
            }
        }
        Command::Maxprocs(n) => {
            gort::set_maxprocs(n.clamp(1, 64) as usize).unwrap();
        }
        Command::Garbage(n) => {
            // n MiB in lists of 64 nodes, dropped at once: garbage for the collector.
            gort::go(move || {
                for _ in 0..n * 32 {
                    let mut head: Option<Gc<Junk>> = None;
                    for i in 0..64u64 {
                        head = Some(Gc::new(Junk {
                            payload: [i; 60],
                            next: head,
                        }));
                    }
                    std::hint::black_box(head);
                    gort::preempt_check!();
                }
            });
        }
        Command::Gc => gort::go(gort::gc::gc),
    }
}

fn main() {
    let usage = |what: String| -> ! {
        eprintln!("lab: {what}; accepted: -addr IP:PORT, -exit-after SECONDS");
        std::process::exit(2)
    };
    let (mut addr, mut exit_after): (Option<SocketAddr>, Option<u64>) = (None, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next();
        match (arg.as_str(), value) {
            ("-addr", Some(v)) => {
                addr = Some(v.parse().unwrap_or_else(|_| {
                    usage(format!(
                        "-addr {v:?} is not an address (e.g. 127.0.0.1:6060)"
                    ))
                }));
            }
            ("-exit-after", Some(v)) => {
                exit_after = Some(v.parse().unwrap_or_else(|_| {
                    usage(format!("-exit-after {v:?} is not a number of seconds"))
                }));
            }
            (flag @ ("-addr" | "-exit-after"), None) => usage(format!("{flag} needs a value")),
            (other, _) => usage(format!("unexpected argument {other:?}")),
        }
    }
    let addr: SocketAddr = match addr {
        Some(a) => a,
        None => match gort::dashboard::addr_from_env() {
            Ok(Some(a)) => a,
            Ok(None) => "127.0.0.1:6060".parse().unwrap(),
            Err(e) => {
                eprintln!("lab: {e}");
                std::process::exit(2);
            }
        },
    };
    gort::run(move || {
        let commands = Chan::<Command>::new(64);
        let tx = commands.clone();
        let handler = move |name: &str, n: Option<u64>| -> Result<String, String> {
            let n = n.unwrap_or(8).clamp(1, 100_000);
            let cmd = match name {
                "cpu" => Command::Cpu(n),
                "chan" => Command::Chan(n),
                "sleep" => Command::Sleep(n),
                "syscall" => Command::Syscall(n),
                "gomaxprocs" => Command::Maxprocs(n),
                "garbage" => Command::Garbage(n),
                "gc" => Command::Gc,
                other => return Err(format!("unknown control {other}")),
            };
            tx.try_send(cmd)
                .map(|()| format!("{name} {n}"))
                .map_err(|_| "busy".to_string())
        };
        let buttons = [
            ("cpu", "spawn n CPU-bound (3 s)"),
            ("chan", "spawn n channel ping-pong pairs (5 s)"),
            ("sleep", "spawn n sleepers (5 s)"),
            ("syscall", "block n in syscalls (4 s)"),
            ("gomaxprocs", "set GOMAXPROCS = n"),
            ("garbage", "allocate n MiB of garbage"),
            ("gc", "force a GC"),
        ];
        let controls = Controls {
            buttons: buttons
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            handler: Arc::new(handler),
        };
        let dash = gort::dashboard::serve(addr, Some(controls)).unwrap_or_else(|e| {
            eprintln!("lab: cannot listen on {addr}: {e}");
            std::process::exit(2);
        });
        println!("lab: dashboard on http://{}/", dash.local_addr());
        let deadline = exit_after.map(|s| Instant::now() + Duration::from_secs(s));
        // A trickle of background work so the page is never still.
        gort::go(|| {
            loop {
                gort::time::sleep(Duration::from_millis(200));
                gort::go(|| {
                    std::hint::black_box(burn(20));
                });
            }
        });
        loop {
            let timeout = gort::time::after(Duration::from_millis(500));
            gort::select! {
                recv(commands) -> cmd => {
                    if let Some(cmd) = cmd {
                        run(cmd);
                    }
                },
                recv(timeout) -> _ => {},
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
        }
        drop(dash);
    });
}
