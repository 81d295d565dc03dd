//! The scope API: what the body of an `#[audited]` function can tell its audit event.
//!
//! Each call of an audited function has its own scope, which lives in the call's stack frame
//! (sync) or in its future (async) and is made current only while the body runs: during the
//! call, or during each `poll` of the future, whatever thread polls it. So [`record`] works
//! across `.await`s and thread hops, nested audited calls each have their own scope, and
//! outside any audited call every function here does nothing (and evaluates nothing).
//!
//! Work spawned onto another task (`tokio::spawn`) runs outside the caller's scope: record
//! its results after awaiting it.
//!
//! ```
//! use audit_runtime::{Action, audited, scope};
//! # let dir = tempfile::tempdir()?;
//! # let logger = audit_runtime::AuditLogger::builder(dir.path()).format(audit_runtime::Format::Json).build()?;
//!
//! #[audited(action = "tag_add" | "tag_remove", logger = &logger, details(tag = tag))]
//! fn edit_tags(logger: &audit_runtime::AuditLogger, tag: &str, add: bool, ids: &[u32]) -> Result<(), String> {
//!     scope::set_action(if add { Action::TagAdd } else { Action::TagRemove });
//!     scope::record("samples_affected", ids.len());
//!     Ok(())
//! }
//!
//! edit_tags(&logger, "defect", false, &[1, 2, 3]).unwrap();
//! let events: Vec<audit_runtime::AuditEvent> =
//!     serde_json::from_slice(&std::fs::read(dir.path().join("audit_log.json"))?)?;
//! assert_eq!(events[0].action_type, "tag_remove");
//! assert_eq!(events[0].details["samples_affected"], 3);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::cell::Cell;
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value};

use super::assemble::{owned_details, to_detail};
use super::site::Site;
use crate::request::RequestIds;
use crate::{AuditAction, AuditLogger};

/// One call's audit state, owned by the generated code and current during the body.
pub(crate) struct State {
    pub(crate) site: &'static Site,
    pub(crate) logger: Option<AuditLogger>,
    pub(crate) actor: Option<Arc<str>>,
    /// The request the call belongs to: the current one when it started, else its own.
    pub(crate) request: RequestIds,
    pub(crate) details: Map<String, Value>,
    pub(crate) chosen: Option<&'static str>,
    pub(crate) violation: Option<String>,
    pub(crate) extra: Vec<(&'static str, Map<String, Value>)>,
    pub(crate) skip: bool,
}

thread_local! {
    static CURRENT: Cell<Option<Box<State>>> = const { Cell::new(None) };
}

/// Makes `state` the current scope; returns the scope it replaces (an enclosing call's).
pub(crate) fn enter(state: Box<State>) -> Option<Box<State>> {
    CURRENT
        .try_with(|c| c.replace(Some(state)))
        .unwrap_or_default()
}

/// Restores `previous` as the current scope; returns the scope that was current (ours).
pub(crate) fn exit(previous: Option<Box<State>>) -> Option<Box<State>> {
    CURRENT
        .try_with(|c| c.replace(previous))
        .unwrap_or_default()
}

/// Runs `f` on the current scope, if there is one. The scope is taken out while `f` runs
/// (so a user `Serialize` impl calling back into this module finds none, rather than
/// aliasing it) and put back afterwards, even if `f` panics.
fn with_current(f: impl FnOnce(&mut State)) -> bool {
    struct PutBack<'a>(&'a Cell<Option<Box<State>>>, Option<Box<State>>);
    impl Drop for PutBack<'_> {
        fn drop(&mut self) {
            self.0.set(self.1.take());
        }
    }
    CURRENT
        .try_with(|cell| {
            let mut slot = PutBack(cell, cell.take());
            match slot.1.as_deref_mut() {
                Some(state) => {
                    f(state);
                    true
                }
                None => false,
            }
        })
        .unwrap_or(false)
}

