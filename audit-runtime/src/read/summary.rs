//! Counting a log's events: the spec's `get_log_summary` (`total_events`, `by_action_type`,
//! `by_status`), for both formats, streaming; and [`EventBrief`], the few fields of an event
//! that a richer summary (`auditlog summary`) counts.
//!
//! The JSON path deserialises only the fields it counts (borrowed when unescaped) and
//! skips the rest of each event, which is what makes summarising a large log fast; the
//! lenient fallback for Python's `NaN` tokens applies as everywhere else. Like the
//! reference's summary, the counts take the fields as they are written: the summary does
//! not validate timestamps or details (`auditlog verify` does).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io::{Read, Seek};
use std::path::Path;

use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::stream::LocatedEvent;
use crate::read::json::{ScanError, ScanErrorKind};
use crate::read::lenient;
use crate::read::{CsvEvents, JsonScanner, malformed};
use crate::{AuditError, AuditEvent, Format, Timestamp, csv_safety};

/// Event counts, in exactly the shape of the spec's `get_log_summary`:
///
/// ```
/// let mut summary = audit_runtime::LogSummary::default();
/// summary.add_counts("hp_change", "success");
/// assert_eq!(
///     serde_json::to_string(&summary).unwrap(),
///     r#"{"total_events":1,"by_action_type":{"hp_change":1},"by_status":{"success":1}}"#
/// );
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogSummary {
    /// How many events the log holds.
    pub total_events: u64,
    /// Events per `action_type`.
    pub by_action_type: BTreeMap<String, u64>,
    /// Events per `status` as written (`success`, `failed`, and any other status a log
    /// holds under its own name, such as WeightsLab v2.0's `error`).
    pub by_status: BTreeMap<String, u64>,
}

impl LogSummary {
    /// Counts one event.
    pub fn add(&mut self, event: &AuditEvent) {
        self.add_counts(&event.action_type, event.status.as_str());
    }

    /// Counts one event given its action and status as written.
    pub fn add_counts(&mut self, action_type: &str, status: &str) {
        self.total_events += 1;
        bump(&mut self.by_action_type, action_type);
        bump(&mut self.by_status, status);
    }

    /// Adds another summary's counts to this one.
    pub fn merge(&mut self, other: &LogSummary) {
        self.total_events += other.total_events;
        for (k, v) in &other.by_action_type {
            *self.by_action_type.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &other.by_status {
            *self.by_status.entry(k.clone()).or_default() += v;
        }
    }
}

// Looking up by `&str` first avoids allocating a key for every event.
fn bump(map: &mut BTreeMap<String, u64>, key: &str) {
    match map.get_mut(key) {
        Some(count) => *count += 1,
        None => {
            map.insert(key.to_owned(), 1);
        }
    }
}

/// The two fields the summary needs; everything else is skipped unparsed.
#[derive(Deserialize)]
struct Counted<'a> {
    #[serde(borrow)]
    action_type: Cow<'a, str>,
    #[serde(borrow)]
    status: Cow<'a, str>,
}

/// Summarises the log at `path`, read in the given format, one event at a time.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// let logger = audit_runtime::AuditLogger::builder(dir.path())
///     .format(audit_runtime::Format::Json)
///     .build()?;
/// logger.log_event("pause", audit_runtime::Status::Success, serde_json::json!({}), None)?;
/// let path = logger.path().unwrap();
/// let summary = audit_runtime::read::summarize_file(path, audit_runtime::Format::Json)?;
/// assert_eq!((summary.total_events, summary.by_status["success"]), (1, 1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn summarize_file(path: impl AsRef<Path>, format: Format) -> Result<LogSummary, AuditError> {
    let path = path.as_ref();
    let file = File::open(path).map_err(|e| AuditError::io("open", path, e))?;
    match format {
        Format::Json => summarize_json(JsonScanner::new(file), path),
        Format::Csv => summarize_csv(file, path),
        Format::None => Ok(LogSummary::default()),
    }
}

/// Summarises a snapshot of a JSON log: the elements from `first_element_offset` (at or in
/// the whitespace before the first element, after the `[`) up to byte `len`, ignoring anything
/// written later. Errors name the path as `(open JSON log snapshot)`; callers that know the
/// path may re-wrap them.
pub(crate) fn summarize_json_snapshot<R: Read + Seek>(
    file: R,
    first_element_offset: u64,
    len: u64,
) -> Result<LogSummary, AuditError> {
    let scanner = JsonScanner::inside_array(file, first_element_offset).limit(len);
    summarize_json(scanner, Path::new("(open JSON log snapshot)"))
}

/// Summarises the first `len` bytes of a CSV log (a snapshot of a file another process may be
/// appending to).
pub(crate) fn summarize_csv_snapshot<R: Read>(file: R, len: u64) -> Result<LogSummary, AuditError> {
    summarize_csv(file.take(len), Path::new("(open CSV log snapshot)"))
}

fn summarize_json<R: Read + Seek>(
    mut scanner: JsonScanner<R>,
    path: &Path,
) -> Result<LogSummary, AuditError> {
    let mut summary = LogSummary::default();
    loop {
        let element = match scanner.next_raw() {
            Ok(Some(element)) => element,
            Ok(None) => return Ok(summary),
            Err(error) => {
                return Err(match scanner.take_io_error() {
                    Some(io) => AuditError::io("read", path, io),
                    None => malformed(path, &error),
                });
            }
        };
        let counted = lenient::parse_with(element.bytes, |bytes| {
            let counted: Counted<'_> = serde_json::from_slice(bytes)?;
            summary.add_counts(&counted.action_type, &counted.status);
            Ok(())
        });
        if let Err(err) = counted {
            let error = ScanError {
                kind: ScanErrorKind::Malformed,
                offset: element.start,
                line: element.line,
                message: format!("not an event: {}", err.message),
            };
            return Err(malformed(path, &error));
        }
    }
}

