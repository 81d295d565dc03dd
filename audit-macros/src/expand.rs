//! Code generation for `#[audited]`.
//!
//! Input:
//! ```text
//! #[audited(action = "hp_change", capture = self.hparams(), details(run = run_id))]
//! fn set_lr(&mut self, run_id: &str, lr: f64) -> Result<(), HpError> { BODY }
//! ```
//! Output (paths shortened; everything is `::audit_runtime::__private::..`):
//! ```text
//! fn set_lr(&mut self, run_id: &str, lr: f64) -> Result<(), HpError> {
//!     static __AUDITED_SITE: Site = Site { actions: &[declare(&Action::HpChange)], redact: &[],
//!         gate: Gate::new() };                                   // the site's copy of "on?"
//!     let mut __audited_call = Call::start(&__AUDITED_SITE);   // one byte of it read when off
//!     if __audited_call.is_active() {
//!         __audited_call.detail("run", &(run_id));
//!         __audited_call.capture_before(&(self.hparams()));
//!     }
//!     // the body is a closure so that `return` and `?` end the body, not the function
//!     // (the user's block itself, with an inference aid as its first statement)
//!     let __audited_body = || { FAKE_RETURN_FOR_INFERENCE; BODY };
//!     // off: the body's result is the function's, on a path of its own
//!     if !__audited_call.is_active() {
//!         return __audited_body();
//!     }
//!     // its scope is current meanwhile and a panic is logged, then resumed
//!     let __audited_result = __audited_call.run_sync(__audited_body);
//!     if __audited_call.is_active() {
//!         __audited_call.capture_after(&(self.hparams()));
//!     }
//!     // the outcome read from the result, which is passed through, not borrowed
//!     let __audited_result = __audited_call.finish_with(__audited_result, |r| match r {
//!         Ok(v) => probe(v),
//!         Err(e) => probe(e),
//!     });
//!     __audited_result
//! }
//! ```
//! An `async fn` keeps its signature (so `#[async_trait]` can still box it when it expands
//! after us) and awaits `__audited_call.scoped(async { BODY })` instead; a body that
//! `#[async_trait]` has already boxed gets the same treatment inside its `async move` block.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::{AttrStyle, Block, Expr, ItemFn, ReturnType, Type};

use crate::args::{ActionSpec, Args, builtin_path_name};
use crate::async_trait;
use crate::catalog;
use crate::moved_capture;
use crate::runtime_path;
use crate::tonic_types;

