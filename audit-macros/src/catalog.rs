//! The built-in actions, known at compile time, and the "did you mean" search.
//!
//! This table is the only list of the built-in actions. `#[audited(action = "..")]` checks
//! names against it, and the runtime's `audit_runtime::Action` enum is generated from it by
//! [`builtin_enum`] (the hidden `#[audit_macros::__builtin_actions]` attribute), so the two
//! cannot disagree and neither crate reads the other's source.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

/// Where a built-in action's name comes from.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Origin {
    /// The twelve actions listed in the WeightsLab audit logger specification.
    Spec,
    /// Logged by WeightsLab v2.0's services with the same logger, but not in the spec's list
    /// (see `audit-runtime/tests/fixtures/reference/audit_log.v2-services.json`).
    WeightsLabV2,
}

/// One built-in action.
pub struct Builtin {
    /// The `action_type` written to the log.
    pub name: &'static str,
    /// Where the name comes from.
    pub origin: Origin,
    /// What it records, for the generated variant's rustdoc.
    pub doc: &'static str,
}

const fn spec(name: &'static str, doc: &'static str) -> Builtin {
    Builtin {
        name,
        origin: Origin::Spec,
        doc,
    }
}

const fn v2(name: &'static str, doc: &'static str) -> Builtin {
    Builtin {
        name,
        origin: Origin::WeightsLabV2,
        doc,
    }
}

/// Every built-in action: the spec's twelve in the spec's order, then the eight more that
/// WeightsLab v2.0's services log, in the order of the v2.0 reference log.
pub const CATALOG: [Builtin; 20] = [
    spec(
        "hp_change",
        "Hyperparameter modifications (learning rate, batch size, ...).",
    ),
    spec("pause", "Training paused (from `ExperimentCommand`)."),
    spec("resume", "Training resumed (from `ExperimentCommand`)."),
    spec("mode_switch", "Mode changes (train / audit / evaluation)."),
    spec("tag_add", "Tags added to samples (from `EditDataSample`)."),
    spec(
        "tag_remove",
        "Tags removed from samples (from `EditDataSample`).",
    ),
    spec(
        "sample_discard",
        "Samples marked as discarded (from `EditDataSample`).",
    ),
    spec(
        "sample_restore",
        "Discarded samples restored (from `EditDataSample`).",
    ),
    spec(
        "query_execute",
        "A data query (filters, analysis) executed (from `ApplyDataQuery`).",
    ),
    spec(
        "checkpoint_restore",
        "The model restored from a checkpoint (from `RestoreCheckpoint`).",
    ),
    spec(
        "evaluation_start",
        "An evaluation started on a dataset split (from `TriggerEvaluation`).",
    ),
    spec(
        "note_write",
        "A note written or cleared on a plot point (from `ExperimentCommand`).",
    ),
    v2(
        "checkpoint_save",
        "A checkpoint saved (the reference logs its `path`).",
    ),
    v2(
        "restart_instance",
        "The experiment's training instance restarted.",
    ),
    v2(
        "experiment_rename",
        "The experiment renamed (the reference logs `old_name` and `new_name`).",
    ),
    v2(
        "tag_register",
        "A tag name registered (the reference logs `tag_name`).",
    ),
    v2(
        "notebook_run",
        "A notebook cell run (the reference logs `cell_id` and `code`; a cell that raised is \
         logged with the status `error`).",
    ),
    v2("notebook_interrupt", "A running notebook cell interrupted."),
    v2(
        "notebook_save",
        "The notebook saved (the reference logs `path` and `bytes`).",
    ),
    v2(
        "notebook_generate_code",
        "Notebook code generated from a prompt (the reference logs `prompt`).",
    ),
];

/// The names of the built-in actions, in [`CATALOG`]'s order.
pub fn names() -> impl Iterator<Item = &'static str> {
    CATALOG.iter().map(|b| b.name)
}

/// The built-in action called `name`, if there is one.
pub fn find(name: &str) -> Option<&'static str> {
    names().find(|n| *n == name)
}

/// The `audit_runtime::Action` variant of a built-in name: `tag_add` → `TagAdd`.
pub fn variant_name(name: &str) -> String {
    name.split('_')
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

/// The built-in name of an `Action` variant: `TagAdd` → `tag_add`, if there is one.
pub fn name_of_variant(variant: &str) -> Option<&'static str> {
    names().find(|n| variant_name(n) == variant)
}

/// The known name closest to `unknown`, if it is close enough to be a plausible typo.
pub fn suggest(unknown: &str) -> Option<&'static str> {
    let unknown = unknown.trim().to_ascii_lowercase().replace(['-', ' '], "_");
    let (best, distance) = names()
        .map(|name| (name, edit_distance(&unknown, name)))
        .min_by_key(|(_, d)| *d)?;
    let allowed = (best.len().max(unknown.len()) / 3).max(2);
    (distance <= allowed).then_some(best)
}

