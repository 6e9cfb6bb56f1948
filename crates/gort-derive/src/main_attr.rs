//! `#[gort::main]`: parses a `fn main` with the bare `proc_macro` API and rewrites it.

use proc_macro::{Delimiter, Group, Ident, Literal, Punct, Spacing, Span, TokenStream, TokenTree};

/// The largest `maxprocs` accepted. Mirrors `gort_sched::MAX_PROCS` (Go's
/// `_MaxGomaxprocs`); gort's `main_attr` test fails if the two part ways.
const MAX_PROCS: u64 = 1024;

/// The name of the nested function that receives the user's body.
const INNER: &str = "__gort_main";

/// A compile error to emit as `::core::compile_error!`, pointing at `span`.
struct Error {
    span: Span,
    msg: String,
}

impl Error {
    fn new(span: Span, msg: impl Into<String>) -> Error {
        Error {
            span,
            msg: msg.into(),
        }
    }

    /// `::core::compile_error!("msg");` with every token spanned on the offending token, so
    /// rustc underlines that token.
    fn to_tokens(&self) -> TokenStream {
        let mut out = path(&["core", "compile_error"], self.span);
        let mut lit = Literal::string(&self.msg);
        lit.set_span(self.span);
        let mut args = Group::new(Delimiter::Parenthesis, TokenTree::Literal(lit).into());
        args.set_span(self.span);
        out.extend([
            punct('!', Spacing::Alone, self.span),
            TokenTree::Group(args),
            punct(';', Spacing::Alone, self.span),
        ]);
        out
    }
}

/// The parts of the annotated function that the expansion keeps.
struct MainFn {
    /// Outer attributes (doc comments included), verbatim.
    attrs: Vec<TokenTree>,
    /// `pub`, `pub(crate)`, ... or nothing.
    vis: Vec<TokenTree>,
    name: Ident,
    /// `-> Type` including the arrow, or nothing.
    ret: Vec<TokenTree>,
    /// The `{ ... }` body.
    body: Group,
}

/// The attribute's arguments.
#[derive(Default)]
struct Args {
    /// `maxprocs = N`, already checked to be in `1..=MAX_PROCS`.
    maxprocs: Option<u64>,
}

/// Entry point of `#[gort::main]`.
pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    let args = parse_args(attr);
    let main = parse_fn(item.clone());
    match (args, main) {
        (Ok(args), Ok(main)) => rewrite(main, &args),
        (args, main) => {
            let mut out = TokenStream::new();
            for e in [args.err(), main.err()].into_iter().flatten() {
                out.extend(e.to_tokens());
            }
            out.extend(stub(item));
            out
        }
    }
}

/// Parses `maxprocs = N` (the only argument), with an optional trailing comma.
fn parse_args(attr: TokenStream) -> Result<Args, Error> {
    let mut args = Args::default();
    let mut tokens = attr.into_iter().peekable();
    while let Some(key) = tokens.next() {
        let TokenTree::Ident(key) = key else {
            return Err(Error::new(key.span(), "expected `maxprocs = N`"));
        };
        if key.to_string() != "maxprocs" {
            return Err(Error::new(
                key.span(),
                format!("unknown `#[gort::main]` argument `{key}`: the only one is `maxprocs = N`"),
            ));
        }
        if args.maxprocs.is_some() {
            return Err(Error::new(key.span(), "`maxprocs` is given twice"));
        }
        let eq = match tokens.next() {
            Some(TokenTree::Punct(p)) if p.as_char() == '=' => p,
            Some(t) => return Err(Error::new(t.span(), "expected `=` after `maxprocs`")),
            None => return Err(Error::new(key.span(), "expected `= N` after `maxprocs`")),
        };
        let expected = format!("`maxprocs` takes a whole number from 1 to {MAX_PROCS}");
        args.maxprocs = match tokens.next() {
            Some(TokenTree::Literal(lit)) => match parse_int(&lit.to_string()) {
                Some(n) if (1..=MAX_PROCS).contains(&n) => Some(n),
                _ => return Err(Error::new(lit.span(), expected)),
            },
            Some(t) => return Err(Error::new(t.span(), expected)),
            None => return Err(Error::new(eq.span(), expected)),
        };
        match tokens.next() {
            None => break,
            Some(TokenTree::Punct(p)) if p.as_char() == ',' => {}
            Some(t) => return Err(Error::new(t.span(), "expected `,` between arguments")),
        }
    }
    Ok(args)
}

/// The value of a decimal integer literal (`4`, `1_024`, `8usize`); `None` for anything
/// else (hex, floats, strings, out of `u64`).
fn parse_int(text: &str) -> Option<u64> {
    let end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '_'))
        .unwrap_or(text.len());
    let (digits, suffix) = text.split_at(end);
    let suffixes = [
        "", "usize", "u8", "u16", "u32", "u64", "u128", "isize", "i8", "i16", "i32", "i64", "i128",
    ];
    if !suffixes.contains(&suffix) || !digits.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    digits.replace('_', "").parse().ok()
}

