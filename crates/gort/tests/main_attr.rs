//! `#[gort::main]` end to end. This test binary (harness = false) has a gort main of its
//! own: it runs a goroutine pipeline over channels, then re-runs itself as a child to
//! check that an `Err` from main prints `Error: ...` and exits with status 1, and that
//! main returning ends the program while goroutines are still blocked or running (Go's
//! rule), with `maxprocs = 2` overriding `GORT_MAXPROCS`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gort::chan::Chan;

/// Names the scenario a child process runs.
const CHILD: &str = "GORT_MAIN_ATTR_CHILD";

/// The error type is deliberately not `Send`: the value is reported inside the goroutine.
#[gort::main(maxprocs = 2)]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    assert_eq!(
        gort::gomaxprocs(),
        2,
        "maxprocs = 2 overrides GORT_MAXPROCS"
    );
    match std::env::var(CHILD).as_deref() {
        Ok("err") => {
            let c = Chan::new(0);
            let c2 = c.clone();
            gort::go!(c2.send(7));
            let got = c.recv().ok_or("closed")?;
            return Err(format!("child failed with {got}").into());
        }
        Ok("abandon") => {
            let never = Chan::<u32>::new(0);
            for _ in 0..4 {
                let never = never.clone();
                gort::go!(let _ = never.recv());
            }
            gort::go(|| {
                loop {
                    gort::yield_now();
                }
            });
            gort::yield_now();
            println!("main returns with {} goroutines", gort::num_goroutine());
            return Ok(());
        }
        Ok(other) => panic!("unknown scenario {other}"),
        Err(_) => {}
    }

    assert_eq!(gort::goid(), Some(1), "main runs as goroutine 1");
    pipeline();
    child_err();
    child_abandon();
    assert_eq!(
        gort_sched::MAX_PROCS,
        1024,
        "gort-derive's MAX_PROCS mirror"
    );
    println!("main_attr: ok");
    Ok(())
}

/// Numbers → 4 squaring workers → the main goroutine, closing each stage when done.
fn pipeline() {
    let nums = Chan::<u64>::new(0);
    let squares = Chan::<u64>::new(4);
    let done = Chan::<()>::new(0);
    let n2 = nums.clone();
    gort::go(move || {
        for i in 1..=1000 {
            n2.send(i);
        }
        n2.close();
    });
    for _ in 0..4 {
        let (nums, squares, done) = (nums.clone(), squares.clone(), done.clone());
        gort::go(move || {
            while let Some(x) = nums.recv() {
                squares.send(x * x);
            }
            done.send(());
        });
    }
    let s2 = squares.clone();
    gort::go(move || {
        for _ in 0..4 {
            done.recv().unwrap();
        }
        s2.close();
    });
    let mut sum = 0;
    while let Some(sq) = squares.recv() {
        sum += sq;
    }
    assert_eq!(sum, 1000 * 1001 * 2001 / 6);
}

/// Runs this binary with scenario `name` (and `GORT_MAXPROCS=1`, which the attribute
/// overrides); returns (exit code, stdout, stderr). Fails if it runs over 20 s.
fn child(name: &str) -> (Option<i32>, String, String) {
    let mut proc = Command::new(std::env::current_exe().unwrap())
        .env(CHILD, name)
        .env("GORT_MAXPROCS", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while proc.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            proc.kill().unwrap();
            panic!("child {name} did not end: main returning must end the program");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = proc.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn child_err() {
    let (code, _, stderr) = child("err");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("Error: \"child failed with 7\""),
        "{stderr}"
    );
}

fn child_abandon() {
    let (code, stdout, stderr) = child("abandon");
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.contains("main returns with 6 goroutines"),
        "{stdout}"
    );
}
