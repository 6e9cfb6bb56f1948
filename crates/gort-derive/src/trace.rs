//! `#[derive(Trace)]`: an impl of the collector's `Trace` that traces every field.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Error, Fields, GenericParam, LitStr, Path, parse_quote};

/// The options of one `#[trace(...)]` attribute list.
#[derive(Default)]
struct ContainerOpts {
    /// `crate = "path"`: where `Trace` and `Tracer` live (default `::gort::gc`).
    krate: Option<Path>,
}

/// Entry point of `#[derive(Trace)]`.
pub(crate) fn expand(input: DeriveInput) -> Result<TokenStream, Error> {
    let opts = container_opts(&input)?;
    let krate: Path = opts.krate.unwrap_or_else(|| parse_quote!(::gort::gc));
    let name = &input.ident;

    let mut generics = input.generics.clone();
    for p in &mut generics.params {
        if let GenericParam::Type(t) = p {
            t.bounds.push(parse_quote!(#krate::Trace));
        }
    }
    let (impl_g, ty_g, where_clause) = generics.split_for_impl();

    // Every traced field's type (for NO_TRACE) and the statement tracing it.
    let mut types = Vec::new();
    let body = match &input.data {
        Data::Struct(s) => {
            let (pat, stmts) = destructure(&s.fields, &krate, &mut types)?;
            quote! {
                let Self #pat = self;
                #(#stmts)*
            }
        }
        Data::Enum(e) => {
            let mut arms = Vec::new();
            for v in &e.variants {
                reject_variant_attrs(&v.attrs)?;
                let (pat, stmts) = destructure(&v.fields, &krate, &mut types)?;
                let vname = &v.ident;
                arms.push(quote! { Self::#vname #pat => { #(#stmts)* } });
            }
            quote! {
                match self {
                    #(#arms)*
                    #[allow(unreachable_patterns)]
                    _ => {}
                }
            }
        }
        Data::Union(u) => {
            return Err(Error::new(
                u.union_token.span(),
                "`#[derive(Trace)]` cannot be used on a union: the collector cannot know which field is live; implement `Trace` by hand",
            ));
        }
    };

    // A field whose type names this type (`Option<Box<Self>>`) would make NO_TRACE a
    // cycle in constant evaluation: count it as needing a trace instead.
    let self_ref = |ty: &syn::Type| mentions(quote!(#ty), name);
    let no_trace = if types.iter().any(self_ref) {
        quote!(false)
    } else if types.is_empty() {
        quote!(true)
    } else {
        quote!(#(<#types as #krate::Trace>::NO_TRACE)&&*)
    };

    Ok(quote! {
        // SAFETY: the generated `trace` visits every field (none can be skipped: a field
        // type without a `Trace` impl goes in `Untraced`, whose `unsafe fn new` carries
        // the promise), and `NO_TRACE` is true only when every field's type is `NO_TRACE`.
        #[automatically_derived]
        unsafe impl #impl_g #krate::Trace for #name #ty_g #where_clause {
            const NO_TRACE: bool = #no_trace;

            #[inline]
            fn trace(&self, tracer: &mut #krate::Tracer<'_>) {
                #[allow(unused_variables)]
                let tracer = tracer;
                #body
            }
        }
    })
}

/// A pattern binding the fields of a struct or variant (`{ a: __f0, .. }`, `(__f0, _)`,
/// or nothing) and a `Trace::trace` call for each.
fn destructure(
    fields: &Fields,
    krate: &Path,
    types: &mut Vec<syn::Type>,
) -> Result<(TokenStream, Vec<TokenStream>), Error> {
    let mut stmts = Vec::new();
    let mut pats = Vec::new();
    for (i, f) in fields.iter().enumerate() {
        reject_field_attrs(&f.attrs)?;
        let bind = format_ident!("__gort_f{}", i);
        let ty = &f.ty;
        types.push(ty.clone());
        stmts.push(quote_spanned! {f.ty.span()=>
            <#ty as #krate::Trace>::trace(#bind, tracer);
        });
        let pat = quote!(#bind);
        pats.push(match &f.ident {
            Some(id) => quote!(#id: #pat),
            None => pat,
        });
    }
    let pat = match fields {
        Fields::Named(_) => quote!({ #(#pats,)* }),
        Fields::Unnamed(_) => quote!(( #(#pats,)* )),
        Fields::Unit => quote!(),
    };
    Ok((pat, stmts))
}

/// Fields take no `#[trace(...)]` options. A field cannot be skipped: safe code could
/// then hide a `Gc` from the collector. A field type without a `Trace` impl goes in
/// `Untraced<T>`, made by an `unsafe fn` whose caller promises it never holds a `Gc`.
fn reject_field_attrs(attrs: &[syn::Attribute]) -> Result<(), Error> {
    for a in attrs.iter().filter(|a| a.path().is_ident("trace")) {
        a.parse_nested_meta(|m| {
            Err(m.error(
                "`#[trace(...)]` takes no field options: every field is traced; put a field whose type has no `Trace` impl in `gort::gc::Untraced` (made by `unsafe fn Untraced::new`, the promise that it never holds a `Gc`)",
            ))
        })?;
    }
    Ok(())
}

/// Variants take no `#[trace]` options.
fn reject_variant_attrs(attrs: &[syn::Attribute]) -> Result<(), Error> {
    match attrs.iter().find(|a| a.path().is_ident("trace")) {
        Some(a) => Err(Error::new(
            a.span(),
            "`#[trace(...)]` goes on the type or on a field, not on a variant",
        )),
        None => Ok(()),
    }
}

/// Parses the container's `#[trace(crate = "path")]`.
fn container_opts(input: &DeriveInput) -> Result<ContainerOpts, Error> {
    let mut opts = ContainerOpts::default();
    for a in input.attrs.iter().filter(|a| a.path().is_ident("trace")) {
        a.parse_nested_meta(|m| {
            if m.path.is_ident("crate") {
                let s: LitStr = m.value()?.parse()?;
                opts.krate = Some(s.parse()?);
                Ok(())
            } else {
                Err(m.error(
                    "unknown option: `#[trace(...)]` on a type accepts only `crate = \"path\"`",
                ))
            }
        })?;
    }
    Ok(opts)
}

/// Whether `tokens` contain the identifier `Self` or `name`, at any depth.
fn mentions(tokens: TokenStream, name: &syn::Ident) -> bool {
    tokens.into_iter().any(|t| match t {
        proc_macro2::TokenTree::Ident(i) => i == "Self" || i == *name,
        proc_macro2::TokenTree::Group(g) => mentions(g.stream(), name),
        _ => false,
    })
}
