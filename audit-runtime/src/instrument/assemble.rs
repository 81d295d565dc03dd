//! Event assembly: what a finished call logs. The action it performed (the one chosen, or
//! the declared one), a rule it broke (an undeclared action, none chosen among several), the
//! extra events it emitted, each handed to the logger's pipeline with the actor taken when
//! the call started and the site's redacted keys.

use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;
use serde_json::{Map, Value};

use super::outcome::Outcome;
use super::scope::State;
use crate::event;
use crate::logger::pipeline::{Ambient, Draft};
use crate::{AuditError, AuditLogger, AuditUnavailable, Status};

/// Serialises a detail value, keeping non-finite floats; a value that cannot be serialised
/// becomes a string saying why (and `tracing` says so once).
pub(crate) fn to_detail<T: Serialize + ?Sized>(value: &T) -> Value {
    // Bounded: a value nested without limit is cut where the logger will refuse it anyway,
    // so that redaction, `changed` and the final check never recurse without bound.
    match event::to_value_within(value, event::MAX_DETAILS_DEPTH) {
        Ok(v) => v,
        Err(e) => {
            warn_once(
                &SERIALIZE_WARNED,
                format_args!("audit log: a detail could not be serialised: {e}"),
            );
            Value::String(format!("[unserializable: {e}]"))
        }
    }
}

/// Details that are already a JSON object, as [`to_detail`] would have made them, without
/// serialising them again: a `Value` holds no non-finite float, so within the depth limit
/// the conversion is the identity and the map moves in as it is. A deeper one (rare) is cut
/// exactly as `to_detail` cuts it, and the original is taken apart without recursion.
pub(crate) fn owned_details(details: Map<String, Value>) -> Map<String, Value> {
    if event::within_depth(&details) {
        return details;
    }
    let cut = to_detail(&details);
    event::dismantle(Value::Object(details));
    match cut {
        Value::Object(map) => map,
        // `to_detail` of a map is a map, or the string saying it could not be serialised.
        other => Map::from_iter([("value".to_owned(), other)]),
    }
}

/// Logs the call's events; returns the first error that kept one out of the log.
pub(super) fn write_events(state: State, outcome: Outcome) -> Option<AuditError> {
    let State {
        site,
        logger,
        actor,
        request,
        mut details,
        chosen,
        mut violation,
        extra,
        skip,
    } = state;
    let Outcome {
        mut status,
        mut error,
        details: outcome_details,
    } = outcome;
    // Most outcomes add nothing; extending by an empty map still reserves and walks it.
    if !outcome_details.is_empty() {
        details.extend(outcome_details);
    }
    let action = match chosen {
        Some(name) => name,
        None if site.actions.len() <= 1 => site.primary(),
        None => {
            // Several declared, none chosen: never guess a name. A failed call keeps its own
            // error; a successful one is reported as a handler bug.
            if !skip {
                details.insert(
                    "action_undecided".to_owned(),
                    Value::Array(
                        site.actions
                            .iter()
                            .map(|a| Value::String(a.name().to_owned()))
                            .collect(),
                    ),
                );
            }
            if status == Status::Success && !skip {
                violation.get_or_insert_with(|| {
                    format!(
                        "the handler declares several actions ({}) and did not choose one \
                         with scope::set_action",
                        site.declared_list()
                    )
                });
            }
            site.primary()
        }
    };
    // A skipped call logs only what it emitted, unless it broke a rule: that is logged.
    let log_main = match violation {
        Some(violation) => {
            let call = match &error {
                Some(e) => format!("the call failed: {e}"),
                None => "the call itself succeeded".to_owned(),
            };
            error = Some(format!("audited: {violation} ({call})"));
            status = Status::Failed;
            true
        }
        None => !skip,
    };
    // The pipeline adds the actor and request taken when the call started, redacts, and
    // checks.
    let mut first_error = None;
    let mut write = |action: &str, details: Map<String, Value>| {
        let draft = Draft {
            ambient: Ambient::Captured {
                actor: actor.clone(),
                request: Some(request.clone()),
            },
            redact: site.redact,
            hash: site.hash,
            ..Draft::new(action, status, details, error.as_deref())
        };
        if let Err(e) = log_one(logger.as_ref(), action, draft) {
            first_error.get_or_insert(e);
        }
    };
    // Each emitted event is the call's details overridden by its own. They are moved, not
    // copied, wherever nothing reads them afterwards: the emitted details always, the call's
    // for the last event that uses them (a handler that skips its own event and emits one
    // per effect copies nothing).
    let emitted = extra.len();
    let mut details = Some(details);
    for (i, (name, own)) in extra.into_iter().enumerate() {
        let last_use = !log_main && i + 1 == emitted;
        let call = if last_use {
            details.take().unwrap_or_default()
        } else {
            details.clone().unwrap_or_default()
        };
        write(name, merged(call, own));
    }
    if log_main && let Some(details) = details {
        write(action, details);
    }
    first_error
}

/// Logs a call refused before it ran (fail-closed auditing): its declared action, failed,
/// with the call's actor and request and why it was refused.
pub(super) fn refused_event(logger: &AuditLogger, state: State, unavailable: &AuditUnavailable) {
    let mut details = Map::new();
    details.insert("refused".to_owned(), Value::Bool(true));
    let error = format!("refused: {}", unavailable.reason());
    let draft = Draft {
        ambient: Ambient::Captured {
            actor: state.actor,
            request: Some(state.request),
        },
        redact: state.site.redact,
        ..Draft::new(state.site.primary(), Status::Failed, details, Some(&error))
    };
    logger.refuse(draft, unavailable);
}

/// The call's details with `own`'s entries added, each replacing one of the same key in
/// place (`Map::extend`'s order); no copy when the call has none.
fn merged(mut call: Map<String, Value>, own: Map<String, Value>) -> Map<String, Value> {
    if call.is_empty() {
        return own;
    }
    call.extend(own);
    call
}

fn log_one(logger: Option<&AuditLogger>, action: &str, draft: Draft<'_>) -> Result<(), AuditError> {
    let result = match logger {
        Some(logger) => logger.submit(draft),
        None => crate::logger::global::submit(draft),
    };
    // A logger counts and reports its own failures (rate-limited, see `AuditLogger::stats`);
    // only an event refused before any logger exists is reported here.
    if let Err(e) = &result
        && logger.is_none()
        && crate::global().is_none()
    {
        warn_once(
            &LOG_WARNED,
            format_args!(
                "could not record a {action} event: {e:?} (further failures of this kind before \
                 audit_runtime::init are not reported)"
            ),
        );
    }
    result.map(drop)
}

static LOG_WARNED: AtomicBool = AtomicBool::new(false);
static SERIALIZE_WARNED: AtomicBool = AtomicBool::new(false);

fn warn_once(flag: &AtomicBool, message: std::fmt::Arguments<'_>) {
    if !flag.swap(true, Ordering::Relaxed) {
        tracing::warn!(target: "audit", "{message}");
    }
}
