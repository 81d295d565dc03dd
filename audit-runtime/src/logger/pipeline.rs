//! The one place an event is finished, whichever way it came in: `AuditLogger::log_event`,
//! `log_serialize` and `log_details`, the global `log_event`/`log_details` (also into the
//! pre-init buffer), `#[audited]`, and the tonic layer's refusals. Each of them builds a
//! [`Draft`] and calls [`Draft::finish`]; what an event holds when it reaches a
//! [`crate::Sink`] is decided here and nowhere else.
//!
//! The steps, in order:
//! 1. the actor (`details.actor`) is added unless the details already name one;
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

use super::actor;
use super::sink::FinishedEvent;
use crate::policy::Secrets;
use crate::{AuditError, Status, Timestamp, event};

/// Whose action an event records.
#[derive(Debug, Clone)]
pub(crate) enum Actor {
    /// The actor current on this thread when the event is finished.
    Current,
    /// An actor fixed earlier: `#[audited]` takes it when the call starts, since a cancelled
    /// future is dropped outside any actor scope; the tonic layer knows its refused caller.
    /// `None`: there was none, and the current one must not be taken instead.
    Captured(Option<Arc<str>>),
}

/// An event as an entry point hands it over, not yet finished.
#[derive(Debug)]
pub(crate) struct Draft<'a> {
    pub(crate) action_type: &'a str,
    pub(crate) status: Status,
    pub(crate) details: Map<String, Value>,
    pub(crate) error: Option<&'a str>,
    pub(crate) actor: Actor,
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
            actor: Actor::Current,
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
            actor,
            redact,
            hash,
        } = self;
        let who = match actor {
            Actor::Current => actor::current(),
            Actor::Captured(who) => who,
        };
        if let Some(who) = who {
            // One lookup (the key is hashed once) for the test and the insert.
            if let Entry::Vacant(slot) = details.entry("actor") {
                slot.insert(Value::String(String::from(&*who)));
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

#[cfg(test)]
mod tests {
    use super::*;
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
    fn a_captured_actor_wins_over_the_current_one_even_when_absent() {
        let draft = |captured: Option<&str>| Draft {
            actor: Actor::Captured(captured.map(Arc::from)),
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
