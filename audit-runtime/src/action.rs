//! What an audited call did: the [`AuditAction`] trait, and [`Action`], the spec's twelve
//! built-in actions.
//!
//! `#[audited(action = "tag_add")]` checks the name against the same twelve at compile time
//! (the macro crate keeps its own copy of the catalog; a test keeps the two in sync).
//! Applications with actions of their own derive [`AuditAction`](macro@crate::AuditAction)
//! on a fieldless enum and write `#[audited(action = MyAction::Retrain)]`.

/// An action that an audit event can record, named by its `action_type`.
///
/// Derive it on a fieldless enum: each variant is named by its snake_case name, or by
/// `#[audit(name = "...")]`.
///
/// ```
/// use audit_runtime::AuditAction;
///
/// #[derive(AuditAction)]
/// enum LabAction {
///     Retrain,
///     #[audit(name = "dataset_swap")]
///     SwapDataset,
/// }
///
/// assert_eq!(LabAction::Retrain.name(), "retrain");
/// assert_eq!(LabAction::SwapDataset.name(), "dataset_swap");
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an audit action",
    label = "expected an action, such as `audit_runtime::Action::TagAdd`",
    note = "derive it on a fieldless enum: `#[derive(audit_runtime::AuditAction)]`"
)]
pub trait AuditAction: Sync {
    /// The `action_type` written to the log, e.g. `"tag_add"`.
    fn name(&self) -> &'static str;
}

impl<A: AuditAction + ?Sized> AuditAction for &A {
    fn name(&self) -> &'static str {
        (**self).name()
    }
}

/// The spec's twelve actions. `#[audited(action = "tag_add")]` and
/// `#[audited(action = Action::TagAdd)]` mean the same.
///
/// ```
/// use audit_runtime::{Action, AuditAction};
/// assert_eq!(Action::HpChange.name(), "hp_change");
/// assert_eq!(Action::ALL.len(), 12);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, crate::AuditAction)]
#[audit(crate = crate)]
pub enum Action {
    /// Hyperparameter modifications (learning rate, batch size, ...).
    HpChange,
    /// Training paused.
    Pause,
    /// Training resumed.
    Resume,
    /// Mode changes (train / audit / evaluation).
    ModeSwitch,
    /// Tags added to samples.
    TagAdd,
    /// Tags removed from samples.
    TagRemove,
    /// Samples marked as discarded.
    SampleDiscard,
    /// Discarded samples restored.
    SampleRestore,
    /// A data query (filters, analysis) executed.
    QueryExecute,
    /// The model restored from a checkpoint.
    CheckpointRestore,
    /// An evaluation started on a dataset split.
    EvaluationStart,
    /// A note written or cleared on a plot point.
    NoteWrite,
}

impl Action {
    /// Every built-in action, in the spec's order.
    pub const ALL: [Action; 12] = [
        Action::HpChange,
        Action::Pause,
        Action::Resume,
        Action::ModeSwitch,
        Action::TagAdd,
        Action::TagRemove,
        Action::SampleDiscard,
        Action::SampleRestore,
        Action::QueryExecute,
        Action::CheckpointRestore,
        Action::EvaluationStart,
        Action::NoteWrite,
    ];

    /// The built-in action called `name`, if there is one.
    ///
    /// ```
    /// use audit_runtime::Action;
    /// assert_eq!(Action::from_name("pause"), Some(Action::Pause));
    /// assert_eq!(Action::from_name("paws"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<Action> {
        use crate::AuditAction as _;
        Action::ALL.into_iter().find(|a| a.name() == name)
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::AuditAction as _;
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The macro crate checks action names against its own copy of the catalog; both must
    /// list the same twelve names in the same order.
    #[test]
    fn macro_catalog_matches_the_runtime_catalog() {
        let source = include_str!("../../audit-macros/src/catalog.rs");
        let start = source
            .find("pub const CATALOG")
            .expect("catalog.rs defines CATALOG");
        let body = &source[start..];
        let body = &body[body.find('[').unwrap()..body.find("];").unwrap()];
        let names: Vec<&str> = body.split('"').skip(1).step_by(2).collect();
        let runtime: Vec<&str> = Action::ALL.iter().map(|a| a.name()).collect();
        assert_eq!(names, runtime);
    }

    #[test]
    fn names_are_the_specs() {
        let names: Vec<String> = Action::ALL.iter().map(|a| a.to_string()).collect();
        assert_eq!(
            names,
            [
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
                "note_write"
            ]
        );
        for a in Action::ALL {
            assert_eq!(Action::from_name(a.name()), Some(a));
        }
    }
}
