//! Streaming reader for the JSON log: one array of events, read one element at a time.
//!
//! The scanner finds each element's extent itself (depth counting, with memchr over string
//! bodies) and hands only that element's bytes to serde_json, so memory stays at one element
//! plus a fixed read buffer however large the log is, and every element comes with its exact
//! byte range, which the writer needs to continue a log in place.
//!
//! It accepts any valid JSON whitespace, so both our layout (`[`, a gap of spaces, one compact
//! event per line) and the reference's `json.dump(indent=2)` read the same way, plus Python's
//! bare `NaN`/`Infinity` tokens (see [`super::lenient`]).
//!
//! One rule goes beyond plain JSON, to keep a torn write from swallowing the rest of the file:
//! inside an element, a line that starts (after spaces or tabs only) at or left of the
//! element's own first column with `{` followed by `"timestamp"` is the start of the next
//! event, so the element before it is incomplete. Neither writer produces such a line inside
//! an event (ours writes events on one line, the reference indents nested values deeper).

use std::fmt;
use std::io::{self, Read, Seek, SeekFrom};

use serde::Deserialize;
use serde_json::{Map, Value};

use super::lenient;
use crate::event::{AuditEvent, EventStatus};
use crate::{InvalidEvent, InvalidEventKind, Timestamp};

const CHUNK: usize = 256 * 1024;
/// The key every event starts with, in our files and the reference's.
const EVENT_KEY: &[u8] = b"\"timestamp\"";
/// How much whitespace between `{` and `"timestamp"` still counts as an event start.
const MAX_CANDIDATE_GAP: usize = 64;

/// One element of a JSON log array as found in the file.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonElement {
    /// Byte offset of the element's first byte (the `{` for objects).
    pub start: u64,
    /// Offset one past its last byte.
    pub end: u64,
    /// The element, parsed leniently: bare `NaN` / `Infinity` / `-Infinity` tokens become the
    /// strings `"NaN"`, `"Infinity"`, `"-Infinity"`.
    pub value: Value,
    /// How many such tokens were converted in this element.
    pub non_finite_tokens: u32,
    /// How many lone surrogate escapes (`"\ud800"`, which Python writes and reads back but
    /// Rust strings cannot hold) were read as U+FFFD in this element.
    pub lone_surrogates: u32,
    /// The element's bytes contain no raw `\n`.
    pub single_line: bool,
    /// The byte just before `start` is `\n`.
    pub starts_line: bool,
}

impl JsonElement {
    /// The element as an audit event, if it is a valid one (see [`check_event`]).
    pub fn to_event(&self) -> Result<AuditEvent, InvalidEvent> {
        value_to_event(&self.value)
    }

    /// Like [`to_event`](Self::to_event), consuming the element so `details` is moved
    /// rather than copied.
    pub fn into_event(self) -> Result<AuditEvent, InvalidEvent> {
        value_into_event(self.value)
    }
}

/// The spec's five fields, in the spec's order: exactly the keys of an event object.
pub const EVENT_FIELDS: [&str; 5] = ["timestamp", "action_type", "status", "details", "error"];

/// The one definition of a valid event in a JSON log, shared by everything that judges one:
/// the logger when it opens a log (verify on open, and what a salvage carries over),
/// `auditlog verify`, and every reader of events ([`JsonScanner::next_event`],
/// [`parse_event`], [`super::open_events`]).
///
/// An event is an object with exactly the five fields of [`EVENT_FIELDS`] (anything else
/// belongs inside `details`, so a misspelled field is an error, not an ignored key):
/// `timestamp` a string that parses as a [`Timestamp`], `action_type` a non-empty string,
/// `status` a string that is not empty (`"success"` and `"failed"` are what this crate
/// writes; any other, such as WeightsLab v2.0's `"error"`, is valid and kept exactly as
/// written, see [`EventStatus`]), `details` an object (`{}` when empty), `error` a string
/// or `null` (an empty string reads as `null`). The reference implementation writes exactly
/// this shape.
///
/// ```
/// use audit_runtime::read::check_event;
/// let good = serde_json::json!({"timestamp": "2026-05-27T14:30:00.123456Z",
///     "action_type": "pause", "status": "success", "details": {}, "error": null});
/// assert!(check_event(&good).is_ok());
/// let mut typo = good.clone();
/// typo["actoin_type"] = typo["action_type"].take();
/// typo.as_object_mut().unwrap().remove("action_type");
/// assert!(check_event(&typo).unwrap_err().to_string().contains("\"actoin_type\""));
/// ```
pub fn check_event(value: &Value) -> Result<(), InvalidEvent> {
    event_fields(value).map(drop)
}

/// The fields of a valid event, borrowed from the value.
struct Fields<'a> {
    timestamp: Timestamp,
    action_type: &'a str,
    status: EventStatus,
    details: &'a Map<String, Value>,
    error: Option<&'a str>,
}

