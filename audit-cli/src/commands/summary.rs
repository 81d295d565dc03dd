//! `auditlog summary`: counts, first and last timestamp, failures per action, actors.

use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;

use crate::CliError;
use crate::cli::SummaryArgs;
use crate::output::{colour_stdout, write_error};
use crate::source;
use crate::stats::{Stats, collect};

/// Prints the summary of a log.
pub fn summary(args: &SummaryArgs) -> Result<u8, CliError> {
    let Some(path) = &args.path else {
        return super::db::summary(args);
    };
    let log = source::open(path)?;
    let stats = collect(&log)?;
    let text = if args.json {
        let mut json = serde_json::to_string_pretty(&stats.summary)
            .map_err(|e| CliError::failure(format!("cannot serialise the summary: {e}")))?;
        json.push('\n');
        json
    } else {
        let mut text = render(
            &log.path.display().to_string(),
            log.format.as_str(),
            &stats,
            colour_stdout(),
        );
        text.push_str(&server_counters(&log.path));
        text
    };
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .map_err(write_error)?;
    Ok(0)
}

/// The counters of the stats file beside the log, when there is one: what the log cannot
/// show (calls refused, events lost). A stats file that cannot be read is mentioned, not an
/// error: the summary is of the log.
fn server_counters(log: &Path) -> String {
    let path = super::health::locate(log);
    if !path.exists() {
        return String::new();
    }
    match super::health::load(&path) {
        Ok(file) => format!(
            "\nlogger:    {} (as of {}; auditlog stats {} for all)\n",
            file.one_line(),
            file.written_at(),
            path.display()
        ),
        Err(e) => format!("\nlogger:    counters not shown: {e}\n"),
    }
}

/// What `auditlog summary <path>` prints (without colour when `colour` is false), for
/// programs that show the same table, such as the demo. Unlike the command, it prints
/// nothing itself, not even the note about which file of a directory it chose.
pub fn summary_text(path: &Path, colour: bool) -> Result<String, CliError> {
    let log = source::resolve(path)?;
    let stats = collect(&log)?;
    Ok(render(
        &log.path.display().to_string(),
        log.format.as_str(),
        &stats,
        colour,
    ))
}

/// The human-readable summary.
pub fn render(path: &str, format: &str, stats: &Stats, colour: bool) -> String {
    let s = &stats.summary;
    let mut out = String::new();
    let _ = writeln!(out, "log:       {path} ({format})");
    if s.total_events == 0 {
        let _ = writeln!(out, "events:    0 (the log is empty)");
        return out;
    }
    let _ = writeln!(out, "events:    {}", s.total_events);
    if let (Some(first), Some(last)) = (stats.first, stats.last) {
        let _ = writeln!(out, "first:     {first}");
        let _ = writeln!(out, "last:      {last}");
    }
    let statuses: Vec<String> = s
        .by_status
        .iter()
        .map(|(status, n)| {
            // Every status but success is a kind of failure (WeightsLab v2.0 logs "error").
            if colour && status != "success" {
                format!("\x1b[31m{status} {n}\x1b[0m")
            } else {
                format!("{status} {n}")
            }
        })
        .collect();
    let _ = writeln!(out, "by status: {}", statuses.join(", "));
    let width = s
        .by_action_type
        .keys()
        .map(|k| k.chars().count())
        .max()
        .unwrap_or(0)
        .max(6);
    // One more column for each other kind of failure a log holds, named by its status.
    let others = &stats.other_failures_by_action;
    let mut header = format!("\n{:<width$}  {:>8}  {:>8}", "action", "events", "failed");
    for status in others.keys() {
        let _ = write!(header, "  {status:>8}");
    }
    let _ = writeln!(out, "{header}");
    for (action, n) in &s.by_action_type {
        let failed = stats.failed_by_action.get(action).copied().unwrap_or(0);
        let mut row = format!("{action:<width$}  {n:>8}  {failed:>8}");
        for (status, by_action) in others {
            let count = by_action.get(action).copied().unwrap_or(0);
            let _ = write!(row, "  {count:>w$}", w = status.chars().count().max(8));
        }
        let _ = writeln!(out, "{row}");
    }
    if !stats.by_actor.is_empty() {
        let width = stats
            .by_actor
            .keys()
            .map(|k| k.chars().count())
            .max()
            .unwrap_or(0)
            .max(5);
        let _ = writeln!(out, "\n{:<width$}  {:>8}", "actor", "events");
        for (actor, n) in &stats.by_actor {
            let _ = writeln!(out, "{actor:<width$}  {n:>8}");
        }
    }
    out
}
