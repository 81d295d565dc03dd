//! The one place an event is finished, whichever way it came in: `AuditLogger::log_event`,
//! `log_serialize` and `log_details`, the global `log_event`/`log_details` (also into the
//! pre-init buffer), `#[audited]`, and the tonic layer's refusals. Each of them builds a
//! [`Draft`] and calls [`Draft::finish`]; what an event holds when it reaches a
//! [`crate::Sink`] is decided here and nowhere else.
//!
//! The steps, in order:
//! 1. the actor (`details.actor`) and the request (`details.request_id`, `details.trace_id`)
//!    are added unless the details already name them;
//! 2. redacted keys are replaced, at any depth (after the actor, so that an `#[audited]`
//!    site that redacts `actor` hides it too): the site's own keys, and those the logger's
//!    [`crate::Redaction`] matches (the default list for events finished before a logger
//!    exists), as `"[REDACTED]"` or as their keyed hash (`crate::policy`);
//! 3. the event is checked (`crate::event::prepare`) and an empty error becomes none;
//! 4. the wanted timestamp is taken, now (the sink may write a later one; an event from the
//!    pre-init buffer is written with the one it was finished with).
//!
//! Redaction and the actor are steps here rather than in `crate::instrument` (where the keys
//! are declared, by `#[audited(redact(..))]`): their order matters for every entry point, and
//! the logger must not depend on the attribute's module, which depends on it.

use std::sync::Arc;

use serde_json::map::Entry;
use serde_json::{Map, Value};

use super::context;
use super::request::RequestIds;
use super::sink::FinishedEvent;
use crate::policy::Secrets;
use crate::{AuditError, Status, Timestamp, event};

/// Whose action an event records, and for which request.
#[derive(Debug, Clone)]
pub(crate) enum Ambient {
    /// The actor and request current on this thread when the event is finished.
    Current,
    /// Fixed earlier: `#[audited]` takes them when the call starts, since a cancelled future
    /// is dropped outside any scope; the tonic layer knows its refused caller. `None`: there
    /// was none, and the current one must not be taken instead.
    Captured {
        actor: Option<Arc<str>>,
        request: Option<RequestIds>,
    },
}

/// An event as an entry point hands it over, not yet finished.
#[derive(Debug)]
pub(crate) struct Draft<'a> {
    pub(crate) action_type: &'a str,
    pub(crate) status: Status,
    pub(crate) details: Map<String, Value>,
    pub(crate) error: Option<&'a str>,
    pub(crate) ambient: Ambient,
    pub(crate) redact: &'a [&'a str],
    /// Detail keys whose values are written as their keyed hash (`redact(k, hmac)`).
    pub(crate) hash: &'a [&'a str],
}

/// The text written in place of a redacted value.
pub(crate) const REDACTED: &str = "[REDACTED]";

impl<'a> Draft<'a> {
    /// An event with the current actor, no site keys redacted, stamped now.
    pub(crate) fn new(
        action_type: &'a str,
        status: Status,
        details: Map<String, Value>,
        error: Option<&'a str>,
    ) -> Self {
        Draft {
            action_type,
            status,
            details,
            error,
            ambient: Ambient::Current,
            redact: &[],
            hash: &[],
        }
    }

    /// Finishes the event with the default redaction and no HMAC key (what events finished
    /// before a logger exists get): see [`Draft::finish_with`].
    pub(crate) fn finish(self) -> Result<(FinishedEvent<'a>, Timestamp), AuditError> {
        self.finish_with(Secrets::pre_init())
            .map(|(event, at, _)| (event, at))
    }

    /// Finishes the event: see the [module docs](self); `secrets` are the logger's redaction
    /// settings. Returns it with the timestamp wanted for it and how many values were
    /// redacted, or why it cannot be logged.
    pub(crate) fn finish_with(
        self,
        secrets: &Secrets,
    ) -> Result<(FinishedEvent<'a>, Timestamp, usize), AuditError> {
        let Draft {
            action_type,
            status,
            mut details,
            error,
            ambient,
            redact,
            hash,
        } = self;
        let (who, request) = match ambient {
            Ambient::Current => (context::actor(), context::request()),
            Ambient::Captured { actor, request } => (actor, request),
        };
        if let Some(who) = who {
            add_if_vacant(&mut details, "actor", &who);
        }
        if let Some(request) = request {
            add_if_vacant(&mut details, "request_id", request.request_id());
            if let Some(trace_id) = request.trace_id() {
                add_if_vacant(&mut details, "trace_id", trace_id);
            }
        }
        let redacted = secrets.apply(&mut details, redact, hash);
        let (details, error) = event::prepare(action_type, details, error)?;
        let event = FinishedEvent {
            action_type,
            status,
            details,
            error,
        };
        Ok((event, Timestamp::now(), redacted))
    }
}