/// Parses `#[attrs] vis fn name() -> Ret { body }`, refusing everything else.
fn parse_fn(item: TokenStream) -> Result<MainFn, Error> {
    let tokens: Vec<TokenTree> = item.into_iter().collect();
    let mut i = 0;

    let mut attrs = Vec::new();
    while let (Some(TokenTree::Punct(hash)), Some(TokenTree::Group(g))) =
        (tokens.get(i), tokens.get(i + 1))
    {
        if hash.as_char() != '#' || g.delimiter() != Delimiter::Bracket {
            break;
        }
        attrs.extend_from_slice(&tokens[i..i + 2]);
        i += 2;
    }

    let mut vis = Vec::new();
    if is_ident(tokens.get(i), "pub") {
        vis.push(tokens[i].clone());
        i += 1;
        if let Some(TokenTree::Group(g)) = tokens.get(i)
            && g.delimiter() == Delimiter::Parenthesis
        {
            vis.push(tokens[i].clone());
            i += 1;
        }
    }

    let not_a_fn = "`#[gort::main]` goes on a function: `fn main() { ... }`";
    match tokens.get(i) {
        Some(TokenTree::Ident(id)) => {
            let refused = match id.to_string().as_str() {
                "fn" => None,
                "async" => Some(
                    "`#[gort::main]` cannot be an `async fn`: the main goroutine runs \
                     ordinary blocking code (channels, `gort::sync`); remove `async` and `.await`",
                ),
                "const" => Some("`#[gort::main]` cannot be a `const fn`"),
                "unsafe" => Some(
                    "`#[gort::main]` cannot be an `unsafe fn`; put an `unsafe` block inside it",
                ),
                "extern" => Some("`#[gort::main]` cannot be an `extern fn`"),
                _ => Some(not_a_fn),
            };
            if let Some(msg) = refused {
                return Err(Error::new(id.span(), msg));
            }
        }
        Some(t) => return Err(Error::new(t.span(), not_a_fn)),
        None => return Err(Error::new(Span::call_site(), not_a_fn)),
    }
    i += 1;

    let name = match tokens.get(i) {
        Some(TokenTree::Ident(id)) => id.clone(),
        Some(t) => return Err(Error::new(t.span(), "expected the function's name")),
        None => {
            return Err(Error::new(
                tokens[i - 1].span(),
                "expected the function's name",
            ));
        }
    };
    i += 1;

    match tokens.get(i) {
        Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Parenthesis => {
            if !g.stream().is_empty() {
                return Err(Error::new(
                    g.span(),
                    "`#[gort::main]` takes no arguments, as Go's `main` takes none; \
                     read them with `std::env::args()`",
                ));
            }
        }
        Some(TokenTree::Punct(p)) if p.as_char() == '<' => {
            return Err(Error::new(
                p.span(),
                "`#[gort::main]` cannot be generic: remove the `<...>` parameters",
            ));
        }
        Some(t) => return Err(Error::new(t.span(), "expected `()`")),
        None => return Err(Error::new(name.span(), "expected `()`")),
    }
    i += 1;

    let rest = &tokens[i..];
    let (body, middle) = match rest.split_last() {
        Some((TokenTree::Group(g), middle)) if g.delimiter() == Delimiter::Brace => {
            (g.clone(), middle)
        }
        Some((t, _)) => {
            return Err(Error::new(
                t.span(),
                "`#[gort::main]` needs a function with a body `{ ... }`",
            ));
        }
        None => return Err(Error::new(name.span(), "expected a body `{ ... }`")),
    };

    let ret = match middle {
        [] => Vec::new(),
        [TokenTree::Punct(minus), TokenTree::Punct(gt), ty @ ..]
            if minus.as_char() == '-'
                && minus.spacing() == Spacing::Joint
                && gt.as_char() == '>' =>
        {
            if ty.is_empty() {
                return Err(Error::new(gt.span(), "expected a return type after `->`"));
            }
            if let Some(w) = ty.iter().find(|t| is_ident(Some(t), "where")) {
                return Err(Error::new(
                    w.span(),
                    "`#[gort::main]` cannot have a `where` clause",
                ));
            }
            middle.to_vec()
        }
        [first, ..] if is_ident(Some(first), "where") => {
            return Err(Error::new(
                first.span(),
                "`#[gort::main]` cannot have a `where` clause",
            ));
        }
        [first, ..] => {
            return Err(Error::new(
                first.span(),
                "expected `-> ReturnType` or the body `{ ... }`",
            ));
        }
    };

    Ok(MainFn {
        attrs,
        vis,
        name,
        ret,
        body,
    })
}

