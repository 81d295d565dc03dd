//! Recognising the bodies that `#[async_trait]` (and so tonic's generated server traits)
//! produces, so that `#[audited]` instruments the inner future instead of the function that
//! merely boxes it.
//!
//! When `#[async_trait]` on the impl expands first (the usual order: outer attributes expand
//! first), our attribute sees:
//! ```text
//! fn get<'life0, 'async_trait>(&'life0 self, req: Request<Q>)
//!     -> Pin<Box<dyn Future<Output = Result<Response<R>, Status>> + Send + 'async_trait>>
//! {
//!     Box::pin(async move {
//!         let __self = self;
//!         let req = req;
//!         let __ret: Result<Response<R>, Status> = { /* the user's body */ };
//!         __ret
//!     })
//! }
//! ```
//! When ours expands first, we keep the `async fn` (see `expand.rs`), which async-trait then
//! boxes like any other.

use syn::{Block, Expr, ExprAsync, GenericArgument, PathArguments, ReturnType, Stmt, Type};

/// The `async move { .. }` inside a body of the shape `{ Box::pin(async move { .. }) }`.
pub fn boxed_async_body(block: &mut Block) -> Option<&mut ExprAsync> {
    let [Stmt::Expr(Expr::Call(call), None)] = block.stmts.as_mut_slice() else {
        return None;
    };
    let Expr::Path(func) = &*call.func else {
        return None;
    };
    let segments: Vec<String> = func
        .path
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect();
    let is_box_pin = segments.ends_with(&["Box".to_owned(), "pin".to_owned()]);
    if !is_box_pin || call.args.len() != 1 {
        return None;
    }
    match call.args.first_mut() {
        Some(Expr::Async(inner)) if inner.capture.is_some() => Some(inner),
        _ => None,
    }
}

/// Input (async-trait's first statement for a `&mut self` receiver): `let __self = self;`
/// Output: `let __self = &mut *self;`
///
/// async-trait moves the receiver into the body. For `&self` that is a copy; for `&mut self`
/// it would leave nothing for `capture` to read after the body, so reborrow instead (the
/// binding's type is the same `&mut Self`).
pub fn reborrow_mut_self(sig: &syn::Signature, block: &mut Block) {
    let mut_ref_receiver = sig
        .receiver()
        .is_some_and(|r| r.reference.is_some() && r.mutability.is_some());
    if !mut_ref_receiver {
        return;
    }
    for stmt in &mut block.stmts {
        let Stmt::Local(local) = stmt else { continue };
        let binds_self = matches!(&local.pat, syn::Pat::Ident(p) if p.ident == "__self");
        let Some(init) = &mut local.init else {
            continue;
        };
        let from_self = matches!(&*init.expr, Expr::Path(p) if p.path.is_ident("self"));
        if binds_self && from_self {
            *init.expr = syn::parse_quote!(&mut *self);
            return;
        }
    }
}

/// The `Output` of a return type that is a future: `impl Future<Output = T>`,
/// `Pin<Box<dyn Future<Output = T> + ..>>`, `BoxFuture<'a, T>`.
pub fn future_output(ret: &ReturnType) -> Option<&Type> {
    match ret {
        ReturnType::Default => None,
        ReturnType::Type(_, ty) => output_of(ty),
    }
}

fn output_of(ty: &Type) -> Option<&Type> {
    match ty {
        Type::ImplTrait(t) => t.bounds.iter().find_map(|b| match b {
            syn::TypeParamBound::Trait(t) => output_binding(&t.path),
            _ => None,
        }),
        Type::TraitObject(t) => t.bounds.iter().find_map(|b| match b {
            syn::TypeParamBound::Trait(t) => output_binding(&t.path),
            _ => None,
        }),
        Type::Paren(p) => output_of(&p.elem),
        Type::Group(g) => output_of(&g.elem),
        Type::Path(p) if p.qself.is_none() => {
            let last = p.path.segments.last()?;
            let PathArguments::AngleBracketed(args) = &last.arguments else {
                return None;
            };
            let types = || {
                args.args.iter().filter_map(|a| match a {
                    GenericArgument::Type(t) => Some(t),
                    _ => None,
                })
            };
            match last.ident.to_string().as_str() {
                "Pin" | "Box" => types().next().and_then(output_of),
                "BoxFuture" | "LocalBoxFuture" => types().next(),
                _ => None,
            }
        }
        _ => None,
    }
}

fn output_binding(path: &syn::Path) -> Option<&Type> {
    let last = path.segments.last()?;
    if last.ident != "Future" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    args.args.iter().find_map(|a| match a {
        GenericArgument::AssocType(assoc) if assoc.ident == "Output" => Some(&assoc.ty),
        _ => None,
    })
}

/// Whether the future type is a boxed trait object (so the instrumented future must be boxed
/// again), rather than `impl Future`.
pub fn is_boxed(ret: &ReturnType) -> bool {
    match ret {
        ReturnType::Type(_, ty) => match &**ty {
            Type::Path(p) => p
                .path
                .segments
                .last()
                .is_some_and(|s| s.ident != "Future" && s.ident != "Ready"),
            _ => false,
        },
        ReturnType::Default => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::ToTokens;

    #[test]
    fn finds_the_inner_future_of_async_trait_bodies() {
        let mut block: Block = syn::parse_quote!({
            Box::pin(async move {
                let __self = self;
                __self.x
            })
        });
        assert!(boxed_async_body(&mut block).is_some());
        let mut plain: Block = syn::parse_quote!({ Box::pin(async { 1 }) });
        assert!(boxed_async_body(&mut plain).is_none());
        let mut other: Block = syn::parse_quote!({
            let x = 1;
            Box::pin(async move { x })
        });
        assert!(boxed_async_body(&mut other).is_none());
    }

    #[test]
    fn reads_future_outputs() {
        let cases: [(ReturnType, &str); 4] = [
            (
                syn::parse_quote!(-> ::core::pin::Pin<Box<dyn ::core::future::Future<Output = Result<u8, E>> + Send + 'async_trait>>),
                "Result < u8 , E >",
            ),
            (syn::parse_quote!(-> impl Future<Output = u8> + Send), "u8"),
            (syn::parse_quote!(-> BoxFuture<'static, ()>), "()"),
            (
                syn::parse_quote!(-> Pin<Box<dyn Future<Output = i32>>>),
                "i32",
            ),
        ];
        for (ret, want) in cases {
            let got = future_output(&ret).map(|t| t.to_token_stream().to_string());
            assert_eq!(got.as_deref(), Some(want));
        }
        assert!(future_output(&syn::parse_quote!(-> Vec<u8>)).is_none());
    }
}