/// Optimal string alignment distance: insertions, deletions, substitutions and swaps of two
/// adjacent characters each cost one.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
}

/// The compile error message for an unknown action name.
pub fn unknown_action_message(unknown: &str) -> String {
    let hint = match suggest(unknown) {
        Some(name) => format!("; did you mean \"{name}\"?"),
        None => String::new(),
    };
    format!(
        "unknown audit action \"{unknown}\"{hint}\n\
         known actions: {}\n\
         for an action of your own, derive `audit_runtime::AuditAction` on an enum and write \
         `action = MyAction::Variant`",
        names().collect::<Vec<_>>().join(", ")
    )
}

/// Fills the runtime's `Action` enum in from [`CATALOG`], with an `ALL` constant.
///
/// Input (in `audit-runtime/src/action.rs`):
/// ```text
/// #[audit_macros::__builtin_actions]
/// #[derive(.., crate::AuditAction)]
/// #[audit(crate = crate)]
/// pub enum Action {}
/// ```
/// Output:
/// ```text
/// #[derive(.., crate::AuditAction)]
/// #[audit(crate = crate)]
/// pub enum Action {
///     #[doc = "..."] #[audit(name = "hp_change")] HpChange,
///     ...
/// }
/// impl Action { pub const ALL: [Action; 20] = [Action::HpChange, ..]; }
/// ```
/// Each variant is named `#[audit(name = ..)]` explicitly so that the logged name is the
/// catalog's, not a snake_case round trip of [`variant_name`].
pub fn builtin_enum(mut item: syn::ItemEnum) -> syn::Result<TokenStream> {
    if let Some(variant) = item.variants.first() {
        return Err(syn::Error::new_spanned(
            variant,
            "the built-in actions come from the macro crate's catalog; leave the enum empty",
        ));
    }
    let ident = item.ident.clone();
    let variants: Vec<_> = CATALOG
        .iter()
        .map(|b| (b, format_ident!("{}", variant_name(b.name))))
        .collect();
    for (builtin, variant) in &variants {
        let origin = match builtin.origin {
            Origin::Spec => "From the spec's list of logged actions.",
            Origin::WeightsLabV2 => "Not in the spec's list: logged by WeightsLab v2.0's services.",
        };
        let doc = format!("`{}`: {}\n\n{origin}", builtin.name, builtin.doc);
        let name = builtin.name;
        item.variants.push(syn::parse_quote! {
            #[doc = #doc]
            #[audit(name = #name)]
            #variant
        });
    }
    let count = CATALOG.len();
    let spec_count = CATALOG.iter().filter(|b| b.origin == Origin::Spec).count();
    let all_doc = format!(
        "Every built-in action: the spec's {spec_count}, in the spec's order, then the {} \
         more that WeightsLab v2.0's services log.",
        count - spec_count
    );
    let all = variants.iter().map(|(_, v)| quote!(#ident::#v));
    Ok(quote! {
        #item
        impl #ident {
            #[doc = #all_doc]
            pub const ALL: [#ident; #count] = [#(#all),*];
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_round_trip() {
        for name in names() {
            assert_eq!(name_of_variant(&variant_name(name)), Some(name));
        }
        assert_eq!(variant_name("hp_change"), "HpChange");
        assert_eq!(name_of_variant("Nope"), None);
    }

    /// The spec's twelve come first, then WeightsLab v2.0's eight; `Action::ALL` keeps the
    /// order, and the docs say which is which.
    #[test]
    fn spec_actions_come_first() {
        let spec: Vec<_> = CATALOG
            .iter()
            .take_while(|b| b.origin == Origin::Spec)
            .collect();
        assert_eq!(spec.len(), 12);
        assert!(
            CATALOG[12..]
                .iter()
                .all(|b| b.origin == Origin::WeightsLabV2)
        );
    }

    #[test]
    fn suggestions() {
        assert_eq!(suggest("tag_ad"), Some("tag_add"));
        assert_eq!(suggest("tga_add"), Some("tag_add"));
        assert_eq!(suggest("hp-change"), Some("hp_change"));
        assert_eq!(suggest("Pause"), Some("pause"));
        assert_eq!(suggest("checkpoint_restor"), Some("checkpoint_restore"));
        assert_eq!(suggest("completely_different"), None);
        assert_eq!(suggest("x"), None);
        assert_eq!(suggest("notebook_runn"), Some("notebook_run"));
        assert_eq!(suggest("checkpoint_sav"), Some("checkpoint_save"));
    }
}
