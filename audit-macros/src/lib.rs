//! Procedural macros of **audited**; use them through the `audited` crate, which re-exports
//! them (`use audited::audited;`) with the runtime that everything the generated code calls
//! lives in. The attribute guide is the `audited` crate's front page.
//!
//! - [`macro@audited`]: records each call of a function or method as an audit event.
//! - [`macro@AuditAction`]: names the variants of an enum of your own actions.
//! - [`macro@AuditOutcome`]: lets a response message with `success: bool, message: String`
//!   report a failed call.
//!
//! # What `#[audited]` generates
//!
//! Input:
//! ```text
//! #[audited(action = "hp_change", capture = self.hparams(), details(run = run_id))]
//! fn set_lr(&mut self, run_id: &str, lr: f64) -> Result<(), HpError> { BODY }
//! ```
//! Output (abridged; every path is absolute, `::audited::__private::..`, or the name the
//! calling crate's `Cargo.toml` gives the facade or the runtime):
//! ```text
//! fn set_lr(&mut self, run_id: &str, lr: f64) -> Result<(), HpError> {
//!     static __AUDITED_SITE: Site = Site { actions: &[declare(&Action::HpChange)], redact: &[],
//!         gate: Gate::new() };                                   // the site's copy of "on?"
//!     let mut __audited_call = Call::start(&__AUDITED_SITE);   // one byte of it read when off
//!     if __audited_call.is_active() {                           // nothing evaluated when off
//!         __audited_call.detail("run", &(run_id));
//!         __audited_call.capture_before(&(self.hparams()));
//!     }
//!     let __audited_body = || { BODY };         // `return`/`?` end BODY only
//!     if !__audited_call.is_active() {
//!         return __audited_body();               // off: the check, then the body
//!     }
//!     let __audited_result = __audited_call.run_sync(__audited_body); // panics logged, resumed
//!     if __audited_call.is_active() {
//!         __audited_call.capture_after(&(self.hparams()));
//!     }
//!     // the outcome read from the result, which is passed through, not borrowed
//!     let __audited_result = __audited_call.finish_with(__audited_result, |r| match r {
//!         Ok(v) => (&&Probe(v)).__audited_ok_outcome(),     // AuditOutcome, else success
//!         Err(e) => (&&&&Probe(e)).__audited_err_outcome(), // AuditFailure, Display, Debug
//!     });
//!     __audited_result
//! }
//! ```
//! An `async fn` stays an `async fn` (so `#[async_trait]` can box it if it expands later) and
//! awaits `__audited_call.scoped(async { BODY })`, which makes the call's scope current
//! during each poll. A body already boxed by `#[async_trait]`
//! (`Box::pin(async move { .. })`) is instrumented inside its `async move` block. If the
//! future is dropped before it completes, dropping `__audited_call` logs `cancelled`.

mod args;
mod async_trait;
mod catalog;
mod derive;
mod expand;
mod moved_capture;
mod runtime_path;
mod tonic_types;

use proc_macro::TokenStream;