/// Expands the attribute, or returns the error to show next to the unchanged item.
pub fn audited(args: Args, func: ItemFn) -> syn::Result<TokenStream> {
    if let Some(constness) = &func.sig.constness {
        return Err(syn::Error::new(
            constness.span(),
            "`#[audited]` cannot be used on a `const fn`: logging is not possible at compile time",
        ));
    }
    if let Some((key, _)) = &args.capture
        && expanded_by_instrument(&func.block)
    {
        return Err(syn::Error::new(
            *key,
            "`capture` cannot read the arguments after `#[instrument]`: it expanded first and \
             moved them into its own block; put `#[audited]` above `#[instrument]`",
        ));
    }
    check_scope_calls(&args, &func.block)?;
    if let Some((_, capture)) = &args.capture {
        moved_capture::check(&func.sig, capture, &func.block)?;
    }

    let ItemFn {
        attrs,
        vis,
        sig,
        mut block,
    } = func;
    let (inner_attrs, outer_attrs): (Vec<_>, Vec<_>) = attrs
        .into_iter()
        .partition(|a| matches!(a.style, AttrStyle::Inner(_)));

    let krate = runtime_path::runtime();
    let mut site = site(&args, &krate);
    if let Some(span) = tonic_types::in_return_type(&sig.output) {
        site.extend(quote_spanned!(span=> #krate::__private::require_tonic!();));
    }
    let template = Template {
        site,
        start: start(&args, &krate),
        details: details(&args),
        capture_before: args
            .capture
            .as_ref()
            .map(|(_, e)| quote_spanned!(e.span()=> __audited_call.capture_before(&(#e));)),
        capture_after: args
            .capture
            .as_ref()
            .map(|(_, e)| quote_spanned!(e.span()=> __audited_call.capture_after(&(#e));)),
        fail_closed: args.fail_closed,
        krate,
    };
    let declared_output = match &sig.output {
        ReturnType::Default => None,
        ReturnType::Type(_, ty) => Some(&**ty),
    };

    let body = if sig.asyncness.is_some() {
        // Input:  async fn f(..) -> R { BODY }
        // Output: async fn f(..) -> R { ..; let r = call.scoped(async { BODY }).await; ..; r }
        insert_fake_return(&mut block, declared_output);
        template.around(
            quote!(__audited_call.scoped(async #block).await),
            declared_output,
            None,
        )
    } else if let Some(inner) = async_trait::boxed_async_body(&mut block) {
        // Input:  fn f(..) -> Pin<Box<dyn Future<Output = R> + Send + '_>> {
        //             Box::pin(async move { ASYNC_TRAIT_BODY })
        //         }
        // Output: fn f(..) -> Pin<Box<..>> {
        //             Box::pin(async move { ..; call.scoped(async { ASYNC_TRAIT_BODY }).await .. })
        //         }
        // The inner block loses `move`: the outer `async move` owns the arguments, and
        // `capture` must still see them after the body ran.
        let output = async_trait::future_output(&sig.output);
        // async-trait's body names its output type (`let __ret: R = ..`), but a hand-written
        // `Box::pin(async move { .. })` may leave it to the signature, which the probes in
        // `finish` need known (issue #6).
        let result_type = output.filter(|ty| nameable(ty));
        async_trait::reborrow_mut_self(&sig, &mut inner.block);
        let original = &inner.block;
        let instrumented = template.around(
            quote!(__audited_call.scoped(async #original).await),
            output,
            result_type,
        );
        inner.block = syn::parse_quote!({ #instrumented });
        let stmts = &block.stmts;
        quote!(#(#stmts)*)
    } else if let Some(output) = async_trait::future_output(&sig.output) {
        // Input:  fn f(..) -> impl Future<Output = R> { BODY }
        // Output: fn f(..) -> impl Future<Output = R> {
        //             ..; let fut = call.run_sync(|| BODY);
        //             async move { let r = call.scoped(fut).await; ..; r }
        //         }
        // Not `Template::around`: the call ends when the returned future completes, not
        // when the body returns, and there is nothing left to `capture` from.
        if let Some((key, _)) = &args.capture {
            return Err(syn::Error::new(
                *key,
                "`capture` needs the arguments after the returned future completes, which \
                 this function has given away; make it an `async fn` to use `capture`",
            ));
        }
        if let Some(span) = args.fail_closed {
            return Err(syn::Error::new(
                span,
                "`fail_closed` cannot refuse a call that returns its future unstarted; make it \
                 an `async fn` to use `fail_closed`",
            ));
        }
        insert_fake_return(&mut block, declared_output);
        let finish = finish(Some(output), &template.krate, None);
        // The body's future may leave its output's type to the signature (`async { Ok(()) }`
        // for `Output = Result<(), String>`); name it before `finish` probes the value, which
        // needs the type known (issue #6).
        let result_type = nameable(output).then(|| quote!(: #output));
        let future = quote! {
            async move {
                let mut __audited_call = __audited_call;
                let __audited_result #result_type = __audited_call.scoped(__audited_future).await;
                #finish
                __audited_result
            }
        };
        let future = if async_trait::is_boxed(&sig.output) {
            quote!(::std::boxed::Box::pin(#future))
        } else {
            future
        };
        let Template {
            site,
            start,
            details,
            ..
        } = &template;
        quote! {
            #site
            let mut __audited_call = #start;
            if __audited_call.is_active() {
                #details
            }
            let __audited_future = __audited_call.run_sync(|| #block);
            #future
        }
    } else {
        // Input:  fn f(..) -> R { BODY }
        // Output: see the module docs and `Template::around_sync`.
        insert_fake_return(&mut block, declared_output);
        template.around_sync(&block, declared_output)
    };

    Ok(quote! {
        #(#outer_attrs)*
        #vis #sig {
            #(#inner_attrs)*
            #body
        }
    })
}

/// The parts of an instrumented body that depend only on the attribute's arguments.
struct Template {
    /// The path of the runtime crate, as the calling crate names it.
    krate: TokenStream,
    site: TokenStream,
    start: TokenStream,
    details: TokenStream,
    capture_before: Option<TokenStream>,
    capture_after: Option<TokenStream>,
    /// `fail_closed`'s span, if the attribute has it.
    fail_closed: Option<Span>,
}

impl Template {
    /// The template for the shapes whose call ends when the awaited body does (an `async fn`,
    /// async-trait's boxed body): `RUN` is `__audited_call.scoped(async BODY).await`. A sync
    /// fn has the same steps with an early return for the off path
    /// ([`Template::around_sync`]).
    ///
    /// Input:  RUN, the body's output type R, and whether to write R on the result.
    /// Output:
    /// ```text
    /// static __AUDITED_SITE: Site = ..;
    /// let mut __audited_call = Call::start(&__AUDITED_SITE);
    /// if __audited_call.is_active() { DETAILS; CAPTURE_BEFORE }
    /// let __audited_result: R = RUN;
    /// if __audited_call.is_active() { CAPTURE_AFTER }
    /// let __audited_result = FINISH(R, __audited_result);
    /// __audited_result
    /// ```
    fn around(
        &self,
        run: TokenStream,
        output: Option<&Type>,
        result_type: Option<&Type>,
    ) -> TokenStream {
        let Template {
            krate,
            site,
            start,
            details,
            capture_before,
            capture_after,
            ..
        } = self;
        let refusal = self.refusal(result_type.or(output));
        let finish = finish(output, krate, refusal.convert.as_ref());
        let refuse = &refusal.refuse;
        let result_type = result_type.map(|ty| quote!(: #ty));
        quote! {
            #site
            let mut __audited_call = #start;
            if __audited_call.is_active() {
                #refuse
                #details
                #capture_before
            }
            let __audited_result #result_type = #run;
            if __audited_call.is_active() {
                #capture_after
            }
            #finish
            __audited_result
        }
    }
}

impl Template {
    /// The sync shape (`fn f(..) -> R { BODY }`, see the module docs): [`Template::around`]
    /// with the body bound to a closure, so that when auditing is off the function returns
    /// the closure's result at once. That return is a path of its own, not the end the
    /// recorded path shares: the result goes straight into the return value, no result is
    /// moved through the merged tail, and the off path is the check and the body.
    ///
    /// Input:  BODY and its output type R.
    /// Output:
    /// ```text
    /// static __AUDITED_SITE: Site = ..;
    /// let mut __audited_call = Call::start(&__AUDITED_SITE);
    /// if __audited_call.is_active() { DETAILS; CAPTURE_BEFORE }
    /// let __audited_body = || BODY;
    /// if !__audited_call.is_active() { return __audited_body(); }
    /// let __audited_result = __audited_call.run_sync(__audited_body);
    /// if __audited_call.is_active() { CAPTURE_AFTER }
    /// let __audited_result = FINISH(R, __audited_result);
    /// __audited_result
    /// ```
    /// The closure is made after `details` and `capture` are evaluated, as in the other
    /// shapes, so a body that borrows `self` mutably never overlaps their borrows.
    fn around_sync(&self, block: &Block, output: Option<&Type>) -> TokenStream {
        let Template {
            krate,
            site,
            start,
            details,
            capture_before,
            capture_after,
            ..
        } = self;
        let refusal = self.refusal(output);
        let finish = finish(output, krate, refusal.convert.as_ref());
        let refuse = &refusal.refuse;
        quote! {
            #site
            let mut __audited_call = #start;
            if __audited_call.is_active() {
                #refuse
                #details
                #capture_before
            }
            // `mut`: a body that changes what it captures is an `FnMut`, called here directly.
            #[allow(unused_mut)]
            let mut __audited_body = || #block;
            if !__audited_call.is_active() {
                return __audited_body();
            }
            let __audited_result = __audited_call.run_sync(__audited_body);
            if __audited_call.is_active() {
                #capture_after
            }
            #finish
            __audited_result
        }
    }
}

/// The per-function `static` describing the declared actions and redacted keys.
fn site(args: &Args, krate: &TokenStream) -> TokenStream {
    let actions = args.actions.iter().map(|action| match action {
        ActionSpec::Builtin { lit, name } => {
            let variant = format_ident!("{}", catalog::variant_name(name), span = lit.span());
            let krate = runtime_path::at(krate, lit.span());
            quote_spanned! {lit.span()=>
                #krate::__private::declare(&#krate::Action::#variant)
            }
        }
        ActionSpec::Path(path) => {
            let krate = runtime_path::at(krate, path.span());
            quote_spanned!(path.span()=> #krate::__private::declare(&#path))
        }
    });
    let redact = args.redact.iter().map(|k| k.name.as_str());
    let fail_closed = args.fail_closed.is_some();
    let hash = args.hash.iter().map(|k| k.name.as_str());
    // `capture` records `before`, `after` and `changed`.
    let details = args.details.len() + if args.capture.is_some() { 3 } else { 0 };
    quote! {
        static __AUDITED_SITE: #krate::__private::Site = #krate::__private::Site {
            actions: &[#(#actions),*],
            redact: &[#(#redact),*],
            fail_closed: #fail_closed,
            hash: &[#(#hash),*],
            gate: #krate::__private::Gate::new(),
            details: #details,
        };
    }
}

fn start(args: &Args, krate: &TokenStream) -> TokenStream {
    match &args.logger {
        Some(logger) => {
            let krate = runtime_path::at(krate, logger.span());
            quote_spanned! {logger.span()=>
                #krate::__private::Call::start_with(&__AUDITED_SITE, &(#logger))
            }
        }
        None => quote!(#krate::__private::Call::start(&__AUDITED_SITE)),
    }
}

fn details(args: &Args) -> TokenStream {
    let entries = args.details.iter().map(|(key, value)| {
        let name = &key.name;
        quote_spanned!(value.span()=> __audited_call.detail(#name, &(#value));)
    });
    quote!(#(#entries)*)
}

/// Inserts, as the body's first statement, an unreachable `return` of the declared type,
/// so that `?` and `Ok(..)` in the body infer the error type from the signature even though
/// the body now sits in a closure or an `async` block (tracing-attributes does the same).
/// Skipped when the type cannot be named in a `let` (`impl Trait`) or carries no
/// information (`()`, `!`).
///
/// It goes inside the user's block rather than in a block around it: `{ fake; { BODY } }`
/// made rustc's `unused_braces` lint flag the user's braces of a one-expression body, with a
/// suggested fix (`fn a() -> R Ok(())`) that is not valid code, so `cargo fix` failed and
/// `-D warnings` broke the build (issue #6).
fn insert_fake_return(block: &mut Block, output: Option<&Type>) {
    let Some(ty) = output else {
        return;
    };
    if matches!(ty, Type::Never(_)) || matches!(ty, Type::Tuple(t) if t.elems.is_empty()) {
        return;
    }
    if !nameable(ty) {
        return;
    }
    let fake: syn::Stmt = syn::parse_quote! {
        #[allow(unreachable_code, clippy::empty_loop, clippy::diverging_sub_expression, clippy::needless_return)]
        if false {
            let __audited_fake_return: #ty = loop {};
            return __audited_fake_return;
        }
    };
    block.stmts.insert(0, fake);
}

/// Whether `ty` can be written as the type of a `let`: not if it contains `impl Trait`.
fn nameable(ty: &Type) -> bool {
    let mut finder = ImplTraitFinder(false);
    finder.visit_type(ty);
    !finder.0
}

struct ImplTraitFinder(bool);

impl<'ast> Visit<'ast> for ImplTraitFinder {
    fn visit_type_impl_trait(&mut self, _: &'ast syn::TypeImplTrait) {
        self.0 = true;
    }
}

/// Decides the outcome from `__audited_result`, logs, and gives `__audited_result` back:
/// `let __audited_result = __audited_call.finish_with(__audited_result, |r| OUTCOME);`.
/// The result is passed through rather than borrowed so that, when auditing is off, nothing
/// takes its address and it goes straight to the return value. Return types spelled
/// `..Result<..>` are matched so that the `Ok` and `Err` values are probed separately (a
/// response that says it failed, a `tonic::Status` with its code); anything else is probed
/// whole.
fn finish(
    output: Option<&Type>,
    krate: &TokenStream,
    convert: Option<&TokenStream>,
) -> TokenStream {
    let probe = quote!(#krate::__private::probe);
    let outcome = match output {
        None => quote!(|_| #krate::Outcome::success()),
        Some(ty) if is_result(ty) => quote! {
            |__audited_result| {
                #[allow(unused_imports)]
                use #probe::{
                    ErrDebug as _, ErrDisplay as _, ErrOpaque as _, ErrSaysItself as _,
                    OkIsSuccess as _, OkSaysItself as _,
                };
                match __audited_result {
                    ::core::result::Result::Ok(__audited_ok) => {
                        (&&#probe::Probe(__audited_ok)).__audited_ok_outcome()
                    }
                    ::core::result::Result::Err(__audited_err) => {
                        (&&&&#probe::Probe(__audited_err)).__audited_err_outcome()
                    }
                }
            }
        },
        Some(_) => quote! {
            |__audited_result| {
                #[allow(unused_imports)]
                use #probe::{ValueIsResult as _, ValueIsSuccess as _, ValueSaysItself as _};
                (&&&#probe::Probe(__audited_result)).__audited_value_outcome()
            }
        },
    };
    match convert {
        Some(convert) => quote! {
            let __audited_result =
                __audited_call.finish_checked(__audited_result, #outcome, #convert);
        },
        None => quote! {
            let __audited_result = __audited_call.finish_with(__audited_result, #outcome);
        },
    }
}

/// Fail-closed auditing's part of a template: the early return of a refused call and the
/// conversion of `AuditUnavailable` into the function's result type.
struct Refusal {
    /// `if let Some(r) = __audited_call.refuse_with(CONVERT) { return r; }`, plus, with
    /// `fail_closed`, the check that the result type can carry the refusal.
    refuse: TokenStream,
    /// `|e| (&Refuse::<R>::new()).__audited_refusal(e)`: `Some(Err(E::from(e)))` when `R` is
    /// `Result<_, E>` with `E: From<AuditUnavailable>`, else `None` (autoref
    /// specialisation: the first impl applies when it can, the second always does).
    convert: Option<TokenStream>,
}

impl Template {
    fn refusal(&self, result_type: Option<&Type>) -> Refusal {
        let krate = &self.krate;
        let Some(ty) = result_type.filter(|ty| nameable(ty)) else {
            let refuse = match self.fail_closed {
                Some(span) => quote_spanned! {span=>
                    ::core::compile_error!(
                        "`fail_closed` needs a return type it can name, `Result<_, E>` with \
                         `E: From<AuditUnavailable>`, to return the refusal in"
                    );
                },
                None => TokenStream::new(),
            };
            return Refusal {
                refuse,
                convert: None,
            };
        };
        let private = quote!(#krate::__private::refuse);
        let convert = quote! {
            |__audited_unavailable| {
                #[allow(unused_imports)]
                use #private::{CannotCarryRefusal as _, CarriesRefusal as _};
                (&#private::Refuse::<#ty>::new()).__audited_refusal(__audited_unavailable)
            }
        };
        // The value checked is named with the attribute's span, so that an error type that
        // cannot carry the refusal is reported at `fail_closed`.
        let check = self.fail_closed.map(|span| {
            let value = quote_spanned!(span=> __audited_fail_closed);
            quote! {
                let #value = #private::Refuse::<#ty>::new();
                #private::must_carry_refusal(#value);
            }
        });
        let refuse = quote! {
            #check
            if let ::core::option::Option::Some(__audited_refused) =
                __audited_call.refuse_with(#convert)
            {
                return __audited_refused;
            }
        };
        Refusal {
            refuse,
            convert: Some(convert),
        }
    }
}

fn is_result(ty: &Type) -> bool {
    match ty {
        Type::Path(p) => p
            .path
            .segments
            .last()
            .is_some_and(|s| s.ident == "Result" && !s.arguments.is_empty()),
        Type::Paren(p) => is_result(&p.elem),
        Type::Group(g) => is_result(&g.elem),
        _ => false,
    }
}

/// Whether tracing's `#[instrument]` has already expanded on this function and moved its
/// arguments away: into `let __tracing_instrument_future = async move { .. }` (an `async fn`)
/// or into `(move || { .. })()` (a sync fn with `err` or `ret`). These are the names and
/// shapes tracing-attributes 0.1 generates.
///
/// Below `#[instrument]`, we instrument tracing's body, so `capture` reading the arguments
/// after it was an opaque E0382 "borrow of moved value" at the attribute (issue #6). A sync
/// fn without `err`/`ret` keeps its body in place, and `capture` works there.
fn expanded_by_instrument(block: &Block) -> bool {
    let local_named = |local: &syn::Local, name: &str| matches!(&local.pat, syn::Pat::Ident(p) if p.ident == name);
    let instrumented = block
        .stmts
        .iter()
        .any(|stmt| matches!(stmt, syn::Stmt::Local(l) if local_named(l, "__tracing_attr_span")));
    instrumented
        && block.stmts.iter().any(|stmt| match stmt {
            syn::Stmt::Local(local) => {
                local_named(local, "__tracing_instrument_future")
                    || local
                        .init
                        .as_ref()
                        .is_some_and(|i| calls_move_closure(&i.expr))
            }
            syn::Stmt::Expr(Expr::Match(m), _) => calls_move_closure(&m.expr),
            _ => false,
        })
}

/// `(move || ..)()`
fn calls_move_closure(expr: &Expr) -> bool {
    let Expr::Call(call) = expr else {
        return false;
    };
    let Expr::Paren(paren) = &*call.func else {
        return false;
    };
    matches!(&*paren.expr, Expr::Closure(c) if c.capture.is_some())
}

/// Rejects, at compile time, `scope::set_action(Action::X)` / `scope::emit(Action::X)` in the
/// body when `X` is a built-in action the handler does not declare. Only possible when every
/// declared action has a known name; otherwise the runtime check reports it.
fn check_scope_calls(args: &Args, block: &Block) -> syn::Result<()> {
    let declared: Option<Vec<&'static str>> =
        args.actions.iter().map(ActionSpec::known_name).collect();
    let Some(declared) = declared else {
        return Ok(());
    };
    let mut checker = ScopeCallChecker {
        declared: &declared,
        error: None,
    };
    checker.visit_block(block);
    match checker.error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

struct ScopeCallChecker<'a> {
    declared: &'a [&'static str],
    error: Option<syn::Error>,
}

impl<'ast> Visit<'ast> for ScopeCallChecker<'_> {
    fn visit_expr_call(&mut self, call: &'ast syn::ExprCall) {
        if let Expr::Path(func) = &*call.func
            && let Some(last) = func.path.segments.last()
            && ["set_action", "emit", "emit_with", "emit_details"]
                .contains(&last.ident.to_string().as_str())
            && let Some(arg) = call.args.first()
        {
            let mut values = Vec::new();
            value_paths(arg, &mut values);
            for path in values {
                let Some(name) = builtin_path_name(path) else {
                    continue;
                };
                if self.declared.contains(&name) {
                    continue;
                }
                let message = format!(
                    "`{}` is not one of the actions this handler declares ({}); add it to \
                     `action = ..`",
                    name,
                    self.declared.join(" | ")
                );
                let error = syn::Error::new_spanned(path, message);
                match &mut self.error {
                    Some(existing) => existing.combine(error),
                    None => self.error = Some(error),
                }
            }
        }
        syn::visit::visit_expr_call(self, call);
    }

    // A nested `fn` item is a different function, with its own attribute if any.
    fn visit_item(&mut self, _: &'ast syn::Item) {}
}

/// The paths an expression can evaluate to: itself, or the tails of its `if`/`match`/block
/// branches (`set_action(if add { Action::TagAdd } else { Action::TagRemove })`).
fn value_paths<'a>(expr: &'a Expr, out: &mut Vec<&'a syn::Path>) {
    match expr {
        Expr::Path(p) => out.push(&p.path),
        Expr::Paren(p) => value_paths(&p.expr, out),
        Expr::Group(g) => value_paths(&g.expr, out),
        Expr::Reference(r) => value_paths(&r.expr, out),
        Expr::Block(b) => block_tail(&b.block, out),
        Expr::If(i) => {
            block_tail(&i.then_branch, out);
            if let Some((_, other)) = &i.else_branch {
                value_paths(other, out);
            }
        }
        Expr::Match(m) => m.arms.iter().for_each(|arm| value_paths(&arm.body, out)),
        _ => {}
    }
}

fn block_tail<'a>(block: &'a Block, out: &mut Vec<&'a syn::Path>) {
    if let Some(syn::Stmt::Expr(tail, None)) = block.stmts.last() {
        value_paths(tail, out);
    }
}

/// The error for an item that syn cannot parse as a function with a body, if there is one
/// to add.
///
/// A function whose body (or signature) has a syntax error is still a function: rustc
/// reports the syntax error itself when it parses the item we hand back unchanged, and an
/// extra "can only be used on functions" would only mislead (issue #6). So the error is for
/// a method without a body, or for an item with no `fn` keyword before its first `{ .. }`
/// or `;` (a struct, an impl block, a module).
///
/// The price: a function in syntax that rustc accepts but this syn version does not know
/// would compile un-audited without a word. syn follows stable Rust closely, and that is
/// rarer than a typo in a body, which every user makes.
pub fn not_a_function(item: &TokenStream) -> Option<syn::Error> {
    if let Ok(method) = syn::parse2::<syn::TraitItemFn>(item.clone())
        && method.default.is_none()
    {
        return Some(syn::Error::new(
            method.sig.fn_token.span(),
            "`#[audited]` needs a function body; put it on the implementation of this method",
        ));
    }
    if has_fn_keyword(item) {
        return None;
    }
    let span = first_item_token(item).unwrap_or_else(Span::call_site);
    Some(syn::Error::new(
        span,
        "`#[audited]` can only be used on functions and methods",
    ))
}

/// Whether the item's tokens, before its first brace-delimited group or `;`, include the
/// keyword `fn` (attributes are bracket groups, so they are skipped over).
fn has_fn_keyword(item: &TokenStream) -> bool {
    for token in item.clone() {
        match token {
            proc_macro2::TokenTree::Ident(ident) if ident == "fn" => return true,
            proc_macro2::TokenTree::Group(g) if g.delimiter() == proc_macro2::Delimiter::Brace => {
                return false;
            }
            proc_macro2::TokenTree::Punct(p) if p.as_char() == ';' => return false,
            _ => {}
        }
    }
    false
}

/// The first token after the item's outer attributes (its visibility or keyword).
fn first_item_token(item: &TokenStream) -> Option<Span> {
    let mut tokens = item.clone().into_iter().peekable();
    loop {
        let token = tokens.next()?;
        if let proc_macro2::TokenTree::Punct(p) = &token
            && p.as_char() == '#'
        {
            tokens.next();
            continue;
        }
        return Some(token.span());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(args: TokenStream, func: TokenStream) -> String {
        let args: Args = syn::parse2(args).expect("arguments parse");
        let func: ItemFn = syn::parse2(func).expect("function parses");
        audited(args, func).expect("expands").to_string()
    }

    /// Every shape quotes the user's block exactly once (STYLE: never quote it twice).
    #[test]
    fn the_body_is_quoted_once_in_every_shape() {
        let shapes = [
            quote!(
                fn f(&self) -> Result<u8, E> {
                    unique_marker()
                }
            ),
            quote!(
                async fn f(&mut self) -> u8 {
                    unique_marker()
                }
            ),
            quote!(
                fn f(&self) -> impl Future<Output = u8> {
                    unique_marker()
                }
            ),
            quote! {
                fn f<'life0, 'async_trait>(&'life0 self)
                    -> ::core::pin::Pin<Box<dyn ::core::future::Future<Output = u8> + Send + 'async_trait>>
                {
                    Box::pin(async move { let __self = self; unique_marker() })
                }
            },
        ];
        for shape in shapes {
            let out = expand(quote!(action = "pause", details(x = 1)), shape);
            assert_eq!(out.matches("unique_marker").count(), 1, "{out}");
            assert!(
                out.contains(":: audit_runtime :: __private :: Call :: start"),
                "{out}"
            );
        }
    }

    /// The site says how many keys a call records, so that its details map is allocated
    /// once (three more with `capture`: before, after, changed).
    #[test]
    fn the_site_counts_the_details_a_call_records() {
        let body = quote!(
            fn f(x: u8) -> u8 {
                x
            }
        );
        let out = expand(quote!(action = "pause", details(x, y = 2)), body.clone());
        assert!(out.contains("details : 2usize"), "{out}");
        let out = expand(
            quote!(action = "pause", capture = 1, details(x)),
            body.clone(),
        );
        assert!(out.contains("details : 4usize"), "{out}");
        let out = expand(quote!(action = "pause"), body);
        assert!(out.contains("details : 0usize"), "{out}");
    }

    #[test]
    fn async_fn_stays_async_and_async_trait_body_stays_boxed() {
        let out = expand(
            quote!(action = "pause"),
            quote!(
                pub async fn f(x: u8) -> u8 {
                    x
                }
            ),
        );
        assert!(out.starts_with("pub async fn f"), "{out}");
        let out = expand(
            quote!(action = "pause"),
            quote! {
                fn f<'a>(&'a mut self) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
                    Box::pin(async move { let __self = self; })
                }
            },
        );
        assert!(out.contains("Box :: pin (async move {"), "{out}");
        assert!(out.contains("let __self = & mut * self"), "{out}");
    }

    /// Issue #6: a function with a syntax error got "can only be used on functions" on top
    /// of rustc's own error.
    #[test]
    fn syntax_error_in_body_reported_twice() {
        let broken_fns = [
            quote!(fn f() -> u8 { let x = ; x }),
            quote!(#[inline] pub(crate) async fn f(x: ) {}),
            quote!(unsafe extern "C" fn f() { match }),
        ];
        for item in broken_fns {
            assert!(syn::parse2::<ItemFn>(item.clone()).is_err(), "{item}");
            assert!(not_a_function(&item).is_none(), "{item}");
        }
        let not_fns = [
            quote!(
                struct S;
            ),
            quote!(impl S { fn f() {} }),
            quote!(
                mod m {
                    fn f() {}
                }
            ),
        ];
        for item in not_fns {
            assert!(not_a_function(&item).is_some(), "{item}");
        }
        assert!(
            not_a_function(&quote!(
                fn f(&self);
            ))
            .is_some()
        );
    }

    #[test]
    fn builtin_names_become_action_variants() {
        let out = expand(
            quote!(action = "tag_add" | "tag_remove"),
            quote!(
                fn f() {}
            ),
        );
        assert!(
            out.contains(":: audit_runtime :: Action :: TagAdd"),
            "{out}"
        );
        assert!(
            out.contains(":: audit_runtime :: Action :: TagRemove"),
            "{out}"
        );
    }
}
