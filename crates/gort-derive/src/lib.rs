//! gort-derive: gort's procedural macros: `#[gort::main]`, which makes a program's
//! `fn main` the main goroutine as `#[tokio::main]` makes it the main task, and
//! `#[derive(Trace)]`, which implements the collector's `Trace` for a struct or enum.
//!
//! Use them through the facade as `#[gort::main]` and `#[derive(gort::gc::Trace)]`: the
//! expansions name `::gort` (the derive takes `#[trace(crate = "...")]` to name another
//! path, e.g. `::gort_gc` for a crate that uses the collector alone).
//!
//! # Go → gort
//!
//! | Go | gort |
//! | --- | --- |
//! | `func main()` (run by `runtime.main` as goroutine 1) | `#[gort::main] fn main()` |
//! | `GOMAXPROCS=N` / `runtime.GOMAXPROCS(N)` first thing in `main` | `#[gort::main(maxprocs = N)]` |
//! | `os.Exit(1)` after printing an error | `fn main() -> Result<(), E>` returning `Err` |
//! | the compiler's pointer maps of a type (`_type.gcdata`, `ptrdata`) | `#[derive(Trace)]` (`trace` visits the fields; `NO_TRACE` is `ptrdata == 0`) |
//!
//! # How it works
//!
//! 1. `#[gort::main]` parses the item with the bare `proc_macro` API (no syn, no quote): outer attributes,
//!    visibility, qualifiers, `fn`, the name, an empty parameter list, an optional return
//!    type, the body. Anything else is a `compile_error!` spanned on the offending token.
//! 2. Emit the same function with its body moved into a nested `fn __gort_main` (so
//!    `return` and `?` keep their meaning) and an outer body that hands it to
//!    `gort::run_main`, which runs it as the main goroutine and reports its value
//!    through `std::process::Termination` *inside* the goroutine. The outer function
//!    returns `std::process::ExitCode`, so the error type of a `Result` need not be
//!    `Send` (`Box<dyn Error>` works) and the program ends when main returns, as in Go.
//! 3. `#[derive(Trace)]` parses the type with syn (`derive` parser only) and emits an
//!    `unsafe impl Trace` whose `trace` destructures `self` (every variant of an enum)
//!    and calls `Trace::trace` on each field, and whose `NO_TRACE` is the conjunction of
//!    the fields' (Go's compiler computes `ptrdata` the same way, from the field types).
//!    Type parameters get a `Trace` bound; field types are not put in the where clause,
//!    so recursive types (`Option<Gc<Self>>`) need no coinduction. A field whose type
//!    names the type itself (`Option<Box<Self>>`) counts as traced in `NO_TRACE`, which
//!    would otherwise be a cycle in constant evaluation.
//!
//! # Not done
//!
//! A `crate = "path"` argument for `#[gort::main]` with a renamed gort dependency;
//! `maxprocs` given by anything but an integer literal; `#[derive(Trace)]` on unions.

use proc_macro::TokenStream;

mod main_attr;
mod trace;

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

/// Implements the collector's `Trace` for a struct or enum by tracing every field (use it
/// as `#[derive(gort::gc::Trace)]`, or `gort::Trace`).
///
/// Type parameters get a `Trace` bound. The impl's `NO_TRACE` is true when every field's
/// type is `NO_TRACE`, so a pointer-free type allocates in a noscan span.
///
/// Options:
/// - `#[trace(crate = "path")]` on the type: where `Trace` and `Tracer` live (default
///   `::gort::gc`; a crate using gort-gc directly writes `crate = "::gort_gc"`).
/// - No field options: every field is traced (a skipped field could hide a `Gc` from
///   the collector, and safe code must not be able to do that). A field whose type has
///   no `Trace` impl goes in `gort::gc::Untraced<T>`, made by `unsafe fn
///   Untraced::new`: the caller promises it never holds a `Gc`.
///
/// Unions are refused: the collector could not know which field is live.
///
/// ```text
/// #[derive(Trace)]                          unsafe impl<T: Trace> Trace for Node<T> {
/// struct Node<T> {                              const NO_TRACE: bool =
///     value: T,                        =>           <T as Trace>::NO_TRACE && <Option<Gc<Node<T>>> as Trace>::NO_TRACE;
///     next: Option<Gc<Node<T>>>,                fn trace(&self, tracer: &mut Tracer) {
/// }                                                 let Self { value, next } = self;
///                                                   value.trace(tracer); next.trace(tracer);
///                                               }
///                                           }
/// ```
#[proc_macro_derive(Trace, attributes(trace))]
pub fn derive_trace(item: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(item as syn::DeriveInput);
    match trace::expand(input) {
        Ok(ts) => ts.into(),
        Err(e) => e.to_compile_error().into(),
    }
}