/// The rules of [`check_event`].
fn event_fields(value: &Value) -> Result<Fields<'_>, InvalidEvent> {
    let Value::Object(map) = value else {
        return Err(InvalidEvent::new(
            InvalidEventKind::NotAnObject,
            format!("expected an event object, found {}", kind(value)),
        ));
    };
    if let Some(extra) = map.keys().find(|k| !EVENT_FIELDS.contains(&k.as_str())) {
        return Err(InvalidEvent::new(
            InvalidEventKind::UnexpectedField,
            format!(
                "unexpected field {extra:?} (an event has exactly timestamp, action_type, \
                 status, details, error; anything else belongs inside details)"
            ),
        ));
    }
    if let Some(missing) = EVENT_FIELDS.iter().find(|f| !map.contains_key(**f)) {
        return Err(InvalidEvent::new(
            InvalidEventKind::MissingField,
            format!("field {missing:?} is missing"),
        ));
    }
    let string_field = |name: &str| -> Result<&str, InvalidEvent> {
        match &map[name] {
            Value::String(s) => Ok(s),
            other => Err(InvalidEvent::new(
                InvalidEventKind::NotAString,
                format!("field \"{name}\" must be a string, found {}", kind(other)),
            )),
        }
    };
    let timestamp: Timestamp = string_field("timestamp")?.parse().map_err(|e| {
        InvalidEvent::new(
            InvalidEventKind::InvalidTimestamp,
            format!("field \"timestamp\": {e}"),
        )
    })?;
    let action_type = string_field("action_type")?;
    if action_type.is_empty() {
        return Err(InvalidEvent::new(
            InvalidEventKind::EmptyActionType,
            "field \"action_type\" is empty",
        ));
    }
    let status: EventStatus = string_field("status")?.parse().map_err(|e| {
        InvalidEvent::new(
            InvalidEventKind::EmptyStatus,
            format!("field \"status\": {e}"),
        )
    })?;
    let Value::Object(details) = &map["details"] else {
        return Err(InvalidEvent::new(
            InvalidEventKind::DetailsNotAnObject,
            format!(
                "field \"details\" must be an object ({{}} when empty), found {}",
                kind(&map["details"])
            ),
        ));
    };
    let error = match &map["error"] {
        Value::Null => None,
        // An empty message is no message, as the writers store it (and CSV cannot tell).
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(s.as_str()),
        other => {
            return Err(InvalidEvent::new(
                InvalidEventKind::NotAString,
                format!(
                    "field \"error\" must be a string or null, found {}",
                    kind(other)
                ),
            ));
        }
    };
    Ok(Fields {
        timestamp,
        action_type,
        status,
        details,
        error,
    })
}

/// Like [`value_to_event`], consuming the value so `details` is moved rather than copied.
///
/// ```
/// use audit_runtime::read;
/// // A whole log parsed by serde_json (fine for a small one; `read::open_events` streams).
/// let text = r#"[
///   {"timestamp": "2026-05-27T14:30:01.000000Z", "action_type": "resume", "status": "success", "details": {}, "error": null},
///   {"timestamp": "2026-05-27T14:30:00.000000Z", "action_type": "pause", "status": "success", "details": {}, "error": null}
/// ]"#;
/// let values: Vec<serde_json::Value> = serde_json::from_str(text)?;
/// let events = values.into_iter().map(read::value_into_event).collect::<Result<Vec<_>, _>>()?;
/// assert_eq!(events[1].action_type, "pause");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn value_into_event(value: Value) -> Result<AuditEvent, InvalidEvent> {
    let fields = event_fields(&value)?;
    let (timestamp, status) = (fields.timestamp, fields.status);
    let action_type = fields.action_type.to_owned();
    let error = fields.error.map(str::to_owned);
    let details = match value {
        Value::Object(mut map) => match map.remove("details") {
            Some(Value::Object(details)) => details,
            _ => Map::new(),
        },
        _ => Map::new(),
    };
    Ok(AuditEvent {
        timestamp,
        action_type,
        status,
        details,
        error,
    })
}

/// A parsed JSON value as an audit event, if it is a valid one (see [`check_event`]).
///
/// ```
/// use audit_runtime::{InvalidEventKind, Status, read};
/// use serde_json::json;
/// let value = json!({"timestamp": "2026-11-25T19:03:33.539087Z", "action_type": "checkpoint_restore",
///     "status": "failed", "details": {"checkpoint_id": "ckpt_001"}, "error": "Checkpoint file not found"});
/// let event = read::value_to_event(&value)?;
/// assert_eq!(event.status, Status::Failed);
/// assert_eq!(event.error.as_deref(), Some("Checkpoint file not found"));
///
/// // Another writer's status is kept as written (WeightsLab v2.0's `error`).
/// let mut other = value.clone();
/// other["status"] = json!("error");
/// assert_eq!(read::value_to_event(&other)?.status.as_str(), "error");
///
/// let mut typo = value.clone();
/// typo["detials"] = json!({});
/// assert_eq!(read::value_to_event(&typo).unwrap_err().kind(), InvalidEventKind::UnexpectedField);
/// # Ok::<(), audit_runtime::InvalidEvent>(())
/// ```
pub fn value_to_event(value: &Value) -> Result<AuditEvent, InvalidEvent> {
    let fields = event_fields(value)?;
    Ok(AuditEvent {
        timestamp: fields.timestamp,
        action_type: fields.action_type.to_owned(),
        status: fields.status,
        details: fields.details.clone(),
        error: fields.error.map(str::to_owned),
    })
}

/// What a valid event deserialises into on [`parse_event`]'s fast path. It accepts a subset
/// of what [`check_event`] accepts (every field required, no other key, exact spellings), so
/// when it fails the `Value` path has the last word.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StrictEvent {
    timestamp: Timestamp,
    action_type: String,
    status: EventStatus,
    details: Map<String, Value>,
    // `deserialize_with` makes the field required: plain `Option` fields may be missing.
    #[serde(deserialize_with = "Option::deserialize")]
    error: Option<String>,
}