/// Whether the code runs inside an audited call whose events are recorded. Use it to skip
/// computing a value that only the audit log needs.
///
/// ```
/// use audit_runtime::{AuditLogger, Format, MemorySink, audited, scope};
///
/// #[audited(action = "checkpoint_save", logger = logger)]
/// fn save(logger: &AuditLogger, weights: &[f32]) -> bool {
///     if scope::is_recording() {
///         let norm = weights.iter().map(|w| w * w).sum::<f32>().sqrt(); // only the log needs it
///         scope::record("weights_norm", norm);
///     }
///     scope::is_recording()
/// }
///
/// let sink = MemorySink::new();
/// assert!(save(&AuditLogger::in_memory(sink.clone()), &[3.0, 4.0]));
/// assert_eq!(sink.events()[0].details["weights_norm"], 5.0);
///
/// // Auditing off, or outside any audited call: not recording.
/// # let dir = tempfile::tempdir()?;
/// let off = AuditLogger::builder(dir.path()).format(Format::None).build()?;
/// assert!(!save(&off, &[3.0, 4.0]));
/// assert!(!scope::is_recording());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn is_recording() -> bool {
    with_current(|_| ())
}

/// Adds `key: value` to the details of the current call's event (overwriting a detail of
/// the same name). `value` is serialised now, keeping NaN and infinities as strings.
///
/// Does nothing (and serialises nothing) outside an audited call or when auditing is off.
///
/// ```
/// use audit_runtime::{AuditLogger, MemorySink, audited, scope};
/// use serde_json::{Value, json};
///
/// #[audited(action = "sample_discard", logger = logger)]
/// fn discard(logger: &AuditLogger, ids: &[u32]) -> Result<usize, String> {
///     let discarded = ids.iter().filter(|id| **id < 1000).count();
///     scope::record("samples_affected", discarded);
///     scope::record("loss_after", f64::NAN);
///     Ok(discarded)
/// }
///
/// let sink = MemorySink::new();
/// discard(&AuditLogger::in_memory(sink.clone()), &[1, 2, 5000])?;
/// let mut details = sink.events()[0].details.clone();
/// details.remove("request_id"); // each call's own (see `audit_runtime::request`)
/// assert_eq!(Value::Object(details), json!({"samples_affected": 2, "loss_after": "NaN"}));
///
/// scope::record("samples_affected", 0); // outside an audited call: nothing happens
/// assert_eq!(sink.events().len(), 1);
/// # Ok::<(), String>(())
/// ```
pub fn record<V: Serialize>(key: impl Into<String>, value: V) {
    with_current(|state| {
        let value = to_detail(&value);
        state.details.insert(key.into(), value);
    });
}

/// Chooses which of the handler's declared actions this call performed, for a handler
/// declared with several (`#[audited(action = "tag_add" | "tag_remove")]`). The last choice
/// wins.
///
/// Choosing an action the handler did not declare is a bug: the call's event is then logged
/// as failed, under its first declared action, with an error that names the action chosen
/// (never under the undeclared name). When the action is written as a path such as
/// `Action::Pause`, the attribute already rejects it at compile time.
///
/// ```
/// use audit_runtime::{Action, AuditLogger, MemorySink, Status, audited, scope};
///
/// #[audited(action = "tag_add" | "tag_remove", logger = logger, details(tag))]
/// fn edit_tag(logger: &AuditLogger, tag: &str, add: bool) {
///     scope::set_action(if add { Action::TagAdd } else { Action::TagRemove });
/// }
///
/// #[audited(action = "tag_add", logger = logger)]
/// fn buggy(logger: &AuditLogger, chosen: Action) {
///     scope::set_action(chosen);
/// }
///
/// let sink = MemorySink::new();
/// let logger = AuditLogger::in_memory(sink.clone());
/// edit_tag(&logger, "defect", true);
/// edit_tag(&logger, "defect", false);
/// buggy(&logger, Action::Pause);
///
/// let events = sink.events();
/// assert_eq!(events[0].action_type, "tag_add");
/// assert_eq!(events[1].action_type, "tag_remove");
/// // The undeclared choice: logged as a failure, under the declared action.
/// assert_eq!((events[2].action_type.as_str(), &events[2].status), ("tag_add", &Status::Failed.into()));
/// assert!(events[2].error.as_deref().unwrap().contains(r#"scope::set_action("pause")"#));
/// ```
pub fn set_action(action: impl AuditAction) {
    let name = action.name();
    with_current(|state| {
        if state.site.declares(name) {
            state.chosen = Some(name);
        } else {
            state.note_violation(format!(
                "scope::set_action({name:?}): not one of the actions this \
                 handler declares ({})",
                state.site.declared_list()
            ));
        }
    });
}