/// The expansion:
///
/// ```text
/// #attrs #vis fn #name() -> ::std::process::ExitCode {
///     fn __gort_main() #ret #body
///     ::gort::run_main(__gort_main)
///     // or, with maxprocs: ::gort::__private::run_main_maxprocs(N, __gort_main)
/// }
/// ```
///
/// The nested function keeps `return` and `?` meaning what they meant in `main`. The
/// call carries the return type's span, so "`T` is not `Termination`" points at the
/// return type.
fn rewrite(main: MainFn, args: &Args) -> TokenStream {
    let site = Span::call_site();
    let ret_span = main.ret.get(2).map_or(site, TokenTree::span);

    let mut inner = TokenStream::new();
    inner.extend([ident("fn", site), ident(INNER, site), empty_parens(site)]);
    inner.extend(main.ret);
    inner.extend([TokenTree::Group(main.body)]);
    let call_args: TokenStream = match args.maxprocs {
        None => {
            inner.extend(path(&["gort", "run_main"], ret_span));
            ident(INNER, ret_span).into()
        }
        Some(n) => {
            inner.extend(path(&["gort", "__private", "run_main_maxprocs"], ret_span));
            let mut n = Literal::u64_unsuffixed(n);
            n.set_span(site);
            [
                TokenTree::Literal(n),
                punct(',', Spacing::Alone, site),
                ident(INNER, ret_span),
            ]
            .into_iter()
            .collect()
        }
    };
    let mut call_args = Group::new(Delimiter::Parenthesis, call_args);
    call_args.set_span(ret_span);
    inner.extend([TokenTree::Group(call_args)]);

    let mut out = TokenStream::new();
    out.extend(main.attrs);
    out.extend(main.vis);
    out.extend([
        ident("fn", site),
        TokenTree::Ident(main.name),
        empty_parens(site),
        punct('-', Spacing::Joint, site),
        punct('>', Spacing::Alone, site),
    ]);
    out.extend(path(&["std", "process", "ExitCode"], site));
    out.extend([TokenTree::Group(Group::new(Delimiter::Brace, inner))]);
    out
}

/// What to emit next to a compile error: `fn name() {}` when the item names a function
/// (so rustc does not add "`main` function not found" or errors about `async fn main`),
/// else the item unchanged.
fn stub(item: TokenStream) -> TokenStream {
    let tokens: Vec<TokenTree> = item.clone().into_iter().collect();
    let name = tokens
        .windows(2)
        .find(|w| is_ident(Some(&w[0]), "fn"))
        .and_then(|w| match &w[1] {
            TokenTree::Ident(name) => Some(name.clone()),
            _ => None,
        });
    let Some(name) = name else {
        return item;
    };
    let site = Span::call_site();
    let mut allow = TokenStream::from(ident("allow", site));
    allow.extend([TokenTree::Group(Group::new(
        Delimiter::Parenthesis,
        ident("dead_code", site).into(),
    ))]);
    [
        punct('#', Spacing::Alone, site),
        TokenTree::Group(Group::new(Delimiter::Bracket, allow)),
        ident("fn", site),
        TokenTree::Ident(name),
        empty_parens(site),
        TokenTree::Group(Group::new(Delimiter::Brace, TokenStream::new())),
    ]
    .into_iter()
    .collect()
}

fn is_ident(t: Option<&TokenTree>, word: &str) -> bool {
    matches!(t, Some(TokenTree::Ident(id)) if id.to_string() == word)
}

fn ident(word: &str, span: Span) -> TokenTree {
    TokenTree::Ident(Ident::new(word, span))
}

fn punct(c: char, spacing: Spacing, span: Span) -> TokenTree {
    let mut p = Punct::new(c, spacing);
    p.set_span(span);
    TokenTree::Punct(p)
}

fn empty_parens(span: Span) -> TokenTree {
    let mut g = Group::new(Delimiter::Parenthesis, TokenStream::new());
    g.set_span(span);
    TokenTree::Group(g)
}

/// `::a::b::c`, every token spanned on `span`.
fn path(segments: &[&str], span: Span) -> TokenStream {
    let mut out = TokenStream::new();
    for s in segments {
        out.extend([
            punct(':', Spacing::Joint, span),
            punct(':', Spacing::Alone, span),
            ident(s, span),
        ]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::parse_int;

    #[test]
    fn integer_literals() {
        assert_eq!(parse_int("4"), Some(4));
        assert_eq!(parse_int("1_024"), Some(1024));
        assert_eq!(parse_int("8usize"), Some(8));
        assert_eq!(parse_int("2_u32"), Some(2));
        for bad in [
            "0x10",
            "2.0",
            "\"4\"",
            "4f32",
            "_4",
            "99999999999999999999999",
            "'a'",
        ] {
            assert_eq!(parse_int(bad), None, "{bad}");
        }
    }
}
