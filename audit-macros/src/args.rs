//! Parsing `#[audited(...)]`'s arguments into [`Args`], keeping the user's tokens for spans.
//!
//! Grammar (DESIGN §5):
//! ```text
//! action  = "name" ( | "name" | path::To::Action )*     required, each checked
//! capture = expr                                         optional
//! details(key = expr, key, "key" = expr, ...)            optional; `key` alone is `key = key`
//! redact(key, "key", ...)                                optional; written "[REDACTED]"
//! redact(key, "key", ..., hmac)                          optional; written as a keyed hash
//! logger  = expr                                         optional; default: the global logger
//! fail_closed                                            optional flag
//! ```
//! Unknown and repeated keys are errors at the offending token.

use proc_macro2::Span;
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{Expr, Ident, LitStr, Path, Token, parenthesized};

use crate::catalog;

mod kw {
    syn::custom_keyword!(action);
    syn::custom_keyword!(capture);
    syn::custom_keyword!(details);
    syn::custom_keyword!(redact);
    syn::custom_keyword!(logger);
    syn::custom_keyword!(fail_closed);
}

/// One declared action.
pub enum ActionSpec {
    /// A name from the built-in catalog, checked here.
    Builtin {
        /// The literal, for spans.
        lit: LitStr,
        /// Its name.
        name: &'static str,
    },
    /// A path to a value implementing `AuditAction`, checked by rustc.
    Path(Box<Path>),
}

impl ActionSpec {
    /// The built-in name this action certainly has, if it can be known at compile time
    /// (`"tag_add"`, or a path ending in `Action::TagAdd`).
    pub fn known_name(&self) -> Option<&'static str> {
        match self {
            ActionSpec::Builtin { name, .. } => Some(name),
            ActionSpec::Path(path) => builtin_path_name(path),
        }
    }
}

/// The built-in name of a path such as `Action::TagAdd` or `audit_runtime::Action::TagAdd`.
pub fn builtin_path_name(path: &Path) -> Option<&'static str> {
    let n = path.segments.len();
    if n < 2 || path.segments[n - 2].ident != "Action" {
        return None;
    }
    catalog::name_of_variant(&path.segments[n - 1].ident.to_string())
}

/// A detail key: an identifier or a string literal.
pub struct DetailKey {
    /// The key as written to the details.
    pub name: String,
    /// Where the user wrote it.
    pub span: Span,
}

/// The parsed attribute.
pub struct Args {
    /// The declared actions, at least one.
    pub actions: Vec<ActionSpec>,
    /// `capture = expr`, with the span of the `capture` keyword.
    pub capture: Option<(Span, Expr)>,
    /// `details(...)`.
    pub details: Vec<(DetailKey, Expr)>,
    /// `redact(...)`.
    pub redact: Vec<DetailKey>,
    /// `redact(..., hmac)`: keys written as their keyed hash.
    pub hash: Vec<DetailKey>,
    /// `logger = expr`.
    pub logger: Option<Expr>,
    /// `fail_closed`, with its span: refused whenever the log cannot take events, and a
    /// compile error unless the return type can carry the refusal.
    pub fail_closed: Option<Span>,
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut actions: Option<Vec<ActionSpec>> = None;
        let mut capture = None;
        let mut details: Option<Vec<(DetailKey, Expr)>> = None;
        let mut redact: Option<Vec<DetailKey>> = None;
        let mut hash: Option<Vec<DetailKey>> = None;
        let mut logger = None;
        let mut fail_closed = None;

