//! The global logger behind the Python `@audited` decorator, and the event of one
//! decorated call.
//!
//! The installed logger is a `Logger` of this module, so that a forked child logs through
//! its own handle (see [`crate::logger`]); the slot is locked only with the GIL held, so a
//! fork never inherits it locked. Calls made before `init` are kept by the runtime's own
//! pre-init buffer ([`audit_runtime::log_details`] with no runtime global installed: up to
//! [`audit_runtime::DEFAULT_PRE_INIT_CAPACITY`], with the time they were made), and `init`
//! writes them through its logger by installing it in the runtime just long enough for that.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use audit_runtime::{AuditLogger, Status};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use serde_json::{Map, Value};

use crate::convert::{self, Unserializable};
use crate::diagnostics::{self, delivered};
use crate::errors::{to_py_err, unavailable_err};
use crate::logger::Logger;

/// The installed logger. Locked only with the GIL held, never across a call that releases it.
static GLOBAL: Mutex<Option<Py<Logger>>> = Mutex::new(None);
/// Whether a call made now is recorded: false once the installed logger's format is `none`.
static ACTIVE: AtomicBool = AtomicBool::new(true);

/// The installed logger's runtime handle for this process, if one is installed.
fn installed(py: Python<'_>) -> PyResult<Option<AuditLogger>> {
    let global = GLOBAL.lock().unwrap_or_else(|p| p.into_inner());
    global
        .as_ref()
        .map(|logger| logger.bind(py).get().current())
        .transpose()
}

/// `init(logger)`: installs `logger` as the global logger and writes the calls made before.
/// A second call raises `RuntimeError`; use `switch_experiment` to replace it.
#[pyfunction]
pub fn init(py: Python<'_>, logger: &Bound<'_, Logger>) -> PyResult<()> {
    let runtime = logger.get().current()?;
    {
        let mut global = GLOBAL.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(current) = global.as_ref() {
            let name = current
                .bind(py)
                .get()
                .current()?
                .experiment_name()
                .to_owned();
            return Err(PyRuntimeError::new_err(format!(
                "a global audit logger is already installed (experiment {name:?}); call \
                 audited.switch_experiment(logger) to replace it"
            )));
        }
        ACTIVE.store(runtime.is_enabled(), Ordering::Release);
        *global = Some(logger.clone().unbind());
    }
    let drained = py.detach(|| drain_pre_init(runtime));
    delivered(py, drained)
}

/// Writes the runtime's pre-init buffer through `logger`.
fn drain_pre_init(logger: AuditLogger) -> PyResult<()> {
    audit_runtime::init(logger).map_err(|e| match e {
        audit_runtime::InitError::Flush(e) => to_py_err(e),
        other => PyRuntimeError::new_err(other.to_string()),
    })?;
    audit_runtime::shutdown().map(drop).map_err(to_py_err)
}

/// `switch_experiment(logger)`: replaces the global logger (a new experiment), making
/// everything the old one wrote durable first.
#[pyfunction]
pub fn switch_experiment(py: Python<'_>, logger: &Bound<'_, Logger>) -> PyResult<()> {
    let runtime = logger.get().current()?;
    let old = installed(py)?;
    {
        let mut global = GLOBAL.lock().unwrap_or_else(|p| p.into_inner());
        ACTIVE.store(runtime.is_enabled(), Ordering::Release);
        *global = Some(logger.clone().unbind());
    }
    let flushed = py.detach(|| {
        if let Some(old) = old {
            old.flush().map_err(to_py_err)?;
        }
        drain_pre_init(runtime)
    });
    delivered(py, flushed)
}

/// `shutdown()`: removes the global logger after making its events durable. Decorated calls
/// made afterwards are kept for the next `init` again.
#[pyfunction]
pub fn shutdown(py: Python<'_>) -> PyResult<()> {
    let old = installed(py)?;
    {
        let mut global = GLOBAL.lock().unwrap_or_else(|p| p.into_inner());
        *global = None;
        ACTIVE.store(true, Ordering::Release);
    }
    let flushed = py.detach(|| old.map(|old| old.flush()).transpose());
    delivered(py, flushed.map(drop).map_err(to_py_err))
}

