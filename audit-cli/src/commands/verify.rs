//! `auditlog verify`: the file parses, every event is valid by the runtime's one definition
//! ([`audit_runtime::read::check_event`], which the logger's verify-on-open applies too:
//! exactly the five fields, with valid values), and timestamps are strictly decreasing (JSON, newest first) or strictly increasing
//! (CSV, oldest first). The first problem is reported with its byte offset and line, and the
//! exit code is 1. A status other than `success` / `failed` (WeightsLab v2.0's services log
//! `error`) is valid: it gets a note naming it and how many events have it, and the exit
//! code stays 0. (Integrity data such as a hash chain is checked here once the runtime
//! writes it.)

use std::collections::BTreeMap;

use audit_runtime::read::{EventStream, ScanError, ScanErrorKind, Snapshot};
use audit_runtime::{AuditError, AuditEvent, Format, Timestamp};

use crate::CliError;
use crate::cli::VerifyArgs;
use crate::error::PROBLEMS;
use crate::progress::Progress;
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
                     this version writes (\"success\", \"failed\", \"error\"), but valid, and \
                     kept as written",
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
    match snapshot.torn_event() {
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
    /// Events per status other than the three this version writes, by the status as written.
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

/// The problem that ended `events` with `err` and how many good events came before it, or
/// the error to exit with when reading failed rather than the log being wrong.
fn problem(events: &EventStream, err: AuditError, good: u64) -> Result<Outcome, CliError> {
    match events.problem() {
        Some(problem) if problem.kind != ScanErrorKind::Io => Ok(Err((problem.clone(), good))),
        _ => Err(err.into()),
    }
}

fn verify_json(log: &LogFile) -> Result<Outcome, CliError> {
    let mut progress = Progress::new(log.len());
    let snapshot = Snapshot::take(&log.path, log.format)?;
    let mut events = snapshot.events();
    let mut report = Report::default();
    let mut previous: Option<Timestamp> = None;
    loop {
        let located = match events.next_located() {
            Some(Ok(located)) => located,
            None => return Ok(torn_problem(&snapshot, report)),
            Some(Err(err)) => return problem(&events, err, report.events),
        };
        progress.at(located.end);
        let event = located.event;
        if let Some(prev) = previous
            && event.timestamp >= prev
        {
            // Valid events out of order: the log's shape is wrong, not an event.
            let problem = ScanError {
                kind: ScanErrorKind::Malformed,
                offset: located.offset,
                line: located.line,
                message: format!(
                    "timestamps must be strictly decreasing (newest first): {} comes after \
                     {prev}",
                    event.timestamp
                ),
            };
            return Ok(Err((problem, report.events)));
        }
        previous = Some(event.timestamp);
        report.newest.get_or_insert(event.timestamp);
        report.oldest = Some(event.timestamp);
        report.add(&event);
        report.non_finite += u64::from(located.repairs.non_finite_tokens);
        report.lone_surrogates += u64::from(located.repairs.lone_surrogates);
    }
}

fn verify_csv(log: &LogFile) -> Result<Outcome, CliError> {
    let mut progress = Progress::new(log.len());
    // Up to a length taken under the writers' lock when there is one: a row being appended
    // meanwhile is not half seen (without it, a cut-off last row is read again before it is
    // reported).
    let snapshot = Snapshot::take(&log.path, log.format)?;
    let mut events = snapshot.events();
    let mut report = Report::default();
    let mut previous: Option<Timestamp> = None;
    let mut last_row = None;
    while let Some(located) = events.next_located() {
        let located = match located {
            Ok(located) => located,
            Err(err) => return problem(&events, err, report.events),
        };
        let event = located.event;
        progress.at(located.offset);
        if let Some(prev) = previous
            && event.timestamp <= prev
        {
            let problem = ScanError {
                kind: ScanErrorKind::Malformed,
                offset: located.offset,
                line: located.line,
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
        last_row = Some((located.offset, located.line));
    }
    // Both writers end every row with a line break, so a last row without one was cut
    // short (its last cell may be incomplete even though it parses).
    if let (Some((offset, line)), Some(false)) = (last_row, events.last_row_terminated()) {
        let problem = ScanError {
            kind: ScanErrorKind::Malformed,
            offset,
            line,
            message: "the last row does not end with a line break: the file looks truncated"
                .to_owned(),
        };
        return Ok(Err((problem, report.events - 1)));
    }
    Ok(Ok(report))
}