        while !input.is_empty() {
            let lookahead = input.lookahead1();
            if lookahead.peek(kw::action) {
                let key: kw::action = input.parse()?;
                reject_duplicate(actions.is_some(), "action", key.span)?;
                input.parse::<Token![=]>()?;
                actions = Some(parse_actions(input)?);
            } else if lookahead.peek(kw::capture) {
                let key: kw::capture = input.parse()?;
                reject_duplicate(capture.is_some(), "capture", key.span)?;
                input.parse::<Token![=]>()?;
                capture = Some((key.span, input.parse()?));
            } else if lookahead.peek(kw::details) {
                let key: kw::details = input.parse()?;
                reject_duplicate(details.is_some(), "details", key.span)?;
                details = Some(parse_details(input)?);
            } else if lookahead.peek(kw::redact) {
                let key: kw::redact = input.parse()?;
                let content;
                parenthesized!(content in input);
                let (keys, hashed) = parse_redact(&content, key.span)?;
                // One plain group and one `hmac` group at most.
                let group = if hashed { &mut hash } else { &mut redact };
                let what = if hashed { "redact(.., hmac)" } else { "redact" };
                reject_duplicate(group.is_some(), what, key.span)?;
                *group = Some(keys);
            } else if lookahead.peek(kw::logger) {
                let key: kw::logger = input.parse()?;
                reject_duplicate(logger.is_some(), "logger", key.span)?;
                input.parse::<Token![=]>()?;
                logger = Some(input.parse()?);
            } else if lookahead.peek(kw::fail_closed) {
                let key: kw::fail_closed = input.parse()?;
                reject_duplicate(fail_closed.is_some(), "fail_closed", key.span)?;
                fail_closed = Some(key.span);
            } else if input.peek(Ident) {
                let unknown: Ident = input.parse()?;
                return Err(syn::Error::new(
                    unknown.span(),
                    format!(
                        "unknown `audited` argument `{unknown}`; expected `action`, \
                         `capture`, `details`, `redact`, `logger` or `fail_closed`"
                    ),
                ));
            } else {
                return Err(lookahead.error());
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }

        let Some(actions) = actions else {
            return Err(syn::Error::new(
                Span::call_site(),
                "`#[audited]` needs an action, e.g. `#[audited(action = \"tag_add\")]`",
            ));
        };
        let details = details.unwrap_or_default();
        check_unique(details.iter().map(|(k, _)| k), "detail")?;
        let redact = redact.unwrap_or_default();
        let hash = hash.unwrap_or_default();
        check_unique(redact.iter().chain(&hash), "redacted key")?;
        Ok(Args {
            actions,
            capture,
            details,
            redact,
            hash,
            logger,
            fail_closed,
        })
    }
}

/// The inside of `redact(..)`: keys, and whether the group ends with the bare word `hmac`
/// (hash them instead). `"hmac"`, a string, is a key of that name.
fn parse_redact(content: ParseStream<'_>, span: Span) -> syn::Result<(Vec<DetailKey>, bool)> {
    let mut keys = Vec::new();
    let mut hashed = false;
    while !content.is_empty() {
        if content.peek(Ident) {
            let fork = content.fork();
            let ident: Ident = fork.call(syn::ext::IdentExt::parse_any)?;
            if ident == "hmac" {
                content.call(<Ident as syn::ext::IdentExt>::parse_any)?;
                if content.peek(Token![=]) || content.peek(syn::token::Paren) {
                    return Err(syn::Error::new(
                        ident.span(),
                        "`hmac` in `redact(..)` takes no value: `redact(key, hmac)` writes \
                         HMAC-SHA256 with the log's key file (see `hmac_key_file`)",
                    ));
                }
                if !content.is_empty() {
                    return Err(syn::Error::new(
                        ident.span(),
                        "`hmac` comes last in `redact(..)`: `redact(key, other_key, hmac)` \
                         hashes the keys before it (write `\"hmac\"` for a detail of that name)",
                    ));
                }
                hashed = true;
                break;
            }
        }
        keys.push(content.parse::<DetailKey>()?);
        if content.is_empty() {
            break;
        }
        content.parse::<Token![,]>()?;
    }
    if keys.is_empty() {
        return Err(syn::Error::new(
            span,
            if hashed {
                "`redact(hmac)` names no key to hash: write `redact(key, hmac)` (or \
                 `redact(\"hmac\")` for a detail named hmac)"
            } else {
                "`redact()` names no key: write `redact(key, ...)`, or leave it out"
            },
        ));
    }
    Ok((keys, hashed))
}

