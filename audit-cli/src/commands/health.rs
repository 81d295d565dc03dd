//! `auditlog stats [PATH]`: the counters a logger wrote to its stats file (the example
//! server writes `audit_log.stats.json` beside its log every few seconds, on SIGUSR1 and at
//! exit): events written, failed and refused, sink failures, bytes, recoveries, redactions,
//! truncations, the last error. The log itself cannot tell these: a refused call or a lost
//! event is, by its nature, not in it.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use audit_runtime::{Format, STATS_FILE_FORMAT, STATS_FILE_NAME, STATS_FILE_VERSION};
use serde_json::{Map, Value};

use crate::CliError;
use crate::cli::StatsArgs;
use crate::output::{colour_stdout, write_error};

/// The counters every stats file of version 1 holds, with their labels, in print order.
const COUNTERS: [(&str, &str); 8] = [
    ("events_written", "events written"),
    ("events_failed", "events failed"),
    ("events_refused", "calls refused"),
    ("sink_failures", "sink failures"),
    ("bytes_written", "bytes written"),
    ("recoveries", "recoveries"),
    ("redactions", "redactions"),
    ("truncations", "truncations"),
];

/// Counters that mean something went wrong when they are not zero (shown in red).
const TROUBLE: [&str; 3] = ["events_failed", "events_refused", "sink_failures"];

/// Anything larger is not a stats file (one is a few hundred bytes).
const MAX_STATS_FILE_BYTES: u64 = 1 << 20;

/// A stats file, read and checked.
#[derive(Debug, Clone)]
pub struct StatsFile {
    /// Where it was read from.
    pub path: PathBuf,
    /// The whole document.
    pub document: Map<String, Value>,
    /// Its `"stats"` object, checked to hold every counter of [`COUNTERS`] as a count.
    stats: Map<String, Value>,
}

impl StatsFile {
    fn count(&self, key: &str) -> u64 {
        self.stats.get(key).and_then(Value::as_u64).unwrap_or(0)
    }

    fn text(&self, key: &str) -> Option<&str> {
        self.document.get(key).and_then(Value::as_str)
    }

    /// One line: `12 events written, 0 failed, 0 refused, ...`, for `auditlog summary`.
    pub fn one_line(&self) -> String {
        format!(
            "{} events written, {} failed, {} refused, {} sink failures, {} recoveries",
            self.count("events_written"),
            self.count("events_failed"),
            self.count("events_refused"),
            self.count("sink_failures"),
            self.count("recoveries"),
        )
    }

    /// When it was written, as the file says.
    pub fn written_at(&self) -> &str {
        self.text("written_at").unwrap_or("an unknown time")
    }
}

/// Where the stats file for PATH is: PATH itself, or `audit_log.stats.json` in PATH when it
/// is a directory, or beside PATH when PATH is a log file (`audit_log.json`,
/// `audit_log.csv`).
pub fn locate(path: &Path) -> PathBuf {
    if path.is_dir() {
        return path.join(STATS_FILE_NAME);
    }
    let is_log = [Format::Json, Format::Csv]
        .iter()
        .filter_map(|f| f.file_name())
        .any(|name| path.file_name().is_some_and(|n| n == name));
    match path.parent() {
        Some(dir) if is_log => dir.join(STATS_FILE_NAME),
        _ => path.to_owned(),
    }
}

