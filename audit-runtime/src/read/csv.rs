//! Streaming reader for the CSV log: a header `timestamp,action_type,status,details,error`,
//! then one row per event, oldest first.
//!
//! Rows are split by a small RFC 4180 parser with the rules of Python's `csv` module (the
//! `excel` dialect the reference writes with): `"` quotes, `""` inside quotes is a quote,
//! quoted fields may hold commas and line breaks, a quote inside an unquoted field is
//! literal, and a record ends at `\r\n`, `\n` or `\r`. We parse rows ourselves rather than
//! through the `csv` crate because the writer needs what that crate's reader does not
//! report: the exact byte where each record ends (across `\r\n`) and whether the last record
//! was cut off inside a quoted field. Blank lines between records are skipped, like
//! `csv.DictReader` does.
//!
//! Cells are read back the way our writer wrote them: `action_type`, `status` and `error`
//! pass through
//! [`csv_safety::restore`] (formula neutralisation undone), an empty `details` cell is `{}`
//! (the reference writes an empty cell for empty details), `details` is parsed leniently
//! (bare `NaN` tokens, see [`super::lenient`]), an empty `error` cell is `None`.

use std::io::{self, Read};

use super::json::{ScanError, ScanErrorKind};
use super::lenient;
use super::salvage::SalvageError;
use crate::event::{AuditEvent, EventStatus, details_object};
use crate::{InvalidEvent, InvalidEventKind, Timestamp, csv_safety};

/// The header row, column by column (defined with the CSV writer).
pub(crate) use crate::storage::csv::encode::COLUMNS as HEADER;

/// The read buffer starts small (re-reading one row should be cheap) and doubles up to this.
const CHUNK: usize = 128 * 1024;
const FIRST_CHUNK: usize = 4 * 1024;

/// Where a record starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordPosition {
    /// Byte offset of the record's first byte.
    pub byte: u64,
    /// 1-based line of that byte (line breaks inside quoted fields count).
    pub line: u64,
}

/// One record, its fields held by the [`Records`] that read it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawRecord {
    pub(crate) position: RecordPosition,
    /// Offset one past the record, after its line terminator if it has one.
    pub(crate) end: u64,
    /// Whether the record ended with a line terminator (rather than the end of the file).
    pub(crate) terminated: bool,
}

pub(crate) enum RecordError {
    Io(io::Error),
    /// The file ends inside a quoted field that opened at `quote`.
    Unterminated {
        position: RecordPosition,
        quote: u64,
    },
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    Start,
    Unquoted,
    Quoted,
    QuoteInQuoted,
}

