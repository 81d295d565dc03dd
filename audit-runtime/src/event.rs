//! The audit event: exactly the spec's five fields, in the spec's order.
//!
//! Anything beyond them (an actor, a hash chain) lives inside `details`, so readers written
//! for the spec keep working.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::{AuditError, Timestamp};

/// The outcome of an action: `"success"` or `"failed"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The action did what was asked.
    Success,
    /// The action failed; the event's `error` says why.
    Failed,
}

impl Status {
    /// The spelling used in the files.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Success => "success",
            Status::Failed => "failed",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status string other than `success` / `failed`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid status {0:?}: expected \"success\" or \"failed\"")]
pub struct ParseStatusError(String);

impl FromStr for Status {
    type Err = ParseStatusError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "success" => Ok(Status::Success),
            "failed" => Ok(Status::Failed),
            _ => Err(ParseStatusError(s.to_owned())),
        }
    }
}

/// One line of the audit trail.
///
/// Serialises to the spec's shape, field for field:
/// ```
/// use audit_runtime::{AuditEvent, Status, Timestamp};
/// let event = AuditEvent {
///     timestamp: "2026-05-27T14:30:00.123456Z".parse().unwrap(),
///     action_type: "hp_change".into(),
///     status: Status::Success,
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
    /// Whether it worked.
    pub status: Status,
    /// Context: before/after values, affected samples, who did it. Always an object.
    #[serde(default, deserialize_with = "details_from_any")]
    pub details: Map<String, Value>,
    /// Why it failed, or `null`. Never `Some("")`: an empty message is no message, so the
    /// logger stores it as `null` and every reader reads `""` as `None` (the CSV file cannot
    /// tell the two apart, and a round trip between the formats must not change an event).
    #[serde(default, deserialize_with = "error_from_any")]
    pub error: Option<String>,
}

/// The error as it is stored: an empty message is none.
pub(crate) fn stored_error(error: Option<&str>) -> Option<&str> {
    error.filter(|e| !e.is_empty())
}

/// The checks every event passes before it is written or buffered, whichever way it came in
/// (`log_event`, `log_serialize`, `#[audited]`, the global logger before `init`): the one
/// place that decides what an acknowledged event may hold. Returns the details and the
/// error as they are to be stored.
pub(crate) fn prepare<'e>(
    action_type: &str,
    details: Map<String, Value>,
    error: Option<&'e str>,
) -> Result<(Map<String, Value>, Option<&'e str>), AuditError> {
    if action_type.trim().is_empty() {
        return Err(AuditError::InvalidEvent(
            "the action type is empty".to_owned(),
        ));
    }
    Ok((details, stored_error(error)))
}

fn error_from_any<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Option::<String>::deserialize(d).map(|e| e.filter(|e| !e.is_empty()))
}

/// Turns whatever a caller or a foreign file provides into the details object: nothing or
/// `null` is `{}`, an object is kept, and any other value is kept under the key `"value"`
/// (so `log_event(.., json!(42), ..)` writes `{"value": 42}` instead of failing or losing it).
pub fn details_object(details: Option<Value>) -> Map<String, Value> {
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
            status: Status::Success,
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

    #[test]
    fn status_parses_only_the_two_spellings() {
        assert_eq!("success".parse::<Status>().unwrap(), Status::Success);
        assert_eq!(" failed ".parse::<Status>().unwrap(), Status::Failed);
        assert!("ok".parse::<Status>().is_err());
        assert!(serde_json::from_str::<Status>("\"error\"").is_err());
    }
}
