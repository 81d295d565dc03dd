//! Counting a log's events: the spec's `get_log_summary` (`total_events`, `by_action_type`,
//! `by_status`), for both formats, streaming.
//!
//! The JSON path deserialises only `action_type` and `status` (borrowed when unescaped) and
//! skips the rest of each event, which is what makes summarising a large log fast; the
//! lenient fallback for Python's `NaN` tokens applies as everywhere else. Like the
//! reference's summary, the counts take the two fields as they are written: the summary does
//! not validate timestamps or details (`auditlog verify` does).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::read::json::{ScanError, ScanErrorKind};
use crate::read::lenient;
use crate::read::{CsvEvents, JsonScanner, malformed};
use crate::{AuditError, AuditEvent, Format, csv_safety};

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
pub fn summarize_json_snapshot<R: Read + Seek>(
    file: R,
    first_element_offset: u64,
    len: u64,
) -> Result<LogSummary, AuditError> {
    let scanner = JsonScanner::inside_array(file, first_element_offset).limit(len);
    summarize_json(scanner, Path::new("(open JSON log snapshot)"))
}

/// Summarises the first `len` bytes of a CSV log (a snapshot of a file another process may be
/// appending to).
pub fn summarize_csv_snapshot<R: Read>(file: R, len: u64) -> Result<LogSummary, AuditError> {
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
