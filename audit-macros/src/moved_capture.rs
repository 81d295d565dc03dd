//! `capture` of an argument the body moves.
//!
//! `capture = expr` is evaluated before the body and again after it. If `expr` names an
//! argument taken by value and the body moves that argument away, the second evaluation
//! cannot compile; rustc's E0382 then points at the attribute ("value moved here") and, in
//! an `#[async_trait]` handler, suggests `ref req` in the signature, which does not help
//! (issue #6). This check finds the common case first and says what to do instead. It only
//! reports moves it can see for certain in the syntax: the argument passed by name to a
//! function or method, bound with `let`, put in a struct, returned, or consumed by an
//! `into_*` method; anything subtler still reaches rustc's own error.

use std::collections::BTreeSet;

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::{Block, Expr, FnArg, Pat, Signature, Type};

/// An error at `capture` when it reads a by-value argument that `body` moves.
pub fn check(sig: &Signature, capture: &Expr, body: &Block) -> syn::Result<()> {
    let owned = owned_arguments(sig);
    if owned.is_empty() {
        return Ok(());
    }
    let mut used = Names {
        of_interest: &owned,
        found: BTreeSet::new(),
    };
    used.visit_expr(capture);
    for name in used.found {
        let mut finder = MoveFinder {
            name: &name,
            moved_at: None,
        };
        finder.visit_block(body);
        if let Some(at) = finder.moved_at {
            let mut error = syn::Error::new(
                capture.span(),
                format!(
                    "`capture` is evaluated again after the body, but the body moves `{name}` \
                     away; capture state that outlives the call (such as `self`'s), or record \
                     the argument once with `details({name} = ..)`, which is evaluated before \
                     the body"
                ),
            );
            error.combine(syn::Error::new(at, format!("`{name}` is moved here")));
            return Err(error);
        }
    }
    Ok(())
}

/// The arguments bound by name to a value the function owns (not a reference, and not a
/// primitive, which would be copied rather than moved).
fn owned_arguments(sig: &Signature) -> BTreeSet<String> {
    sig.inputs
        .iter()
        .filter_map(|input| match input {
            FnArg::Typed(typed) => match (&*typed.pat, &*typed.ty) {
                (Pat::Ident(pat), ty) if pat.by_ref.is_none() && is_owned(ty) => {
                    Some(pat.ident.to_string())
                }
                _ => None,
            },
            FnArg::Receiver(_) => None,
        })
        .collect()
}

fn is_owned(ty: &Type) -> bool {
    const COPIED: &[&str] = &[
        "bool", "char", "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64",
        "i128", "isize", "f32", "f64",
    ];
    match ty {
        Type::Reference(_) | Type::Ptr(_) | Type::BareFn(_) | Type::Never(_) => false,
        Type::Paren(p) => is_owned(&p.elem),
        Type::Group(g) => is_owned(&g.elem),
        Type::Path(p) => !p
            .path
            .get_ident()
            .is_some_and(|ident| COPIED.iter().any(|c| ident == c)),
        _ => true,
    }
}

struct Names<'a> {
    of_interest: &'a BTreeSet<String>,
    found: BTreeSet<String>,
}

impl<'ast> Visit<'ast> for Names<'_> {
    fn visit_expr_path(&mut self, path: &'ast syn::ExprPath) {
        if let Some(ident) = path.path.get_ident() {
            let name = ident.to_string();
            if self.of_interest.contains(&name) {
                self.found.insert(name);
            }
        }
    }
}

struct MoveFinder<'a> {
    name: &'a str,
    moved_at: Option<Span>,
}

impl MoveFinder<'_> {
    /// Records `expr` if it is the argument itself, by name.
    fn moves(&mut self, expr: &Expr) {
        if self.moved_at.is_none()
            && let Expr::Path(path) = expr
            && path.path.get_ident().is_some_and(|i| i == self.name)
        {
            self.moved_at = Some(expr.span());
        }
    }
}