/// One JSON element (an event object's bytes) as an audit event, by the rules of
/// [`check_event`], read leniently (Python's bare `NaN` tokens, see [`super::lenient`]).
///
/// Deserialising straight into the event is several times faster than going through a
/// `Value`; when that fails, the `Value` path decides, with its precise message.
///
/// For events one per line, e.g. the output of `jq -c '.[]' audit_log.json`:
///
/// ```
/// use audit_runtime::{InvalidEventKind, read};
/// let lines = br#"{"timestamp": "2026-11-25T19:03:33.541063Z", "action_type": "evaluation_start", "status": "success", "details": {"last_loss": NaN}, "error": null}
/// {"timestamp": "2026-11-25T19:03:33.541387Z", "action_type": "pause", "status": "success"}"#;
/// let mut lines = lines.split(|b| *b == b'\n');
///
/// let event = read::parse_event(lines.next().unwrap())?;
/// assert_eq!(event.details["last_loss"], "NaN"); // Python's bare NaN, read leniently
///
/// let invalid = read::parse_event(lines.next().unwrap()).unwrap_err();
/// assert_eq!(invalid.kind(), InvalidEventKind::MissingField);
/// # Ok::<(), audit_runtime::InvalidEvent>(())
/// ```
pub fn parse_event(bytes: &[u8]) -> Result<AuditEvent, InvalidEvent> {
    if let Some((event, _)) = fast_event(bytes) {
        return Ok(event);
    }
    let (value, _) = lenient::parse_value(bytes)
        .map_err(|e| InvalidEvent::new(InvalidEventKind::NotJson, e.message))?;
    value_into_event(value)
}

/// [`parse_event`]'s fast path: `None` when it does not apply (the `Value` path decides).
fn fast_event(bytes: &[u8]) -> Option<(AuditEvent, lenient::Repairs)> {
    let (event, repairs) =
        lenient::parse_with(bytes, |b| serde_json::from_slice::<StrictEvent>(b)).ok()?;
    if event.action_type.is_empty() {
        return None;
    }
    let event = AuditEvent {
        timestamp: event.timestamp,
        action_type: event.action_type,
        status: event.status,
        details: event.details,
        error: event.error.filter(|e| !e.is_empty()),
    };
    Some((event, repairs))
}

/// An element read as an event by [`JsonScanner::next_parsed`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ParsedEvent {
    pub(crate) start: u64,
    pub(crate) end: u64,
    pub(crate) line: u64,
    pub(crate) event: AuditEvent,
    pub(crate) repairs: lenient::Repairs,
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// What kind of problem a [`ScanError`] is.
///
/// ```
/// use audit_runtime::read::{self, ScanErrorKind};
/// # let dir = tempfile::tempdir()?;
/// let path = dir.path().join("audit_log.json");
/// // A log whose last write was cut short (a full disk, a copy interrupted):
/// std::fs::write(&path, r#"[
/// {"timestamp":"2026-05-27T14:30:00.123456Z","action_ty"#)?;
///
/// let mut events = read::open_events(&path)?;
/// assert!(events.next().unwrap().is_err());
/// let advice = match events.problem().map(|problem| problem.kind) {
///     Some(ScanErrorKind::CutOffAtEnd) => "cut off: opening it with an AuditLogger salvages it",
///     Some(ScanErrorKind::InvalidEvent(_)) => "an event breaks the spec's rules",
///     Some(_) => "not an audit log, or unreadable",
///     None => "fine",
/// };
/// assert_eq!(advice, "cut off: opening it with an AuditLogger salvages it");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ScanErrorKind {
    /// Not valid JSON or CSV here, or not a log's shape (no array, a wrong header).
    Malformed,
    /// A value or record that runs to the end of the input without being complete: cut off
    /// (a truncated file, a torn write), or, in a log read while a writer appends to it
    /// without the writers' lock, still being written.
    CutOffAtEnd,
    /// Complete and well-formed, but not a valid event ([`check_event`]'s rule), and which
    /// rule it broke.
    InvalidEvent(InvalidEventKind),
    /// The file could not be read.
    Io,
}

/// A problem found while reading a log, with where it is.
///
/// ```
/// use audit_runtime::read::{self, ScanErrorKind};
/// use audit_runtime::InvalidEventKind;
/// # let dir = tempfile::tempdir()?;
/// let path = dir.path().join("audit_log.csv");
/// std::fs::write(&path, "timestamp,action_type,status,details,error\n\
///                        2026-05-27T14:30:00.123456Z,pause,,{},\n")?;
///
/// let mut events = read::open_events(&path)?;
/// assert!(events.next().unwrap().is_err()); // an AuditError::Malformed, with the same text
/// let problem = events.problem().expect("the stream keeps what ended it");
/// assert_eq!(problem.kind, ScanErrorKind::InvalidEvent(InvalidEventKind::EmptyStatus));
/// assert_eq!((problem.offset, problem.line), (43, 2));
/// assert!(problem.to_string().starts_with("byte 43 (line 2): "));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ScanError {
    /// What kind of problem it is.
    pub kind: ScanErrorKind,
    /// Byte offset of the problem.
    pub offset: u64,
    /// 1-based line of `offset`.
    pub line: u64,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ScanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "byte {} (line {}): {}",
            self.offset, self.line, self.message
        )
    }
}

impl std::error::Error for ScanError {}

/// Why the scanner stopped: the file is not right here, or reading it failed.
#[derive(Debug)]
pub(crate) enum Fail {
    /// `resume` is where a salvage pass should look for the next event.
    Scan {
        error: ScanError,
        resume: u64,
    },
    Io(io::Error),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the `[`.
    Start,
    /// After `[`: the first element or `]`.
    FirstOrClose,
    /// After an element: `,` or `]`.
    AfterElement,
    /// After `,`: an element.
    ExpectElement,
    /// After `]`: only whitespace may follow.
    AfterClose,
    Done,
}