/// Splits a byte stream into CSV records.
pub(crate) struct Records<R> {
    reader: R,
    buf: Vec<u8>,
    pos: usize,
    len: usize,
    /// File offset of `buf[0]`.
    base: u64,
    /// 1-based line of `buf[pos]`.
    line: u64,
    eof: bool,
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl<R: Read> Records<R> {
    pub(crate) fn new(reader: R, at: RecordPosition) -> Self {
        Records {
            reader,
            buf: vec![0; FIRST_CHUNK],
            pos: 0,
            len: 0,
            base: at.byte,
            line: at.line,
            eof: false,
            bytes: Vec::new(),
            ends: Vec::new(),
        }
    }

    fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    fn peek(&mut self) -> io::Result<Option<u8>> {
        if self.pos < self.len {
            return Ok(Some(self.buf[self.pos]));
        }
        if self.eof {
            return Ok(None);
        }
        if self.len == self.buf.len() && self.buf.len() < CHUNK {
            self.buf.resize(self.buf.len() * 2, 0);
        }
        self.base += self.len as u64;
        self.pos = 0;
        self.len = 0;
        loop {
            match self.reader.read(&mut self.buf) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(None);
                }
                Ok(n) => {
                    self.len = n;
                    return Ok(Some(self.buf[0]));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Consumes `\r`, `\r\n` or `\n` at `pos`.
    fn terminator(&mut self) -> io::Result<()> {
        if self.buf[self.pos] == b'\r' {
            self.pos += 1;
            if self.peek()? != Some(b'\n') {
                return Ok(());
            }
        }
        self.pos += 1;
        self.line += 1;
        Ok(())
    }

    fn end_field(&mut self) {
        self.ends.push(self.bytes.len());
    }

    /// The fields of the record returned last.
    pub(crate) fn fields(&self) -> impl ExactSizeIterator<Item = &[u8]> {
        (0..self.ends.len()).map(|i| {
            let from = if i == 0 { 0 } else { self.ends[i - 1] };
            &self.bytes[from..self.ends[i]]
        })
    }

    pub(crate) fn next_record(&mut self) -> Result<Option<RawRecord>, RecordError> {
        self.bytes.clear();
        self.ends.clear();
        // Blank lines are not records.
        loop {
            match self.peek().map_err(RecordError::Io)? {
                None => return Ok(None),
                Some(b'\r' | b'\n') => self.terminator().map_err(RecordError::Io)?,
                Some(_) => break,
            }
        }
        let position = RecordPosition {
            byte: self.offset(),
            line: self.line,
        };
        let mut state = Field::Start;
        let mut quote = 0;
        loop {
            let Some(b) = self.peek().map_err(RecordError::Io)? else {
                if state == Field::Quoted {
                    return Err(RecordError::Unterminated { position, quote });
                }
                self.end_field();
                return Ok(Some(RawRecord {
                    position,
                    end: self.offset(),
                    terminated: false,
                }));
            };
            match (state, b) {
                (Field::Quoted, _) => {
                    // Copy up to the next quote in one go.
                    let chunk = &self.buf[self.pos..self.len];
                    let take = memchr::memchr(b'"', chunk).unwrap_or(chunk.len());
                    self.line += memchr::memchr_iter(b'\n', &chunk[..take]).count() as u64;
                    self.bytes.extend_from_slice(&chunk[..take]);
                    self.pos += take;
                    if self.pos < self.len {
                        self.pos += 1;
                        state = Field::QuoteInQuoted;
                    }
                }
                (Field::Start, b'"') => {
                    quote = self.offset();
                    self.pos += 1;
                    state = Field::Quoted;
                }
                (Field::QuoteInQuoted, b'"') => {
                    self.bytes.push(b'"');
                    self.pos += 1;
                    state = Field::Quoted;
                }
                (_, b',') => {
                    self.pos += 1;
                    self.end_field();
                    state = Field::Start;
                }
                (_, b'\r' | b'\n') => {
                    self.end_field();
                    self.terminator().map_err(RecordError::Io)?;
                    return Ok(Some(RawRecord {
                        position,
                        end: self.offset(),
                        terminated: true,
                    }));
                }
                (_, _) => {
                    // Unquoted text; after a closing quote Python keeps it too.
                    let chunk = &self.buf[self.pos..self.len];
                    let take = chunk
                        .iter()
                        .position(|&c| matches!(c, b',' | b'\r' | b'\n'))
                        .unwrap_or(chunk.len());
                    self.bytes.extend_from_slice(&chunk[..take]);
                    self.pos += take;
                    state = Field::Unquoted;
                }
            }
        }
    }
}

/// What a wrong header holds, without echoing file content: column names that look like
/// names are shown (a misspelt header is worth seeing), anything else only counted, since
/// the file may be any file at all (an error message must not print a secret's first line).
fn describe_header(found: &[String]) -> String {
    let looks_like_name = |f: &String| {
        let f = f.strip_prefix('\u{feff}').unwrap_or(f);
        !f.is_empty()
            && f.len() <= 32
            && f.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b' ')
    };
    if found.iter().all(looks_like_name) {
        found.join(",")
    } else {
        format!(
            "a first line of {} columns that is not a header (not shown)",
            found.len()
        )
    }
}

/// Checks that the fields are the header. The first cell may start with a UTF-8 byte order
/// mark (spreadsheets add one when saving).
fn check_header<'a>(mut fields: impl Iterator<Item = &'a [u8]>) -> Result<(), String> {
    let found: Vec<String> = fields
        .by_ref()
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect();
    let mut names = found.iter().map(String::as_str);
    let first = names
        .next()
        .map(|f| f.strip_prefix('\u{feff}').unwrap_or(f));
    let matches = found.len() == HEADER.len()
        && first == Some(HEADER[0])
        && names.eq(HEADER[1..].iter().copied());
    if matches {
        Ok(())
    } else {
        Err(format!(
            "expected the header {}, found {}",
            HEADER.join(","),
            describe_header(&found)
        ))
    }
}

/// Turns a row's five cells into an event; also returns what was mended in `details` (see
/// [`lenient::parse_value`]).
pub(crate) fn row_to_event(
    cells: [&str; 5],
) -> Result<(AuditEvent, lenient::Repairs), InvalidEvent> {
    let [timestamp, action_type, status, details, error] = cells;
    let timestamp: Timestamp = timestamp.parse().map_err(|e| {
        InvalidEvent::new(
            InvalidEventKind::InvalidTimestamp,
            format!("column \"timestamp\": {e}"),
        )
    })?;
    let action_type = csv_safety::restore(action_type);
    if action_type.is_empty() {
        return Err(InvalidEvent::new(
            InvalidEventKind::EmptyActionType,
            "column \"action_type\" is empty",
        ));
    }
    // Any non-empty status is an event's own (WeightsLab v2.0 logs "error"), kept as written.
    let status: EventStatus = csv_safety::restore(status).parse().map_err(|e| {
        InvalidEvent::new(
            InvalidEventKind::EmptyStatus,
            format!("column \"status\": {e}"),
        )
    })?;
    let (details, converted) = if details.is_empty() {
        (details_object(None), lenient::Repairs::default())
    } else {
        let (value, converted) = lenient::parse_value(details.as_bytes()).map_err(|e| {
            InvalidEvent::new(
                InvalidEventKind::DetailsNotJson,
                format!(
                    "column \"details\" is not JSON: {} (at character {})",
                    e.message,
                    e.index + 1
                ),
            )
        })?;
        (details_object(Some(value)), converted)
    };
    let error = (!error.is_empty()).then(|| csv_safety::restore(error).to_owned());
    Ok((
        AuditEvent {
            timestamp,
            action_type: action_type.to_owned(),
            status,
            details,
            error,
        },
        converted,
    ))
}

/// The five cells of the record last read, as text.
fn cells<R: Read>(records: &Records<R>) -> Result<[&str; 5], String> {
    let count = records.fields().len();
    if count != HEADER.len() {
        return Err(format!("expected 5 columns, found {count}"));
    }
    let mut out = [""; 5];
    for (slot, field) in out.iter_mut().zip(records.fields()) {
        *slot = std::str::from_utf8(field).map_err(|e| format!("not UTF-8 text: {e}"))?;
    }
    Ok(out)
}

/// A record that ends without a line break runs to the end of the input: it may be cut off
/// rather than damaged.
fn cut_off_unless(terminated: bool) -> ScanErrorKind {
    if terminated {
        ScanErrorKind::Malformed
    } else {
        ScanErrorKind::CutOffAtEnd
    }
}

fn problem(position: RecordPosition, kind: ScanErrorKind, message: String) -> ScanError {
    ScanError {
        kind,
        offset: position.byte,
        line: position.line,
        message,
    }
}

fn unterminated(position: RecordPosition, quote: u64) -> ScanError {
    problem(
        position,
        ScanErrorKind::CutOffAtEnd,
        format!(
            "record is truncated: the quoted field opened at byte {quote} is not closed before \
             the end of the file"
        ),
    )
}

/// Streams the events of a CSV log, oldest first, with where each row starts.
///
/// Strict: the first problem (wrong header, wrong number of columns, an invalid cell, a
/// final record cut off inside a quoted field) is returned as an `Err`, after which the
/// iterator ends. A final row without a line break is accepted, as any CSV reader does; a
/// writer that appends must check for that (see [`salvage_csv`]). An empty file (or a
/// header alone) has no events.
///
/// ```
/// use audit_runtime::read::CsvEvents;
/// let log = "timestamp,action_type,status,details,error\r\n\
///            2026-05-27T14:30:00.123456Z,hp_change,success,\"{\"\"lr\"\": 0.1}\",\r\n";
/// let rows: Vec<_> = CsvEvents::new(log.as_bytes()).collect::<Result<_, _>>().unwrap();
/// assert_eq!(rows[0].0.line, 2);
/// assert_eq!(rows[0].1.details["lr"], 0.1);
/// ```
pub struct CsvEvents<R> {
    records: Records<R>,
    header_checked: bool,
    done: bool,
    io_error: Option<io::Error>,
    last_end: Option<(u64, bool)>,
}

impl<R: Read> CsvEvents<R> {
    /// Reads from the reader's current position, which must be the start of the file.
    pub fn new(reader: R) -> Self {
        Self::with_records(
            Records::new(reader, RecordPosition { byte: 0, line: 1 }),
            false,
        )
    }

