//! `summary`, `query` and `export` with `--db URL`: the events of every log shipped to a
//! PostgreSQL database, with the same filters and outputs as for a file. The filters are
//! pushed down to SQL and rows are fetched in pages, so memory stays flat; every filter is
//! also applied to each row as it is for a file (only `--contains` has no SQL form), so the
//! two select the same events.

use audit_runtime::Timestamp;
use audit_runtime::ship::{Database, EventQuery};

use super::Order;
use super::export::{ExportPrinter, write_out};
use crate::CliError;
use crate::cli::{DbArgs, ExportArgs, OutputFormat, QueryArgs, SummaryArgs};
use crate::error::PROBLEMS;
use crate::filter::Filter;
use crate::output::{Printer, colour_stdout, write_error};
use crate::stats::Stats;

fn connect(source: &DbArgs) -> Result<Database, CliError> {
    let url = source
        .db
        .as_deref()
        .ok_or_else(|| CliError::failure("give a log PATH or --db URL"))?;
    Ok(Database::connect(url)?)
}

fn base_query(source: &DbArgs) -> EventQuery {
    let mut query = EventQuery::default();
    query.experiment = source.experiment.clone();
    query.host = source.host.clone();
    query
}

/// `auditlog summary --db`.
pub fn summary(args: &SummaryArgs) -> Result<u8, CliError> {
    let mut db = connect(&args.source)?;
    let counted = db.summary(&base_query(&args.source))?;
    let mut stats = Stats {
        summary: counted.summary,
        first: counted.first,
        last: counted.last,
        by_actor: counted.by_actor,
        ..Stats::default()
    };
    for ((action, status), n) in counted.by_action_and_status {
        match status.as_str() {
            "success" => {}
            "failed" => *stats.failed_by_action.entry(action).or_default() += n,
            _ => {
                *stats
                    .other_failures_by_action
                    .entry(status)
                    .or_default()
                    .entry(action)
                    .or_default() += n;
            }
        }
    }
    let text = if args.json {
        let mut json = serde_json::to_string_pretty(&stats.summary)
            .map_err(|e| CliError::failure(format!("cannot serialise the summary: {e}")))?;
        json.push('\n');
        json
    } else {
        super::summary::render(
            &format!("{} ({} logs)", db.url(), counted.logs),
            "postgresql",
            &stats,
            colour_stdout(),
        )
    };
    use std::io::Write;
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .map_err(write_error)?;
    Ok(0)
}

/// `auditlog query --db`.
pub fn query(args: &QueryArgs) -> Result<u8, CliError> {
    let filter = Filter::from_args(args, Timestamp::now())?;
    let mut db = connect(&args.source)?;
    let mut query = base_query(&args.source);
    query.actions = filter.actions.clone();
    query.status = filter.status.as_ref().map(|s| s.as_str().to_owned());
    query.since = filter.since;
    query.until = filter.until;
    query.actor = filter.actor.clone();
    query.request_id = filter.request.clone();
    query.oldest_first = args.oldest_first;
    // `--contains` is applied to the rows read, so the limit is applied after it.
    if filter.contains.is_none() {
        query.limit = args.limit;
    }
    let mut printer = Printer::<std::io::BufWriter<std::io::Stdout>>::stdout(args.output);
    let mut printed = 0u64;
    db.for_each_event(&query, |event| {
        if args.limit.is_some_and(|l| printed >= l) {
            return Ok(false);
        }
        if filter.matches(&event) {
            printer.event(&event)?;
            printed += 1;
        }
        Ok::<bool, CliError>(true)
    })?;
    printer.finish()?;
    if printed == 0 && args.fail_on_empty {
        eprintln!("auditlog: no event in {} matches", db.url());
        return Ok(PROBLEMS);
    }
    Ok(0)
}

/// `auditlog export --db`: every event (of `--experiment`, `--host`) in `order`.
pub fn export(args: &ExportArgs, format: OutputFormat, order: Order) -> Result<u8, CliError> {
    let mut db = connect(&args.source)?;
    let mut query = base_query(&args.source);
    query.oldest_first = order == Order::OldestFirst;
    write_out(args, format, None, |printer: &mut ExportPrinter| {
        db.for_each_event(&query, |event| {
            printer.event(&event)?;
            Ok::<bool, CliError>(true)
        })
    })
}
