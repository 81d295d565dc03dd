//! The data model, with no I/O: the audit event with exactly the spec's five fields, in the
//! spec's order ([`AuditEvent`]), its status, the actions it names, its timestamp, the rule
//! that keeps non-finite floats visible, and the checks an event passes before it is written.
//!
//! Anything beyond the five fields (an actor, a hash chain) lives inside `details`, so
//! readers written for the spec keep working. This module must not know about files: the
//! on-disk encodings live in `crate::storage`, reading them in `crate::read`.

mod action;
mod finite;
mod status;
mod timestamp;
mod validate;

pub use action::{Action, AuditAction};
pub use finite::to_value;
pub(crate) use finite::to_value_within;
pub use status::{EventStatus, ParseStatusError, Status};
pub(crate) use timestamp::{MonotonicClock, TIMESTAMP_LEN};
pub use timestamp::{ParseTimestampError, Timestamp};
pub use validate::{MAX_DETAILS_DEPTH, dismantle};
pub(crate) use validate::{prepare, within_depth};

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// One line of the audit trail.
///
/// Serialises to the spec's shape, field for field:
/// ```
/// use audit_runtime::{AuditEvent, Status, Timestamp};
/// let event = AuditEvent {
///     timestamp: "2026-05-27T14:30:00.123456Z".parse().unwrap(),
///     action_type: "hp_change".into(),
///     status: Status::Success.into(),
///     details: serde_json::json!({"learning_rate": 0.001}).as_object().unwrap().clone(),
///     error: None,
/// };
/// assert_eq!(
///     serde_json::to_string(&event).unwrap(),
///     r#"{"timestamp":"2026-05-27T14:30:00.123456Z","action_type":"hp_change","status":"success","details":{"learning_rate":0.001},"error":null}"#
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// When the action was logged (UTC, microseconds).
    pub timestamp: Timestamp,
    /// What was done, e.g. `hp_change`.
    pub action_type: String,
    /// Whether it worked: `success` or `failed` when this crate wrote it, kept as written
    /// when another writer used another status (see [`EventStatus`]).
    pub status: EventStatus,
    /// Context: before/after values, affected samples, who did it. Always an object.
    #[serde(default, deserialize_with = "details_from_any")]
    pub details: Map<String, Value>,
    /// Why it failed, or `null`. Never `Some("")`: an empty message is no message, so the
    /// logger stores it as `null` and every reader reads `""` as `None` (the CSV file cannot
    /// tell the two apart, and a round trip between the formats must not change an event).
    #[serde(default, deserialize_with = "error_from_any")]
    pub error: Option<String>,
}

/// The key inside `details` under which the logger records facts about the event itself
/// (not given by the caller), as an object.
pub const RESERVED_DETAILS_KEY: &str = "_audit";

/// The error as it is stored: an empty message is none.
pub(crate) fn stored_error(error: Option<&str>) -> Option<&str> {
    error.filter(|e| !e.is_empty())
}

fn error_from_any<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Option::<String>::deserialize(d).map(|e| e.filter(|e| !e.is_empty()))
}

/// Turns whatever a caller or a foreign file provides into the details object: nothing or
/// `null` is `{}`, an object is kept, and any other value is kept under the key `"value"`
/// (so `log_event(.., json!(42), ..)` writes `{"value": 42}` instead of failing or losing it).
pub(crate) fn details_object(details: Option<Value>) -> Map<String, Value> {
    match details {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map,
        Some(other) => {
            let mut map = Map::new();
            map.insert("value".to_owned(), other);
            map
        }
    }
}

fn details_from_any<'de, D: Deserializer<'de>>(d: D) -> Result<Map<String, Value>, D::Error> {
    Option::<Value>::deserialize(d).map(details_object)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> AuditEvent {
        AuditEvent {
            timestamp: "2026-05-27T14:30:05.456789Z".parse().unwrap(),
            action_type: "tag_add".into(),
            status: Status::Success.into(),
            details: details_object(Some(json!({"tag_name": "defect", "samples_affected": 5}))),
            error: None,
        }
    }

    #[test]
    fn fields_are_written_in_the_spec_order() {
        let text = serde_json::to_string(&sample()).unwrap();
        let order: Vec<usize> = ["timestamp", "action_type", "status", "details", "error"]
            .iter()
            .map(|k| text.find(&format!("\"{k}\"")).unwrap())
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
        assert!(text.ends_with(r#""error":null}"#));
    }

    #[test]
    fn round_trips_through_json() {
        let event = sample();
        let back: AuditEvent =
            serde_json::from_str(&serde_json::to_string(&event).unwrap()).unwrap();
        assert_eq!(back, event);
    }

    #[test]
    fn null_or_missing_details_read_as_empty_object() {
        let base = r#""timestamp":"2026-05-27T14:30:05.456789Z","action_type":"resume","status":"success""#;
        for text in [
            format!("{{{base}}}"),
            format!("{{{base},\"details\":null,\"error\":null}}"),
        ] {
            let event: AuditEvent = serde_json::from_str(&text).unwrap();
            assert!(event.details.is_empty());
            assert_eq!(event.error, None);
        }
    }

    #[test]
    fn non_object_details_are_wrapped_not_lost() {
        assert_eq!(
            Value::Object(details_object(Some(json!(42)))),
            json!({"value": 42})
        );
        assert_eq!(
            Value::Object(details_object(Some(json!(["a"])))),
            json!({"value": ["a"]})
        );
        assert!(details_object(None).is_empty());
    }

    #[test]
    fn an_empty_error_is_read_as_none() {
        let text = r#"{"timestamp":"2026-05-27T14:30:05.456789Z","action_type":"resume","status":"failed","details":{},"error":""}"#;
        let event: AuditEvent = serde_json::from_str(text).unwrap();
        assert_eq!(event.error, None);
        assert_eq!(stored_error(Some("")), None);
        assert_eq!(stored_error(Some(" ")), Some(" "));
    }
}
