//! One module per subcommand; each returns its exit code or the error to report.

mod db;
mod export;
mod hash;
mod health;
mod keygen;
mod query;
mod ship;
mod summary;
mod tail;
mod verify;

use std::collections::VecDeque;

use audit_runtime::Format;
use audit_runtime::read::{EventSpan, LocatedEvent, ScanError, Snapshot};

use crate::CliError;
use crate::cli::{Cli, Command};
use crate::progress::Progress;
use crate::source::LogFile;

pub use export::export;
pub use hash::hash;
pub use health::stats;
pub use keygen::keygen;
pub use query::query;
pub use ship::ship;
pub use summary::{summary, summary_text};
pub use tail::tail;
pub use verify::verify;

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<u8, CliError> {
    match cli.command {
        Command::Summary(args) => summary(&args),
        Command::Query(args) => query(&args),
        Command::Export(args) => export(&args),
        Command::Verify(args) => verify(&args),
        Command::Keygen(args) => keygen(&args),
        Command::Tail(args) => tail(&args),
        Command::Ship(args) => ship(&args),
        Command::Hash(args) => hash(&args),
        Command::Stats(args) => stats(&args),
    }
}

/// In which order to visit a log's events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Newest first (the JSON file's order).
    NewestFirst,
    /// Oldest first (the CSV file's order).
    OldestFirst,
}

/// Calls `visit` for the events that pass `keep`, in `order`, at most `limit` of them.
///
/// In the file's own order this streams. In the other order it first notes where each kept
/// event is (24 bytes per event, and only the last `limit` when limited) and then reads them
/// back one at a time from the snapshot's open file (a writer may rename a rewritten log over
/// the path meanwhile), so memory stays far below the log's size.
pub fn visit(
    log: &LogFile,
    order: Order,
    limit: Option<u64>,
    mut keep: impl FnMut(&LocatedEvent) -> bool,
    mut visit: impl FnMut(&audit_runtime::AuditEvent) -> Result<(), CliError>,
) -> Result<u64, CliError> {
    let stored = match log.format {
        Format::Csv => Order::OldestFirst,
        _ => Order::NewestFirst,
    };
    let mut progress = Progress::new(log.len());
    // One snapshot for both passes: the spans noted in the first are offsets in its file.
    let snapshot = Snapshot::take(&log.path, log.format)?;
    let mut events = snapshot.events().skip_cut_off_end();
    let mut visited = 0;
    if order == stored {
        while limit.is_none_or(|l| visited < l) {
            let Some(located) = events.next_located() else {
                break;
            };
            let located = located?;
            progress.at(located.end);
            if keep(&located) {
                visit(&located.event)?;
                visited += 1;
            }
        }
        note_cut_off(log, events.cut_off_end());
        return Ok(visited);
    }
    let mut spans: VecDeque<EventSpan> = VecDeque::new();
    while let Some(located) = events.next_located() {
        let located = located?;
        progress.at(located.end);
        if keep(&located) {
            if limit.is_some_and(|l| spans.len() as u64 >= l) {
                spans.pop_front();
            }
            if limit != Some(0) {
                spans.push_back(located.span());
            }
        }
    }
    note_cut_off(log, events.cut_off_end());
    progress.finish();
    for span in spans.into_iter().rev() {
        visit(&snapshot.read_event(span)?)?;
        visited += 1;
    }
    Ok(visited)
}

/// Says on stderr that reading stopped before a cut-off last row (the commands other than
/// `verify` read a log up to its last complete row).
pub fn note_cut_off(log: &LogFile, cut_off: Option<&ScanError>) {
    if let Some(error) = cut_off {
        eprintln!(
            "auditlog: note: {}: the last row (byte {}, line {}) is incomplete ({}); read up \
             to it",
            log.path.display(),
            error.offset,
            error.line,
            error.message
        );
    }
}
