//! The audit event: exactly the spec's five fields, in the spec's order.
//!
//! Anything beyond them (an actor, a hash chain) lives inside `details`, so readers written
//! for the spec keep working.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::{AuditError, Timestamp};

/// The outcome of an action, as this crate writes it: `"success"` or `"failed"`.
///
/// Everything that logs takes a `Status`, so only these two are ever written. Events read
/// from a log hold an [`EventStatus`], which also keeps a status another writer used.
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

/// A status that cannot be read: for [`Status`], anything but `success` / `failed`; for
/// [`EventStatus`], an empty (or all-whitespace) string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseStatusError {
    found: String,
}

impl fmt::Display for ParseStatusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.found.trim().is_empty() {
            f.write_str("the status is empty")
        } else {
            write!(
                f,
                "invalid status {:?}: expected \"success\" or \"failed\"",
                self.found
            )
        }
    }
}

impl std::error::Error for ParseStatusError {}

impl FromStr for Status {
    type Err = ParseStatusError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "success" => Ok(Status::Success),
            "failed" => Ok(Status::Failed),
            _ => Err(ParseStatusError {
                found: s.to_owned(),
            }),
        }
    }
}

/// The status of an event as a log holds it: `success`, `failed`, or any other non-empty
/// string another writer put there (WeightsLab v2.0's services log `error` for a notebook
/// cell that raised).
///
/// Reading is lossless: a status this version does not write is kept exactly as written, so
/// continuing, querying, exporting and summarising such a log never changes or drops it.
/// Writing is not: [`AuditLogger::log_event`](crate::AuditLogger::log_event) and everything
/// else that logs takes a [`Status`], so this crate only ever writes `success` and `failed`.
/// That is why this is a type of its own rather than a third variant of [`Status`].
///
/// ```
/// use audit_runtime::{EventStatus, Status};
/// let error: EventStatus = "error".parse().unwrap();
/// assert_eq!(error.as_str(), "error");
/// assert_eq!(error.known(), None);
/// assert_eq!(EventStatus::from(Status::Failed), Status::Failed);
/// assert!("".parse::<EventStatus>().is_err());
/// ```
///
/// Logging takes a [`Status`], so a status read from a file cannot be written back as new:
/// ```compile_fail
/// # let dir = tempfile::tempdir().unwrap();
/// # let logger = audit_runtime::AuditLogger::new(dir.path(), "exp").unwrap();
/// let error: audit_runtime::EventStatus = "error".parse().unwrap();
/// logger.log_event("notebook_run", error, None, None);
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EventStatus(Repr);

// Private, so that `Other` never holds `success`, `failed` or an empty string (one value has
// one representation) and more kinds can be told apart later without breaking anyone.
#[derive(Clone, PartialEq, Eq, Hash)]
enum Repr {
    Known(Status),
    Other(Box<str>),
}

impl EventStatus {
    /// The status as written in the file.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Known(status) => status.as_str(),
            Repr::Other(text) => text,
        }
    }

    /// The status if it is one this version writes, `None` for any other.
    pub fn known(&self) -> Option<Status> {
        match self.0 {
            Repr::Known(status) => Some(status),
            Repr::Other(_) => None,
        }
    }

    /// Whether the action worked (`success`). Every other status, `failed` or one this
    /// version does not write (`error`), is a kind of failure.
    pub fn is_success(&self) -> bool {
        self.0 == Repr::Known(Status::Success)
    }
}

impl From<Status> for EventStatus {
    fn from(status: Status) -> Self {
        EventStatus(Repr::Known(status))
    }
}

impl FromStr for EventStatus {
    type Err = ParseStatusError;
    /// `success` and `failed` (surrounding whitespace ignored, as [`Status`] reads them),
    /// or any other string that is not blank, kept exactly as given.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.parse::<Status>() {
            Ok(status) => Ok(status.into()),
            Err(e) if s.trim().is_empty() => Err(e),
            Err(_) => Ok(EventStatus(Repr::Other(s.into()))),
        }
    }
}

impl PartialEq<Status> for EventStatus {
    fn eq(&self, other: &Status) -> bool {
        self.0 == Repr::Known(*other)
    }
}

impl PartialEq<EventStatus> for Status {
    fn eq(&self, other: &EventStatus) -> bool {
        other == self
    }
}

impl fmt::Debug for EventStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Known(status) => fmt::Debug::fmt(status, f),
            Repr::Other(text) => f.debug_tuple("Other").field(text).finish(),
        }
    }
}

impl fmt::Display for EventStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for EventStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for EventStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = EventStatus;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a non-empty status string")
            }
            // Borrowed when unescaped: the usual `success`/`failed` allocate nothing.
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<EventStatus, E> {
                v.parse().map_err(E::custom)
            }
        }
        d.deserialize_str(Visitor)
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

