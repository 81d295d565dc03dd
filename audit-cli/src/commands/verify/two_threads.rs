//! The fast path of `auditlog verify`: two threads read the log at once, each through its
//! own stream over one snapshot, each parsing (and hashing) every other event and only
//! scanning the rest; the checks that depend on the events before (the chain's links, the
//! order of timestamps) are made in file order on this thread. Parsing is most of a verify's
//! time, so this is faster on a machine with two free cores: on 1,000,000 events, 1.32x
//! for JSON and 1.25x for CSV (each thread still scans every event, which is a larger share
//! of reading a CSV row than of a JSON line).
//!
//! It only ever says "all is well": at the first thing that is not (a problem of any kind,
//! a row that cannot be judged without parsing, a repaired token), it gives up and the
//! caller verifies the log again in one thread, which finds and reports the problem exactly
//! as it always has. A log with a problem costs one extra partial pass; a good one, half.

use std::sync::mpsc::{Receiver, sync_channel};

use audit_runtime::integrity::{ChainVerifier, Prechecked};
use audit_runtime::read::{EventStream, LocatedEvent, Snapshot};
use audit_runtime::{Format, Timestamp};

use super::Report;
use crate::progress::Progress;
use crate::source::LogFile;

/// Events parsed ahead by the second thread and not yet checked in order: bounds the
/// memory the fast path takes, whatever the log's size.
const AHEAD: usize = 4096;

/// What the check in file order needs of a parsed event.
struct Parsed {
    offset: u64,
    line: u64,
    timestamp: Timestamp,
    /// The status as written, when it is not one this version writes (counted by name).
    other_status: Option<String>,
    chain: Prechecked,
}

impl Parsed {
    /// `None` for an event that needed mending (the one-thread pass reports what).
    fn of(located: LocatedEvent) -> Option<Parsed> {
        if !located.repairs.is_none() {
            return None;
        }
        let event = located.event;
        Some(Parsed {
            offset: located.offset,
            line: located.line,
            timestamp: event.timestamp,
            other_status: event
                .status
                .known()
                .is_none()
                .then(|| event.status.as_str().to_owned()),
            chain: Prechecked::of(&event),
        })
    }
}

/// Whether the fast path is worth trying here.
pub(super) fn worth_it() -> bool {
    std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2)
}

/// The report of a log in which nothing is wrong, with `chain` fed every event; `None` as
/// soon as anything is not clean (`chain` is then left as it was).
pub(super) fn verify(log: &LogFile, chain: &mut ChainVerifier) -> Option<Report> {
    let snapshot = Snapshot::take(&log.path, log.format).ok()?;
    if snapshot.torn_event().is_some() {
        return None;
    }
    let mut fed = chain.clone();
    let report = std::thread::scope(|scope| {
        let (send, receive) = sync_channel(AHEAD);
        let mut second = snapshot.events();
        scope.spawn(move || {
            // Events 1, 3, 5, ...: `None` tells the other thread to give up.
            loop {
                match second.skip_event() {
                    None => return,
                    Some(Ok(true)) => {}
                    Some(_) => {
                        let _ = send.send(None);
                        return;
                    }
                }
                let parsed = match second.next_located() {
                    None => return,
                    Some(Ok(located)) => Parsed::of(located),
                    Some(Err(_)) => None,
                };
                let failed = parsed.is_none();
                // The other thread has given up and gone: so can this one.
                if send.send(parsed).is_err() || failed {
                    return;
                }
            }
        });
        // `receive` is dropped when this returns, so the second thread never waits on it.
        in_order(log, snapshot.events(), receive, &mut fed)
    })?;
    *chain = fed;
    Some(report)
}