    /// Reads rows (no header) from a reader already positioned at the start of a row, which
    /// is at `position` in the file (positions reported are then right). Used to re-read one
    /// row found earlier, or to follow a file as it grows.
    pub fn starting_at(reader: R, position: RecordPosition) -> Self {
        Self::with_records(Records::new(reader, position), true)
    }

    fn with_records(records: Records<R>, header_checked: bool) -> Self {
        CsvEvents {
            records,
            header_checked,
            done: false,
            io_error: None,
            last_end: None,
        }
    }

    /// Offset one past the row returned last, and whether that row ended with a line break
    /// (a row without one may still be being written).
    pub fn last_end(&self) -> Option<(u64, bool)> {
        self.last_end
    }

    /// The I/O error behind the last `Err`, if reading failed rather than the file being
    /// malformed.
    pub fn take_io_error(&mut self) -> Option<io::Error> {
        self.io_error.take()
    }

    /// The next row's five cells (header checked, `restore` not yet applied).
    pub(crate) fn next_cells(&mut self) -> Option<Result<(RecordPosition, [&str; 5]), ScanError>> {
        if self.done {
            return None;
        }
        let record = loop {
            match self.records.next_record() {
                Ok(None) => {
                    self.done = true;
                    return None;
                }
                Ok(Some(record)) if !self.header_checked => {
                    self.header_checked = true;
                    self.last_end = Some((record.end, record.terminated));
                    if let Err(message) = check_header(self.records.fields()) {
                        self.done = true;
                        return Some(Err(problem(
                            record.position,
                            cut_off_unless(record.terminated),
                            message,
                        )));
                    }
                }
                Ok(Some(record)) => {
                    self.last_end = Some((record.end, record.terminated));
                    break record;
                }
                Err(RecordError::Unterminated { position, quote }) => {
                    self.done = true;
                    return Some(Err(unterminated(position, quote)));
                }
                Err(RecordError::Io(e)) => {
                    self.done = true;
                    let position = RecordPosition {
                        byte: self.records.offset(),
                        line: self.records.line,
                    };
                    let error = problem(
                        position,
                        ScanErrorKind::Io,
                        format!("cannot read the file: {e}"),
                    );
                    self.io_error = Some(e);
                    return Some(Err(error));
                }
            }
        };
        match cells(&self.records) {
            Ok(cells) => Some(Ok((record.position, cells))),
            Err(message) => {
                self.done = true;
                Some(Err(problem(
                    record.position,
                    cut_off_unless(record.terminated),
                    message,
                )))
            }
        }
    }
}

impl<R: Read> Iterator for CsvEvents<R> {
    type Item = Result<(RecordPosition, AuditEvent), ScanError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_repaired()
            .map(|row| row.map(|(position, event, _)| (position, event)))
    }
}

