//! Where the generated code finds the runtime.
//!
//! Users depend on the facade crate `audited`; the runtime's own tests, benches and a few
//! users depend on `audit-runtime` directly; either may be renamed in `Cargo.toml`. A proc
//! macro has no `$crate`, so the path is looked up in the calling crate's manifest, facade
//! first. Both crates name themselves with `extern crate self as ..`, so the path also works
//! inside them (their doctests and integration tests see the same name).

use proc_macro_crate::{FoundCrate, crate_name};
use proc_macro2::{Span, TokenStream, TokenTree};
use quote::quote;

/// `::audited`, `::audit_runtime`, or the name the manifest gives one of them.
pub(crate) fn runtime() -> TokenStream {
    for (package, own_name) in [("audited", "audited"), ("audit-runtime", "audit_runtime")] {
        match crate_name(package) {
            Ok(FoundCrate::Itself) => {
                let ident = syn::Ident::new(own_name, Span::call_site());
                return quote!(::#ident);
            }
            Ok(FoundCrate::Name(name)) => {
                let ident = syn::Ident::new(&name, Span::call_site());
                return quote!(::#ident);
            }
            Err(_) => continue,
        }
    }
    // Neither is a dependency (or the manifest cannot be read): name the facade, so that
    // rustc's "unresolved import `audited`" says what to add.
    quote!(::audited)
}

/// `krate` with every token at `span`, for code whose errors should point at the user's
/// tokens (an action path) rather than at the attribute.
pub(crate) fn at(krate: &TokenStream, span: Span) -> TokenStream {
    krate
        .clone()
        .into_iter()
        .map(|mut token: TokenTree| {
            token.set_span(span);
            token
        })
        .collect()
}