/// The error as it is stored: an empty message is none.
pub(crate) fn stored_error(error: Option<&str>) -> Option<&str> {
    error.filter(|e| !e.is_empty())
}

/// How deeply `details` may nest: the details object itself is level 1, and each array or
/// object inside it one more (`{"a": {"b": [1]}}` has 3 levels). A deeper event is refused
/// with [`AuditError::InvalidEvent`] naming the path to the first container that is too
/// deep, before anything is written.
///
/// Why a limit: JSON parsers stop at some depth (serde_json, which our readers use, at 128
/// nested containers; Python's `json` near its recursion limit), and a log must stay
/// readable by them. In `audit_log.json` an event is one more level (the event object), two
/// when the whole array is parsed at once; in `audit_log.csv` the `details` cell is parsed
/// alone. 100 leaves room in both, and is far deeper than any real before/after value.
pub const MAX_DETAILS_DEPTH: usize = 100;

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
    if let Some(path) = too_deep(&details) {
        dismantle(Value::Object(details));
        return Err(AuditError::InvalidEvent(format!(
            "details nest deeper than {MAX_DETAILS_DEPTH} levels (MAX_DETAILS_DEPTH, so that \
             JSON parsers can read the log), first at {path}"
        )));
    }
    Ok((details, stored_error(error)))
}

/// The path (`details.a[0].b`) to the first container in `details` that is deeper than
/// [`MAX_DETAILS_DEPTH`], if any. Walks with a stack of its own, never deeper than the limit,
/// so input of any depth neither recurses nor overflows.
fn too_deep(details: &Map<String, Value>) -> Option<String> {
    enum Children<'a> {
        Object(serde_json::map::Iter<'a>),
        Array(std::iter::Enumerate<std::slice::Iter<'a, Value>>),
    }
    enum Step<'a> {
        Key(&'a str),
        Index(usize),
    }
    fn children(value: &Value) -> Option<Children<'_>> {
        match value {
            Value::Object(map) => Some(Children::Object(map.iter())),
            Value::Array(items) => Some(Children::Array(items.iter().enumerate())),
            _ => None,
        }
    }
    // Most events are shallow: a check whose recursion the limit bounds (at most
    // MAX_DETAILS_DEPTH frames, whatever the input) and that allocates nothing answers for
    // them; only details that fail it are walked again to name the path.
    fn within(value: &Value, levels_left: usize) -> bool {
        match value {
            Value::Object(map) => {
                levels_left > 0 && map.values().all(|v| within(v, levels_left - 1))
            }
            Value::Array(items) => {
                levels_left > 0 && items.iter().all(|v| within(v, levels_left - 1))
            }
            _ => true,
        }
    }
    if details.values().all(|v| within(v, MAX_DETAILS_DEPTH - 1)) {
        return None;
    }
    // `open[i]` walks the children of the container at level i + 1; `path[i]` is how the
    // container at level i + 2 was reached.
    let mut open = vec![Children::Object(details.iter())];
    let mut path: Vec<Step<'_>> = Vec::new();
    while let Some(current) = open.last_mut() {
        let next = match current {
            Children::Object(it) => it.next().map(|(k, v)| (Step::Key(k.as_str()), v)),
            Children::Array(it) => it.next().map(|(i, v)| (Step::Index(i), v)),
        };
        let Some((step, child)) = next else {
            open.pop();
            path.pop();
            continue;
        };
        let Some(grandchildren) = children(child) else {
            continue;
        };
        path.push(step);
        if open.len() + 1 > MAX_DETAILS_DEPTH {
            return Some(render_path(&path));
        }
        open.push(grandchildren);
    }
    return None;

    fn render_path(path: &[Step<'_>]) -> String {
        use std::fmt::Write;
        let mut out = String::from("details");
        for step in path {
            match step {
                Step::Index(i) => {
                    let _ = write!(out, "[{i}]");
                }
                Step::Key(key) => {
                    // Long keys are cut: the message must stay readable.
                    let shown: String = key.chars().take(40).collect();
                    let shown = if shown.len() < key.len() {
                        format!("{shown}…")
                    } else {
                        shown
                    };
                    let plain = !shown.is_empty()
                        && shown
                            .chars()
                            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '…'));
                    if plain {
                        let _ = write!(out, ".{shown}");
                    } else {
                        let _ = write!(out, "[{}]", Value::String(shown));
                    }
                }
            }
        }
        out
    }
}

