//! Bench-only package: side-by-side comparisons of gort-stack with corosensei and
//! generator live in `benches/compare.rs`.
