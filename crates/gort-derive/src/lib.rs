//! gort-derive: gort's procedural macros. Today that is `#[gort::main]`, which makes a
//! program's `fn main` the main goroutine as `#[tokio::main]` makes it the main task;
//! `#[derive(Trace)]` for the collector will live here too (DESIGN.md).
//!
//! Use it through the facade as `#[gort::main]`: the expansion names `::gort`, so a crate
//! that depends on gort-derive alone cannot use it.
//!
//! # Go → gort
//!
//! | Go | gort |
//! | --- | --- |
//! | `func main()` (run by `runtime.main` as goroutine 1) | `#[gort::main] fn main()` |
//! | `GOMAXPROCS=N` / `runtime.GOMAXPROCS(N)` first thing in `main` | `#[gort::main(maxprocs = N)]` |
//! | `os.Exit(1)` after printing an error | `fn main() -> Result<(), E>` returning `Err` |
//!
//! # How it works
//!
//! 1. Parse the item with the bare `proc_macro` API (no syn, no quote): outer attributes,
//!    visibility, qualifiers, `fn`, the name, an empty parameter list, an optional return
//!    type, the body. Anything else is a `compile_error!` spanned on the offending token.
//! 2. Emit the same function with its body moved into a nested `fn __gort_main` (so
//!    `return` and `?` keep their meaning) and an outer body that hands it to
//!    `gort::run_main`, which runs it as the main goroutine and reports its value
//!    through `std::process::Termination` *inside* the goroutine. The outer function
//!    returns `std::process::ExitCode`, so the error type of a `Result` need not be
//!    `Send` (`Box<dyn Error>` works) and the program ends when main returns, as in Go.
//!
//! # Not done
//!
//! `#[derive(Trace)]` (waits for gort-gc's `Trace`); a `crate = "path"` argument for a
//! renamed gort dependency; `maxprocs` given by anything but an integer literal.

use proc_macro::TokenStream;

mod main_attr;

/// Runs `fn main` as gort's main goroutine; use it as `#[gort::main]`.
///
/// The function must be a plain `fn` with no parameters and no generics (`async`,
/// `const`, `unsafe` and `extern` are refused). Its return type may be anything that
/// implements `std::process::Termination`, as for Rust's own `main`: `()`,
/// `Result<(), E: Debug>` (an `Err` prints `Error: {e:?}` and exits with status 1),
/// `ExitCode`. The attached function itself returns `std::process::ExitCode`.
///
/// `#[gort::main(maxprocs = N)]` fixes GOMAXPROCS to `N` (1 to 1024), overriding
/// `GORT_MAXPROCS`; without it the environment decides, as for `gort::run`.
///
/// ```text
/// #[gort::main]                          #[...attributes]
/// #[...attributes]                       vis fn main() -> std::process::ExitCode {
/// vis fn main() -> R { body }    =>          fn __gort_main() -> R { body }
///                                            ::gort::run_main(__gort_main)
///                                        }
/// ```
///
/// With `maxprocs = N` the call is `::gort::__private::run_main_maxprocs(N, __gort_main)`.
#[proc_macro_attribute]
pub fn main(attr: TokenStream, item: TokenStream) -> TokenStream {
    main_attr::expand(attr, item)
}