/// Records every call of the function as an audit event.
///
/// ```text
/// #[audited(
///     action = "tag_add" | "tag_remove",      // or MyAction::Variant; names checked at compile time
///     capture = self.state.snapshot(),        // before and after: details.before/after/changed
///     details(tag = req.tag.clone(), count),  // evaluated before the body
///     redact(token),                          // written as "[REDACTED]", at any depth
///     logger = &self.logger,                  // default: the global logger
/// )]
/// ```
///
/// A failed call is logged as failed, with its error (here through an in-memory logger, as
/// a test would; without `logger =` the events go to the global logger that `init` installs):
///
/// ```
/// use audit_runtime::{AuditLogger, MemorySink, Status, audited};
///
/// #[audited(action = "checkpoint_restore", logger = logger, details(checkpoint_id))]
/// fn restore(logger: &AuditLogger, checkpoint_id: &str) -> Result<(), String> {
///     if checkpoint_id != "ckpt_001" {
///         return Err(format!("no checkpoint {checkpoint_id}"));
///     }
///     Ok(())
/// }
///
/// let sink = MemorySink::new();
/// let logger = AuditLogger::in_memory(sink.clone());
/// restore(&logger, "ckpt_001")?;
/// assert!(restore(&logger, "ckpt_404").is_err());
///
/// let events = sink.events();
/// assert_eq!((events[0].action_type.as_str(), &events[0].status), ("checkpoint_restore", &Status::Success.into()));
/// assert_eq!(events[0].details["checkpoint_id"], "ckpt_001");
/// assert_eq!(events[1].status, Status::Failed);
/// assert_eq!(events[1].error.as_deref(), Some("no checkpoint ckpt_404"));
/// # Ok::<(), String>(())
/// ```
///
/// With tracing's `#[instrument]`, put `#[audited]` above it: attributes expand from the
/// top, so the audited call then runs inside tracing's span, `capture` included. Below it,
/// `#[instrument]` has already moved the arguments of an `async fn` (or of a sync fn with
/// `err`/`ret`) into a block of its own, and `capture` is rejected with an error saying so.
///
/// ```text
/// #[audited(action = "hp_change", capture = self.hp.clone())]
/// #[tracing::instrument(skip(self))]
/// async fn set_lr(&mut self, lr: f64) -> Result<(), HpError> { .. }
/// ```
///
/// The full guide (actions, details, redaction, outcomes, async and tonic handlers) is the
/// front page of the `audited` crate.
#[proc_macro_attribute]
pub fn audited(args: TokenStream, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    let func: syn::ItemFn = match syn::parse2(item.clone()) {
        Ok(func) => func,
        // Hand the item back unchanged: rustc then reports its own syntax error, if that is
        // why it did not parse, and we add one only when the item is not a function at all.
        Err(_) => {
            let error = expand::not_a_function(&item).map(syn::Error::into_compile_error);
            return quote::quote!(#item #error).into();
        }
    };
    let expanded = syn::parse::<args::Args>(args).and_then(|args| expand::audited(args, func));
    match expanded {
        Ok(tokens) => tokens.into(),
        // Keep the function as written, so the user sees this one error and not a cascade
        // of "cannot find function" errors at its callers.
        Err(error) => {
            let error = error.to_compile_error();
            quote::quote!(#item #error).into()
        }
    }
}

/// Not a public API: fills in `audit_runtime::Action`'s variants from this crate's catalog
/// of built-in actions, the one list that `#[audited]` also checks names against.
#[doc(hidden)]
#[proc_macro_attribute]
pub fn __builtin_actions(args: TokenStream, item: TokenStream) -> TokenStream {
    let args = proc_macro2::TokenStream::from(args);
    if let Some(token) = args.into_iter().next() {
        return syn::Error::new(token.span(), "`__builtin_actions` takes no arguments")
            .into_compile_error()
            .into();
    }
    syn::parse::<syn::ItemEnum>(item)
        .and_then(catalog::builtin_enum)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Implements `audit_runtime::AuditAction` for a fieldless enum: each variant is named by
/// its snake_case name, or by `#[audit(name = "...")]`. Any other `#[audit(..)]` key, on
/// the enum or a variant, is a compile error at the key.
///
/// For actions beyond the built-in ones (`audit_runtime::Action`); `#[audited]` takes them as
/// paths, so a misspelt variant is a compile error:
///
/// ```
/// use audit_runtime::{AuditAction, AuditLogger, MemorySink, audited};
///
/// #[derive(AuditAction)]
/// enum LabAction {
///     Retrain,
///     #[audit(name = "dataset_swap")]
///     SwapDataset,
/// }
///
/// #[audited(action = LabAction::SwapDataset, logger = logger, details(dataset))]
/// fn swap_dataset(logger: &AuditLogger, dataset: &str) {}
///
/// let sink = MemorySink::new();
/// swap_dataset(&AuditLogger::in_memory(sink.clone()), "imagenet-v2");
/// assert_eq!(sink.events()[0].action_type, "dataset_swap");
/// assert_eq!(LabAction::Retrain.name(), "retrain");
/// ```
#[proc_macro_derive(AuditAction, attributes(audit))]
pub fn derive_audit_action(input: TokenStream) -> TokenStream {
    syn::parse::<syn::DeriveInput>(input)
        .and_then(derive::audit_action)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Implements `audit_runtime::AuditOutcome` for a response struct with `success: bool` and
/// (optionally) `message: String` fields; `#[audit(success = f, message = g)]` names others.
/// Any other `#[audit(..)]` key, on the struct or a field, is a compile error at the key.
///
/// A function returning such a response is then logged as failed when the response says
/// so, with its message as the error:
///
/// ```
/// use audit_runtime::{AuditLogger, AuditOutcome, MemorySink, Status, audited};
///
/// #[derive(AuditOutcome)]
/// struct TagReply {
///     success: bool,
///     message: String,
/// }
///
/// #[audited(action = "tag_add", logger = logger, details(tag))]
/// fn add_tag(logger: &AuditLogger, tag: &str) -> TagReply {
///     match tag.is_empty() {
///         true => TagReply { success: false, message: "the tag is empty".into() },
///         false => TagReply { success: true, message: String::new() },
///     }
/// }
///
/// let sink = MemorySink::new();
/// let logger = AuditLogger::in_memory(sink.clone());
/// add_tag(&logger, "defect");
/// add_tag(&logger, "");
/// let events = sink.events();
/// assert_eq!(events[0].status, Status::Success);
/// assert_eq!(events[1].status, Status::Failed);
/// assert_eq!(events[1].error.as_deref(), Some("the tag is empty"));
///
/// // Other field names; `proto3 optional` fields (`Option`) work too.
/// #[derive(AuditOutcome)]
/// #[audit(success = ok, message = reason)]
/// struct EditReply {
///     ok: Option<bool>,
///     reason: Option<String>,
/// }
/// let reply = EditReply { ok: Some(false), reason: None }.audit_outcome();
/// assert_eq!(reply.error.as_deref(), Some("the response reports failure (success = false)"));
/// ```
#[proc_macro_derive(AuditOutcome, attributes(audit))]
pub fn derive_audit_outcome(input: TokenStream) -> TokenStream {
    syn::parse::<syn::DeriveInput>(input)
        .and_then(derive::audit_outcome)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