/// `is_active()`: whether a decorated call made now would be recorded (by the global
/// logger, or kept for `init`); false once the installed logger's format is `none`.
#[pyfunction]
pub fn is_active() -> bool {
    // With no logger installed, the runtime says whether its pre-init buffer keeps calls.
    ACTIVE.load(Ordering::Relaxed) && audit_runtime::is_active()
}

/// A value captured by the decorator's `capture=`, converted to JSON when it was taken, so
/// that a dict the call then changes in place is recorded as it was before.
#[pyclass(frozen, module = "audited._native")]
pub struct Snapshot {
    value: Value,
}

/// `snapshot(value, what="capture")`: `value` as JSON now. A part that cannot be serialised
/// is recorded as `"[unserializable: ...]"` (and reported through `logging`, naming `what`),
/// as the Rust attribute does.
#[pyfunction]
#[pyo3(signature = (value, what="capture"))]
pub fn snapshot(py: Python<'_>, value: &Bound<'_, PyAny>, what: &str) -> PyResult<Snapshot> {
    let value = lenient(value, what)?;
    diagnostics::deliver(py);
    Ok(Snapshot { value })
}

/// `log_call(action, error, details, before, after, redact=(), hmac=(), fail_closed=False)`:
/// the event of one decorated call, through the global logger: `success` when `error` is
/// `None`, else `failed` with it. `details` (a snapshot of any value, taken before the body
/// ran, as the attribute evaluates its details) comes first, then `before`, `after` and,
/// when both are dicts, `changed`: the keys whose values differ, each as
/// `{"before": .., "after": ..}`, as the Rust attribute's `capture` writes them. The values
/// of the detail keys in `redact` are written as `"[REDACTED]"`, those in `hmac` as their
/// keyed hash, at any depth, as `#[audited(redact(..))]` and `redact(.., hmac)` do.
///
/// A logging failure is counted by the logger and reported through `logging`; it raises only
/// with `fail_closed` and an installed logger: `AuditUnavailableError` with `ran` true (the
/// body ran but is not in the log), as the Rust attribute returns its error instead of the
/// call's result.
#[pyfunction]
#[pyo3(signature = (action, error, details=None, before=None, after=None, redact=Vec::new(), hmac=Vec::new(), fail_closed=false))]
#[expect(
    clippy::too_many_arguments,
    reason = "the decorator's keywords, one Python call per decorated call"
)]
pub fn log_call(
    py: Python<'_>,
    action: &str,
    error: Option<&str>,
    details: Option<&Bound<'_, Snapshot>>,
    before: Option<&Bound<'_, Snapshot>>,
    after: Option<&Bound<'_, Snapshot>>,
    redact: Vec<String>,
    hmac: Vec<String>,
    fail_closed: bool,
) -> PyResult<()> {
    let mut map = match details.map(|s| s.get().value.clone()) {
        Some(Value::Object(map)) => map,
        None | Some(Value::Null) => Map::new(),
        Some(other) => Map::from_iter([("value".to_owned(), other)]),
    };
    add_capture(
        &mut map,
        before.map(|s| s.get().value.clone()),
        after.map(|s| s.get().value.clone()),
    );
    let status = if error.is_some() {
        Status::Failed
    } else {
        Status::Success
    };
    let target = installed(py)?;
    let before_init = target.is_none();
    let redact: Vec<&str> = redact.iter().map(String::as_str).collect();
    let hmac: Vec<&str> = hmac.iter().map(String::as_str).collect();
    let logged = py.detach(|| match &target {
        Some(logger) => logger
            .log_details_redacting(action, status, map, error, &redact, &hmac)
            .map(drop),
        None => audit_runtime::log_details_redacting(action, status, map, error, &redact, &hmac)
            .map(drop),
    });
    diagnostics::deliver(py);
    match (logged, target) {
        (Ok(()), _) => Ok(()),
        (Err(e), Some(logger)) if fail_closed || logger.is_fail_closed() => {
            Err(unavailable_err(py, &logger.not_recorded(&e)))
        }
        (Err(e), _) => {
            // A logger reports its own failures; only one refused before any logger exists
            // (an invalid event kept for `init`) would otherwise go unseen.
            if before_init {
                diagnostics::report(
                    tracing::Level::WARN,
                    format!("could not record a {action} event: {}", e.full_message()),
                );
                diagnostics::deliver(py);
            }
            Ok(())
        }
    }
}