impl<'ast> Visit<'ast> for MoveFinder<'_> {
    fn visit_expr_call(&mut self, call: &'ast syn::ExprCall) {
        call.args.iter().for_each(|arg| self.moves(arg));
        syn::visit::visit_expr_call(self, call);
    }

    fn visit_expr_method_call(&mut self, call: &'ast syn::ExprMethodCall) {
        call.args.iter().for_each(|arg| self.moves(arg));
        if call.method.to_string().starts_with("into_") {
            self.moves(&call.receiver);
        }
        syn::visit::visit_expr_method_call(self, call);
    }

    fn visit_local(&mut self, local: &'ast syn::Local) {
        // `let req = req;` (what `#[async_trait]` writes for every argument) rebinds the
        // argument under its own name: `capture` then reads the new binding, not a move.
        let rebinds_itself = matches!(&local.pat, Pat::Ident(p) if p.ident == self.name)
            || matches!(&local.pat, Pat::Type(t) if matches!(&*t.pat, Pat::Ident(p) if p.ident == self.name));
        if let Some(init) = &local.init
            && !rebinds_itself
        {
            self.moves(&init.expr);
        }
        syn::visit::visit_local(self, local);
    }

    fn visit_expr_struct(&mut self, lit: &'ast syn::ExprStruct) {
        lit.fields.iter().for_each(|field| self.moves(&field.expr));
        syn::visit::visit_expr_struct(self, lit);
    }

    fn visit_expr_return(&mut self, ret: &'ast syn::ExprReturn) {
        if let Some(expr) = &ret.expr {
            self.moves(expr);
        }
        syn::visit::visit_expr_return(self, ret);
    }

    fn visit_expr_closure(&mut self, closure: &'ast syn::ExprClosure) {
        if closure.capture.is_some() {
            let mut uses = Names {
                of_interest: &BTreeSet::from([self.name.to_owned()]),
                found: BTreeSet::new(),
            };
            uses.visit_expr(&closure.body);
            if !uses.found.is_empty() && self.moved_at.is_none() {
                self.moved_at = Some(closure.span());
            }
        }
        syn::visit::visit_expr_closure(self, closure);
    }

    // Items nested in the body have their own arguments.
    fn visit_item(&mut self, _: &'ast syn::Item) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moved(sig: &str, capture: &str, body: &str) -> bool {
        let sig: Signature = syn::parse_str(sig).unwrap();
        let capture: Expr = syn::parse_str(capture).unwrap();
        let body: Block = syn::parse_str(body).unwrap();
        check(&sig, &capture, &body).is_err()
    }

    #[test]
    fn moves_the_body_makes_are_found() {
        let sig = "async fn set(&self, req: Req)";
        assert!(moved(sig, "req.clone()", "{ consume(req); }"));
        assert!(moved(sig, "req.lr", "{ self.apply(req); }"));
        assert!(moved(sig, "req.lr", "{ let inner = req.into_inner(); }"));
        assert!(moved(sig, "req.lr", "{ let r = req; }"));
        assert!(moved(
            sig,
            "req.lr",
            "{ Wrapper { req }; Wrapper { inner: req }; }"
        ));
        assert!(moved(sig, "req.lr", "{ return req; }"));
        assert!(moved(sig, "req.lr", "{ spawn(move || use_it(&req)); }"));
    }

    #[test]
    fn reads_copies_and_references_are_not_moves() {
        let sig = "async fn set(&self, req: Req, lr: f64, hp: &mut Hp)";
        assert!(!moved(
            sig,
            "req.lr",
            "{ read(&req); req.get_ref(); let req = req; }"
        ));
        assert!(!moved(sig, "lr", "{ consume(lr); }"));
        assert!(!moved(sig, "hp.clone()", "{ consume(hp); }"));
        assert!(!moved(sig, "self.hp.clone()", "{ consume(req); }"));
        assert!(!moved(
            sig,
            "req.lr",
            "{ fn inner(req: Req) { consume(req); } }"
        ));
    }
}