fn add_if_vacant(details: &mut Map<String, Value>, key: &str, value: &str) {
    // One lookup (the key is hashed once) for the test and the insert.
    if let Entry::Vacant(slot) = details.entry(key) {
        slot.insert(Value::String(value.to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actor;
    use crate::request::{self, RequestIds};
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn current_actor_is_added_unless_the_details_name_one() {
        let (event, _) = actor::scope("alice", || {
            Draft::new("pause", Status::Success, Map::new(), None).finish()
        })
        .unwrap();
        assert_eq!(Value::Object(event.details), json!({"actor": "alice"}));
        let (event, _) = actor::scope("alice", || {
            Draft::new(
                "pause",
                Status::Success,
                object(json!({"actor": "bob"})),
                None,
            )
            .finish()
        })
        .unwrap();
        assert_eq!(Value::Object(event.details), json!({"actor": "bob"}));
    }

    #[test]
    fn the_current_request_is_added_unless_the_details_name_it() {
        let ids = RequestIds::from_header_values(
            Some("req-1"),
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        );
        let finish = |details: Value| {
            request::scope(ids.clone(), || {
                Draft::new("pause", Status::Success, object(details), None).finish()
            })
            .unwrap()
            .0
            .details
        };
        assert_eq!(
            Value::Object(finish(json!({}))),
            json!({"request_id": "req-1", "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"})
        );
        assert_eq!(
            Value::Object(finish(json!({"request_id": "own", "trace_id": "mine"}))),
            json!({"request_id": "own", "trace_id": "mine"})
        );
        let outside = Draft::new("pause", Status::Success, Map::new(), None).finish();
        assert!(outside.unwrap().0.details.is_empty(), "no request, no id");
    }

    #[test]
    fn a_captured_actor_wins_over_the_current_one_even_when_absent() {
        let draft = |captured: Option<&str>| Draft {
            ambient: Ambient::Captured {
                actor: captured.map(Arc::from),
                request: None,
            },
            ..Draft::new("pause", Status::Success, Map::new(), None)
        };
        let (event, _) = actor::scope("later", || draft(Some("at-start")).finish()).unwrap();
        assert_eq!(event.details["actor"], "at-start");
        let (event, _) = actor::scope("later", || draft(None).finish()).unwrap();
        assert!(event.details.is_empty());
    }

    #[test]
    fn redaction_follows_the_actor_and_checks_follow_redaction() {
        let (event, _) = actor::scope("alice", || {
            Draft {
                redact: &["actor", "token"],
                ..Draft::new(
                    "query_execute",
                    Status::Failed,
                    object(json!({"req": [{"token": "t"}]})),
                    Some(""),
                )
            }
            .finish()
        })
        .unwrap();
        assert_eq!(
            Value::Object(event.details),
            json!({"req": [{"token": REDACTED}], "actor": REDACTED})
        );
        // An empty message is stored as none.
        assert_eq!(event.error, None);
        assert!(
            Draft::new(" ", Status::Success, Map::new(), None)
                .finish()
                .is_err()
        );
    }

    #[test]
    fn the_wanted_timestamp_is_now() {
        let before = Timestamp::now();
        let (_, wanted) = Draft::new("pause", Status::Success, Map::new(), None)
            .finish()
            .unwrap();
        assert!(before <= wanted && wanted <= Timestamp::now());
    }

    #[test]
    fn secret_named_keys_are_redacted_by_default_at_any_depth() {
        let (event, _) = Draft::new(
            "hp_change",
            Status::Success,
            object(
                json!({"learning_rate": 0.1, "req": {"auth": {"api_key": "k"}}, "num_tokens": 3}),
            ),
            None,
        )
        .finish()
        .unwrap();
        assert_eq!(
            Value::Object(event.details),
            json!({"learning_rate": 0.1, "req": {"auth": {"api_key": REDACTED}}, "num_tokens": 3})
        );
    }
}