fn summarize_csv<R: Read>(file: R, path: &Path) -> Result<LogSummary, AuditError> {
    let mut rows = CsvEvents::new(file);
    let mut summary = LogSummary::default();
    while let Some(row) = rows.next_cells() {
        match row {
            Ok((_, [_, action_type, status, _, _])) => {
                summary.add_counts(
                    csv_safety::restore(action_type),
                    csv_safety::restore(status),
                );
            }
            Err(error) => {
                return Err(match rows.take_io_error() {
                    Some(io) => AuditError::io("read", path, io),
                    None => malformed(path, &error),
                });
            }
        }
    }
    Ok(summary)
}

/// What [`EventStream::for_each_brief`](super::EventStream::for_each_brief) gives of each
/// event: the fields a summary counts, as written.
///
/// ```
/// use std::collections::BTreeMap;
/// use audit_runtime::{AuditLogger, Format, Status, actor, read};
/// # let dir = tempfile::tempdir()?;
/// let logger = AuditLogger::builder(dir.path()).format(Format::Json).build()?;
/// actor::scope("alice", || logger.log_event("pause", Status::Success, None, None))?;
/// actor::scope("alice", || logger.log_event("resume", Status::Success, None, None))?;
/// actor::scope("bob", || logger.log_event("tag_add", Status::Failed, None, Some("no such tag")))?;
///
/// // Failures per actor, without deserialising the details.
/// let mut failures: BTreeMap<String, u32> = BTreeMap::new();
/// read::open_events(logger.path().unwrap())?.for_each_brief(|brief| {
///     let who = brief.actor.and_then(|actor| actor.as_str()).unwrap_or("unknown");
///     *failures.entry(who.to_owned()).or_default() += u32::from(brief.status != "success");
/// })?;
/// assert_eq!(failures, BTreeMap::from([("alice".to_owned(), 0), ("bob".to_owned(), 1)]));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct EventBrief<'a> {
    /// Byte offset of the event's first byte.
    pub offset: u64,
    /// Offset one past its last byte.
    pub end: u64,
    /// The timestamp, `None` when it is not one (the summary does not validate).
    pub timestamp: Option<Timestamp>,
    /// The action, as written.
    pub action_type: &'a str,
    /// The status, as written.
    pub status: &'a str,
    /// `details.actor`, who did it (see [`crate::actor`]), if the event names one.
    pub actor: Option<&'a Value>,
}

impl<'a> EventBrief<'a> {
    pub(crate) fn of(located: &'a LocatedEvent) -> EventBrief<'a> {
        let event = &located.event;
        EventBrief {
            offset: located.offset,
            end: located.end,
            timestamp: Some(event.timestamp),
            action_type: &event.action_type,
            status: event.status.as_str(),
            actor: event.details.get("actor"),
        }
    }
}

/// The fields of a JSON event an [`EventBrief`] holds; everything else is skipped unparsed.
#[derive(Deserialize)]
pub(crate) struct Brief<'a> {
    #[serde(borrow)]
    timestamp: Cow<'a, str>,
    #[serde(borrow)]
    action_type: Cow<'a, str>,
    #[serde(borrow)]
    status: Cow<'a, str>,
    #[serde(default)]
    details: Actor,
}

impl Brief<'_> {
    pub(crate) fn at(&self, offset: u64, end: u64) -> EventBrief<'_> {
        EventBrief {
            offset,
            end,
            timestamp: self.timestamp.parse().ok(),
            action_type: &self.action_type,
            status: &self.status,
            actor: self.details.0.as_ref(),
        }
    }
}

/// `details.actor` if `details` is an object that has one; any other `details` is skipped.
#[derive(Default)]
struct Actor(Option<Value>);

impl<'de> Deserialize<'de> for Actor {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Actor;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Actor, A::Error> {
                let mut actor = None;
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    if key == "actor" {
                        actor = Some(map.next_value::<Value>()?);
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(Actor(actor))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Actor, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Actor(None))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Actor, E> {
                Ok(Actor(None))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Actor, E> {
                Ok(Actor(None))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Actor, E> {
                Ok(Actor(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Actor, E> {
                Ok(Actor(None))
            }
            fn visit_str<E>(self, _: &str) -> Result<Actor, E> {
                Ok(Actor(None))
            }
            fn visit_unit<E>(self) -> Result<Actor, E> {
                Ok(Actor(None))
            }
            fn visit_none<E>(self) -> Result<Actor, E> {
                Ok(Actor(None))
            }
            fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Actor, D::Error> {
                d.deserialize_any(V)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn fixture(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/reference")
            .join(name)
    }

    #[test]
    fn a_snapshot_summary_starts_at_the_first_element() {
        let path = fixture("audit_log.indent2.json");
        let len = std::fs::metadata(&path).unwrap().len();
        let mut scanner = JsonScanner::new(File::open(&path).unwrap());
        let first = scanner.next_element().unwrap().unwrap().start;
        let file = File::open(&path).unwrap();
        let snapshot = summarize_json_snapshot(&file, first, len).unwrap();
        assert_eq!(snapshot, summarize_file(&path, Format::Json).unwrap());
    }
}
