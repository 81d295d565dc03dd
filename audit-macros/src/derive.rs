//! `#[derive(AuditAction)]` and `#[derive(AuditOutcome)]`.
//!
//! Both read the helper attribute `#[audit(..)]`; `#[audit(crate = path)]` on the type names
//! the runtime crate when it is not `::audit_runtime` (the runtime itself uses `crate`).

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
    let krate = crate_path(&input.attrs)?;
    let Data::Enum(data) = &input.data else {
        return Err(syn::Error::new(
            keyword_span(&input),
            "`AuditAction` can only be derived for enums whose variants have no fields",
        ));
    };
    let mut names: Vec<(String, Span)> = Vec::new();
    let mut arms = Vec::new();
    for variant in &data.variants {
        if !matches!(variant.fields, Fields::Unit) {
            return Err(syn::Error::new(
                variant.fields.span(),
                "`AuditAction` variants cannot have fields: an action is a name",
            ));
        }
        let (name, span) = match variant_name_override(&variant.attrs)? {
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
    let krate = crate_path(&input.attrs)?;
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
    let (success_override, message_override) = outcome_fields(&input.attrs)?;
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

/// `#[audit(crate = path)]`, or `::audit_runtime`.
fn crate_path(attrs: &[Attribute]) -> syn::Result<TokenStream> {
    let mut krate = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("audit")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("crate") {
                let value = meta.value()?;
                let path: Path = if value.peek(LitStr) {
                    value.parse::<LitStr>()?.parse()?
                } else {
                    value.call(Path::parse_mod_style)?
                };
                krate = Some(quote!(#path));
                Ok(())
            } else if meta.path.is_ident("success") || meta.path.is_ident("message") {
                // Read by `outcome_fields`.
                meta.value()?.parse::<Ident>().map(drop)
            } else {
                Err(meta.error(
                    "unknown `audit` option on the type; expected `crate`, `success` or `message`",
                ))
            }
        })?;
    }
    Ok(krate.unwrap_or_else(|| quote!(::audit_runtime)))
}

fn outcome_fields(attrs: &[Attribute]) -> syn::Result<(Option<Ident>, Option<Ident>)> {
    let (mut success, mut message) = (None, None);
    for attr in attrs.iter().filter(|a| a.path().is_ident("audit")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("success") {
                success = Some(meta.value()?.parse()?);
            } else if meta.path.is_ident("message") {
                message = Some(meta.value()?.parse()?);
            } else {
                // `crate = ..`, checked by `crate_path`.
                meta.value()?.parse::<TokenStream>()?;
            }
            Ok(())
        })?;
    }
    Ok((success, message))
}

fn variant_name_override(attrs: &[Attribute]) -> syn::Result<Option<LitStr>> {
    let mut name = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("audit")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("name") {
                name = Some(meta.value()?.parse()?);
                Ok(())
            } else {
                Err(meta.error("unknown `audit` option on a variant; expected `name = \"...\"`"))
            }
        })?;
    }
    Ok(name)
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
