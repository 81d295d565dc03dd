//! The built-in action names the Python decorator checks against, and its "did you mean".
//!
//! The names come from [`audit_runtime::Action::ALL`], which the macro crate generates from
//! its catalog, the one the Rust `#[audited]` attribute checks literals against: Python and
//! Rust accept exactly the same built-in names. The suggestion rule is the attribute's
//! (`audit-macros/src/catalog.rs`); it is repeated here because a proc-macro crate cannot
//! export functions, and `tests::suggestions_match_the_attribute` pins the two together with
//! the attribute's own cases.

use audit_runtime::{Action, AuditAction};
use pyo3::prelude::*;

/// The built-in action names, in the catalog's order: the spec's twelve, then the eight
/// WeightsLab v2.0's services log.
pub fn builtin_names() -> Vec<&'static str> {
    Action::ALL.iter().map(|a| a.name()).collect()
}

/// The name among `known` closest to `unknown`, if it is close enough to be a plausible
/// typo (the `#[audited]` attribute's rule).
pub fn suggest<'a>(unknown: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let unknown = unknown.trim().to_ascii_lowercase().replace(['-', ' '], "_");
    let (best, distance) = known
        .into_iter()
        .map(|name| (name, edit_distance(&unknown, name)))
        .min_by_key(|(_, d)| *d)?;
    let allowed = (best.len().max(unknown.len()) / 3).max(2);
    (distance <= allowed).then_some(best)
}

/// `suggest_action(unknown, known)`: the closest of `known` to `unknown`, or `None`.
#[pyfunction]
pub fn suggest_action(unknown: &str, known: Vec<String>) -> Option<String> {
    suggest(unknown, known.iter().map(String::as_str)).map(str::to_owned)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The cases of the attribute's own test (`audit-macros/src/catalog.rs`), against the
    /// same catalog.
    #[test]
    fn suggestions_match_the_attribute() {
        let s = |name| suggest(name, builtin_names());
        assert_eq!(s("tag_ad"), Some("tag_add"));
        assert_eq!(s("tga_add"), Some("tag_add"));
        assert_eq!(s("hp-change"), Some("hp_change"));
        assert_eq!(s("Pause"), Some("pause"));
        assert_eq!(s("checkpoint_restor"), Some("checkpoint_restore"));
        assert_eq!(s("completely_different"), None);
        assert_eq!(s("x"), None);
        assert_eq!(s("notebook_runn"), Some("notebook_run"));
        assert_eq!(s("checkpoint_sav"), Some("checkpoint_save"));
    }

    #[test]
    fn the_catalog_is_the_attributes() {
        let names = builtin_names();
        assert_eq!(names.len(), 20);
        assert_eq!(&names[..3], ["hp_change", "pause", "resume"]);
        assert_eq!(names.last(), Some(&"notebook_generate_code"));
    }

    #[test]
    fn registered_names_are_suggested_too() {
        let known = ["hp_change", "dataset_swap"];
        assert_eq!(suggest("dataset_swp", known), Some("dataset_swap"));
        assert_eq!(suggest("anything", []), None);
    }
}
