//! `auditlog verify`: the file parses, every event is valid by the runtime's one definition
//! ([`audit_runtime::read::check_event`], which the logger's verify-on-open applies too:
//! exactly the five fields, with valid values), and timestamps are strictly decreasing (JSON, newest first) or strictly increasing
//! (CSV, oldest first). The first problem is reported with its byte offset and line, and the
//! exit code is 1. A status other than `success` / `failed` (WeightsLab v2.0's services log
//! `error`) is valid: it gets a note naming it and how many events have it, and the exit
//! code stays 0. A log written with tamper evidence has its hash chain checked in the same
//! pass (and the digests beside it, their signatures with `--key`): see
//! [`audit_runtime::integrity`]; a log without a chain is reported as such, not as intact.

use std::collections::BTreeMap;

use audit_runtime::integrity::{self, ChainReport, ChainVerifier, FileOrder, PublicKey, short};
use audit_runtime::read::{EventStream, ScanError, ScanErrorKind, Snapshot};
use audit_runtime::{AuditError, AuditEvent, Format, Timestamp};

use crate::CliError;
use crate::cli::VerifyArgs;
use crate::error::PROBLEMS;
use crate::progress::Progress;
use crate::source::{self, LogFile};

mod set;
mod two_threads;

/// Checks the log (or the files of a rotated log); prints `ok: …` and returns 0, or prints
/// the first problem and returns 1.
pub fn verify(args: &VerifyArgs) -> Result<u8, CliError> {
    let key = args.key.as_deref().map(PublicKey::from_file).transpose()?;
    match args.paths.as_slice() {
        [path] => {
            let log = source::open(path)?;
            let digests = match integrity::load_digests(&log.path, key.as_ref())? {
                Ok(digests) => digests,
                Err(p) => {
                    print_digest_problem(&log.path, &p);
                    return Ok(PROBLEMS);
                }
            };
            Ok(verify_file(&log, key.as_ref(), digests, None, args.threads)?.0)
        }
        paths => set::verify(paths, key.as_ref(), args.threads),
    }
}

fn print_digest_problem(log: &std::path::Path, p: &integrity::Problem) {
    println!(
        "problem: {}: byte {} (line {}){}: {}",
        integrity::sidecar_path(log).display(),
        p.offset,
        p.line,
        p.seq
            .map_or(String::new(), |s| format!(", digest of seq {s}")),
        p.message
    );
}

