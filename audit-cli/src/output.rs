//! Printing events: an aligned table that fits the terminal, a JSON array in the layout of
//! the runtime's JSON log (one event per line), JSON lines, or the CSV log format (with
//! spreadsheet formulas neutralised, as the runtime writes it).

use std::io::{self, IsTerminal, Write};

use audit_runtime::AuditEvent;
use audit_runtime::read::CsvWriter;

use crate::CliError;
use crate::cli::OutputFormat;

/// Whether to colour stdout: only on a terminal, and never when `NO_COLOR` is set to
/// something non-empty (<https://no-color.org>).
pub fn colour_stdout() -> bool {
    io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Columns available to a table on stdout: the terminal's width, else `$COLUMNS`, else
/// unlimited (a pipe gets whole lines).
pub fn table_width() -> Option<usize> {
    let stdout = io::stdout();
    if stdout.is_terminal()
        && let Some((terminal_size::Width(w), _)) = terminal_size::terminal_size_of(&stdout)
    {
        return Some(usize::from(w));
    }
    std::env::var("COLUMNS").ok()?.trim().parse().ok()
}

enum Sink<W: Write> {
    Plain(W),
    /// The runtime's own header and cell encoding (formulas neutralised).
    Csv(CsvWriter<W>),
}

/// Prints a stream of events in one format.
pub struct Printer<W: Write> {
    sink: Sink<W>,
    format: OutputFormat,
    count: u64,
    width: Option<usize>,
    colour: bool,
}

/// Maps a write error; a closed pipe (`auditlog query … | head`) ends quietly.
pub fn write_error(err: io::Error) -> CliError {
    if err.kind() == io::ErrorKind::BrokenPipe {
        CliError {
            code: 0,
            message: String::new(),
        }
    } else {
        CliError::failure(format!("cannot write the output: {err}"))
    }
}

impl<W: Write> Printer<W> {
    /// A printer to `out`; `width` limits table lines, `colour` adds ANSI colours to tables.
    pub fn new(out: W, format: OutputFormat, width: Option<usize>, colour: bool) -> Self {
        let sink = match format {
            OutputFormat::Csv => Sink::Csv(CsvWriter::new(out)),
            _ => Sink::Plain(out),
        };
        Printer {
            sink,
            format,
            count: 0,
            width,
            colour,
        }
    }

    /// A printer to stdout with the terminal's width and colours.
    pub fn stdout(format: OutputFormat) -> Printer<io::BufWriter<io::Stdout>> {
        Printer::new(
            io::BufWriter::new(io::stdout()),
            format,
            table_width(),
            colour_stdout(),
        )
    }

    /// Prints one event.
    pub fn event(&mut self, event: &AuditEvent) -> Result<(), CliError> {
        let first = self.count == 0;
        self.count += 1;
        match &mut self.sink {
            Sink::Csv(writer) => writer.write_event(event).map_err(write_error),
            Sink::Plain(out) => {
                let line = match self.format {
                    OutputFormat::Table => {
                        let mut text = String::new();
                        if first {
                            text.push_str(&fit(
                                &format!(
                                    "{:<27}  {:<7}  {:<18}  {:<ACTOR_WIDTH$}  DETAILS",
                                    "TIMESTAMP", "STATUS", "ACTION", "ACTOR"
                                ),
                                self.width,
                            ));
                            text.push('\n');
                        }
                        text.push_str(&table_row(event, self.width, self.colour));
                        text
                    }
                    OutputFormat::Json => {
                        let json = to_json(event)?;
                        if first {
                            format!("[\n{json}")
                        } else {
                            format!(",\n{json}")
                        }
                    }
                    OutputFormat::Jsonl | OutputFormat::Csv => to_json(event)?,
                };
                out.write_all(line.as_bytes()).map_err(write_error)?;
                if self.format != OutputFormat::Json {
                    out.write_all(b"\n").map_err(write_error)?;
                }
                Ok(())
            }
        }
    }

    /// Ends the output (closes the JSON array, prints a CSV header even when empty) and
    /// flushes; returns the writer.
    pub fn finish(self) -> Result<W, CliError> {
        match self.sink {
            Sink::Csv(writer) => writer.finish().map_err(write_error),
            Sink::Plain(mut out) => {
                if self.format == OutputFormat::Json {
                    let end: &[u8] = if self.count == 0 { b"[]\n" } else { b"\n]\n" };
                    out.write_all(end).map_err(write_error)?;
                }
                out.flush().map_err(write_error)?;
                Ok(out)
            }
        }
    }

    /// Flushes what was printed so far (for `tail -f`).
    pub fn flush(&mut self) -> Result<(), CliError> {
        match &mut self.sink {
            Sink::Csv(writer) => writer.flush().map_err(write_error),
            Sink::Plain(out) => out.flush().map_err(write_error),
        }
    }
}

fn to_json(event: &AuditEvent) -> Result<String, CliError> {
    serde_json::to_string(event)
        .map_err(|e| CliError::failure(format!("cannot serialise event: {e}")))
}

/// The ACTOR column's width: names like `alice` or `token:1a2b3c4d` fit; a longer actor
/// (`peer:127.0.0.1:50051`) widens its own row, like a long action.
const ACTOR_WIDTH: usize = 14;

fn table_row(event: &AuditEvent, width: Option<usize>, colour: bool) -> String {
    let details = serde_json::Value::Object(event.details.clone()).to_string();
    let rest = match &event.error {
        Some(error) => format!("error: {error}  {details}"),
        None => details,
    };
    // Line breaks inside values would break the table's rows.
    let rest = rest.replace(['\n', '\r'], " ");
    let status = event.status.as_str();
    // Who did it, as `auditlog summary` names actors; `-` for an event without one.
    let actor = event
        .details
        .get("actor")
        .map_or_else(|| "-".to_owned(), crate::stats::actor_name)
        .replace(['\n', '\r'], " ");
    let plain = format!(
        "{}  {:<7}  {:<18}  {actor:<ACTOR_WIDTH$}  {}",
        event.timestamp, status, event.action_type, rest
    );
    let line = fit(&plain, width);
    if !colour {
        return line;
    }
    // Colour the status column only; it sits at a fixed position.
    // Red for every kind of failure: `failed`, or another writer's status such as `error`.
    let code = if event.status.is_success() {
        "32"
    } else {
        "31"
    };
    let start = 29;
    let end = start + status.len();
    if line.len() >= end && line.is_char_boundary(start) && line.is_char_boundary(end) {
        format!(
            "{}\x1b[{code}m{}\x1b[0m{}",
            &line[..start],
            &line[start..end],
            &line[end..]
        )
    } else {
        line
    }
}

/// Cuts `text` to `width` characters, ending with '…' when cut.
fn fit(text: &str, width: Option<usize>) -> String {
    match width {
        Some(w) if text.chars().count() > w => {
            let mut cut: String = text.chars().take(w.saturating_sub(1)).collect();
            cut.push('…');
            cut
        }
        _ => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(error: Option<&str>) -> AuditEvent {
        AuditEvent {
            timestamp: "2026-05-27T14:30:00.123456Z".parse().unwrap(),
            action_type: "=cmd".into(),
            status: if error.is_some() {
                audit_runtime::Status::Failed
            } else {
                audit_runtime::Status::Success
            }
            .into(),
            details: serde_json::json!({"a": "x\ny"})
                .as_object()
                .unwrap()
                .clone(),
            error: error.map(str::to_owned),
        }
    }

    fn print(format: OutputFormat, events: &[AuditEvent], width: Option<usize>) -> String {
        let mut printer = Printer::new(Vec::new(), format, width, false);
        for e in events {
            printer.event(e).unwrap();
        }
        String::from_utf8(printer.finish().unwrap()).unwrap()
    }

    #[test]
    fn json_output_is_an_array_in_our_layout() {
        assert_eq!(print(OutputFormat::Json, &[], None), "[]\n");
        let text = print(OutputFormat::Json, &[sample(None), sample(Some("e"))], None);
        let parsed: Vec<AuditEvent> = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed.len(), 2);
        assert_eq!(text.lines().count(), 4);
    }

    #[test]
    fn csv_output_neutralises_and_has_a_header() {
        assert_eq!(
            print(OutputFormat::Csv, &[], None),
            "timestamp,action_type,status,details,error\r\n"
        );
        let text = print(OutputFormat::Csv, &[sample(Some("@x"))], None);
        assert!(text.contains(",'=cmd,failed,"), "{text}");
        assert!(text.ends_with(",'@x\r\n"), "{text}");
    }

    #[test]
    fn table_rows_fit_the_width() {
        let text = print(OutputFormat::Table, &[sample(Some("boom"))], Some(60));
        for line in text.lines() {
            assert!(line.chars().count() <= 60, "{line}");
        }
        assert!(text.lines().nth(1).unwrap().ends_with('…'));
        let wide = print(OutputFormat::Table, &[sample(Some("boom"))], None);
        assert!(wide.contains("error: boom  {\"a\":\"x\\ny\"}"), "{wide}");
    }

    /// Issue [6]: the query table had no actor column; who did it was only inside DETAILS.
    #[test]
    fn table_has_an_actor_column() {
        let mut by_alice = sample(None);
        by_alice
            .details
            .insert("actor".into(), serde_json::json!("alice"));
        let mut by_object = sample(Some("boom"));
        by_object
            .details
            .insert("actor".into(), serde_json::json!({"name": "bob", "id": 7}));
        let text = print(
            OutputFormat::Table,
            &[by_alice, by_object, sample(None)],
            None,
        );
        let columns: Vec<Vec<&str>> = text
            .lines()
            .map(|l| l.split_whitespace().take(4).collect())
            .collect();
        assert_eq!(
            columns,
            [
                ["TIMESTAMP", "STATUS", "ACTION", "ACTOR"],
                ["2026-05-27T14:30:00.123456Z", "success", "=cmd", "alice"],
                ["2026-05-27T14:30:00.123456Z", "failed", "=cmd", "bob"],
                ["2026-05-27T14:30:00.123456Z", "success", "=cmd", "-"],
            ]
        );
        // The columns line up: DETAILS starts at the same place in the header and the rows.
        let details_at = text.lines().next().unwrap().find("DETAILS").unwrap();
        assert_eq!(text.lines().nth(1).unwrap().find('{'), Some(details_at));
    }
}
