//! Asynchronous preemption through the facade: `gort::run` honours
//! `GORT_DEBUG=asyncpreemptoff=1`, rejects a bad value, and at `GORT_MAXPROCS=1` a
//! goroutine spinning without calls does not keep `main` from finishing. Each case runs
//! in a child process (this test binary re-run with `GORT_TEST_CHILD` set); starvation
//! shows as a timeout in the parent.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Runs scenario `name` with `env`; `None` if still running after `timeout` (killed),
/// else the exit code and stderr.
fn child(name: &str, env: &[(&str, &str)], timeout: Duration) -> Option<(Option<i32>, String)> {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new(exe);
    cmd.args(["child_entry", "--exact", "--nocapture", "--test-threads=1"])
        .env("GORT_TEST_CHILD", name)
        .env("GORT_MAXPROCS", "1")
        .env_remove("GORT_DEBUG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut c = cmd.spawn().unwrap();
    let start = Instant::now();
    loop {
        if c.try_wait().unwrap().is_some() {
            let out = c.wait_with_output().unwrap();
            return Some((
                out.status.code(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            ));
        }
        if start.elapsed() > timeout {
            let _ = c.kill();
            let _ = c.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The child side: does nothing unless `GORT_TEST_CHILD` names a scenario.
#[test]
fn child_entry() {
    let Ok(which) = std::env::var("GORT_TEST_CHILD") else {
        return;
    };
    match which.as_str() {
        "spin" => gort::run(|| {
            assert_eq!(gort::gomaxprocs(), 1);
            let stop = Arc::new(AtomicBool::new(false));
            let n = Arc::new(AtomicU64::new(0));
            let (s2, n2) = (Arc::clone(&stop), Arc::clone(&n));
            gort::go(move || {
                while !s2.load(Ordering::Relaxed) {
                    n2.fetch_add(1, Ordering::Relaxed);
                }
            });
            gort::yield_now();
            for _ in 0..10 {
                gort::time::sleep(Duration::from_millis(1));
            }
            stop.store(true, Ordering::Relaxed);
            assert!(n.load(Ordering::Relaxed) > 0);
        }),
        other => panic!("unknown scenario {other}"),
    }
}

#[test]
fn spinning_goroutine_is_preempted() {
    let r = child("spin", &[], Duration::from_secs(30));
    assert!(matches!(r, Some((Some(0), _))), "{r:?}");
}

#[test]
fn asyncpreemptoff_starves_main() {
    // 3 s is far beyond the ~0.1 s the scenario takes with preemption on.
    let r = child(
        "spin",
        &[("GORT_DEBUG", "asyncpreemptoff=1")],
        Duration::from_secs(3),
    );
    assert!(r.is_none(), "expected starvation, got {r:?}");
}

#[test]
fn bad_asyncpreemptoff_value_is_a_clear_error() {
    let r = child(
        "spin",
        &[("GORT_DEBUG", "asyncpreemptoff=maybe")],
        Duration::from_secs(30),
    );
    let (code, err) = r.expect("child hung");
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("GORT_DEBUG") && err.contains("asyncpreemptoff=<0|1>"),
        "{err}"
    );
}
