//! `#[derive(AuditAction)]` and `#[derive(AuditOutcome)]`.
//!
//! Both read the helper attribute `#[audit(..)]`; `#[audit(crate = path)]` on the type names
//! the runtime crate when it cannot be found in the calling crate's manifest (the runtime
//! itself uses `crate`).
//!
//! Every `#[audit(..)]` is parsed once, by [`options`], into the keys it sets, and then
//! checked against where it stands ([`Place`]): a key that does not apply there (`success`
//! on an `AuditAction` enum, `name` on a struct) or that is set twice is an error at the key,
//! never silently ignored. rustc accepts `#[audit]` wherever either derive is, so this is
//! the only check.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::spanned::Spanned;
use syn::{Attribute, Data, DeriveInput, Fields, Ident, LitStr, Path};

/// Input:
/// ```text
/// #[derive(AuditAction)]
/// enum LabAction { Retrain, #[audit(name = "dataset_swap")] SwapDataset }
/// ```
/// Output:
/// ```text
/// impl ::audit_runtime::AuditAction for LabAction {
///     fn name(&self) -> &'static str {
///         match *self { Self::Retrain => "retrain", Self::SwapDataset => "dataset_swap" }
///     }
/// }
/// ```
pub fn audit_action(input: DeriveInput) -> syn::Result<TokenStream> {
    let Data::Enum(data) = &input.data else {
        return Err(syn::Error::new(
            keyword_span(&input),
            "`AuditAction` can only be derived for enums whose variants have no fields",
        ));
    };
    // Every misplaced option is reported at once: the type's, then each variant's.
    let type_options = options(&input.attrs, Place::ActionType);
    let variant_options: Vec<_> = data
        .variants
        .iter()
        .map(|v| options(&v.attrs, Place::ActionVariant))
        .collect();
    let type_options = combine_errors(
        type_options,
        variant_options.iter().filter_map(|o| o.as_ref().err()),
    )?;
    let krate = crate_path(type_options.krate);
    let mut names: Vec<(String, Span)> = Vec::new();
    let mut arms = Vec::new();
    for (variant, options) in data.variants.iter().zip(variant_options) {
        if !matches!(variant.fields, Fields::Unit) {
            return Err(syn::Error::new(
                variant.fields.span(),
                "`AuditAction` variants cannot have fields: an action is a name",
            ));
        }
        // Errors were all returned above.
        let (name, span) = match options.ok().and_then(|o| o.name) {
            Some(lit) => {
                let value = lit.value();
                if value.trim().is_empty() || value.trim() != value {
                    return Err(syn::Error::new(
                        lit.span(),
                        "an action name cannot be empty or start or end with whitespace",
                    ));
                }
                (value, lit.span())
            }
            None => (snake_case(&variant.ident.to_string()), variant.ident.span()),
        };
        if names.iter().any(|(n, _)| *n == name) {
            return Err(syn::Error::new(
                span,
                format!("two variants are both named \"{name}\""),
            ));
        }
        let ident = &variant.ident;
        arms.push(quote!(Self::#ident => #name,));
        names.push((name, span));
    }
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    Ok(quote! {
        impl #impl_generics #krate::AuditAction for #ident #ty_generics #where_clause {
            fn name(&self) -> &'static str {
                match *self {
                    #(#arms)*
                }
            }
        }
    })
}

