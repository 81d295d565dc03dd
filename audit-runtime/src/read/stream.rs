//! The events of one log file in stored order, with where each is: the stream behind
//! [`open_events`] and [`Snapshot::events`](super::Snapshot::events).
//!
//! JSON elements are deserialised straight into events ([`super::parse_event`]'s fast path);
//! CSV rows are read up to a snapshot's length, and a last row that runs into the end of the
//! file is read again, after a moment, when no writers' lock said where the rows end (it may
//! be a row whose `write` is still being copied in).

use std::fs::File;
use std::io::{Read, Take};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::json::ParsedEvent;
use super::lenient::{self, Repairs};
use super::summary::{Brief, EventBrief};
use super::{CsvEvents, JsonScanner, RecordPosition, ScanError, ScanErrorKind, detect, malformed};
use crate::storage::fs::ReadAt;
use crate::{AuditError, AuditEvent, Format};

/// Where an event is in its file: what [`Snapshot::read_event`](super::Snapshot::read_event)
/// needs to read it back.
///
/// A JSON log is stored newest first; to visit it oldest first without holding every event
/// in memory, keep only the spans:
///
/// ```
/// use audit_runtime::read::{EventSpan, Snapshot};
/// use audit_runtime::{AuditError, AuditLogger, Format, Status};
/// # let dir = tempfile::tempdir()?;
/// let logger = AuditLogger::builder(dir.path()).format(Format::Json).build()?;
/// for action in ["pause", "hp_change", "resume"] {
///     logger.log_event(action, Status::Success, None, None)?;
/// }
///
/// let snapshot = Snapshot::take(logger.path().unwrap(), Format::Json)?;
/// let mut spans: Vec<EventSpan> = Vec::new();
/// let mut events = snapshot.events();
/// while let Some(located) = events.next_located() {
///     spans.push(located?.span());
/// }
/// let oldest_first = spans.iter().rev()
///     .map(|span| Ok(snapshot.read_event(*span)?.action_type))
///     .collect::<Result<Vec<_>, AuditError>>()?;
/// assert_eq!(oldest_first, ["pause", "hp_change", "resume"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventSpan {
    /// Byte offset of the event's first byte (the `{` or the row's first byte).
    pub offset: u64,
    /// Offset one past its last byte (for CSV, after the row's line break).
    pub end: u64,
    /// 1-based line of `offset`.
    pub line: u64,
}

/// An event with where it is in its file.
///
/// ```
/// use audit_runtime::read;
/// # let dir = tempfile::tempdir()?;
/// let path = dir.path().join("audit_log.json");
/// // As the spec's Python reference writes a log: indented, with a bare `NaN`.
/// let text = r#"[
///   {
///     "timestamp": "2026-11-25T19:03:33.541063Z",
///     "action_type": "evaluation_start",
///     "status": "success",
///     "details": {"last_loss": NaN},
///     "error": null
///   }
/// ]"#;
/// std::fs::write(&path, text)?;
///
/// let located = read::open_events(&path)?.next_located().unwrap()?;
/// assert_eq!((located.offset, located.line), (4, 2));
/// assert!(text[located.offset as usize..located.end as usize].ends_with('}'));
/// assert_eq!(located.repairs.non_finite_tokens, 1);
/// assert_eq!(located.event.details["last_loss"], "NaN");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct LocatedEvent {
    /// Byte offset of the event's first byte (the `{` or the row's first byte).
    pub offset: u64,
    /// Offset one past its last byte (for CSV, after the row's line break, if it has one).
    pub end: u64,
    /// 1-based line of `offset`.
    pub line: u64,
    /// The event.
    pub event: AuditEvent,
    /// What had to be mended for a strict JSON parser to take the event (Python's bare `NaN`
    /// tokens, lone surrogate escapes; see [`lenient`]).
    pub repairs: Repairs,
}

impl LocatedEvent {
    /// Where the event is.
    pub fn span(&self) -> EventSpan {
        EventSpan {
            offset: self.offset,
            end: self.end,
            line: self.line,
        }
    }
}

/// The events of a log file in the order they are stored: **newest first for JSON**, oldest
/// first for CSV (as the spec lays the files out). Reads one event at a time, in constant
/// memory. The first problem ends the stream with an `Err` (a [`AuditError::Malformed`]
/// naming the byte offset and line, or an [`AuditError::Io`]; [`problem`](Self::problem)
/// gives it with its kind); after it the iterator returns `None`.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// let logger = audit_runtime::AuditLogger::builder(dir.path())
///     .format(audit_runtime::Format::Csv)
///     .build()?;
/// logger.log_event("pause", audit_runtime::Status::Success, serde_json::json!({}), None)?;
/// let mut events = audit_runtime::read::open_events(logger.path().unwrap())?;
/// let first = events.next_located().unwrap()?;
/// assert_eq!((first.line, first.event.action_type.as_str()), (2, "pause"));
/// assert!(events.next().is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct EventStream {
    path: PathBuf,
    format: Format,
    inner: Inner,
    done: bool,
    problem: Option<ScanError>,
}

