//! Tidy checks that keep the house in order, run as a `#[test]` so `cargo test` enforces
//! them (rust-analyzer's tidy test). `cargo xtask tidy` runs them on their own.
//!
//! Rules (CONVENTIONS 7, 9, 14, 18, 22):
//! 1. Every `.rs` file opens with a `//!` module doc.
//! 2. No trailing whitespace, no tab indentation.
//! 3. Every `unsafe {` block and `unsafe impl` has a `// SAFETY:` comment just above it
//!    (within the statement's preceding lines) or on its line.
//! 4. No `std::sync` / `core::sync` import in a crate's `src/` outside its `sync/` module
//!    (a line may opt out with `tidy: allow(std-sync)` and a reason).
//! 5. No `#[ignore]` or `#[should_panic]` without an issue link on the same or previous line.
//! 6. No `dbg!(` or `todo!(` in a crate's `src/`.
//! 7. Every crate under `crates/` has `docs/design/<crate>.md` and a section in
//!    `docs/glossary.md`.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

/// All the violations found in one run.
#[derive(Debug, Default)]
pub(crate) struct Violations(Vec<String>);

impl fmt::Display for Violations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} tidy violation(s):", self.0.len())?;
        for v in &self.0 {
            writeln!(f, "  {v}")?;
        }
        Ok(())
    }
}

/// Runs every check under `root`.
pub(crate) fn check_all(root: &Path) -> Result<(), Violations> {
    let mut v = Violations::default();
    let mut files = Vec::new();
    for dir in ["crates", "xtask", "tests", "benches", "examples"] {
        collect_rs(&root.join(dir), &mut files);
    }
    for file in &files {
        let Ok(text) = fs::read_to_string(file) else {
            continue;
        };
        let rel = file
            .strip_prefix(root)
            .unwrap_or(file)
            .to_string_lossy()
            .replace('\\', "/");
        check_file(&rel, &text, &mut v);
    }
    check_crate_docs(root, &mut v);
    if v.0.is_empty() { Ok(()) } else { Err(v) }
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if name == "target" || name.starts_with('.') || name == "proptest-regressions" {
                continue;
            }
            collect_rs(&path, out);
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

fn check_file(rel: &str, text: &str, v: &mut Violations) {
    let lines: Vec<&str> = text.lines().collect();
    let first = lines
        .iter()
        .find(|l| !l.trim().is_empty())
        .copied()
        .unwrap_or("");
    if !first.starts_with("//!") {
        v.0.push(format!("{rel}: must open with a `//!` module doc"));
    }
    let in_crate_src = rel.starts_with("crates/") && rel.contains("/src/");
    let in_sync = rel.contains("/src/sync/");
    for (i, line) in lines.iter().enumerate() {
        let n = i + 1;
        if line.ends_with(' ') || line.ends_with('\t') {
            v.0.push(format!("{rel}:{n}: trailing whitespace"));
        }
        if line.starts_with('\t') {
            v.0.push(format!("{rel}:{n}: tab indentation"));
        }
        let code = strip_line_comment(line);
        if needs_safety(code) && !has_safety_above(&lines, i) {
            v.0.push(format!(
                "{rel}:{n}: `unsafe` without a `// SAFETY:` comment"
            ));
        }
        if in_crate_src && !in_sync && !line.contains("tidy: allow(std-sync)") {
            let t = code.trim_start();
            if (t.starts_with("use ")
                || t.starts_with("pub use ")
                || t.starts_with("pub(crate) use "))
                && (code.contains("std::sync") || code.contains("core::sync"))
            {
                v.0.push(format!(
                    "{rel}:{n}: import synchronisation from the crate's `sync` module, not std/core"
                ));
            }
        }
        for attr in ["#[ignore", "#[should_panic"] {
            if code.trim_start().starts_with(attr) {
                let prev = if i > 0 { lines[i - 1] } else { "" };
                if !line.contains("issue") && !prev.contains("issue") {
                    v.0.push(format!("{rel}:{n}: `{attr}]` needs an issue link"));
                }
            }
        }
        if in_crate_src {
            for mac in ["dbg!(", "todo!("] {
                if code.contains(mac) {
                    v.0.push(format!("{rel}:{n}: `{mac}` in library code"));
                }
            }
        }
    }
}

/// The part of a line before a `//` comment (good enough: string literals holding `//`
/// are rare in this code base and only make the check more lenient).
fn strip_line_comment(line: &str) -> &str {
    match line.find("//") {
        Some(at) => &line[..at],
        None => line,
    }
}

fn needs_safety(code: &str) -> bool {
    let mut rest = code;
    while let Some(at) = rest.find("unsafe") {
        let before_ok = at == 0 || !is_ident(rest.as_bytes()[at - 1]);
        let after = rest[at + "unsafe".len()..].trim_start();
        if before_ok && (after.starts_with('{') || after.starts_with("impl")) {
            return true;
        }
        rest = &rest[at + "unsafe".len()..];
    }
    false
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// A `SAFETY:` comment on the line itself or in the lines just above it, looking back over
/// comments, attributes and the start of the enclosing statement (at most 15 lines and not
/// past a line that ends a previous statement or block).
fn has_safety_above(lines: &[&str], i: usize) -> bool {
    if lines[i].contains("SAFETY:") {
        return true;
    }
    let mut j = i;
    let mut budget = 15;
    while j > 0 && budget > 0 {
        j -= 1;
        budget -= 1;
        let l = lines[j].trim();
        if l.contains("SAFETY:") {
            return true;
        }
        let is_comment = l.starts_with("//") || l.starts_with("#[") || l.starts_with("#![");
        if !is_comment && (l.ends_with(';') || l.ends_with('}') || l.is_empty()) {
            return false;
        }
    }
    false
}

fn check_crate_docs(root: &Path, v: &mut Violations) {
    let glossary = fs::read_to_string(root.join("docs/glossary.md")).unwrap_or_default();
    let Ok(entries) = fs::read_dir(root.join("crates")) else {
        return;
    };
    for entry in entries.flatten() {
        if !entry.path().join("Cargo.toml").exists() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with("-bench") {
            continue;
        }
        if !root.join("docs/design").join(format!("{name}.md")).exists() {
            v.0.push(format!("crates/{name}: missing docs/design/{name}.md"));
        }
        if !glossary.contains(&format!("## {name}")) {
            v.0.push(format!(
                "crates/{name}: missing a `## {name}` section in docs/glossary.md"
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tidy() {
        if let Err(v) = check_all(&crate::project_root()) {
            panic!("{v}");
        }
    }

    #[test]
    fn unsafe_detection() {
        // The keyword is spliced in so that this file's own lines do not trip the check.
        let kw = "unsafe";
        let block = format!("let x = {kw} {{ *p }};");
        assert!(needs_safety(&format!("    {block}")));
        assert!(needs_safety(&format!("{kw} impl Send for X {{}}")));
        assert!(!needs_safety(&format!("pub {kw} fn f() {{")));
        assert!(!needs_safety("let not_unsafe = 1;"));
        let lines = ["// SAFETY: p is valid.", block.as_str()];
        assert!(has_safety_above(&lines, 1));
        let lines = ["foo();", block.as_str()];
        assert!(!has_safety_above(&lines, 1));
    }

    #[test]
    fn flags_missing_module_doc_and_sync_import() {
        let mut v = Violations::default();
        check_file("crates/x/src/a.rs", "use std::sync::Mutex;\n", &mut v);
        assert_eq!(v.0.len(), 2, "{v}");
    }
}