/// Input:
/// ```text
/// #[derive(AuditOutcome)]
/// struct EditResponse { success: bool, message: String }
/// ```
/// Output:
/// ```text
/// impl ::audit_runtime::AuditOutcome for EditResponse {
///     fn audit_outcome(&self) -> ::audit_runtime::Outcome {
///         ::audit_runtime::__private::from_flag(as_flag(&self.success), as_message(&self.message))
///     }
/// }
/// ```
pub fn audit_outcome(input: DeriveInput) -> syn::Result<TokenStream> {
    let Data::Struct(data) = &input.data else {
        return Err(syn::Error::new(
            keyword_span(&input),
            "`AuditOutcome` can only be derived for structs with a `success: bool` field",
        ));
    };
    let Fields::Named(fields) = &data.fields else {
        return Err(syn::Error::new(
            data.fields.span(),
            "`AuditOutcome` needs named fields (`success: bool`, `message: String`)",
        ));
    };
    // Every misplaced option is reported at once: the type's, then each field's.
    let type_options = options(&input.attrs, Place::OutcomeType);
    let field_errors: Vec<_> = fields
        .named
        .iter()
        .filter_map(|f| options(&f.attrs, Place::OutcomeField).err())
        .collect();
    let Options {
        krate,
        success: success_override,
        message: message_override,
        ..
    } = combine_errors(type_options, field_errors.iter())?;
    let krate = crate_path(krate);
    let field_named = |name: &str| {
        fields
            .named
            .iter()
            .filter_map(|f| f.ident.as_ref())
            .find(|i| *i == name)
            .cloned()
    };
    let success = match &success_override {
        Some(wanted) => field_named(&wanted.to_string())
            .ok_or_else(|| syn::Error::new(wanted.span(), format!("no field named `{wanted}`")))?,
        None => field_named("success").ok_or_else(|| {
            syn::Error::new(
                input.ident.span(),
                "`AuditOutcome` needs a `success: bool` field, or \
                 `#[audit(success = field)]` naming another",
            )
        })?,
    };
    let message =
        match &message_override {
            Some(wanted) => Some(field_named(&wanted.to_string()).ok_or_else(|| {
                syn::Error::new(wanted.span(), format!("no field named `{wanted}`"))
            })?),
            None => field_named("message"),
        };
    let message = match message {
        Some(field) => quote!(#krate::__private::AsMessage::as_message(&self.#field)),
        None => quote!(::core::option::Option::None),
    };
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    Ok(quote! {
        impl #impl_generics #krate::AuditOutcome for #ident #ty_generics #where_clause {
            fn audit_outcome(&self) -> #krate::Outcome {
                #krate::__private::from_flag(
                    #krate::__private::AsFlag::as_flag(&self.#success),
                    #message,
                )
            }
        }
    })
}

fn keyword_span(input: &DeriveInput) -> Span {
    match &input.data {
        Data::Struct(s) => s.struct_token.span(),
        Data::Enum(e) => e.enum_token.span(),
        Data::Union(u) => u.union_token.span(),
    }
}

/// `#[audit(crate = path)]`, or the runtime as the calling crate names it.
fn crate_path(krate: Option<Path>) -> TokenStream {
    match krate {
        Some(path) => quote!(#path),
        None => crate::runtime_path::runtime(),
    }
}

/// `first`, unless it or any of `more` is an error: then all the errors, combined.
fn combine_errors<'a>(
    first: syn::Result<Options>,
    more: impl Iterator<Item = &'a syn::Error>,
) -> syn::Result<Options> {
    let mut result = first;
    for error in more {
        match &mut result {
            Ok(_) => result = Err(error.clone()),
            Err(existing) => existing.combine(error.clone()),
        }
    }
    result
}

/// Where an `#[audit(..)]` attribute stands, which decides the keys it may set.
#[derive(Clone, Copy)]
enum Place {
    /// On an enum deriving `AuditAction`.
    ActionType,
    /// On one of its variants.
    ActionVariant,
    /// On a struct deriving `AuditOutcome`.
    OutcomeType,
    /// On one of its fields.
    OutcomeField,
}

impl Place {
    fn allows(self, key: &str) -> bool {
        match self {
            Place::ActionType => key == "crate",
            Place::ActionVariant => key == "name",
            Place::OutcomeType => ["crate", "success", "message"].contains(&key),
            Place::OutcomeField => false,
        }
    }

    /// Where the attribute is and what it takes there, for error messages.
    fn expected(self) -> &'static str {
        match self {
            Place::ActionType => "on an `AuditAction` enum; expected `crate = path`",
            Place::ActionVariant => "on an `AuditAction` variant; expected `name = \"...\"`",
            Place::OutcomeType => {
                "on an `AuditOutcome` struct; expected `success = field`, `message = field` or \
                 `crate = path`"
            }
            Place::OutcomeField => {
                "on a field: `AuditOutcome` takes no options there; name the fields on the \
                 struct instead, `#[audit(success = field, message = field)]`"
            }
        }
    }
}

