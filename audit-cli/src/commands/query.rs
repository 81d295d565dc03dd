//! `auditlog query`: the events matching all filters, newest first unless asked otherwise.

use audit_runtime::Timestamp;

use super::{Order, visit};
use crate::CliError;
use crate::cli::QueryArgs;
use crate::error::PROBLEMS;
use crate::filter::Filter;
use crate::output::Printer;
use crate::source;

/// Prints the matching events.
pub fn query(args: &QueryArgs) -> Result<u8, CliError> {
    let filter = Filter::from_args(args, Timestamp::now())?;
    let Some(path) = &args.path else {
        return super::db::query(args);
    };
    let log = source::open(path)?;
    let order = if args.oldest_first {
        Order::OldestFirst
    } else {
        Order::NewestFirst
    };
    let mut printer = Printer::<std::io::BufWriter<std::io::Stdout>>::stdout(args.output);
    let printed = visit(
        &log,
        order,
        args.limit,
        |entry| filter.matches(&entry.event),
        |event| printer.event(event),
    )?;
    printer.finish()?;
    if printed == 0 && args.fail_on_empty {
        eprintln!("auditlog: no event in {} matches", log.path.display());
        return Ok(PROBLEMS);
    }
    Ok(0)
}