/// Reads and checks the stats file at `path` (as given, not [`locate`]d).
pub fn load(path: &Path) -> Result<StatsFile, CliError> {
    let not_ours = |why: String| {
        CliError::failure(format!(
            "{} is not an audit logger stats file ({why})",
            path.display()
        ))
    };
    let file = std::fs::File::open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            CliError::failure(format!(
                "no stats file at {}: the example server writes it every 10 s, on SIGUSR1 \
                 (kill -USR1 <pid>) and at exit; start it with `cargo run --example \
                 experiment_server -- --log-dir DIR` (it writes DIR/{STATS_FILE_NAME}, or \
                 the file given with --stats-file), and pass DIR or that file here",
                path.display()
            ))
        } else {
            CliError::failure(format!("cannot read {}: {e}", path.display()))
        }
    })?;
    let mut bytes = Vec::new();
    file.take(MAX_STATS_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| CliError::failure(format!("cannot read {}: {e}", path.display())))?;
    if bytes.len() as u64 > MAX_STATS_FILE_BYTES {
        return Err(not_ours(format!(
            "larger than {MAX_STATS_FILE_BYTES} bytes"
        )));
    }
    let value: Value =
        serde_json::from_slice(&bytes).map_err(|e| not_ours(format!("not JSON: {e}")))?;
    let Value::Object(document) = value else {
        return Err(not_ours("not a JSON object".to_owned()));
    };
    if document.get("format").and_then(Value::as_str) != Some(STATS_FILE_FORMAT) {
        return Err(not_ours(format!("no \"format\": \"{STATS_FILE_FORMAT}\"")));
    }
    match document.get("version").and_then(Value::as_u64) {
        Some(v) if (1..=STATS_FILE_VERSION).contains(&v) => {}
        Some(v) => {
            return Err(CliError::failure(format!(
                "{} is a stats file of version {v}; this auditlog reads version \
                 {STATS_FILE_VERSION} (a newer auditlog is needed)",
                path.display()
            )));
        }
        None => return Err(not_ours("no \"version\" number".to_owned())),
    }
    let Some(stats) = document.get("stats").and_then(Value::as_object).cloned() else {
        return Err(not_ours("no \"stats\" object".to_owned()));
    };
    if let Some((key, _)) = COUNTERS
        .iter()
        .find(|(key, _)| stats.get(*key).and_then(Value::as_u64).is_none())
    {
        return Err(not_ours(format!("stats.{key} is missing or not a count")));
    }
    Ok(StatsFile {
        path: path.to_owned(),
        document,
        stats,
    })
}

/// Prints the counters of the stats file for PATH: a table, or with `--json` the file's
/// JSON document.
pub fn stats(args: &StatsArgs) -> Result<u8, CliError> {
    let file = load(&locate(&args.path))?;
    let text = if args.json {
        let mut json = serde_json::to_string_pretty(&Value::Object(file.document.clone()))
            .map_err(|e| CliError::failure(format!("cannot serialise the stats: {e}")))?;
        json.push('\n');
        json
    } else {
        render(&file, colour_stdout())
    };
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .map_err(write_error)?;
    Ok(0)
}

/// The human-readable table.
pub fn render(file: &StatsFile, colour: bool) -> String {
    const WIDTH: usize = 16;
    let mut out = String::new();
    let _ = writeln!(out, "{:<WIDTH$} {}", "stats file:", file.path.display());
    let pid = file
        .document
        .get("pid")
        .and_then(Value::as_u64)
        .map_or_else(String::new, |pid| format!(" by pid {pid}"));
    let _ = writeln!(out, "{:<WIDTH$} {}{pid}", "written at:", file.written_at());
    let log = file
        .text("log")
        .unwrap_or("none (format none or in memory)");
    let _ = writeln!(out, "{:<WIDTH$} {log}", "log:");
    for (key, label) in COUNTERS {
        let n = file.count(key);
        let label = format!("{label}:");
        if colour && n > 0 && TROUBLE.contains(&key) {
            let _ = writeln!(out, "{label:<WIDTH$} \x1b[31m{n:>12}\x1b[0m");
        } else {
            let _ = writeln!(out, "{label:<WIDTH$} {n:>12}");
        }
    }
    let last = match file.stats.get("last_error") {
        Some(Value::Object(e)) => format!(
            "{}: {}",
            e.get("at").and_then(Value::as_str).unwrap_or("?"),
            e.get("message").and_then(Value::as_str).unwrap_or("?")
        ),
        _ => "none".to_owned(),
    };
    let _ = writeln!(out, "{:<WIDTH$} {last}", "last error:");
    if let Some(Value::Object(ship)) = file.stats.get("shipping") {
        let n = |k: &str| ship.get(k).and_then(Value::as_u64).unwrap_or(0);
        let connected = ship.get("connected").and_then(Value::as_bool) == Some(true);
        let _ = writeln!(
            out,
            "{:<WIDTH$} {} sent, {} inserted, {} behind ({} ms), {}, {} failures",
            "shipping:",
            n("events_sent"),
            n("events_inserted"),
            n("lag_events"),
            n("lag_ms"),
            if connected {
                "connected"
            } else {
                "not connected"
            },
            n("failures"),
        );
    }
    out
}