/// Checks one file against `digests`; prints its `ok:` line or its first problem. `set`:
/// the file is one of a rotated set of this many files (digests past its head are then a
/// newer file's, and the signatures' cover is checked over the whole set). Returns the
/// exit code and, when the file holds a chain and verified, the chain's report.
fn verify_file(
    log: &LogFile,
    key: Option<&PublicKey>,
    digests: Vec<integrity::DigestLine>,
    set: Option<usize>,
    threads: Option<u8>,
) -> Result<(u8, Option<ChainReport>), CliError> {
    let order = match log.format {
        Format::Csv => FileOrder::OldestFirst,
        _ => FileOrder::NewestFirst,
    };
    let mut chain = ChainVerifier::new(order, digests);
    if set.is_some() {
        chain = chain.in_rotated_set();
    }
    let threads = threads.unwrap_or(if two_threads::worth_it() { 2 } else { 1 });
    let fast = (threads == 2)
        .then(|| two_threads::verify(log, &mut chain))
        .flatten();
    let outcome = match (fast, log.format) {
        (Some(report), _) => Ok(report),
        (None, Format::Csv) => verify_csv(log, &mut chain)?,
        (None, _) => verify_json(log, &mut chain)?,
    };
    // In a set, the signatures must cover the set, not each file (see `set`).
    let outcome =
        outcome.and_then(|report| finish_chain(report, chain, key.is_some() && set.is_none()));
    match outcome {
        Ok(report) => {
            let range = match (report.oldest, report.newest) {
                (Some(o), Some(n)) => format!(", {o} to {n}"),
                _ => " (empty log)".to_owned(),
            };
            println!(
                "ok: {} ({}): {} events{range}; {}",
                log.path.display(),
                log.format,
                report.events,
                chain_summary(report.chain.as_ref(), key.is_some())
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
            Ok((0, report.chain))
        }
        Err((problem, good)) => {
            println!(
                "problem: {} ({}): {problem} (after {good} good events)",
                log.path.display(),
                log.format,
            );
            Ok((PROBLEMS, None))
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

/// After the last event: the chain's end checks, and with a key, that signed digests cover
/// the log.
fn finish_chain(mut report: Report, chain: ChainVerifier, keyed: bool) -> Outcome {
    let has_chain = chain.has_chain();
    let end = |at: (u64, u64), message: String| ScanError {
        kind: ScanErrorKind::Malformed,
        offset: at.0,
        line: at.1,
        message,
    };
    let chained = match chain.finish() {
        Ok(c) => c,
        Err(p) => {
            return Err((
                end(p.at, format!("seq {}: {}", p.seq, p.message)),
                report.events,
            ));
        }
    };
    if !has_chain {
        if keyed {
            let message = "the log has no hash chain, so no signature can vouch for it (it was \
                           written without tamper_evident / a signing key)";
            return Err((end((0, 1), message.to_owned()), report.events));
        }
        return Ok(report);
    }
    match integrity::require_signed(chained, keyed) {
        Ok(c) => {
            report.chain = Some(c);
            Ok(report)
        }
        Err(message) => Err((end((0, 1), message), report.events)),
    }
}

/// The chain's part of the `ok:` line.
fn chain_summary(chain: Option<&ChainReport>, keyed: bool) -> String {
    let Some(c) = chain else {
        return "no hash chain: structure and order checked, integrity NOT checked (written \
                without tamper evidence)"
            .to_owned();
    };
    let (head, hash) = c.head.unwrap_or((0, [0; 32]));
    let mut out = format!(
        "chain intact: seq {}..{head}, head {}",
        c.first_seq.unwrap_or(0),
        short(&hash)
    );
    if let Some(prev) = c.continues {
        out.push_str(&format!(
            " (continues a previous file's head {})",
            short(&prev)
        ));
    }
    if c.unchained_before > 0 {
        out.push_str(&format!(
            ", {} older events without a chain before it",
            c.unchained_before
        ));
    }
    match &c.last_digest {
        Some((seq, at)) => {
            out.push_str(&format!(
                "; last {} digest: seq {seq} at {at}",
                if keyed {
                    "signed"
                } else {
                    "(signature not checked, no --key)"
                }
            ));
            if head > *seq {
                out.push_str(&format!(", {} newer events not yet covered", head - seq));
            }
        }
        None => out.push_str("; no signed digests"),
    }
    out
}

/// An event's chain problem as a problem of the log, and how many good events came before
/// it. The problem may lie with the event read before this one (newest first, a link
/// without its `prev` is checked when the link before it, the next event, is read): then
/// that one is not counted good.
fn chain_problem(
    chain: &mut ChainVerifier,
    event: &AuditEvent,
    (offset, line): (u64, u64),
    good: u64,
) -> Option<(ScanError, u64)> {
    chain.event(event, offset, line).err().map(|p| {
        let good = if p.at.0 == offset {
            good
        } else {
            good.saturating_sub(1)
        };
        let problem = ScanError {
            kind: ScanErrorKind::Malformed,
            offset: p.at.0,
            line: p.at.1,
            message: format!("seq {}: {}", p.seq, p.message),
        };
        (problem, good)
    })
}

#[derive(Debug, Default)]
struct Report {
    chain: Option<ChainReport>,
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

fn verify_json(log: &LogFile, chain: &mut ChainVerifier) -> Result<Outcome, CliError> {
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
        // The chain first: a moved event is reported with its sequence number.
        let at = (located.offset, located.line);
        if let Some(problem) = chain_problem(chain, &event, at, report.events) {
            return Ok(Err(problem));
        }
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

fn verify_csv(log: &LogFile, chain: &mut ChainVerifier) -> Result<Outcome, CliError> {
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
        let at = (located.offset, located.line);
        if let Some(problem) = chain_problem(chain, &event, at, report.events) {
            return Ok(Err(problem));
        }
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
