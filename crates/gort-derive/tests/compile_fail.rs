//! Compile checks of `#[gort::main]` without trybuild: writes a scratch crate that uses
//! the macro (as `gort_derive::main`) rightly and wrongly, builds it with
//! `cargo build --offline`, and asserts each error's message and the line and column it
//! points at. The scratch crate stands in for gort with `extern crate self as gort` and
//! stub `run_main` functions, so it needs no other crate and builds in seconds.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

/// A line of the scratch crate that must fail: the line, the text the error must point
/// at (its last occurrence on the line), and part of the message.
const FAILS: &[(&str, &str, &str)] = &[
    (
        "#[gort_derive::main] async fn main() {}",
        "async",
        "`#[gort::main]` cannot be an `async fn`",
    ),
    (
        "#[gort_derive::main] fn main(args: Vec<String>) {}",
        "(args",
        "`#[gort::main]` takes no arguments",
    ),
    (
        "#[gort_derive::main] fn main<T>() {}",
        "<T>",
        "`#[gort::main]` cannot be generic",
    ),
    (
        "#[gort_derive::main] const fn main() {}",
        "const",
        "cannot be a `const fn`",
    ),
    (
        "#[gort_derive::main] unsafe fn main() {}",
        "unsafe",
        "cannot be an `unsafe fn`",
    ),
    (
        "#[gort_derive::main] extern \"C\" fn main() {}",
        "extern",
        "cannot be an `extern fn`",
    ),
    (
        "#[gort_derive::main] fn main() where u8: Copy {}",
        "where",
        "cannot have a `where` clause",
    ),
    (
        "#[gort_derive::main] struct Main;",
        "struct",
        "`#[gort::main]` goes on a function",
    ),
    (
        "#[gort_derive::main(maxprocs = 0)] fn main() {}",
        "0",
        "`maxprocs` takes a whole number from 1 to 1024",
    ),
    (
        "#[gort_derive::main(maxprocs = 1025)] fn main() {}",
        "1025",
        "`maxprocs` takes a whole number from 1 to 1024",
    ),
    (
        "#[gort_derive::main(maxprocs = \"2\")] fn main() {}",
        "\"2\"",
        "`maxprocs` takes a whole number from 1 to 1024",
    ),
    (
        "#[gort_derive::main(maxprocs = 2, maxprocs = 3)] fn main() {}",
        "maxprocs",
        "`maxprocs` is given twice",
    ),
    (
        "#[gort_derive::main(workers = 2)] fn main() {}",
        "workers",
        "unknown `#[gort::main]` argument `workers`: the only one is `maxprocs = N`",
    ),
    (
        "#[gort_derive::main] fn main() -> u32 { 5 }",
        "u32",
        "Termination",
    ),
    (
        "#[derive(gort_derive::Trace)] union U { a: u32 }",
        "union",
        "`#[derive(Trace)]` cannot be used on a union",
    ),
    (
        "#[derive(gort_derive::Trace)] struct S { #[trace(skip)] a: u32 }",
        "skip",
        "`#[trace(...)]` takes no field options",
    ),
    // Safe code must not hide a field (a `Gc` in it would be freed while reachable).
    (
        "#[derive(gort_derive::Trace)] struct S { #[trace(unsafe_skip)] a: String }",
        "unsafe_skip",
        "put a field whose type has no `Trace` impl in `gort::gc::Untraced`",
    ),
    (
        "#[derive(gort_derive::Trace)] #[trace(krate = \"x\")] struct S;",
        "krate",
        "on a type accepts only `crate = \"path\"`",
    ),
    (
        "#[derive(gort_derive::Trace)] enum E { #[trace(unsafe_skip)] A }",
        "#",
        "goes on the type or on a field, not on a variant",
    ),
];

