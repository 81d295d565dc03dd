//! Reading audit logs: streaming, in constant memory, both formats, including the files the
//! spec's Python reference writes, and logs that another process is writing at the same time.
//!
//! - [`detect`] tells the format from the content; [`open_events`] streams the events of
//!   either, with their byte offsets and lines ([`EventStream`], [`LocatedEvent`]).
//! - [`Snapshot`] is a consistent view of a log being written, taken under the writers'
//!   shared lock: its length and, for JSON, where the newest event is. Its
//!   [`events`](Snapshot::events) read exactly that view.
//! - [`Follow`] yields new events as they are written, in place and across rewrites
//!   (`auditlog tail -f`).
//! - [`summarize_file`] gives the spec's `get_log_summary` counts; [`EventStream::for_each_brief`]
//!   the fields a richer summary counts, read fast.
//! - [`CsvWriter`] writes events in the CSV log's format (export), with the writer's own
//!   header and cell encoding.
//! - Lower level: [`JsonScanner`] walks the JSON array one element at a time, with byte
//!   offsets; [`salvage_json`] recovers what can be recovered from a damaged one.
//!   [`CsvEvents`] reads the CSV log row by row; [`salvage_csv`] recovers a damaged one and
//!   says where its good prefix ends.
//!
//! This module only reads: it never changes a log file.
//!
//! ```
//! use audit_runtime::{AuditLogger, Format, Status, read};
//! let dir = tempfile::tempdir()?;
//! for format in [Format::Json, Format::Csv] {
//!     let logger = AuditLogger::builder(dir.path()).format(format).build()?;
//!     logger.log_event("pause", Status::Success, None, None)?;
//!
//!     // A reader needs only the path: the format is told from the content.
//!     let path = logger.path().unwrap();
//!     assert_eq!(read::detect(path)?, format);
//!     let events = read::open_events(path)?.collect::<Result<Vec<_>, _>>()?;
//!     assert_eq!(events[0].action_type, "pause");
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod csv;
mod export;
mod follow;
mod json;
pub mod lenient;
mod salvage;
pub(crate) mod snapshot;
mod stream;
pub(crate) mod summary;

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::Path;

pub use self::csv::{CsvEvents, CsvSalvageReport, RecordPosition, salvage_csv};
pub use self::export::CsvWriter;
pub use self::follow::Follow;
pub use self::json::{
    EVENT_FIELDS, JsonElement, JsonScanner, RawElement, ScanError, ScanErrorKind, check_event,
    parse_event, value_into_event, value_to_event,
};
pub use self::salvage::{SalvageError, SalvageReport, salvage_json};
pub use self::snapshot::Snapshot;
pub use self::stream::{EventSpan, EventStream, LocatedEvent, open_events, open_events_as};
pub use self::summary::{EventBrief, summarize_file};

use crate::{AuditError, Format};

/// Tells the format of a log from its content: the first non-whitespace byte `[` is JSON, a
/// first line starting with the CSV header's first column (`timestamp,`) is CSV. An empty or
/// whitespace-only file goes by its extension (`.csv` is CSV, anything else JSON, the spec's
/// default).
///
/// ```
/// use audit_runtime::{Format, read};
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("exported.txt");
///
/// std::fs::write(&path, "timestamp,action_type,status,details,error\n")?;
/// assert_eq!(read::detect(&path)?, Format::Csv); // by content, whatever the name
/// std::fs::write(&path, " [\n]\n")?;
/// assert_eq!(read::detect(&path)?, Format::Json);
/// std::fs::write(&path, "hello")?;
/// assert!(read::detect(&path).is_err()); // neither
///
/// let empty = dir.path().join("audit_log.csv");
/// std::fs::write(&empty, "")?;
/// assert_eq!(read::detect(&empty)?, Format::Csv); // nothing to go by but the extension
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn detect(path: impl AsRef<Path>) -> Result<Format, AuditError> {
    let path = path.as_ref();
    let file = File::open(path).map_err(|e| AuditError::io("open", path, e))?;
    match detect_reader(file) {
        Ok(format) => Ok(format),
        Err(Detect::Empty) => Ok(by_extension(path)),
        Err(Detect::Io(e)) => Err(AuditError::io("read", path, e)),
        Err(Detect::Neither(found)) => Err(AuditError::Malformed {
            path: path.to_owned(),
            reason: format!(
                "neither a JSON log (starting with '[') nor a CSV log (starting with the header \
                 {}); it starts with {found}",
                self::csv::HEADER.join(",")
            ),
        }),
    }
}