/// `admit(action, redact=())`: fail-closed auditing's check before a call decorated with
/// `fail_closed=True` runs. When the installed logger's log cannot take events, the call is
/// refused: counted (`stats()["events_refused"]`), warned about, recorded as a `failed`
/// event (`details.refused`) where it can be, and `AuditUnavailableError` (with `ran`
/// false) is raised. Before `init` there is no log to check: the call goes ahead and its
/// event is kept for `init`, as the Rust attribute's is.
#[pyfunction]
#[pyo3(signature = (action, redact=Vec::new()))]
pub fn admit(py: Python<'_>, action: &str, redact: Vec<String>) -> PyResult<()> {
    let Some(logger) = installed(py)? else {
        return Ok(());
    };
    let redact: Vec<&str> = redact.iter().map(String::as_str).collect();
    let admitted = py.detach(|| logger.admit_call(action, true, &redact));
    diagnostics::deliver(py);
    admitted.map_err(|e| unavailable_err(py, &e))
}

fn lenient(value: &Bound<'_, PyAny>, root: &str) -> PyResult<Value> {
    let converted = convert::to_json(value, Unserializable::Describe, root)?;
    if let Some(why) = converted.replaced {
        diagnostics::report(
            tracing::Level::WARN,
            format!("part of an audited call's {root} could not be serialised: {why}"),
        );
    }
    Ok(converted.value)
}

/// Adds `capture`'s `before`, `after` and `changed` to the details.
fn add_capture(details: &mut Map<String, Value>, before: Option<Value>, after: Option<Value>) {
    let changed = match (&before, &after) {
        (Some(Value::Object(b)), Some(Value::Object(a))) => Some(changed_keys(b, a)),
        _ => None,
    };
    if let Some(before) = before {
        details.insert("before".to_owned(), before);
    }
    if let Some(after) = after {
        details.insert("after".to_owned(), after);
    }
    if let Some(changed) = changed {
        details.insert("changed".to_owned(), Value::Object(changed));
    }
}

/// The keys whose values differ between `before` and `after` (a key missing on one side is
/// `null` there): the rule of the Rust attribute's `capture`.
fn changed_keys(before: &Map<String, Value>, after: &Map<String, Value>) -> Map<String, Value> {
    let pair = |before: &Value, after: &Value| {
        Value::Object(Map::from_iter([
            ("before".to_owned(), before.clone()),
            ("after".to_owned(), after.clone()),
        ]))
    };
    let mut changed = Map::new();
    for (key, old) in before {
        let new = after.get(key).unwrap_or(&Value::Null);
        if old != new {
            changed.insert(key.clone(), pair(old, new));
        }
    }
    for (key, new) in after {
        if !before.contains_key(key) {
            changed.insert(key.clone(), pair(&Value::Null, new));
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The Rust attribute's case (`audit-runtime/src/instrument/diff.rs`).
    #[test]
    fn changed_lists_only_differing_keys() {
        let mut details = Map::new();
        add_capture(
            &mut details,
            Some(json!({"lr": 0.1, "bs": 32, "gone": 1})),
            Some(json!({"lr": 0.01, "bs": 32, "new": true})),
        );
        assert_eq!(
            details["changed"],
            json!({
                "lr": {"before": 0.1, "after": 0.01},
                "gone": {"before": 1, "after": null},
                "new": {"before": null, "after": true},
            })
        );
        let keys: Vec<&str> = details.keys().map(String::as_str).collect();
        assert_eq!(keys, ["before", "after", "changed"]);
    }

    #[test]
    fn values_that_are_not_objects_have_no_changed() {
        let mut details = Map::new();
        add_capture(&mut details, Some(json!(1)), Some(json!(2)));
        assert_eq!(Value::Object(details), json!({"before": 1, "after": 2}));
    }
}
