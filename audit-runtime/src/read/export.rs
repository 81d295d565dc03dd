//! Writing events in the CSV log's format to any writer (an export, a pipe), with the
//! header and the cell encoding the runtime's CSV log itself uses: the writer's own encoder,
//! spreadsheet formulas neutralised ([`crate::csv_safety`]), so what the readers give back is
//! exactly what was logged.

use std::io::{self, Write};

use crate::AuditEvent;
use crate::storage::csv::encode::{csv_header, csv_row};
use crate::storage::encode::Record;

/// The line break of the rows: CRLF, as the runtime's CSV log (and Python's `csv` module).
const TERMINATOR: &[u8] = b"\r\n";

/// Writes events as the rows of a CSV log: the header, then one row per event, in the order
/// given (a CSV log is oldest first). The header comes before the first row, or from
/// [`finish`](Self::finish) when there was none, so an empty export is a valid empty log.
///
/// ```
/// use audit_runtime::read::CsvWriter;
/// use audit_runtime::{AuditEvent, Status};
/// let event = AuditEvent {
///     timestamp: "2026-05-27T14:30:00.123456Z".parse()?,
///     action_type: "tag_add".into(),
///     status: Status::Failed.into(),
///     details: serde_json::Map::new(),
///     error: Some("=HYPERLINK(\"x\")".into()),
/// };
/// let mut csv = CsvWriter::new(Vec::new());
/// csv.write_event(&event)?;
/// let text = String::from_utf8(csv.finish()?)?;
/// assert_eq!(
///     text,
///     "timestamp,action_type,status,details,error\r\n\
///      2026-05-27T14:30:00.123456Z,tag_add,failed,{},\"'=HYPERLINK(\"\"x\"\")\"\r\n"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct CsvWriter<W: Write> {
    out: W,
    rows: u64,
}

impl<W: Write> CsvWriter<W> {
    /// Writes to `out` (buffer it: each row is one `write_all`).
    pub fn new(out: W) -> Self {
        CsvWriter { out, rows: 0 }
    }

    /// Writes one event as a row (after the header, for the first).
    ///
    /// An event that cannot be encoded is an [`io::ErrorKind::InvalidData`] error.
    pub fn write_event(&mut self, event: &AuditEvent) -> io::Result<()> {
        let record = Record {
            action_type: &event.action_type,
            status: event.status.as_str(),
            details: &event.details,
            error: event.error.as_deref(),
        };
        let mut row = csv_row(&record, TERMINATOR)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        row.set_timestamp(event.timestamp);
        if self.rows == 0 {
            self.out.write_all(&csv_header(TERMINATOR))?;
        }
        self.out.write_all(&row.bytes)?;
        self.rows += 1;
        Ok(())
    }

    /// How many rows were written.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Flushes the writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Writes the header if no row was written, flushes, and returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        if self.rows == 0 {
            self.out.write_all(&csv_header(TERMINATOR))?;
        }
        self.out.flush()?;
        Ok(self.out)
    }
}