fn reject_duplicate(seen: bool, key: &str, span: Span) -> syn::Result<()> {
    if seen {
        Err(syn::Error::new(
            span,
            format!("duplicate `{key}` argument in `#[audited]`"),
        ))
    } else {
        Ok(())
    }
}

fn check_unique<'a>(keys: impl Iterator<Item = &'a DetailKey>, what: &str) -> syn::Result<()> {
    let mut seen: Vec<&str> = Vec::new();
    for key in keys {
        if seen.contains(&key.name.as_str()) {
            return Err(syn::Error::new(
                key.span,
                format!("duplicate {what} `{}`", key.name),
            ));
        }
        seen.push(&key.name);
    }
    Ok(())
}

fn parse_actions(input: ParseStream<'_>) -> syn::Result<Vec<ActionSpec>> {
    let mut actions = Vec::new();
    loop {
        let action = if input.peek(LitStr) {
            let lit: LitStr = input.parse()?;
            let value = lit.value();
            match catalog::find(&value) {
                Some(name) => ActionSpec::Builtin { lit, name },
                None => {
                    return Err(syn::Error::new(
                        lit.span(),
                        catalog::unknown_action_message(&value),
                    ));
                }
            }
        } else if input.peek(Ident) || input.peek(Token![::]) || input.peek(Token![crate]) {
            ActionSpec::Path(Box::new(input.parse()?))
        } else {
            return Err(input.error(
                "expected an action: a name such as \"tag_add\" or a path such as \
                 `MyAction::Retrain`",
            ));
        };
        if let Some(name) = action.known_name()
            && actions
                .iter()
                .any(|a: &ActionSpec| a.known_name() == Some(name))
        {
            return Err(syn::Error::new(
                action_span(&action),
                format!("action \"{name}\" is declared twice"),
            ));
        }
        actions.push(action);
        if !input.peek(Token![|]) {
            return Ok(actions);
        }
        input.parse::<Token![|]>()?;
    }
}

/// The span of an action as the user wrote it.
pub fn action_span(action: &ActionSpec) -> Span {
    match action {
        ActionSpec::Builtin { lit, .. } => lit.span(),
        ActionSpec::Path(path) => path.span(),
    }
}

fn parse_details(input: ParseStream<'_>) -> syn::Result<Vec<(DetailKey, Expr)>> {
    let content;
    parenthesized!(content in input);
    let mut details = Vec::new();
    while !content.is_empty() {
        let key_ident = content.fork().parse::<Ident>().ok();
        let key: DetailKey = content.parse()?;
        let value = if content.peek(Token![=]) {
            content.parse::<Token![=]>()?;
            content.parse()?
        } else if let Some(ident) = key_ident {
            // `details(tag)` is `details(tag = tag)`.
            syn::parse_quote!(#ident)
        } else {
            return Err(syn::Error::new(
                key.span,
                format!("expected `= value` after the detail key \"{}\"", key.name),
            ));
        };
        details.push((key, value));
        if content.is_empty() {
            break;
        }
        content.parse::<Token![,]>()?;
    }
    Ok(details)
}

impl Parse for DetailKey {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        if input.peek(LitStr) {
            let lit: LitStr = input.parse()?;
            if lit.value().is_empty() {
                return Err(syn::Error::new(lit.span(), "a detail key cannot be empty"));
            }
            Ok(DetailKey {
                name: lit.value(),
                span: lit.span(),
            })
        } else {
            let ident: Ident = input.call(syn::ext::IdentExt::parse_any)?;
            Ok(DetailKey {
                name: ident.to_string().trim_start_matches("r#").to_owned(),
                span: ident.span(),
            })
        }
    }
}