/// Drops a JSON value of any depth without recursion.
///
/// serde_json's own drop recurses once per level and overflows a thread's stack at about
/// ten thousand levels, which aborts the process. The logger dismantles every too-deep
/// value it refuses with this; use it for a deep value you built yourself.
///
/// ```
/// use serde_json::Value;
/// let mut deep = Value::from(1);
/// for _ in 0..100_000 {
///     deep = Value::Array(vec![deep]); // not `json!([deep])`, which copies `deep` each time
/// }
/// audit_runtime::event::dismantle(deep);
/// ```
pub fn dismantle(value: Value) {
    fn take_children(value: Value, pending: &mut Vec<Value>) {
        // Scalars and empty containers are dropped here, in constant stack.
        let nested = |v: &Value| match v {
            Value::Array(items) => !items.is_empty(),
            Value::Object(map) => !map.is_empty(),
            _ => false,
        };
        match value {
            Value::Array(items) => pending.extend(items.into_iter().filter(nested)),
            Value::Object(map) => pending.extend(map.into_iter().map(|(_, v)| v).filter(nested)),
            _ => {}
        }
    }
    let mut pending = Vec::new();
    take_children(value, &mut pending);
    while let Some(value) = pending.pop() {
        take_children(value, &mut pending);
    }
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

    #[test]
    fn the_depth_limit_names_the_path_to_the_first_container_too_deep() {
        // Level 1 is the details object; build MAX_DETAILS_DEPTH - 2 more object levels
        // under "a b", then an array at the limit holding one object (one level too deep).
        let mut value = json!([{"x": 1}]);
        for _ in 0..MAX_DETAILS_DEPTH - 2 {
            value = json!({"k": value});
        }
        let details = details_object(Some(json!({"flat": 1, "a b": value})));
        let err = prepare("hp_change", details, None).unwrap_err().to_string();
        let expected = format!(
            "first at details[\"a b\"]{}[0]",
            ".k".repeat(MAX_DETAILS_DEPTH - 2)
        );
        assert!(err.ends_with(&expected), "{err}");
        assert!(err.contains("MAX_DETAILS_DEPTH"), "{err}");

        // One level less is fine; so is a wide but shallow object.
        let mut value = json!([1]);
        for _ in 0..MAX_DETAILS_DEPTH - 2 {
            value = json!({"k": value});
        }
        assert!(prepare("a", details_object(Some(json!({"a": value}))), None).is_ok());
        let wide: Map<String, Value> = (0..1000).map(|i| (i.to_string(), json!([[i]]))).collect();
        assert!(prepare("a", wide, None).is_ok());
    }

    #[test]
    fn dismantle_takes_apart_what_would_overflow_a_recursive_drop() {
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(|| {
                // Built by hand: `json!` would serialise (and drop) the value at each step.
                let mut value = Value::from("leaf");
                for i in 0..200_000 {
                    value = if i % 2 == 0 {
                        Value::Array(vec![value, Value::from(1)])
                    } else {
                        let mut map = Map::new();
                        map.insert("a".to_owned(), value);
                        Value::Object(map)
                    };
                }
                dismantle(value);
            })
            .unwrap()
            .join()
            .unwrap();
    }

    #[test]
    fn status_parses_only_the_two_spellings() {
        assert_eq!("success".parse::<Status>().unwrap(), Status::Success);
        assert_eq!(" failed ".parse::<Status>().unwrap(), Status::Failed);
        assert!("ok".parse::<Status>().is_err());
        assert!(serde_json::from_str::<Status>("\"error\"").is_err());
    }

    #[test]
    fn an_event_keeps_a_status_this_version_does_not_write() {
        let text = r#"{"timestamp":"2026-05-27T14:30:05.456789Z","action_type":"notebook_run","status":"error","details":{},"error":"NameError"}"#;
        let event: AuditEvent = serde_json::from_str(text).unwrap();
        assert_eq!(event.status.as_str(), "error");
        assert_eq!(event.status.known(), None);
        assert!(!event.status.is_success());
        assert_ne!(event.status, Status::Failed);
        assert_eq!(serde_json::to_string(&event).unwrap(), text);
        // Kept exactly as written, spaces and case included; only the two this crate
        // writes are read into `Status`.
        let odd: EventStatus = " Error ".parse().unwrap();
        assert_eq!(odd.as_str(), " Error ");
        let failed: EventStatus = " failed ".parse().unwrap();
        assert_eq!(failed, Status::Failed);
        assert_eq!(failed.known(), Some(Status::Failed));
        assert!(EventStatus::from(Status::Success).is_success());
    }

    #[test]
    fn an_empty_or_non_string_status_is_still_invalid() {
        for bad in ["", "   "] {
            assert_eq!(
                bad.parse::<EventStatus>().unwrap_err().to_string(),
                "the status is empty"
            );
        }
        for bad in ["\"\"", "1", "null", "{}"] {
            assert!(serde_json::from_str::<EventStatus>(bad).is_err(), "{bad}");
        }
    }
}
