//! Reading a log's events with their byte ranges, for either format, in stored order, and
//! reading one event back by its range (used to print in the other order).

use std::fs::File;
use std::os::unix::fs::FileExt;

use audit_runtime::read::{
    CsvEvents, JsonScanner, RecordPosition, ScanError, lenient, value_into_event,
};
use audit_runtime::{AuditEvent, Format};

use crate::CliError;
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
    Json(Box<JsonScanner<File>>),
    /// A CSV log.
    Csv(Box<CsvEvents<File>>),
}

impl LogReader {
    /// Opens the log.
    pub fn open(log: &LogFile) -> Result<Self, CliError> {
        Ok(Self::from_file(log, open_file(log)?))
    }

    /// Reads the log from `file`, an open handle on it, from its start.
    pub fn from_file(log: &LogFile, file: File) -> Self {
        match log.format {
            Format::Csv => LogReader::Csv(Box::new(CsvEvents::new(file))),
            _ => LogReader::Json(Box::new(json_scanner(file))),
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
            LogReader::Csv(rows) => match rows.next() {
                None => Ok(None),
                Some(Ok((position, event))) => Ok(Some(Entry {
                    start: position.byte,
                    end: rows.last_end().map_or(position.byte, |(end, _)| end),
                    line: position.line,
                    event,
                })),
                Some(Err(error)) => Err(read_error(log, &error, rows.take_io_error())),
            },
        }
    }
}

/// How many times [`json_scanner`] reads up to the first element before giving up.
const FIRST_ELEMENT_ATTEMPTS: usize = 5;

/// A scanner over a JSON log that starts at its newest event.
///
/// The runtime writes new events into the free space before the first event while the log
/// is read. A reader that goes through that space in several reads can see the spaces of
/// one read and, in the next, the second half of an event written in between: garbage. So
/// the scanner is started at the first element (or the `]`) found by a pass that read it and
/// the next one without trouble; everything from there on never changes in place. A log that fails
/// that pass every time is read from its start, to report the problem where it is.
pub fn json_scanner(file: File) -> JsonScanner<File> {
    for _ in 0..FIRST_ELEMENT_ATTEMPTS {
        // The half of an event can itself be a JSON value (`{"lr":0.1}},` ...), so the
        // first element must be an event and what follows it must scan too.
        let mut probe = JsonScanner::new(&file);
        let first = match probe.next_element() {
            Ok(Some(element)) if element.to_event().is_ok() => {
                probe.next_element().is_ok().then_some(element.start)
            }
            Ok(Some(_)) | Err(_) => None,
            Ok(None) => probe.array_end(),
        };
        if let Some(first) = first {
            return JsonScanner::inside_array(file, first);
        }
    }
    JsonScanner::new(file)
}

/// One JSON element as an event. Deserialising straight into [`AuditEvent`] is several
/// times faster than going through a `Value`; when it fails, the `Value` path gives the same
/// answer as [`audit_runtime::read::JsonElement::to_event`] and its precise message.
pub fn parse_event(bytes: &[u8]) -> Result<AuditEvent, String> {
    if let Ok((event, _)) = lenient::parse_with(bytes, |b| serde_json::from_slice::<AuditEvent>(b))
        && !event.action_type.is_empty()
    {
        return Ok(event);
    }
    let (value, _) = lenient::parse_value(bytes).map_err(|e| e.message)?;
    value_into_event(value)
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