/// The byte range of an element in the buffer, found by [`JsonScanner::scan_extent`].
struct Span {
    start: u64,
    end: u64,
    /// Newlines inside the element.
    newlines: u64,
    /// Offset of the last newline inside the element.
    last_newline: Option<u64>,
}

/// Where a problem found by the extent scan is and what it is.
struct ExtentError {
    kind: ScanErrorKind,
    offset: u64,
    message: String,
}

/// A raw element: its byte range and bytes, before parsing.
#[derive(Debug, Clone, Copy)]
pub struct RawElement<'a> {
    /// Byte offset of the element's first byte.
    pub start: u64,
    /// Offset one past its last byte.
    pub end: u64,
    /// 1-based line of `start` (0 when the scanner could not count lines, see
    /// [`JsonScanner::inside_array`]).
    pub line: u64,
    /// The element's bytes.
    pub bytes: &'a [u8],
    /// The byte just before `start` is `\n`.
    pub starts_line: bool,
}

/// Streams the elements of a JSON log array, one at a time, in file order.
///
/// A completely empty (0-byte or whitespace-only) file is an empty log, not an error.
///
/// ```
/// use audit_runtime::read::JsonScanner;
/// let log = b"[  \n{\"timestamp\":\"2026-05-27T14:30:00.123456Z\",\"action_type\":\"pause\",\"status\":\"success\",\"details\":{},\"error\":null}\n]\n";
/// let mut scanner = JsonScanner::new(std::io::Cursor::new(&log[..]));
/// let element = scanner.next_element().unwrap().unwrap();
/// assert_eq!((element.start, element.starts_line), (4, true));
/// assert_eq!(element.to_event().unwrap().action_type, "pause");
/// assert!(scanner.next_element().unwrap().is_none());
/// ```
pub struct JsonScanner<R> {
    reader: R,
    data: Vec<u8>,
    /// File offset of `data[0]`.
    base: u64,
    /// Next unread index in `data`.
    pos: usize,
    /// Valid bytes in `data`.
    len: usize,
    /// Where reading starts.
    origin: u64,
    started: bool,
    limit: Option<u64>,
    eof: bool,
    /// The byte before `data[0]`, if known.
    before_data: Option<u8>,
    /// Offset of the first byte of the line `pos` is on, if known.
    line_start: Option<u64>,
    /// Newlines in `[origin, pos)`.
    lines: u64,
    /// 1-based line of `origin`, computed when first needed.
    origin_line: Option<u64>,
    state: State,
    failure: Option<ScanError>,
    io_error: Option<io::Error>,
    array_end: Option<u64>,
    last_line: u64,
}

impl<R: Read + Seek> JsonScanner<R> {
    /// Reads from offset 0; expects optional whitespace, then `[`.
    pub fn new(reader: R) -> Self {
        Self::at(reader, 0, State::Start)
    }

    /// Starts at `offset`, inside the array: the caller guarantees that `[` is before
    /// `offset` and that `offset` is at (or in whitespace before) the first element or the
    /// closing `]`. Used to read a snapshot from the first event onward while another process
    /// writes into the whitespace before it.
    pub fn inside_array(reader: R, offset: u64) -> Self {
        Self::at(reader, offset, State::FirstOrClose)
    }

    fn at(reader: R, origin: u64, state: State) -> Self {
        JsonScanner {
            reader,
            data: Vec::new(),
            base: origin,
            pos: 0,
            len: 0,
            origin,
            started: false,
            limit: None,
            eof: false,
            before_data: None,
            line_start: (origin == 0).then_some(0),
            lines: 0,
            origin_line: (origin == 0).then_some(1),
            state,
            failure: None,
            io_error: None,
            array_end: None,
            last_line: 0,
        }
    }

    /// Treats `end` as the end of the file (the length of a snapshot).
    #[must_use]
    pub fn limit(mut self, end: u64) -> Self {
        self.limit = Some(end);
        self
    }

    /// Offset of the closing `]`, once reached.
    pub fn array_end(&self) -> Option<u64> {
        self.array_end
    }

    /// 1-based line of the first byte of the element returned last.
    pub fn last_line(&self) -> u64 {
        self.last_line
    }

    /// The I/O error behind the last `Err`, if reading failed rather than the file being
    /// malformed (taken, so the second call returns `None`).
    pub fn take_io_error(&mut self) -> Option<io::Error> {
        self.io_error.take()
    }

    /// Strict: the next element; `Ok(None)` once the array is closed and only whitespace
    /// follows `]` up to the end of the file (or the limit). `Err` at the first problem: not
    /// an array, truncated, a bad separator, data after `]`, an element that is not JSON even
    /// leniently. After an `Err`, every further call returns the same `Err`.
    pub fn next_element(&mut self) -> Result<Option<JsonElement>, ScanError> {
        let result = self.next_inner();
        self.strict(result)
    }

    /// Like [`next_element`](Self::next_element), for a log: an element that is not a valid
    /// event ([`check_event`]) is a problem like any other, at the element's first byte.
    /// The logger's verify-on-open and `auditlog verify` both read this way.
    pub fn next_event(&mut self) -> Result<Option<JsonElement>, ScanError> {
        let result = self.next_inner().and_then(|element| match element {
            Some(element) => match check_event(&element.value) {
                Ok(()) => Ok(Some(element)),
                Err(invalid) => Err(Fail::Scan {
                    error: ScanError {
                        kind: ScanErrorKind::InvalidEvent(invalid.kind()),
                        offset: element.start,
                        line: self.last_line,
                        message: invalid.to_string(),
                    },
                    resume: element.start + 1,
                }),
            },
            None => Ok(None),
        });
        self.strict(result)
    }