enum Inner {
    Json(Box<JsonScanner<ReadAt<Arc<File>>>>),
    Csv(Box<CsvRows>),
}

/// Opens a log, detecting its format from the content (see [`detect`]), and streams its
/// events in stored order (newest first for JSON, oldest first for CSV).
///
/// ```
/// use audit_runtime::{AuditLogger, Format, Status, read};
/// # let dir = tempfile::tempdir()?;
/// let logger = AuditLogger::builder(dir.path()).format(Format::Json).build()?;
/// logger.log_event("pause", Status::Success, None, None)?;
/// logger.log_event("resume", Status::Success, None, None)?;
///
/// let actions = read::open_events(logger.path().unwrap())?
///     .map(|event| event.map(|e| e.action_type))
///     .collect::<Result<Vec<_>, _>>()?;
/// assert_eq!(actions, ["resume", "pause"]); // JSON: newest first
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn open_events(path: impl AsRef<Path>) -> Result<EventStream, AuditError> {
    let path = path.as_ref();
    let format = detect(path)?;
    open_events_as(path, format)
}

/// Like [`open_events`], with the format given.
///
/// For a file whose format is known (from configuration, say) rather than guessed; read as
/// the other format, a log is not a log.
///
/// ```
/// use audit_runtime::{AuditLogger, Format, Status, read};
/// # let dir = tempfile::tempdir()?;
/// let logger = AuditLogger::builder(dir.path()).format(Format::Csv).build()?;
/// logger.log_event("pause", Status::Success, None, None)?;
/// let path = logger.path().unwrap();
///
/// let events = read::open_events_as(path, Format::Csv)?.collect::<Result<Vec<_>, _>>()?;
/// assert_eq!(events[0].action_type, "pause");
///
/// let mut as_json = read::open_events_as(path, Format::Json)?;
/// assert!(as_json.next().unwrap().is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn open_events_as(path: impl AsRef<Path>, format: Format) -> Result<EventStream, AuditError> {
    let path = path.as_ref();
    if format == Format::None {
        return Err(AuditError::InvalidFormat {
            value: "none".to_owned(),
            origin: "open_events (a log must be json or csv)",
        });
    }
    let file = File::open(path).map_err(|e| AuditError::io("open", path, e))?;
    let bounds = Bounds {
        json_first: None,
        csv_end: None,
        // No snapshot: nothing says whether a writer is appending, so the file is taken as
        // it is (a cut-off last row is an error, as it always was here).
        reread_cut_off: false,
    };
    Ok(EventStream::over(path, format, Arc::new(file), bounds))
}

/// What part of a file a stream reads, settled by a [`super::Snapshot`] or by
/// [`open_events`].
pub(crate) struct Bounds {
    /// JSON: where the first element (or the `]`) is; `None` to read from the start.
    pub(crate) json_first: Option<u64>,
    /// CSV: where the rows end (a length taken under the writers' lock); `None` to read to
    /// the end of the file.
    pub(crate) csv_end: Option<u64>,
    /// CSV: read a last row that runs into the end again before taking it as cut off.
    pub(crate) reread_cut_off: bool,
}

impl EventStream {
    /// Reads `file` (at `path`) as `format`, which the caller checked is not
    /// [`Format::None`].
    pub(crate) fn over(path: &Path, format: Format, file: Arc<File>, bounds: Bounds) -> Self {
        let inner = match format {
            Format::Csv => Inner::Csv(Box::new(CsvRows::new(
                file,
                bounds.csv_end,
                bounds.reread_cut_off,
            ))),
            _ => {
                let reader = ReadAt { file, offset: 0 };
                Inner::Json(Box::new(match bounds.json_first {
                    Some(first) => JsonScanner::inside_array(reader, first),
                    None => JsonScanner::new(reader),
                }))
            }
        };
        EventStream {
            path: path.to_owned(),
            format,
            inner,
            done: false,
            problem: None,
        }
    }

    /// The format being read.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The file being read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Ends the stream before a last CSV row that is cut off at the end of the file (and
    /// stays so when read again) instead of returning it as an error:
    /// [`cut_off_end`](Self::cut_off_end) then says where it is and what is missing. For
    /// reading a log that may be being written (or was cut short by a crash) up to its last
    /// complete row; checking a file (`auditlog verify`) wants the error. A JSON log has no
    /// such row: a writer's unfinished event is never where a reader starts.
    #[must_use]
    pub fn skip_cut_off_end(mut self) -> Self {
        if let Inner::Csv(rows) = &mut self.inner {
            rows.skip_cut_off_end = true;
        }
        self
    }