fn by_extension(path: &Path) -> Format {
    match path.extension().and_then(|e| e.to_str()) {
        Some(ext) if ext.eq_ignore_ascii_case("csv") => Format::Csv,
        _ => Format::Json,
    }
}

enum Detect {
    Io(io::Error),
    Empty,
    Neither(String),
}

fn detect_reader(file: File) -> Result<Format, Detect> {
    let mut reader = BufReader::with_capacity(64 * 1024, file);
    let mut first_line = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    let mut seen_content = false;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Detect::Io(e)),
        };
        let chunk = &buf[..n];
        if !seen_content {
            let Some(k) = chunk.iter().position(|b| !b.is_ascii_whitespace()) else {
                continue;
            };
            if chunk[k] == b'[' {
                return Ok(Format::Json);
            }
            seen_content = true;
            first_line.extend_from_slice(&chunk[k..]);
        } else {
            first_line.extend_from_slice(chunk);
        }
        if first_line.len() >= 256 || memchr::memchr(b'\n', &first_line).is_some() {
            break;
        }
    }
    if !seen_content {
        return Err(Detect::Empty);
    }
    let line = first_line
        .strip_prefix("\u{feff}".as_bytes())
        .unwrap_or(&first_line);
    let first_column = self::csv::HEADER[0].as_bytes();
    if line.starts_with(first_column) && line.get(first_column.len()) == Some(&b',') {
        return Ok(Format::Csv);
    }
    // Name only the first byte: the file may be anything (a link to a secret, say), and an
    // error message must not print its content.
    let first = line[0];
    Err(Detect::Neither(if first.is_ascii_graphic() {
        format!("'{}'", first as char)
    } else {
        format!("byte 0x{first:02x}")
    }))
}

/// The [`AuditError::Malformed`] for a problem found in `path`.
pub(crate) fn malformed(path: &Path, error: &ScanError) -> AuditError {
    AuditError::Malformed {
        path: path.to_owned(),
        reason: error.to_string(),
    }
}

#[cfg(test)]
mod live_tests;
#[cfg(test)]
mod tests;

/// Reads up to `buf.len()` bytes at `offset` with positioned reads (no shared file position),
/// fewer only at the end of the file.
pub(crate) fn read_at_most(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read_at(&mut buf[filled..], offset + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// The last byte before offset `end` that is `a` or `b`, with its offset, found by reading
/// backwards; `None` if there is none (or the file is shorter than `end`).
///
/// Used to walk back over event lines from a known event to the free space before them (the
/// writers, [`Snapshot`] and [`Follow`], all through `storage::json::layout`). Reads start
/// small and double, so walking back over a few short lines reads little more than those
/// lines.
pub(crate) fn rfind_either(file: &File, end: u64, a: u8, b: u8) -> io::Result<Option<(u64, u8)>> {
    let mut end = end;
    let mut block = vec![0u8; 512];
    while end > 0 {
        let start = end.saturating_sub(block.len() as u64);
        let len = (end - start) as usize;
        if read_at_most(file, &mut block[..len], start)? < len {
            return Ok(None);
        }
        if let Some(i) = memchr::memrchr2(a, b, &block[..len]) {
            return Ok(Some((start + i as u64, block[i])));
        }
        end = start;
        if block.len() < 64 * 1024 {
            block.resize(block.len() * 2, 0);
        }
    }
    Ok(None)
}