/// Logs one more event, of `action`, when the call ends: with the call's status, error and
/// details. For a call that does several things at once (hp_change + mode_switch + resume).
/// `action` must be one of the handler's declared actions (see [`set_action`]).
///
/// ```
/// use audit_runtime::{Action, AuditLogger, MemorySink, Status, audited, scope};
///
/// #[audited(action = "hp_change" | "resume", logger = logger, details(learning_rate))]
/// fn set_lr_and_resume(logger: &AuditLogger, learning_rate: f64) -> Result<(), String> {
///     scope::set_action(Action::HpChange);
///     scope::emit(Action::Resume);
///     Ok(())
/// }
///
/// let sink = MemorySink::new();
/// set_lr_and_resume(&AuditLogger::in_memory(sink.clone()), 0.01)?;
///
/// // The extra event, then the call's own: both with the call's details and outcome.
/// let events = sink.events();
/// let actions: Vec<&str> = events.iter().map(|e| e.action_type.as_str()).collect();
/// assert_eq!(actions, ["resume", "hp_change"]);
/// assert!(events.iter().all(|e| e.status == Status::Success && e.details["learning_rate"] == 0.01));
/// # Ok::<(), String>(())
/// ```
pub fn emit(action: impl AuditAction) {
    emit_with(action, ());
}

/// Like [`emit`], with details of its own added to (and overriding) the call's details.
/// `details` should serialise to an object; anything else is kept under the key `value`.
///
/// ```
/// use audit_runtime::{Action, AuditLogger, MemorySink, audited, scope};
/// use serde_json::{Value, json};
///
/// #[audited(action = "tag_add" | "sample_discard", logger = logger, details(tag))]
/// fn tag_and_discard(logger: &AuditLogger, tag: &str, ids: &[u32]) {
///     scope::set_action(Action::TagAdd);
///     scope::emit_with(Action::SampleDiscard, json!({"samples_affected": ids.len()}));
/// }
///
/// let sink = MemorySink::new();
/// tag_and_discard(&AuditLogger::in_memory(sink.clone()), "defect", &[3, 7]);
///
/// let details: Vec<(String, Value)> = sink.events().into_iter()
///     .map(|mut e| {
///         e.details.remove("request_id"); // the call's, the same in both
///         (e.action_type, Value::Object(e.details))
///     })
///     .collect();
/// assert_eq!(details, [
///     ("sample_discard".to_owned(), json!({"tag": "defect", "samples_affected": 2})),
///     ("tag_add".to_owned(), json!({"tag": "defect"})),
/// ]);
/// ```
pub fn emit_with<D: Serialize>(action: impl AuditAction, details: D) {
    let name = action.name();
    with_current(|state| {
        if !state.site.declares(name) {
            state.note_violation(format!(
                "scope::emit({name:?}): not one of the actions this handler \
                 declares ({})",
                state.site.declared_list()
            ));
            return;
        }
        let own = match to_detail(&details) {
            Value::Null => Map::new(),
            Value::Object(map) => map,
            other => Map::from_iter([("value".to_owned(), other)]),
        };
        state.extra.push((name, own));
    });
}