    /// With [`skip_cut_off_end`](Self::skip_cut_off_end): the cut-off last row the stream
    /// ended before, if it did.
    pub fn cut_off_end(&self) -> Option<&ScanError> {
        match &self.inner {
            Inner::Csv(rows) => rows.skipped.as_ref(),
            Inner::Json(_) => None,
        }
    }

    /// The problem that ended the stream with a [`AuditError::Malformed`] (or a read error,
    /// of kind [`ScanErrorKind::Io`]), with its kind and where it is.
    pub fn problem(&self) -> Option<&ScanError> {
        self.problem.as_ref()
    }

    /// CSV: whether the row returned last ended with a line break (`None` before the first
    /// row, and for JSON). Both writers end every row with one, so a last row without it was
    /// cut short, even when it parses.
    pub fn last_row_terminated(&self) -> Option<bool> {
        match &self.inner {
            Inner::Csv(rows) => rows.last_terminated,
            Inner::Json(_) => None,
        }
    }

    /// The next event with its position.
    pub fn next_located(&mut self) -> Option<Result<LocatedEvent, AuditError>> {
        if self.done {
            return None;
        }
        let result = match &mut self.inner {
            Inner::Json(scanner) => match scanner.next_parsed() {
                Ok(None) => Ok(None),
                Ok(Some(parsed)) => Ok(Some(located(parsed))),
                Err(error) => Err((error, scanner.take_io_error())),
            },
            Inner::Csv(rows) => match rows.next_row() {
                None => Ok(None),
                Some(Ok(row)) => Ok(Some(row)),
                Some(Err(error)) => Err((error, rows.rows.take_io_error())),
            },
        };
        match result {
            Ok(Some(event)) => Some(Ok(event)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err((error, io)) => Some(Err(self.fail(error, io))),
        }
    }

    /// Moves past the next event without parsing it (its bytes are scanned, so the file's
    /// shape is still checked): `Some(Ok(true))` when there was one, `Some(Ok(false))` when
    /// what is there cannot be judged without parsing (a CSV row that runs into the end of
    /// the file: read it with [`next_located`](Self::next_located)), `None` at the end.
    /// With two streams over one snapshot, each parsing the events the other skips, two
    /// threads read a log in about half the time (`auditlog verify`).
    pub fn skip_event(&mut self) -> Option<Result<bool, AuditError>> {
        if self.done {
            return None;
        }
        let result = match &mut self.inner {
            Inner::Json(scanner) => match scanner.next_raw() {
                Ok(None) => Ok(None),
                Ok(Some(_)) => Ok(Some(true)),
                Err(error) => Err((error, scanner.take_io_error())),
            },
            Inner::Csv(rows) => match rows.rows.next_cells() {
                None => Ok(None),
                Some(Ok(_)) => {
                    let terminated = rows.rows.last_end().is_some_and(|(_, t)| t);
                    rows.last_terminated = Some(terminated);
                    Ok(Some(terminated))
                }
                Some(Err(error)) => Err((error, rows.rows.take_io_error())),
            },
        };
        match result {
            Ok(Some(judged)) => Some(Ok(judged)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err((error, io)) => Some(Err(self.fail(error, io))),
        }
    }

    /// Calls `f` with each remaining event's [`EventBrief`]: what a summary counts, read
    /// without deserialising the rest of a JSON event (every other field but
    /// `details.actor` is skipped unparsed), several times faster than whole events. Like
    /// the spec's `get_log_summary` it takes the fields as written and does not validate
    /// events (a JSON timestamp that does not parse is `None`); a CSV row is read whole,
    /// as [`next_located`](Self::next_located) reads it.
    pub fn for_each_brief(&mut self, mut f: impl FnMut(EventBrief<'_>)) -> Result<(), AuditError> {
        while !self.done {
            let scanner = match &mut self.inner {
                Inner::Json(scanner) => scanner,
                Inner::Csv(_) => {
                    let Some(located) = self.next_located() else {
                        break;
                    };
                    let located = located?;
                    f(EventBrief::of(&located));
                    continue;
                }
            };
            let element = match scanner.next_raw() {
                Ok(Some(element)) => element,
                Ok(None) => {
                    self.done = true;
                    break;
                }
                Err(error) => {
                    let io = scanner.take_io_error();
                    return Err(self.fail(error, io));
                }
            };
            let (offset, end, line) = (element.start, element.end, element.line);
            let counted = lenient::parse_with(element.bytes, |bytes| {
                let brief: Brief<'_> = serde_json::from_slice(bytes)?;
                f(brief.at(offset, end));
                Ok(())
            });
            if let Err(err) = counted {
                let error = ScanError {
                    kind: ScanErrorKind::Malformed,
                    offset,
                    line,
                    message: format!("not an audit event: {}", err.message),
                };
                return Err(self.fail(error, None));
            }
        }
        Ok(())
    }

    fn fail(&mut self, error: ScanError, io: Option<std::io::Error>) -> AuditError {
        self.done = true;
        let err = match io {
            Some(io) => AuditError::io("read", &self.path, io),
            None => malformed(&self.path, &error),
        };
        self.problem = Some(error);
        err
    }
}

impl Iterator for EventStream {
    type Item = Result<AuditEvent, AuditError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_located().map(|r| r.map(|located| located.event))
    }
}

fn located(parsed: ParsedEvent) -> LocatedEvent {
    LocatedEvent {
        offset: parsed.start,
        end: parsed.end,
        line: parsed.line,
        event: parsed.event,
        repairs: parsed.repairs,
    }
}

/// Waits before reading a cut-off last row again, when no writers' lock said where the rows
/// end: together long enough for a write being copied in to finish.
const REREAD_DELAYS: [Duration; 3] = [
    Duration::from_millis(20),
    Duration::from_millis(60),
    Duration::from_millis(150),
];

/// A file read from an offset, up to where a snapshot ends it.
type Rows = CsvEvents<Take<ReadAt<Arc<File>>>>;

fn rows_from(file: &Arc<File>, at: RecordPosition, end: Option<u64>) -> Rows {
    let reader = ReadAt {
        file: file.clone(),
        offset: at.byte,
    }
    .take(end.map_or(u64::MAX, |end| end.saturating_sub(at.byte)));
    if at.byte == 0 {
        CsvEvents::new(reader)
    } else {
        CsvEvents::starting_at(reader, at)
    }
}

/// The rows of a CSV log that may be being appended to.
///
/// Read up to a length taken under the writers' lock, a cut-off last row is real damage.
/// Without it (no lock file, or one that cannot be locked) the file is read to its end; a
/// last row that runs into the end may then be a row whose `write` is still being copied in,
/// so it is read again after a short wait (a few times) before it is taken as cut off.
struct CsvRows {
    file: Arc<File>,
    rows: Rows,
    reread_cut_off: bool,
    skip_cut_off_end: bool,
    skipped: Option<ScanError>,
    last_terminated: Option<bool>,
}

impl CsvRows {
    fn new(file: Arc<File>, end: Option<u64>, reread_cut_off: bool) -> Self {
        let rows = rows_from(&file, RecordPosition { byte: 0, line: 1 }, end);
        CsvRows {
            file,
            rows,
            reread_cut_off,
            skip_cut_off_end: false,
            skipped: None,
            last_terminated: None,
        }
    }

    /// The next row, `None` at the end, or the first problem (after which it ends).
    fn next_row(&mut self) -> Option<Result<LocatedEvent, ScanError>> {
        let mut item = self.rows.next_repaired()?;
        if !cut_off(&self.rows, &item) {
            return Some(self.row(item));
        }
        let position = match &item {
            Ok((position, _, _)) => *position,
            Err(error) => RecordPosition {
                byte: error.offset,
                line: error.line,
            },
        };
        if self.reread_cut_off {
            for delay in REREAD_DELAYS {
                std::thread::sleep(delay);
                let mut again = rows_from(&self.file, position, None);
                // `None`: the file was cut shorter meanwhile; it ends here.
                item = again.next_repaired()?;
                self.rows = again;
                if !cut_off(&self.rows, &item) {
                    return Some(self.row(item));
                }
            }
        }
        match item {
            Err(error) if self.skip_cut_off_end => {
                self.skipped = Some(error);
                None
            }
            item => Some(self.row(item)),
        }
    }

    fn row(
        &mut self,
        item: Result<(RecordPosition, AuditEvent, Repairs), ScanError>,
    ) -> Result<LocatedEvent, ScanError> {
        let (position, event, repairs) = item?;
        let (end, terminated) = self.rows.last_end().unwrap_or((position.byte, false));
        self.last_terminated = Some(terminated);
        Ok(LocatedEvent {
            offset: position.byte,
            end,
            line: position.line,
            event,
            repairs,
        })
    }
}

/// Whether the record just read runs into the end of the input: a row without its line
/// break, or a problem with a record cut off there.
fn cut_off<R: Read>(
    rows: &CsvEvents<R>,
    item: &Result<(RecordPosition, AuditEvent, Repairs), ScanError>,
) -> bool {
    match item {
        Ok(_) => matches!(rows.last_end(), Some((_, false))),
        Err(e) => e.kind == ScanErrorKind::CutOffAtEnd,
    }
}
