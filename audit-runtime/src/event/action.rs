//! What an audited call did: the [`AuditAction`] trait, and [`Action`], the built-in actions:
//! the spec's twelve and the eight more that WeightsLab v2.0's services log.
//!
//! `#[audited(action = "tag_add")]` checks the name against the same list at compile time:
//! the list lives in the macro crate's catalog, and `Action`'s variants are generated from
//! it, so there is one definition.
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
    label = "expected an action, such as `audited::Action::TagAdd`",
    note = "derive it on a fieldless enum: `#[derive(audited::AuditAction)]`"
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

/// The built-in actions. `#[audited(action = "tag_add")]` and
/// `#[audited(action = Action::TagAdd)]` mean the same.
///
/// The first twelve are the spec's list; the other eight (`checkpoint_save`,
/// `restart_instance`, `experiment_rename`, `tag_register`, `notebook_run`,
/// `notebook_interrupt`, `notebook_save`, `notebook_generate_code`) are not in the spec but
/// are logged by WeightsLab v2.0's services, so logs they wrote use them. Each variant's
/// documentation says which list it is from.
///
/// ```
/// use audit_runtime::{Action, AuditAction};
/// assert_eq!(Action::HpChange.name(), "hp_change");
/// assert_eq!(Action::NotebookGenerateCode.name(), "notebook_generate_code");
/// assert_eq!(Action::ALL.len(), 20);
/// ```
// The variants and `Action::ALL` come from audit-macros' catalog (`src/catalog.rs`), which
// `#[audited]` checks action names against.
#[audit_macros::__builtin_actions]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, crate::AuditAction)]
#[audit(crate = crate)]
pub enum Action {}

impl Action {
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

    /// Every `action_type` in the log WeightsLab v2.0's services wrote is a built-in
    /// action (eight of them used to be compile errors in `#[audited]`).
    #[test]
    fn weightslab_v2_action_names_are_builtin() {
        let log = include_str!("../../tests/fixtures/reference/audit_log.v2-services.json");
        let events: Vec<serde_json::Value> = serde_json::from_str(log).unwrap();
        let mut names: Vec<&str> = events
            .iter()
            .map(|e| e["action_type"].as_str().unwrap())
            .collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 20);
        for name in names {
            assert!(Action::from_name(name).is_some(), "{name} is not built in");
        }
    }

    #[test]
    fn names_are_the_specs_then_weightslab_v2s() {
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
                "note_write",
                "checkpoint_save",
                "restart_instance",
                "experiment_rename",
                "tag_register",
                "notebook_run",
                "notebook_interrupt",
                "notebook_save",
                "notebook_generate_code",
            ]
        );
        for a in Action::ALL {
            assert_eq!(Action::from_name(a.name()), Some(a));
        }
    }
}