    /// [`next_event`](Self::next_event) on the fast path: the element deserialised straight
    /// into an event ([`parse_event`]), going through a `Value` only when that fails, to
    /// decide with the same errors as `next_event`.
    pub(crate) fn next_parsed(&mut self) -> Result<Option<ParsedEvent>, ScanError> {
        let result = match self.advance() {
            Ok(Some(span)) => self.parse_event_span(&span).map(Some),
            Ok(None) => Ok(None),
            Err(fail) => Err(fail),
        };
        self.strict(result)
    }

    fn parse_event_span(&mut self, span: &Span) -> Result<ParsedEvent, Fail> {
        let from = (span.start - self.base) as usize;
        let to = (span.end - self.base) as usize;
        let (start, end, line) = (span.start, span.end, self.last_line);
        if let Some((event, repairs)) = fast_event(&self.data[from..to]) {
            return Ok(ParsedEvent {
                start,
                end,
                line,
                event,
                repairs,
            });
        }
        let element = self.parse_span(span)?;
        let repairs = lenient::Repairs {
            non_finite_tokens: element.non_finite_tokens,
            lone_surrogates: element.lone_surrogates,
        };
        match value_into_event(element.value) {
            Ok(event) => Ok(ParsedEvent {
                start,
                end,
                line,
                event,
                repairs,
            }),
            Err(invalid) => Err(Fail::Scan {
                error: ScanError {
                    kind: ScanErrorKind::InvalidEvent(invalid.kind()),
                    offset: start,
                    line,
                    message: invalid.to_string(),
                },
                resume: start + 1,
            }),
        }
    }

