//! Recognising handlers that return tonic's types.
//!
//! `#[audited]` reads a `tonic::Status` (its `grpc_code`) and a response that says it failed
//! only when the runtime's `tonic` feature is on. Without it such a handler compiled and
//! logged `Err(Status)` as a Debug dump and `success: false` responses as successes (issue
//! #6), so the expansion asks the runtime to refuse it: `__private::require_tonic!()` is an
//! error naming the feature when it is off, and nothing when it is on. The macro cannot see
//! the runtime's features itself, and cannot name `tonic::Status` to check the type either
//! (without the feature the runtime does not depend on tonic), so the check is by name:
//! a path through `tonic::`, or the signature every tonic handler has,
//! `Result<Response<_>, Status>` (also inside `#[async_trait]`'s boxed future).

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::{GenericArgument, PathArguments, ReturnType, Type};

/// Where the return type names a tonic type, if it does.
pub fn in_return_type(output: &ReturnType) -> Option<Span> {
    let ReturnType::Type(_, ty) = output else {
        return None;
    };
    let mut finder = TonicFinder(None);
    finder.visit_type(ty);
    finder.0
}

struct TonicFinder(Option<Span>);

impl<'ast> Visit<'ast> for TonicFinder {
    fn visit_path(&mut self, path: &'ast syn::Path) {
        if self.0.is_some() {
            return;
        }
        if path.segments.iter().any(|s| s.ident == "tonic") || is_grpc_result(path) {
            self.0 = Some(path.span());
            return;
        }
        syn::visit::visit_path(self, path);
    }
}

/// `Result<Response<_>, Status>`, as tonic's generated server traits spell it.
fn is_grpc_result(path: &syn::Path) -> bool {
    let Some(last) = path.segments.last() else {
        return false;
    };
    if last.ident != "Result" {
        return false;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return false;
    };
    let types: Vec<&Type> = args
        .args
        .iter()
        .filter_map(|arg| match arg {
            GenericArgument::Type(ty) => Some(ty),
            _ => None,
        })
        .collect();
    matches!(types.as_slice(), [ok, err] if last_segment_is(ok, "Response", true) && last_segment_is(err, "Status", false))
}

fn last_segment_is(ty: &Type, name: &str, generic: bool) -> bool {
    let Type::Path(path) = ty else {
        return false;
    };
    path.path.segments.last().is_some_and(|s| {
        s.ident == name && (!generic || matches!(s.arguments, PathArguments::AngleBracketed(_)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(output: &str) -> bool {
        let output: ReturnType = syn::parse_str(output).unwrap();
        in_return_type(&output).is_some()
    }

    #[test]
    fn tonic_handler_signatures_are_recognised() {
        assert!(found("-> Result<Response<Reply>, Status>"));
        assert!(found("-> Result<tonic::Response<Reply>, tonic::Status>"));
        assert!(found("-> Result<(), tonic::Status>"));
        assert!(found("-> tonic::Result<Reply>"));
        assert!(found(
            "-> Pin<Box<dyn Future<Output = Result<Response<R>, Status>> + Send + 'async_trait>>"
        ));
    }

    #[test]
    fn other_signatures_named_alike_are_not() {
        assert!(!found("-> Result<(), Status>"));
        assert!(!found("-> Result<Response, Status>"));
        assert!(!found("-> Result<Response<R>, MyError>"));
        assert!(!found("-> Status"));
        assert!(!found("-> u8"));
    }
}
