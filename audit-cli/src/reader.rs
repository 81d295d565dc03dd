//! Reading a log's events with their byte ranges, for either format, in stored order, and
//! reading one event back by its range (used to print in the other order).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use audit_runtime::read::{CsvEvents, JsonScanner, RecordPosition, ScanError, ScanErrorKind};
use audit_runtime::{AuditEvent, Format};

use crate::CliError;
use crate::snapshot::{FileRange, Snapshot};
use crate::source::LogFile;

/// An event and where it is in its file.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Offset of its first byte.
    pub start: u64,
    /// Offset one past its last byte (for CSV, after the line break).
    pub end: u64,
    /// 1-based line of `start`.
    pub line: u64,
    /// The event.
    pub event: AuditEvent,
}

/// Where an entry is, without the event (what is kept to print in reverse).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Offset of its first byte.
    pub start: u64,
    /// Offset one past its last byte.
    pub end: u64,
    /// 1-based line of `start`.
    pub line: u64,
}

impl Entry {
    /// The entry's position.
    pub fn span(&self) -> Span {
        Span {
            start: self.start,
            end: self.end,
            line: self.line,
        }
    }
}

/// The events of one log, in stored order (newest first for JSON, oldest first for CSV).
pub enum LogReader {
    /// A JSON array.
    Json(Box<JsonScanner<FileRange>>),
    /// A CSV log.
    Csv(Box<CsvRows>),
}

impl LogReader {
    /// Opens the log.
    pub fn open(log: &LogFile) -> Result<Self, CliError> {
        Ok(Self::from_snapshot(log, &Snapshot::take(log)?))
    }

    /// Reads the log through `snapshot`, from its start.
    pub fn from_snapshot(log: &LogFile, snapshot: &Snapshot) -> Self {
        match log.format {
            Format::Csv => LogReader::Csv(Box::new(CsvRows::new(
                log,
                snapshot,
                IncompleteLastRow::StopBefore,
            ))),
            _ => LogReader::Json(Box::new(snapshot.json_scanner())),
        }
    }

    /// The next event, `None` at the end, or the first problem (exit code 2, message with
    /// the file, byte offset and line).
    pub fn next_entry(&mut self, log: &LogFile) -> Result<Option<Entry>, CliError> {
        match self {
            LogReader::Json(scanner) => {
                let raw = match scanner.next_raw() {
                    Ok(Some(raw)) => raw,
                    Ok(None) => return Ok(None),
                    Err(error) => return Err(read_error(log, &error, scanner.take_io_error())),
                };
                let (start, end, line) = (raw.start, raw.end, raw.line);
                let event = parse_event(raw.bytes).map_err(|message| {
                    read_error(
                        log,
                        &ScanError {
                            kind: ScanErrorKind::Malformed,
                            offset: start,
                            line,
                            message,
                        },
                        None,
                    )
                })?;
                Ok(Some(Entry {
                    start,
                    end,
                    line,
                    event,
                }))
            }
            LogReader::Csv(rows) => match rows.next_row() {
                None => Ok(None),
                Some(Ok(row)) => Ok(Some(Entry {
                    start: row.position.byte,
                    end: row.end,
                    line: row.position.line,
                    event: row.event,
                })),
                Some(Err(error)) => Err(read_error(log, &error, rows.take_io_error())),
            },
        }
    }
}

/// What [`CsvRows`] does with a last record that is cut off (a quoted field not closed, or
/// no line break) and stays so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncompleteLastRow {
    /// Return it like any other row or problem (`verify`: a truncated file is a problem).
    Report,
    /// End before it with a note on stderr, if it does not parse; a row that parses but has
    /// no line break is returned (as every CSV reader does).
    StopBefore,
}

/// Waits before reading a cut-off last record again, when the writers' lock is not available.
const REREAD_DELAYS: [Duration; 3] = [
    Duration::from_millis(20),
    Duration::from_millis(60),
    Duration::from_millis(150),
];

/// One CSV row and where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct CsvRow {
    /// Where the row starts.
    pub position: RecordPosition,
    /// Offset one past the row (after its line break, if any).
    pub end: u64,
    /// Whether the row ends with a line break.
    pub terminated: bool,
    /// The event.
    pub event: AuditEvent,
}

/// The rows of a CSV log that may be being appended to.
///
/// With a [`Snapshot`] taken under the writers' lock the rows are read up to a row boundary,
/// so a cut-off last record there is real damage. Without it (no sidecar, or not lockable)
/// the file is read to its end; a last record that runs into the end may then be a row whose
/// `write` is still being copied in, so it is read again after a short wait (a few times)
/// before it is taken as cut off.
pub struct CsvRows {
    path: PathBuf,
    file: Arc<File>,
    rows: CsvEvents<FileRange>,
    locked: bool,
    incomplete: IncompleteLastRow,
}