/// The keys set by the `#[audit(..)]` attributes of one item.
#[derive(Default)]
struct Options {
    krate: Option<Path>,
    success: Option<Ident>,
    message: Option<Ident>,
    name: Option<LitStr>,
}

/// Parses every `#[audit(..)]` among `attrs` once, then rejects the keys that do not apply at
/// `place` and the keys set twice. All such errors are reported together, each at its key.
fn options(attrs: &[Attribute], place: Place) -> syn::Result<Options> {
    let mut options = Options::default();
    let mut seen: Vec<String> = Vec::new();
    let mut errors: Option<syn::Error> = None;
    let mut report = |error: syn::Error| match &mut errors {
        Some(existing) => existing.combine(error),
        None => errors = Some(error),
    };
    for attr in attrs.iter().filter(|a| a.path().is_ident("audit")) {
        let parsed = attr.parse_nested_meta(|meta| {
            let key = meta
                .path
                .get_ident()
                .map(|i| i.to_string().trim_start_matches("r#").to_owned())
                .unwrap_or_default();
            if !place.allows(&key) {
                let shown = quote::ToTokens::to_token_stream(&meta.path).to_string();
                let message = if ["crate", "success", "message", "name"].contains(&key.as_str()) {
                    format!("`{shown}` does not apply {}", place.expected())
                } else {
                    format!("unknown `audit` option `{shown}` {}", place.expected())
                };
                report(syn::Error::new_spanned(&meta.path, message));
                // Skip its value, if any, so that the keys after it are still checked.
                if meta.input.peek(syn::Token![=]) {
                    meta.value()?.parse::<syn::Expr>()?;
                } else if meta.input.peek(syn::token::Paren) {
                    meta.input.parse::<proc_macro2::TokenTree>()?;
                }
                return Ok(());
            }
            if seen.contains(&key) {
                report(syn::Error::new_spanned(
                    &meta.path,
                    format!("duplicate `audit` option `{key}`"),
                ));
            }
            match key.as_str() {
                "crate" => {
                    let value = meta.value()?;
                    let path: Path = if value.peek(LitStr) {
                        value.parse::<LitStr>()?.parse()?
                    } else {
                        value.call(Path::parse_mod_style)?
                    };
                    options.krate = Some(path);
                }
                "success" => options.success = Some(meta.value()?.parse()?),
                "message" => options.message = Some(meta.value()?.parse()?),
                _ => options.name = Some(meta.value()?.parse()?),
            }
            seen.push(key);
            Ok(())
        });
        if let Err(error) = parsed {
            report(error);
        }
    }
    match errors {
        Some(error) => Err(error),
        None => Ok(options),
    }
}

/// `TagAdd` → `tag_add`, `HTTPRetry` → `http_retry`, `Step2Go` → `step2_go`.
pub fn snake_case(camel: &str) -> String {
    let chars: Vec<char> = camel.chars().collect();
    let mut out = String::with_capacity(camel.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let prev = i.checked_sub(1).map(|p| chars[p]);
            let next = chars.get(i + 1);
            let boundary = match prev {
                None => false,
                Some('_') => false,
                Some(p) if p.is_lowercase() || p.is_ascii_digit() => true,
                Some(p) => p.is_uppercase() && next.is_some_and(|n| n.is_lowercase()),
            };
            if boundary {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::snake_case;

    #[test]
    fn snake_case_names() {
        assert_eq!(snake_case("TagAdd"), "tag_add");
        assert_eq!(snake_case("Pause"), "pause");
        assert_eq!(snake_case("HTTPRetry"), "http_retry");
        assert_eq!(snake_case("Step2Go"), "step2_go");
        assert_eq!(snake_case("EvaluationStart"), "evaluation_start");
    }
}
