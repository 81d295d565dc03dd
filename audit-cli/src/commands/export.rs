//! `auditlog export`: converts a log to JSON (the runtime's layout, newest first), CSV (the
//! runtime's CSV, oldest first) or JSON lines (oldest first), losslessly: a round trip
//! json → csv → json gives back identical events. A file output is written atomically (a
//! temporary file in the same directory, synced, then renamed over the target).

use std::io::{BufWriter, Write};
use std::path::Path;

use super::{Order, visit};
use crate::CliError;
use crate::cli::{ExportArgs, ExportFormat, OutputFormat};
use crate::output::{Printer, write_error};
use crate::source;

/// Writes the converted log.
pub fn export(args: &ExportArgs) -> Result<u8, CliError> {
    let (format, order) = match args.to {
        ExportFormat::Json => (OutputFormat::Json, Order::NewestFirst),
        ExportFormat::Csv => (OutputFormat::Csv, Order::OldestFirst),
        ExportFormat::Jsonl => (OutputFormat::Jsonl, Order::OldestFirst),
    };
    let Some(path) = &args.path else {
        return super::db::export(args, format, order);
    };
    let log = source::open(path)?;
    write_out(args, format, Some(&log.path), |printer| {
        visit(&log, order, None, |_| true, |e| printer.event(e))
    })
}

/// Where an export's events go: stdout, or a file written atomically.
pub type ExportPrinter = Printer<BufWriter<Box<dyn Write>>>;

/// Writes what `events` prints to `args.output` (atomically) or stdout; `source` is the
/// file exported, which must not be the target.
pub fn write_out(
    args: &ExportArgs,
    format: OutputFormat,
    source: Option<&Path>,
    events: impl FnOnce(&mut ExportPrinter) -> Result<u64, CliError>,
) -> Result<u8, CliError> {
    match &args.output {
        None => {
            let out: Box<dyn Write> = Box::new(std::io::stdout());
            let mut printer = Printer::new(BufWriter::new(out), format, None, false);
            events(&mut printer)?;
            printer.finish()?;
        }
        Some(target) => {
            if source.is_some_and(|source| same_file(target, source)) {
                return Err(CliError::failure(format!(
                    "refusing to export {} onto itself",
                    target.display()
                )));
            }
            let dir = match target.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            let cannot_create = |e: std::io::Error| {
                CliError::failure(format!("cannot create a file in {}: {e}", dir.display()))
            };
            let temp = tempfile::Builder::new()
                .prefix(".auditlog-export-")
                .tempfile_in(dir)
                .map_err(cannot_create)?;
            let out: Box<dyn Write> = Box::new(temp.as_file().try_clone().map_err(cannot_create)?);
            let mut printer = Printer::new(BufWriter::new(out), format, None, false);
            let count = events(&mut printer)?;
            printer
                .finish()?
                .into_inner()
                .map_err(|e| write_error(e.into_error()))?
                .flush()
                .map_err(write_error)?;
            temp.as_file().sync_all().map_err(write_error)?;
            temp.persist(target).map_err(|e| {
                CliError::failure(format!("cannot write {}: {}", target.display(), e.error))
            })?;
            sync_dir(dir);
            eprintln!(
                "auditlog: wrote {count} events to {} ({})",
                target.display(),
                match args.to {
                    ExportFormat::Json => "json",
                    ExportFormat::Csv => "csv",
                    ExportFormat::Jsonl => "jsonl",
                }
            );
        }
    }
    std::io::stdout().flush().map_err(write_error)?;
    Ok(0)
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Makes the rename durable; failing to is not worth failing the export for.
fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}