impl CsvRows {
    /// Reads the CSV log through `snapshot`, from its start.
    pub fn new(log: &LogFile, snapshot: &Snapshot, incomplete: IncompleteLastRow) -> Self {
        let reader = FileRange::new(snapshot.file.clone(), 0, snapshot.csv_end);
        CsvRows {
            path: log.path.clone(),
            file: snapshot.file.clone(),
            rows: CsvEvents::new(reader),
            locked: snapshot.csv_end.is_some(),
            incomplete,
        }
    }

    /// The I/O error behind the last `Err`, if reading failed rather than the file being
    /// malformed.
    pub fn take_io_error(&mut self) -> Option<std::io::Error> {
        self.rows.take_io_error()
    }

    /// The next row, `None` at the end, or the first problem (after which it ends).
    pub fn next_row(&mut self) -> Option<Result<CsvRow, ScanError>> {
        let mut item = self.rows.next()?;
        if !cut_off(&self.rows, &item) {
            return Some(self.row(item));
        }
        let position = match &item {
            Ok((position, _)) => *position,
            Err(error) => RecordPosition {
                byte: error.offset,
                line: error.line,
            },
        };
        if !self.locked {
            for delay in REREAD_DELAYS {
                std::thread::sleep(delay);
                let reader = FileRange::new(self.file.clone(), position.byte, None);
                let mut again = if position.byte == 0 {
                    CsvEvents::new(reader)
                } else {
                    CsvEvents::starting_at(reader, position)
                };
                // `None`: the file was cut shorter meanwhile; it ends here.
                item = again.next()?;
                self.rows = again;
                if !cut_off(&self.rows, &item) {
                    return Some(self.row(item));
                }
            }
        }
        match (self.incomplete, &item) {
            (IncompleteLastRow::StopBefore, Err(error)) => {
                eprintln!(
                    "auditlog: note: {}: the last row (byte {}, line {}) is incomplete ({}); \
                     read up to it",
                    self.path.display(),
                    position.byte,
                    position.line,
                    error.message
                );
                None
            }
            _ => Some(self.row(item)),
        }
    }

    fn row(
        &self,
        item: Result<(RecordPosition, AuditEvent), ScanError>,
    ) -> Result<CsvRow, ScanError> {
        let (position, event) = item?;
        let (end, terminated) = self.rows.last_end().unwrap_or((position.byte, false));
        Ok(CsvRow {
            position,
            end,
            terminated,
            event,
        })
    }
}

/// Whether the record just read runs into the end of the input: a row without its line
/// break, or a problem with a record cut off there.
fn cut_off<R: std::io::Read>(
    rows: &CsvEvents<R>,
    item: &Result<(RecordPosition, AuditEvent), ScanError>,
) -> bool {
    match item {
        Ok(_) => matches!(rows.last_end(), Some((_, false))),
        Err(e) => e.kind == ScanErrorKind::CutOffAtEnd,
    }
}

/// One JSON element as an event, by the runtime's one definition of a valid event
/// ([`audit_runtime::read::check_event`]).
pub fn parse_event(bytes: &[u8]) -> Result<AuditEvent, String> {
    audit_runtime::read::parse_event(bytes).map_err(|invalid| invalid.to_string())
}

/// Opens the log file for reading.
pub fn open_file(log: &LogFile) -> Result<File, CliError> {
    File::open(&log.path)
        .map_err(|e| CliError::failure(format!("cannot open {}: {e}", log.path.display())))
}

/// The message for a problem found reading `log`.
pub fn read_error(log: &LogFile, error: &ScanError, io: Option<std::io::Error>) -> CliError {
    match io {
        Some(io) => CliError::failure(format!("cannot read {}: {io}", log.path.display())),
        None => CliError::failure(format!(
            "{} is not a valid audit log: {error}",
            log.path.display()
        )),
    }
}

/// Reads back the event at `span`, found by an earlier pass over `file` itself: not over
/// the path, which a writer may have renamed a rewritten log onto since.
pub fn read_span(log: &LogFile, file: &File, span: Span) -> Result<AuditEvent, CliError> {
    let len =
        usize::try_from(span.end - span.start).map_err(|_| CliError::failure("event too large"))?;
    let mut bytes = vec![0u8; len];
    file.read_exact_at(&mut bytes, span.start)
        .map_err(|e| CliError::failure(format!("cannot read {}: {e}", log.path.display())))?;
    let changed = || {
        CliError::failure(format!(
            "{} changed while it was being read (byte {})",
            log.path.display(),
            span.start
        ))
    };
    match log.format {
        Format::Csv => {
            let position = RecordPosition {
                byte: span.start,
                line: span.line,
            };
            match CsvEvents::starting_at(bytes.as_slice(), position).next() {
                Some(Ok((_, event))) => Ok(event),
                _ => Err(changed()),
            }
        }
        _ => parse_event(&bytes).map_err(|_| changed()),
    }
}