/// Parses events 0, 2, 4, ... here, takes the others from `theirs`, and checks each in
/// file order.
fn in_order(
    log: &LogFile,
    mut mine: EventStream,
    theirs: Receiver<Option<Parsed>>,
    chain: &mut ChainVerifier,
) -> Option<Report> {
    let mut progress = Progress::new(log.len());
    let newest_first = log.format != Format::Csv;
    let mut report = Report::default();
    let mut previous: Option<Timestamp> = None;
    let mut my_turn = true;
    loop {
        let parsed = if my_turn {
            match mine.next_located() {
                None => break,
                Some(Ok(located)) => {
                    progress.at(located.end);
                    Parsed::of(located)?
                }
                Some(Err(_)) => return None,
            }
        } else {
            match mine.skip_event() {
                None => break,
                Some(Ok(true)) => theirs.recv().ok()??,
                Some(_) => return None,
            }
        };
        my_turn = !my_turn;
        chain
            .prechecked(parsed.chain, parsed.offset, parsed.line)
            .ok()?;
        if let Some(prev) = previous {
            let in_order = if newest_first {
                parsed.timestamp < prev
            } else {
                parsed.timestamp > prev
            };
            if !in_order {
                return None;
            }
        }
        previous = Some(parsed.timestamp);
        if newest_first {
            report.newest.get_or_insert(parsed.timestamp);
            report.oldest = Some(parsed.timestamp);
        } else {
            report.oldest.get_or_insert(parsed.timestamp);
            report.newest = Some(parsed.timestamp);
        }
        report.events += 1;
        if let Some(status) = parsed.other_status {
            *report.other_statuses.entry(status).or_default() += 1;
        }
    }
    // Both writers end every row with a line break: a last row without one was cut short.
    if mine.last_row_terminated() == Some(false) {
        return None;
    }
    Some(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use audit_runtime::integrity::FileOrder;
    use audit_runtime::{AuditLogger, Status};
    use serde_json::json;

    fn log(format: Format, n: usize) -> (tempfile::TempDir, LogFile) {
        let dir = tempfile::tempdir().unwrap();
        let logger = AuditLogger::builder(dir.path())
            .format(format)
            .tamper_evident(true)
            .build()
            .unwrap();
        for i in 0..n {
            let status = if i % 7 == 3 {
                Status::Failed
            } else {
                Status::Success
            };
            logger
                .log_event(
                    "hp_change",
                    status,
                    json!({"i": i, "lr": 0.5 / (i + 1) as f64}),
                    None,
                )
                .unwrap();
        }
        let path = logger.path().unwrap().to_owned();
        drop(logger);
        (dir, crate::source::open(&path).unwrap())
    }

    fn order(format: Format) -> FileOrder {
        if format == Format::Csv {
            FileOrder::OldestFirst
        } else {
            FileOrder::NewestFirst
        }
    }

    /// Every count, both ends of the range and the chain's report are what one thread finds,
    /// for odd and even numbers of events (the second thread has the last one, or not).
    #[test]
    fn two_threads_report_what_one_thread_reports() {
        for format in [Format::Json, Format::Csv] {
            for n in [0, 1, 2, 3, 10, 501] {
                let (_dir, log) = log(format, n);
                let mut fast = ChainVerifier::new(order(format), Vec::new());
                let report = verify(&log, &mut fast).expect("a clean log");
                let mut slow = ChainVerifier::new(order(format), Vec::new());
                let expected = match format {
                    Format::Csv => super::super::verify_csv(&log, &mut slow),
                    _ => super::super::verify_json(&log, &mut slow),
                }
                .unwrap()
                .unwrap();
                assert_eq!(report.events, expected.events, "{format} {n}");
                assert_eq!(report.events, n as u64);
                assert_eq!(
                    (report.oldest, report.newest),
                    (expected.oldest, expected.newest)
                );
                assert_eq!(report.other_statuses, expected.other_statuses);
                assert_eq!(
                    fast.finish().unwrap(),
                    slow.finish().unwrap(),
                    "{format} {n}"
                );
            }
        }
    }

    /// A changed value in an event of either thread's share, or two events swapped: the fast
    /// path gives up, leaving the chain as it was, so one thread can report the problem.
    #[test]
    fn any_problem_sends_the_log_back_to_one_thread() {
        for format in [Format::Json, Format::Csv] {
            for (what, victim) in [("mine", 4), ("theirs", 5)] {
                let (_dir, log) = log(format, 12);
                let text = std::fs::read_to_string(&log.path).unwrap();
                let needle = format!("\"i\": {victim},").replace(' ', "");
                let needle = if format == Format::Csv {
                    needle.replace('"', "\"\"")
                } else {
                    needle
                };
                assert!(text.contains(&needle), "{format} {what}: {needle}");
                let changed = needle.replace(&victim.to_string(), "99");
                std::fs::write(&log.path, text.replacen(&needle, &changed, 1)).unwrap();
                let mut chain = ChainVerifier::new(order(format), Vec::new());
                assert!(verify(&log, &mut chain).is_none(), "{format} {what}");
                assert!(!chain.has_chain(), "the chain was fed: {format} {what}");
            }
        }
    }
}
