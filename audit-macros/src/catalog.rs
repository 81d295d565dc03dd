//! The built-in actions, known at compile time, and the "did you mean" search.
//!
//! The runtime has the same list as `audit_runtime::Action`; a test there reads this file and
//! fails if the two differ.

/// The spec's twelve actions, in the spec's order.
pub const CATALOG: [&str; 12] = [
    "hp_change",
    "pause",
    "resume",
    "mode_switch",
    "tag_add",
    "tag_remove",
    "sample_discard",
    "sample_restore",
    "query_execute",
    "checkpoint_restore",
    "evaluation_start",
    "note_write",
];

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
    CATALOG.iter().copied().find(|n| variant_name(n) == variant)
}

/// The known name closest to `unknown`, if it is close enough to be a plausible typo.
pub fn suggest(unknown: &str) -> Option<&'static str> {
    let unknown = unknown.trim().to_ascii_lowercase().replace(['-', ' '], "_");
    let (best, distance) = CATALOG
        .iter()
        .map(|name| (*name, edit_distance(&unknown, name)))
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
        CATALOG.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_round_trip() {
        for name in CATALOG {
            assert_eq!(name_of_variant(&variant_name(name)), Some(name));
        }
        assert_eq!(variant_name("hp_change"), "HpChange");
        assert_eq!(name_of_variant("Nope"), None);
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
    }
}