    /// Like [`next_element`](Self::next_element) but without parsing: the element's bytes,
    /// for callers that deserialise only the fields they need (see
    /// [`super::lenient::parse_with`]).
    pub fn next_raw(&mut self) -> Result<Option<RawElement<'_>>, ScanError> {
        let result = self.advance();
        match self.strict(result)? {
            None => Ok(None),
            Some(span) => {
                let from = (span.start - self.base) as usize;
                let to = (span.end - self.base) as usize;
                Ok(Some(RawElement {
                    start: span.start,
                    end: span.end,
                    line: self.last_line,
                    bytes: &self.data[from..to],
                    starts_line: self.byte_before(from) == Some(b'\n'),
                }))
            }
        }
    }

    fn strict<T>(&mut self, result: Result<T, Fail>) -> Result<T, ScanError> {
        if let Some(error) = &self.failure {
            return Err(error.clone());
        }
        match result {
            Ok(value) => Ok(value),
            Err(Fail::Scan { error, .. }) => {
                self.failure = Some(error.clone());
                self.state = State::Done;
                Err(error)
            }
            Err(Fail::Io(err)) => {
                let offset = self.base + self.pos as u64;
                let error = ScanError {
                    kind: ScanErrorKind::Io,
                    offset,
                    line: self.line_at_pos(),
                    message: format!("cannot read the file: {err}"),
                };
                self.io_error = Some(err);
                self.failure = Some(error.clone());
                self.state = State::Done;
                Err(error)
            }
        }
    }

    /// The next element, parsed; errors keep their resume point (for salvage).
    pub(crate) fn next_inner(&mut self) -> Result<Option<JsonElement>, Fail> {
        match self.advance()? {
            None => Ok(None),
            Some(span) => self.parse_span(&span).map(Some),
        }
    }

    fn parse_span(&mut self, span: &Span) -> Result<JsonElement, Fail> {
        let from = (span.start - self.base) as usize;
        let to = (span.end - self.base) as usize;
        match lenient::parse_value(&self.data[from..to]) {
            Ok((value, repairs)) => Ok(JsonElement {
                start: span.start,
                end: span.end,
                value,
                non_finite_tokens: repairs.non_finite_tokens,
                lone_surrogates: repairs.lone_surrogates,
                single_line: span.newlines == 0,
                starts_line: self.byte_before(from) == Some(b'\n'),
            }),
            Err(err) => {
                let offset = span.start + err.index as u64;
                let inner_lines =
                    memchr::memchr_iter(b'\n', &self.data[from..from + err.index]).count() as u64;
                let line = self.last_line + inner_lines;
                Err(Fail::Scan {
                    error: ScanError {
                        kind: ScanErrorKind::Malformed,
                        offset,
                        line,
                        message: format!("element is not valid JSON: {}", err.message),
                    },
                    resume: span.start + 1,
                })
            }
        }
    }

    /// Moves through the array grammar to the next element and finds its extent.
    fn advance(&mut self) -> Result<Option<Span>, Fail> {
        if let Some(error) = &self.failure {
            return Err(Fail::Scan {
                error: error.clone(),
                resume: error.offset,
            });
        }
        loop {
            match self.state {
                State::Done => return Ok(None),
                State::Start => match self.skip_ws()? {
                    None => {
                        self.state = State::Done;
                        return Ok(None);
                    }
                    Some(b'[') => {
                        self.pos += 1;
                        self.state = State::FirstOrClose;
                    }
                    Some(b) => {
                        return Err(self.fail_here(format!(
                            "not a JSON array: expected '[', found {}",
                            show(b)
                        )));
                    }
                },
                State::FirstOrClose | State::ExpectElement => {
                    let first = self.state == State::FirstOrClose;
                    match self.skip_ws()? {
                        None => {
                            return Err(self.fail_here_as(
                                ScanErrorKind::CutOffAtEnd,
                                "the file ends inside the array (it is not closed with ']')"
                                    .to_owned(),
                            ));
                        }
                        Some(b']') if first => self.close(),
                        Some(b']') => {
                            return Err(self
                                .fail_here("expected an element after ',', found ']'".to_owned()));
                        }
                        Some(_) => {
                            let span = self.element()?;
                            self.state = State::AfterElement;
                            return Ok(Some(span));
                        }
                    }
                }
                State::AfterElement => match self.skip_ws()? {
                    None => {
                        return Err(self.fail_here_as(
                            ScanErrorKind::CutOffAtEnd,
                            "the file ends inside the array (expected ',' or ']')".to_owned(),
                        ));
                    }
                    Some(b',') => {
                        self.pos += 1;
                        self.state = State::ExpectElement;
                    }
                    Some(b']') => self.close(),
                    Some(b) => {
                        return Err(self.fail_here(format!(
                            "expected ',' or ']' after the element, found {}",
                            show(b)
                        )));
                    }
                },
                State::AfterClose => match self.skip_ws()? {
                    None => {
                        self.state = State::Done;
                        return Ok(None);
                    }
                    Some(b) => {
                        return Err(self.fail_here(format!(
                            "unexpected {} after the closing ']' of the array",
                            show(b)
                        )));
                    }
                },
            }
        }
    }

    fn close(&mut self) {
        self.array_end = Some(self.base + self.pos as u64);
        self.pos += 1;
        self.state = State::AfterClose;
    }

    /// Finds the extent of the element at `pos` and moves past it.
    fn element(&mut self) -> Result<Span, Fail> {
        let start = self.base + self.pos as u64;
        let start_line_count = self.lines;
        match self.scan_extent()? {
            Ok(span) => {
                self.pos = (span.end - self.base) as usize;
                self.lines += span.newlines;
                if let Some(nl) = span.last_newline {
                    self.line_start = Some(nl + 1);
                }
                self.last_line = self.origin_line() + start_line_count;
                Ok(span)
            }
            Err(err) => {
                let inner = self.count_newlines(start, err.offset);
                let line = self.origin_line() + start_line_count + inner;
                Err(Fail::Scan {
                    error: ScanError {
                        kind: err.kind,
                        offset: err.offset,
                        line,
                        message: err.message,
                    },
                    resume: start + 1,
                })
            }
        }
    }

    /// Scans the value starting at `pos` (not moving `pos`); the outer `Err` is I/O.
    fn scan_extent(&mut self) -> Result<Result<Span, ExtentError>, Fail> {
        let start = self.base + self.pos as u64;
        let column = self.line_start.map_or(0, |ls| start.saturating_sub(ls));
        let first = self.data[self.pos];
        if matches!(first, b',' | b']' | b'}' | b':') {
            return Ok(Err(ExtentError {
                kind: ScanErrorKind::Malformed,
                offset: start,
                message: format!("expected an element, found {}", show(first)),
            }));
        }
        let mut scan = Extent {
            depth: 0,
            in_string: false,
            escape: false,
            bare: !matches!(first, b'{' | b'[' | b'"'),
            // The element's own first byte is not a "nested" event start.
            line_indent: None,
            element_column: column,
            newlines: 0,
            last_newline: None,
        };
        let mut at = start;
        loop {
            let from = (at - self.base) as usize;
            let step = scan.step(&self.data[..self.len], from, self.eof);
            match step {
                Step::Done(end_idx) => {
                    return Ok(Ok(Span {
                        start,
                        end: self.base + end_idx as u64,
                        newlines: scan.newlines,
                        last_newline: scan.last_newline.map(|i| self.base + i as u64),
                    }));
                }
                Step::Error(idx, message) => {
                    return Ok(Err(ExtentError {
                        kind: ScanErrorKind::Malformed,
                        offset: self.base + idx as u64,
                        message,
                    }));
                }
                Step::More(idx) => {
                    at = self.base + idx as u64;
                    // Rebase the recorded newline: the buffer may move.
                    let last_nl = scan.last_newline.map(|i| self.base + i as u64);
                    let keep = (start - self.base) as usize;
                    let read = self.fill(keep).map_err(Fail::Io)?;
                    scan.last_newline = last_nl.map(|o| (o - self.base) as usize);
                    if read == 0 {
                        let end = self.base + self.len as u64;
                        if at < end {
                            // A look-ahead that hit the end: step again, now knowing it.
                            continue;
                        }
                        if scan.bare {
                            // A number or bare token may end exactly at the end.
                            return Ok(Ok(Span {
                                start,
                                end,
                                newlines: 0,
                                last_newline: None,
                            }));
                        }
                        return Ok(Err(ExtentError {
                            kind: ScanErrorKind::CutOffAtEnd,
                            offset: start,
                            message: format!(
                                "element is truncated: the file ends (at byte {end}) before it is complete"
                            ),
                        }));
                    }
                }
            }
        }
    }

    /// Skips JSON whitespace; returns the next byte without consuming it, `None` at the end.
    fn skip_ws(&mut self) -> Result<Option<u8>, Fail> {
        loop {
            let data = &self.data[..self.len];
            let mut i = self.pos;
            while i < data.len() {
                match data[i] {
                    b' ' | b'\t' | b'\r' => i += 1,
                    b'\n' => {
                        self.lines += 1;
                        i += 1;
                        self.line_start = Some(self.base + i as u64);
                    }
                    b => {
                        self.pos = i;
                        return Ok(Some(b));
                    }
                }
            }
            self.pos = i;
            if self.fill(self.pos).map_err(Fail::Io)? == 0 {
                return Ok(None);
            }
        }
    }

    /// Reads more bytes, keeping `data[keep_from..]`. Returns how many were read (0 at the
    /// end of the file or the limit).
    fn fill(&mut self, keep_from: usize) -> io::Result<usize> {
        if !self.started {
            self.start()?;
        }
        if keep_from > 0 {
            self.before_data = Some(self.data[keep_from - 1]);
            self.data.copy_within(keep_from..self.len, 0);
            self.base += keep_from as u64;
            self.len -= keep_from;
            self.pos -= keep_from;
        }
        if self.eof {
            return Ok(0);
        }
        if self.data.len() - self.len < CHUNK {
            self.data.resize(self.len + CHUNK, 0);
        }
        let mut want = self.data.len() - self.len;
        if let Some(limit) = self.limit {
            let here = self.base + self.len as u64;
            want = want.min(usize::try_from(limit.saturating_sub(here)).unwrap_or(usize::MAX));
        }
        if want == 0 {
            self.eof = true;
            return Ok(0);
        }
        loop {
            match self.reader.read(&mut self.data[self.len..self.len + want]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(0);
                }
                Ok(n) => {
                    self.len += n;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Positions the reader at `origin`, remembering the byte before it.
    fn start(&mut self) -> io::Result<()> {
        self.started = true;
        if self.origin > 0 && self.limit.is_none_or(|l| l >= self.origin) {
            self.reader.seek(SeekFrom::Start(self.origin - 1))?;
            let mut one = [0u8; 1];
            if read_full(&mut self.reader, &mut one)? == 1 {
                self.before_data = Some(one[0]);
                if one[0] == b'\n' {
                    self.line_start = Some(self.origin);
                }
            } else {
                self.eof = true;
            }
        } else {
            self.reader.seek(SeekFrom::Start(self.origin))?;
        }
        Ok(())
    }

    fn byte_before(&self, idx: usize) -> Option<u8> {
        if idx > 0 {
            Some(self.data[idx - 1])
        } else {
            self.before_data
        }
    }

    /// Newlines in the buffered range `[from, to)` (absolute offsets).
    fn count_newlines(&self, from: u64, to: u64) -> u64 {
        let lo = from.saturating_sub(self.base) as usize;
        let hi = (to.saturating_sub(self.base) as usize).min(self.len);
        if lo >= hi {
            return 0;
        }
        memchr::memchr_iter(b'\n', &self.data[lo..hi]).count() as u64
    }

    /// 1-based line of `origin`; counts the lines before it the first time it is needed.
    fn origin_line(&mut self) -> u64 {
        if let Some(line) = self.origin_line {
            return line;
        }
        let line = self.count_lines_before_origin().unwrap_or(0);
        self.origin_line = Some(line);
        line
    }

    fn count_lines_before_origin(&mut self) -> io::Result<u64> {
        self.reader.seek(SeekFrom::Start(0))?;
        let mut remaining = self.origin;
        let mut lines = 1;
        let mut chunk = vec![0u8; 64 * 1024];
        while remaining > 0 {
            let want = chunk
                .len()
                .min(usize::try_from(remaining).unwrap_or(usize::MAX));
            let n = read_full(&mut self.reader, &mut chunk[..want])?;
            if n == 0 {
                break;
            }
            lines += memchr::memchr_iter(b'\n', &chunk[..n]).count() as u64;
            remaining -= n as u64;
        }
        if self.started {
            self.reader
                .seek(SeekFrom::Start(self.base + self.len as u64))?;
        }
        Ok(lines)
    }

    fn line_at_pos(&mut self) -> u64 {
        self.origin_line() + self.lines
    }

    fn fail_here(&mut self, message: String) -> Fail {
        self.fail_here_as(ScanErrorKind::Malformed, message)
    }

    fn fail_here_as(&mut self, kind: ScanErrorKind, message: String) -> Fail {
        let offset = self.base + self.pos as u64;
        Fail::Scan {
            error: ScanError {
                kind,
                offset,
                line: self.line_at_pos(),
                message,
            },
            resume: offset,
        }
    }

    /// Moves `pos` forward to the absolute offset `to` (within the buffer), counting lines.
    fn consume_to(&mut self, to: u64) {
        let to_idx = (to - self.base) as usize;
        let skipped = &self.data[self.pos..to_idx];
        let newlines = memchr::memchr_iter(b'\n', skipped).count() as u64;
        if newlines > 0 {
            self.lines += newlines;
            if let Some(k) = memchr::memrchr(b'\n', skipped) {
                self.line_start = Some(self.base + (self.pos + k + 1) as u64);
            }
        }
        self.pos = to_idx;
    }

    /// Salvage: from `from` (an offset at or after `pos`, within the buffer), finds the next
    /// `{` + whitespace + `"timestamp"` whose element converts with [`JsonElement::to_event`],
    /// and continues the array after it. `None` when there is none before the end.
    pub(crate) fn resync(&mut self, from: u64) -> Result<Option<JsonElement>, io::Error> {
        self.failure = None;
        let from = from.max(self.base + self.pos as u64);
        let mut from = from.min(self.base + self.len as u64);
        loop {
            self.consume_to(from);
            // Find the next '{'.
            loop {
                match memchr::memchr(b'{', &self.data[self.pos..self.len]) {
                    Some(k) => {
                        self.consume_to(self.base + (self.pos + k) as u64);
                        break;
                    }
                    None => {
                        self.consume_to(self.base + self.len as u64);
                        if self.fill(self.pos)? == 0 {
                            self.state = State::Done;
                            return Ok(None);
                        }
                    }
                }
            }
            let here = self.base + self.pos as u64;
            from = here + 1;
            if !self.candidate_at_pos()? {
                continue;
            }
            let start_lines = self.lines;
            let span = match self.scan_extent() {
                Ok(Ok(span)) => span,
                Ok(Err(_)) => continue,
                Err(Fail::Io(e)) => return Err(e),
                Err(Fail::Scan { .. }) => continue,
            };
            self.last_line = self.origin_line() + start_lines;
            let Ok(element) = self.parse_span(&span) else {
                continue;
            };
            if element.to_event().is_err() {
                continue;
            }
            self.pos = (span.end - self.base) as usize;
            self.lines += span.newlines;
            if let Some(nl) = span.last_newline {
                self.line_start = Some(nl + 1);
            }
            self.state = State::AfterElement;
            return Ok(Some(element));
        }
    }

    /// Whether `{` at `pos` is followed by whitespace and `"timestamp"`, reading ahead as
    /// needed.
    fn candidate_at_pos(&mut self) -> io::Result<bool> {
        loop {
            match is_event_start(&self.data[..self.len], self.pos) {
                Some(answer) => return Ok(answer),
                None if self.eof => return Ok(false),
                None => {
                    if self.fill(self.pos)? == 0 {
                        return Ok(false);
                    }
                }
            }
        }
    }
}

fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Whether `buf[at]` (a `{`) starts an event: `{`, up to [`MAX_CANDIDATE_GAP`] whitespace
/// bytes, `"timestamp"`. `None` when `buf` ends before that can be decided.
fn is_event_start(buf: &[u8], at: usize) -> Option<bool> {
    let mut i = at + 1;
    while i < buf.len() && matches!(buf[i], b' ' | b'\t' | b'\r' | b'\n') {
        i += 1;
        if i - at > MAX_CANDIDATE_GAP {
            return Some(false);
        }
    }
    let rest = &buf[i.min(buf.len())..];
    if rest.len() >= EVENT_KEY.len() {
        Some(rest.starts_with(EVENT_KEY))
    } else if EVENT_KEY.starts_with(rest) {
        None
    } else {
        Some(false)
    }
}

fn show(b: u8) -> String {
    if b.is_ascii_graphic() {
        format!("'{}'", b as char)
    } else {
        format!("byte 0x{b:02x}")
    }
}

/// The resumable state of finding one value's extent.
struct Extent {
    depth: u32,
    in_string: bool,
    escape: bool,
    /// A scalar that is not a string: ends at the first delimiter.
    bare: bool,
    /// Column of the current line's first non-blank byte while only blanks were seen on
    /// it; `None` otherwise.
    line_indent: Option<u64>,
    element_column: u64,
    newlines: u64,
    last_newline: Option<usize>,
}

enum Step {
    /// The value ends before this index.
    Done(usize),
    /// Need more bytes; resume at this index.
    More(usize),
    /// Not a value: a problem at this index.
    Error(usize, String),
}

impl Extent {
    fn step(&mut self, buf: &[u8], mut i: usize, eof: bool) -> Step {
        if self.bare {
            while i < buf.len() {
                if matches!(
                    buf[i],
                    b' ' | b'\t' | b'\r' | b'\n' | b',' | b']' | b'}' | b'[' | b'{' | b':' | b'"'
                ) {
                    return Step::Done(i);
                }
                i += 1;
            }
            return Step::More(i);
        }
        if self.escape {
            if i >= buf.len() {
                return Step::More(i);
            }
            self.escape = false;
            i += 1;
        }
        while i < buf.len() {
            if self.in_string {
                match memchr::memchr3(b'"', b'\\', b'\n', &buf[i..]) {
                    None => return Step::More(buf.len()),
                    Some(k) => {
                        let j = i + k;
                        match buf[j] {
                            b'"' => {
                                self.in_string = false;
                                i = j + 1;
                                if self.depth == 0 {
                                    return Step::Done(i);
                                }
                            }
                            b'\\' => {
                                if j + 1 < buf.len() {
                                    i = j + 2;
                                } else {
                                    self.escape = true;
                                    return Step::More(j + 1);
                                }
                            }
                            _ => {
                                return Step::Error(
                                    j,
                                    "line break inside a string (the string is not terminated)"
                                        .to_owned(),
                                );
                            }
                        }
                    }
                }
                continue;
            }
            let b = buf[i];
            match b {
                b'"' => {
                    self.in_string = true;
                    self.line_indent = None;
                }
                b'{' | b'[' => {
                    if b == b'{'
                        && self.depth > 0
                        && self.line_indent.is_some_and(|c| c <= self.element_column)
                    {
                        match is_event_start(buf, i) {
                            Some(true) => {
                                return Step::Error(
                                    i,
                                    "element is incomplete: the next event starts here".to_owned(),
                                );
                            }
                            Some(false) => {}
                            None if eof => {}
                            None => return Step::More(i),
                        }
                    }
                    self.line_indent = None;
                    self.depth += 1;
                }
                b'}' | b']' => {
                    self.line_indent = None;
                    self.depth = self.depth.saturating_sub(1);
                    if self.depth == 0 {
                        return Step::Done(i + 1);
                    }
                }
                b'\n' => {
                    self.newlines += 1;
                    self.last_newline = Some(i);
                    self.line_indent = Some(0);
                }
                b' ' | b'\t' | b'\r' => {
                    if let Some(c) = &mut self.line_indent {
                        *c += 1;
                    }
                }
                _ => self.line_indent = None,
            }
            i += 1;
        }
        Step::More(i)
    }
}
