//! `auditlog verify`: the file parses, every event is valid by the runtime's one definition
//! ([`audit_runtime::read::check_event`], which the logger's verify-on-open applies too:
//! exactly the five fields, with valid values), and timestamps are strictly decreasing (JSON, newest first) or strictly increasing
//! (CSV, oldest first). The first problem is reported with its byte offset and line, and the
//! exit code is 1. A status other than `success` / `failed` (WeightsLab v2.0's services log
//! `error`) is valid: it gets a note naming it and how many events have it, and the exit
//! code stays 0. (Integrity data such as a hash chain is checked here once the runtime
//! writes it.)

use std::collections::BTreeMap;

use audit_runtime::read::{ScanError, ScanErrorKind};
use audit_runtime::{AuditEvent, Format, Timestamp};

use crate::CliError;
use crate::cli::VerifyArgs;
use crate::error::PROBLEMS;
use crate::progress::Progress;
use crate::reader::{CsvRows, IncompleteLastRow};
use crate::snapshot::Snapshot;
use crate::source::{self, LogFile};

/// Checks the log; prints `ok: …` and returns 0, or prints the first problem and returns 1.
pub fn verify(args: &VerifyArgs) -> Result<u8, CliError> {
    let log = source::open(&args.path)?;
    let outcome = match log.format {
        Format::Csv => verify_csv(&log)?,
        _ => verify_json(&log)?,
    };
    match outcome {
        Ok(report) => {
            let range = match (report.oldest, report.newest) {
                (Some(o), Some(n)) => format!(", {o} to {n}"),
                _ => " (empty log)".to_owned(),
            };
            println!(
                "ok: {} ({}): {} events{range}",
                log.path.display(),
                log.format,
                report.events
            );
            if report.non_finite > 0 {
                eprintln!(
                    "auditlog: warning: {} holds {} bare NaN/Infinity tokens (written by Python's \
                     json module; strict JSON parsers reject them, auditlog reads them as strings)",
                    log.path.display(),
                    report.non_finite
                );
            }
            for (status, n) in &report.other_statuses {
                let events = if *n == 1 { "event" } else { "events" };
                eprintln!(
                    "auditlog: note: {} holds {n} {events} with the status {status:?}: not one \
                     this version writes (WeightsLab v2.0's services log \"error\" for a notebook \
                     cell that raised), but valid, and kept as written",
                    log.path.display(),
                );
            }
            if report.lone_surrogates > 0 {
                eprintln!(
                    "auditlog: warning: {} holds {} lone surrogate escapes such as \"\\ud800\" \
                     (written by Python's json module for text that was not valid UTF-8; strict \
                     JSON parsers reject them, auditlog reads each as U+FFFD)",
                    log.path.display(),
                    report.lone_surrogates
                );
            }
            Ok(0)
        }
        Err((problem, good)) => {
            println!(
                "problem: {} ({}): {problem} (after {good} good events)",
                log.path.display(),
                log.format,
            );
            Ok(PROBLEMS)
        }
    }
}

/// Every event is intact, but a writer that died mid-event left part of it in the free
/// space: until the next write the file is not JSON for readers that do not know the layout
/// (json.load, jq), so it does not verify.
fn torn_problem(snapshot: &Snapshot, report: Report) -> Outcome {
    match &snapshot.json_torn {
        None => Ok(report),
        Some(torn) => Err((
            ScanError {
                kind: ScanErrorKind::CutOffAtEnd,
                offset: torn.start,
                line: 2,
                message: format!(
                    "an event of {} bytes cut off by a writer that died while writing it (never \
                     acknowledged; every event after it is intact). The next event any writer \
                     logs clears it; until then readers other than auditlog cannot parse the file",
                    torn.end - torn.start
                ),
            },
            report.events,
        )),
    }
}

#[derive(Debug, Default)]
struct Report {
    events: u64,
    oldest: Option<Timestamp>,
    newest: Option<Timestamp>,
    non_finite: u64,
    lone_surrogates: u64,
    /// Events per status other than `success` / `failed`, by the status as written.
    other_statuses: BTreeMap<String, u64>,
}