/// Uses that must expand to code that compiles against the stand-in for gort.
const PASSES: &str = r#"
mod plain { #[gort_derive::main] fn main() { let _ = 1; } }
mod with_attrs {
    /// Doc comments and lints stay on the function.
    #[gort_derive::main]
    #[allow(unused_variables)]
    pub(crate) fn main() { let x = 1; }
    pub(crate) fn called() -> std::process::ExitCode { main() }
}
mod result {
    #[gort_derive::main(maxprocs = 1_024,)]
    fn main() -> Result<(), Box<dyn std::error::Error>> {
        let n: u32 = "7".parse()?;
        if n == 7 { return Ok(()); }
        Err("not seven".into())
    }
}
mod exit_code {
    #[gort_derive::main(maxprocs = 2usize)]
    fn main() -> std::process::ExitCode { std::process::ExitCode::from(3) }
}

mod derives {
    use gort::gc::{Trace, Tracer, Untraced};
    #[derive(gort_derive::Trace)]
    pub struct Node<T> {
        pub v: T,
        pub next: Option<Box<Node<T>>>,
        pub name: Untraced<String>,
    }
    #[derive(gort_derive::Trace)]
    pub struct List { pub next: Option<Box<List>>, pub v: u32 }
    #[derive(gort_derive::Trace)]
    pub enum E<'a, T: Clone> where T: Send { A, B(u32, Box<u32>), C { x: u32 }, D(&'a T) }
    #[derive(gort_derive::Trace)]
    #[trace(crate = "crate::gc")]
    pub struct Tuple(pub u32, pub Ptr);
    #[derive(gort_derive::Trace)]
    pub struct Unit;
    pub struct Ptr;
    // SAFETY: a stand-in for `Gc`: counts one pointer.
    unsafe impl Trace for Ptr {
        fn trace(&self, t: &mut Tracer<'_>) { t.0 += 1; }
    }
    const _: () = assert!(Unit::NO_TRACE && <E<'static, u8>>::NO_TRACE && !Tuple::NO_TRACE);
    const _: () = assert!(!List::NO_TRACE && !<Node<u32>>::NO_TRACE);
    pub fn count() -> usize {
        let mut t = Tracer(0, core::marker::PhantomData);
        Tuple(1, Ptr).trace(&mut t);
        Node { v: Ptr, next: Some(Box::new(Node { v: Ptr, next: None, name: Untraced(String::new()) })), name: Untraced(String::new()) }.trace(&mut t);
        let e: E<'_, u8> = E::C { x: 1 };
        e.trace(&mut t);
        t.0
    }
}

/// A stand-in for gort's `gc` module: the `Trace` trait's shape.
pub mod gc {
    pub struct Tracer<'a>(pub usize, pub core::marker::PhantomData<&'a ()>);
    /// # Safety
    /// As gort's.
    pub unsafe trait Trace {
        const NO_TRACE: bool = false;
        fn trace(&self, t: &mut Tracer<'_>);
    }
    // SAFETY: no pointers.
    unsafe impl Trace for u32 { const NO_TRACE: bool = true; fn trace(&self, _: &mut Tracer<'_>) {} }
    // SAFETY: no pointers.
    unsafe impl Trace for u8 { const NO_TRACE: bool = true; fn trace(&self, _: &mut Tracer<'_>) {} }
    // SAFETY: traces the value.
    unsafe impl<T: Trace> Trace for Option<T> {
        const NO_TRACE: bool = T::NO_TRACE;
        fn trace(&self, t: &mut Tracer<'_>) { if let Some(x) = self { x.trace(t) } }
    }
    // SAFETY: traces the value.
    unsafe impl<T: Trace> Trace for Box<T> {
        const NO_TRACE: bool = T::NO_TRACE;
        fn trace(&self, t: &mut Tracer<'_>) { (**self).trace(t) }
    }
    /// A stand-in for gort's `Untraced`.
    pub struct Untraced<T>(pub T);
    // SAFETY: as gort's.
    unsafe impl<T> Trace for Untraced<T> { const NO_TRACE: bool = true; fn trace(&self, _: &mut Tracer<'_>) {} }
    // SAFETY: a shared reference's target is traced by its owner.
    unsafe impl<T> Trace for &T { const NO_TRACE: bool = true; fn trace(&self, _: &mut Tracer<'_>) {} }
}

extern crate self as gort;
pub fn run_main<F, T>(f: F) -> std::process::ExitCode
where F: FnOnce() -> T + Send, T: std::process::Termination {
    f().report()
}
pub mod __private {
    pub fn run_main_maxprocs<F, T>(n: usize, f: F) -> std::process::ExitCode
    where F: FnOnce() -> T + Send, T: std::process::Termination {
        assert!(n > 0);
        f().report()
    }
}
"#;

#[test]
fn misuses_are_spanned_compile_errors() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("gort-derive-compile-fail");
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let manifest = format!(
        "[package]\nname = \"scratch\"\nversion = \"0.0.0\"\nedition = \"2024\"\n\
         [workspace]\n[dependencies]\ngort-derive = {{ path = {:?} }}\n",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    let mut src = String::from("//! Scratch crate of gort-derive's compile_fail test.\n");
    let first_line = 2;
    for (i, (line, _, _)) in FAILS.iter().enumerate() {
        writeln!(src, "mod fail{i} {{ {line} }}").unwrap();
    }
    src.push_str(PASSES);
    std::fs::write(dir.join("src/lib.rs"), &src).unwrap();

    let out = Command::new(env!("CARGO"))
        .args(["build", "--offline", "--quiet", "--message-format", "short"])
        .arg("--target-dir")
        .arg(dir.join("target"))
        .current_dir(&dir)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the scratch crate built:\n{stderr}");

    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("src/lib.rs:") && l.contains(": error"))
        .collect();
    for (i, (line, at, msg)) in FAILS.iter().enumerate() {
        let text = format!("mod fail{i} {{ {line} }}");
        let col = text.rfind(at).unwrap() + 1;
        let place = format!("src/lib.rs:{}:{col}: error", first_line + i);
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with(&place) && e.contains(msg)),
            "no error `{msg}` at {place} for `{line}`; got:\n{stderr}"
        );
    }
    assert_eq!(
        errors.len(),
        FAILS.len(),
        "one error per misuse and none from the passing uses; got:\n{stderr}"
    );
}
