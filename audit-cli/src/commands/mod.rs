//! One module per subcommand; each returns its exit code or the error to report.

mod export;
mod query;
mod summary;
mod tail;
mod verify;

use std::collections::VecDeque;

use crate::CliError;
use crate::cli::{Cli, Command};
use crate::progress::Progress;
use crate::reader::{Entry, LogReader, Span, read_span};
use crate::snapshot::Snapshot;
use crate::source::LogFile;

pub use export::export;
pub use query::query;
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
        Command::Tail(args) => tail(&args),
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
/// back one at a time from the same open file (a writer may rename a rewritten log over the
/// path meanwhile), so memory stays far below the log's size.
pub fn visit(
    log: &LogFile,
    order: Order,
    limit: Option<u64>,
    mut keep: impl FnMut(&Entry) -> bool,
    mut visit: impl FnMut(&audit_runtime::AuditEvent) -> Result<(), CliError>,
) -> Result<u64, CliError> {
    let stored = match log.format {
        audit_runtime::Format::Csv => Order::OldestFirst,
        _ => Order::NewestFirst,
    };
    let mut progress = Progress::new(log.len());
    // One handle for both passes: the spans noted in the first are offsets in this file.
    let snapshot = Snapshot::take(log)?;
    let mut reader = LogReader::from_snapshot(log, &snapshot);
    let mut visited = 0;
    if order == stored {
        while limit.is_none_or(|l| visited < l) {
            let Some(entry) = reader.next_entry(log)? else {
                break;
            };
            progress.at(entry.end);
            if keep(&entry) {
                visit(&entry.event)?;
                visited += 1;
            }
        }
        return Ok(visited);
    }
    let mut spans: VecDeque<Span> = VecDeque::new();
    while let Some(entry) = reader.next_entry(log)? {
        progress.at(entry.end);
        if keep(&entry) {
            if limit.is_some_and(|l| spans.len() as u64 >= l) {
                spans.pop_front();
            }
            if limit != Some(0) {
                spans.push_back(entry.span());
            }
        }
    }
    progress.finish();
    for span in spans.into_iter().rev() {
        visit(&read_span(log, &snapshot.file, span)?)?;
        visited += 1;
    }
    Ok(visited)
}