impl Report {
    /// Counts a valid event.
    fn add(&mut self, event: &AuditEvent) {
        self.events += 1;
        if event.status.known().is_none() {
            *self
                .other_statuses
                .entry(event.status.as_str().to_owned())
                .or_default() += 1;
        }
    }
}

/// The report, or the first problem and how many good events came before it.
type Outcome = Result<Report, (ScanError, u64)>;

fn verify_json(log: &LogFile) -> Result<Outcome, CliError> {
    let mut progress = Progress::new(log.len());
    let snapshot = Snapshot::take(log)?;
    let mut scanner = snapshot.json_scanner();
    let mut report = Report::default();
    let mut previous: Option<Timestamp> = None;
    loop {
        let element = match scanner.next_event() {
            Ok(Some(element)) => element,
            Ok(None) => return Ok(torn_problem(&snapshot, report)),
            Err(error) => {
                if let Some(io) = scanner.take_io_error() {
                    return Err(CliError::failure(format!(
                        "cannot read {}: {io}",
                        log.path.display()
                    )));
                }
                return Ok(Err((error, report.events)));
            }
        };
        progress.at(element.end);
        let (start, line) = (element.start, scanner.last_line());
        let at = |kind: ScanErrorKind, message: String| ScanError {
            kind,
            offset: start,
            line,
            message,
        };
        let (non_finite, lone_surrogates) = (element.non_finite_tokens, element.lone_surrogates);
        let event = match element.into_event() {
            Ok(event) => event,
            Err(invalid) => {
                let kind = ScanErrorKind::InvalidEvent(invalid.kind());
                return Ok(Err((at(kind, invalid.to_string()), report.events)));
            }
        };
        if let Some(prev) = previous
            && event.timestamp >= prev
        {
            let message = format!(
                "timestamps must be strictly decreasing (newest first): {} comes after {prev}",
                event.timestamp
            );
            // Valid events out of order: the log's shape is wrong, not an event.
            return Ok(Err((at(ScanErrorKind::Malformed, message), report.events)));
        }
        previous = Some(event.timestamp);
        report.newest.get_or_insert(event.timestamp);
        report.oldest = Some(event.timestamp);
        report.add(&event);
        report.non_finite += u64::from(non_finite);
        report.lone_surrogates += u64::from(lone_surrogates);
    }
}

fn verify_csv(log: &LogFile) -> Result<Outcome, CliError> {
    let mut progress = Progress::new(log.len());
    // Up to a length taken under the writers' lock when there is one: a row being appended
    // meanwhile is not half seen (without it, a cut-off last row is read again before it is
    // reported).
    let mut rows = CsvRows::new(log, &Snapshot::take(log)?, IncompleteLastRow::Report);
    let mut report = Report::default();
    let mut previous: Option<Timestamp> = None;
    let mut last_row = None;
    while let Some(row) = rows.next_row() {
        let row = match row {
            Ok(row) => row,
            Err(error) => {
                if let Some(io) = rows.take_io_error() {
                    return Err(CliError::failure(format!(
                        "cannot read {}: {io}",
                        log.path.display()
                    )));
                }
                return Ok(Err((error, report.events)));
            }
        };
        let (position, event) = (row.position, row.event);
        progress.at(position.byte);
        if let Some(prev) = previous
            && event.timestamp <= prev
        {
            let problem = ScanError {
                kind: ScanErrorKind::Malformed,
                offset: position.byte,
                line: position.line,
                message: format!(
                    "timestamps must be strictly increasing (oldest first): {} comes after {prev}",
                    event.timestamp
                ),
            };
            return Ok(Err((problem, report.events)));
        }
        previous = Some(event.timestamp);
        report.oldest.get_or_insert(event.timestamp);
        report.newest = Some(event.timestamp);
        report.add(&event);
        last_row = Some((position, row.terminated));
    }
    // Both writers end every row with a line break, so a last row without one was cut
    // short (its last cell may be incomplete even though it parses).
    if let Some((position, false)) = last_row {
        let problem = ScanError {
            kind: ScanErrorKind::Malformed,
            offset: position.byte,
            line: position.line,
            message: "the last row does not end with a line break: the file looks truncated"
                .to_owned(),
        };
        return Ok(Err((problem, report.events - 1)));
    }
    Ok(Ok(report))
}
