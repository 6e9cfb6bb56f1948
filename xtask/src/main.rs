//! `cargo xtask`: the project's automation, written in Rust so it runs wherever cargo does
//! (matklad's cargo-xtask pattern, as rust-analyzer uses it).
//!
//! Commands:
//! - `ci`: format check, clippy with warnings denied on every target, all tests (which
//!   include the tidy test), docs with warnings denied, the bounded loom models, and the
//!   end-to-end browser tests (tests/browser/*.py, headless Chromium).
//! - `test`: the workspace's tests (unit, integration, doc).
//! - `loom [crate] [filter]`: the loom models of one crate, or of every crate that has any.
//! - `tidy`: only the tidy checks.
//! - `browser`: only the end-to-end browser tests.
//! - `bench <area> [args]`: side-by-side benchmarks against Go and Rust peers (ratios).
//! - `lab [args]`: the lab — a goroutine program serving the live dashboard with controls
//!   (http://127.0.0.1:6060/ by default).
//! - `demo [args]`: the demo goroutine program (a pipeline and worker pool, no dashboard).

mod tidy;

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("test") => test(&args[1..]),
        Some("loom") => loom(
            args.get(1).map(String::as_str),
            args.get(2).map(String::as_str),
        ),
        Some("tidy") => tidy::check_all(&project_root()).map_err(|e| e.to_string()),
        Some("browser") => browser(),
        Some("bench") => bench(&args[1..]),
        Some("demo") => example("demo", &args[1..]),
        Some("lab") => example("lab", &args[1..]),
        _ => Err(USAGE.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("xtask: {msg}");
            ExitCode::FAILURE
        }
    }
}

const USAGE: &str = "usage: cargo xtask <ci | test [args] | loom [crate] [filter] | tidy | browser | bench <area> [args] | lab [args] | demo [args]>";

/// Runs one of the facade's examples in release mode with `args`.
fn example(name: &str, args: &[String]) -> Result<(), String> {
    run(
        name,
        cargo()
            .args([
                "run",
                "--release",
                "--quiet",
                "-p",
                "gort",
                "--example",
                name,
                "--",
            ])
            .args(args),
    )
}

/// The workspace root: the parent of this crate's manifest directory.
pub(crate) fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn cargo() -> Command {
    let mut cmd = Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".to_string()));
    cmd.current_dir(project_root());
    cmd
}

fn run(step: &str, cmd: &mut Command) -> Result<(), String> {
    eprintln!("\n==> {step}: {cmd:?}");
    let started = std::time::Instant::now();
    let status = cmd
        .status()
        .map_err(|e| format!("{step}: cannot start: {e}"))?;
    eprintln!("<== {step}: {status} in {:.1?}", started.elapsed());
    if status.success() {
        Ok(())
    } else {
        Err(format!("{step} failed ({status})"))
    }
}

fn ci() -> Result<(), String> {
    run("fmt", cargo().args(["fmt", "--all", "--check"]))?;
    run(
        "clippy",
        cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    test(&[])?;
    run(
        "doc",
        cargo()
            .args(["doc", "--workspace", "--no-deps", "--locked"])
            .env("RUSTDOCFLAGS", "-D warnings"),
    )?;
    loom(None, None)?;
    browser()
}

/// The end-to-end tests that drive a real headless browser against the runtime's own
/// dashboard: every `tests/browser/*.py`, each run with python3 and failing on a
/// non-zero exit. They need `chromium` on PATH (`.ci/run` installs it); a missing
/// browser fails the step rather than skipping it, so a green run means they ran.
fn browser() -> Result<(), String> {
    let dir = project_root().join("tests").join("browser");
    let mut scripts: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| format!("browser: cannot list {}: {e}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "py"))
        .collect();
    scripts.sort();
    for script in scripts {
        let name = script
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        run(
            &format!("browser {name}"),
            Command::new("python3")
                .arg(&script)
                .current_dir(project_root()),
        )?;
    }
    Ok(())
}

fn test(extra: &[String]) -> Result<(), String> {
    run(
        "test",
        cargo()
            .args(["test", "--workspace", "--locked"])
            .args(extra),
    )
}

/// Crates under `crates/` whose sources hold loom models (`src/tests/loom_*.rs`).
fn loom_crates() -> Vec<String> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(project_root().join("crates")) else {
        return out;
    };
    for entry in entries.flatten() {
        let tests = entry.path().join("src").join("tests");
        let has_models = std::fs::read_dir(&tests).is_ok_and(|dir| {
            dir.flatten()
                .any(|f| f.file_name().to_string_lossy().starts_with("loom_"))
        });
        if has_models {
            out.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    out.sort();
    out
}

fn loom(krate: Option<&str>, filter: Option<&str>) -> Result<(), String> {
    let crates = match krate {
        Some(k) => vec![k.to_string()],
        None => loom_crates(),
    };
    for k in crates {
        let mut cmd = cargo();
        cmd.args(["test", "--release", "--locked", "--lib", "-p", &k])
            .arg(filter.unwrap_or("loom_"))
            .env("RUSTFLAGS", "--cfg loom")
            .env(
                "LOOM_MAX_PREEMPTIONS",
                env::var("LOOM_MAX_PREEMPTIONS").unwrap_or("2".into()),
            )
            // A separate target directory: `--cfg loom` rebuilds every crate, and sharing
            // the normal one would throw that cache away on every switch.
            .env(
                "CARGO_TARGET_DIR",
                project_root().join("target").join("loom"),
            );
        run(&format!("loom {k}"), &mut cmd)?;
    }
    Ok(())
}

/// `cargo xtask bench <area> [args]`: the side-by-side driver (benches/compare.py), which
/// runs gort and its peers alternately and prints ratios.
fn bench(args: &[String]) -> Result<(), String> {
    let script = project_root().join("benches").join("compare.py");
    run(
        "bench",
        Command::new("python3")
            .arg(script)
            .args(args)
            .current_dir(project_root()),
    )
}