impl<R: Read> CsvEvents<R> {
    /// The next event, with what was mended in its `details` cell.
    pub(crate) fn next_repaired(
        &mut self,
    ) -> Option<Result<(RecordPosition, AuditEvent, lenient::Repairs), ScanError>> {
        let (position, cells) = match self.next_cells()? {
            Ok(row) => row,
            Err(e) => return Some(Err(e)),
        };
        match row_to_event(cells) {
            Ok((event, repairs)) => Some(Ok((position, event, repairs))),
            Err(invalid) => {
                self.done = true;
                // A row without a line break that is not a valid event may be a row another
                // process is still writing (its `write` being copied while it is read).
                let kind = match self.last_end {
                    Some((_, false)) => ScanErrorKind::CutOffAtEnd,
                    _ => ScanErrorKind::InvalidEvent(invalid.kind()),
                };
                Some(Err(problem(position, kind, invalid.to_string())))
            }
        }
    }
}

/// What a CSV salvage pass recovered, skipped, and where the good part of the file ends.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CsvSalvageReport {
    /// Events handed to the callback.
    pub recovered: u64,
    /// Every problem skipped over, in file order.
    pub problems: Vec<ScanError>,
    /// Bare `NaN`/`Infinity`/`-Infinity` tokens converted in recovered `details` cells.
    pub non_finite_tokens: u64,
    /// Lone surrogate escapes read as U+FFFD in recovered `details` cells.
    pub lone_surrogates: u64,
    /// Offset one past the last complete, valid record (the header counts; 0 when there is
    /// none). A writer truncates the file here to drop a torn tail before appending.
    pub good_prefix_len: u64,
    /// The record ending at `good_prefix_len` has no line break after it (the file ended
    /// there). An appender must write one first, or its row would continue that record.
    pub needs_line_break: bool,
}