/// Like [`emit_with`], for details already built as a JSON object: the map is moved into the
/// event as it is instead of being serialised again, which for a handler that hands over
/// details its model produced is most of what `emit_with` costs. The event is the same as
/// `emit_with(action, details)` would log.
///
/// ```
/// use audit_runtime::{Action, AuditLogger, MemorySink, audited, scope};
/// use serde_json::{Map, Value, json};
///
/// #[audited(action = "hp_change", logger = logger)]
/// fn apply(logger: &AuditLogger, changes: Map<String, Value>) {
///     scope::skip(); // only the emitted event
///     scope::emit_details(Action::HpChange, changes);
/// }
///
/// let sink = MemorySink::new();
/// let changes = json!({"before": {"lr": 0.01}, "after": {"lr": 0.001}});
/// apply(&AuditLogger::in_memory(sink.clone()), changes.as_object().unwrap().clone());
/// let mut details = sink.events()[0].details.clone();
/// details.remove("request_id"); // the call's own (see `audit_runtime::request`)
/// assert_eq!(Value::Object(details), changes);
/// ```
pub fn emit_details(action: impl AuditAction, details: Map<String, Value>) {
    let name = action.name();
    let mut details = Some(details);
    with_current(|state| {
        if !state.site.declares(name) {
            state.note_violation(format!(
                "scope::emit({name:?}): not one of the actions this handler \
                 declares ({})",
                state.site.declared_list()
            ));
            return;
        }
        if let Some(details) = details.take() {
            state.extra.push((name, owned_details(details)));
        }
    });
    // Not taken (auditing off, outside a call, an undeclared action): dropped, and one nested
    // without bound is taken apart without recursion, as a disabled logger does.
    if let Some(unused) = details
        && !crate::event::within_depth(&unused)
    {
        crate::event::dismantle(Value::Object(unused));
    }
}

/// Marks the current call as not auditable (for example a read-only query through an RPC
/// that can also modify): its own event is not logged, whatever the outcome. Events added
/// with [`emit`] are still logged.
///
/// ```
/// use audit_runtime::{AuditLogger, MemorySink, audited, scope};
///
/// #[audited(action = "query_execute", logger = logger, details(query))]
/// fn run_query(logger: &AuditLogger, query: &str) -> Result<usize, String> {
///     if query.starts_with("SELECT") {
///         scope::skip(); // reads change nothing: not audited
///     }
///     Ok(0)
/// }
///
/// let sink = MemorySink::new();
/// let logger = AuditLogger::in_memory(sink.clone());
/// run_query(&logger, "SELECT * FROM samples")?;
/// run_query(&logger, "DELETE FROM samples WHERE loss > 9")?;
///
/// let events = sink.events();
/// assert_eq!(events.len(), 1);
/// assert_eq!(events[0].details["query"], "DELETE FROM samples WHERE loss > 9");
/// # Ok::<(), String>(())
/// ```
pub fn skip() {
    with_current(|state| state.skip = true);
}

impl State {
    /// The call's request, to make current while its body runs.
    pub(crate) fn request_patch(&self) -> crate::logger::context::Patch {
        crate::logger::context::Patch {
            actor: None,
            request: Some(self.request.clone()),
        }
    }

    fn note_violation(&mut self, message: String) {
        match &mut self.violation {
            Some(existing) => {
                existing.push_str("; ");
                existing.push_str(&message);
            }
            None => self.violation = Some(message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_a_call_everything_is_a_no_op() {
        struct Panics;
        impl Serialize for Panics {
            fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
                panic!("must not be serialised outside a call")
            }
        }
        assert!(!is_recording());
        record("x", Panics);
        set_action(crate::Action::Pause);
        emit_with(crate::Action::Pause, Panics);
        skip();
    }
}