/// Calls `on_event` for every row of a CSV log that is a valid event, in file order, skipping
/// (and listing) rows that are not, and stops at a record cut off inside a quoted field
/// (a torn write). A missing or wrong header is a problem, not the end: rows after it are
/// still read.
///
/// ```
/// use audit_runtime::InvalidEventKind;
/// use audit_runtime::read::{ScanErrorKind, salvage_csv};
/// // A good row, a row with an empty status, and a last row cut off inside its details.
/// let log = "timestamp,action_type,status,details,error\r\n\
///            2026-05-27T14:30:00.123456Z,pause,success,{},\r\n\
///            2026-05-27T14:30:01.000000Z,resume,,{},\r\n\
///            2026-05-27T14:30:02.000000Z,hp_change,success,\"{\"\"lr\"\": 0.";
///
/// let mut recovered = Vec::new();
/// let report = salvage_csv(log.as_bytes(), |position, event| {
///     recovered.push((position.line, event.action_type));
///     Ok::<(), std::convert::Infallible>(())
/// })?;
///
/// assert_eq!(recovered, [(2, "pause".to_owned())]);
/// let kinds: Vec<ScanErrorKind> = report.problems.iter().map(|p| p.kind).collect();
/// assert_eq!(kinds, [ScanErrorKind::InvalidEvent(InvalidEventKind::EmptyStatus), ScanErrorKind::CutOffAtEnd]);
/// // Where an appender would cut the file: after the last good row.
/// assert_eq!(report.good_prefix_len as usize, log.find("2026-05-27T14:30:01").unwrap());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn salvage_csv<R: Read, E>(
    reader: R,
    mut on_event: impl FnMut(RecordPosition, AuditEvent) -> Result<(), E>,
) -> Result<CsvSalvageReport, SalvageError<E>> {
    let mut records = Records::new(reader, RecordPosition { byte: 0, line: 1 });
    let mut report = CsvSalvageReport::default();
    let mut first = true;
    loop {
        let record = match records.next_record() {
            Ok(None) => return Ok(report),
            Ok(Some(record)) => record,
            Err(RecordError::Io(e)) => return Err(SalvageError::Io(e)),
            Err(RecordError::Unterminated { position, quote }) => {
                report.problems.push(unterminated(position, quote));
                return Ok(report);
            }
        };
        if std::mem::take(&mut first) {
            match check_header(records.fields()) {
                Ok(()) => {
                    report.good_prefix_len = record.end;
                    report.needs_line_break = !record.terminated;
                    continue;
                }
                Err(message) => report.problems.push(problem(
                    record.position,
                    cut_off_unless(record.terminated),
                    message,
                )),
            }
        }
        // The same kinds as `CsvEvents` gives for the same record.
        let event = match cells(&records) {
            Ok(cells) => row_to_event(cells).map_err(|invalid| {
                let kind = match record.terminated {
                    false => ScanErrorKind::CutOffAtEnd,
                    true => ScanErrorKind::InvalidEvent(invalid.kind()),
                };
                problem(record.position, kind, invalid.to_string())
            }),
            Err(message) => Err(problem(
                record.position,
                cut_off_unless(record.terminated),
                message,
            )),
        };
        match event {
            Ok((event, converted)) => {
                report.recovered += 1;
                report.non_finite_tokens += u64::from(converted.non_finite_tokens);
                report.lone_surrogates += u64::from(converted.lone_surrogates);
                report.good_prefix_len = record.end;
                report.needs_line_break = !record.terminated;
                on_event(record.position, event).map_err(SalvageError::Callback)?;
            }
            Err(error) => report.problems.push(error),
        }
    }
}
