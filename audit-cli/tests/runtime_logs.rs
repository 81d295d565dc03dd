//! `auditlog` end to end over logs written by the runtime's own writer (`AuditLogger`), in
//! both formats: summary, query, verify (including logs big enough to have been rewritten,
//! and logs damaged on purpose), export round trips with hostile strings, the writer
//! continuing an exported log, `tail -n` and `tail -f` following a log that is being written.
//!
//! Every expectation is computed from what was logged or from the file read with the runtime's
//! reader, never from the CLI itself, and every test checks that its data is not trivial (the
//! filter selects something and not everything, the file really was rewritten, ...).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Stdio};
use std::time::{Duration, Instant, SystemTime};

mod common;

use assert_cmd::Command;
use audit_runtime::read::{CsvEvents, open_events};
use audit_runtime::{AuditEvent, AuditLogger, Format, LogSummary, RecoveryKind, Status};
use common::Follow;
use predicates::prelude::*;
use serde_json::{Map, Value, json};

const FORMATS: [Format; 2] = [Format::Json, Format::Csv];

fn auditlog() -> Command {
    let mut cmd = Command::cargo_bin("auditlog").unwrap();
    cmd.env_remove("COLUMNS").env("NO_COLOR", "1");
    cmd
}

fn stdout_of(cmd: &mut Command) -> String {
    let out = cmd.assert().success().get_output().stdout.clone();
    String::from_utf8(out).unwrap()
}

fn jsonl(text: &str) -> Vec<AuditEvent> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect()
}

fn logger(dir: &Path, format: Format) -> AuditLogger {
    AuditLogger::builder(dir)
        .experiment("cli_tests")
        .format(format)
        .strict(true)
        .build()
        .unwrap()
}

fn log_path(dir: &Path, format: Format) -> PathBuf {
    dir.join(format.file_name().unwrap())
}

/// What was logged, without the timestamp (which the writer chooses).
#[derive(Debug, Clone, PartialEq)]
struct Logged {
    action: String,
    status: Status,
    details: Map<String, Value>,
    error: Option<String>,
}

impl Logged {
    fn of(event: &AuditEvent) -> Logged {
        Logged {
            action: event.action_type.clone(),
            status: event
                .status
                .known()
                .expect("the runtime writes success or failed"),
            details: event.details.clone(),
            error: event.error.clone(),
        }
    }
}

/// Logs through `log_event` and notes what was logged.
fn log(
    logger: &AuditLogger,
    out: &mut Vec<Logged>,
    action: &str,
    failed: bool,
    details: Value,
    error: Option<&str>,
) {
    let status = if failed {
        Status::Failed
    } else {
        Status::Success
    };
    logger
        .log_event(action, status, details.clone(), error)
        .unwrap();
    out.push(Logged {
        action: action.to_owned(),
        status,
        details: details.as_object().unwrap().clone(),
        error: error.map(str::to_owned),
    });
}

#[derive(serde::Serialize)]
struct Eval {
    split: &'static str,
    last_loss: f64,
    best: f64,
    worst: f64,
    steps: u32,
}

const HYPERLINK: &str = r#"=HYPERLINK("http://evil.example/?a=1,b=2","click me")"#;

/// Events that try to break every format: line breaks, quotes, commas, formulas, emoji,
/// control characters, NaN and infinities (through `log_serialize`), big and tiny numbers.
fn log_nasty(logger: &AuditLogger, out: &mut Vec<Logged>) {
    log(
        logger,
        out,
        "hp_change",
        false,
        json!({"actor": "alice", "changed_params": {"learning_rate": 0.001, "batch_size": 32}}),
        None,
    );
    log(
        logger,
        out,
        "tag_add",
        false,
        json!({"actor": "bob", "tag": "line1\nline2\r\nline3\rend",
               "quote": "she said \"hi\", then left", "csv": "a,b,,c\",\"d"}),
        None,
    );
    log(
        logger,
        out,
        HYPERLINK,
        true,
        json!({"note": "=1+1", "also": "@SUM(A1:A9)"}),
        Some(HYPERLINK),
    );
    log(
        logger,
        out,
        "query_execute",
        true,
        json!({"actor": {"name": "carol", "peer": "10.0.0.1:5000"},
               "q": "😀 émoji ünïcode 中文 \u{2028}\u{0}\u{7f}"}),
        Some("Invalid, \"query\"\nsyntax 💥,\r\nsecond line"),
    );
    logger
        .log_serialize(
            "evaluation_start",
            Status::Success,
            &Eval {
                split: "val",
                last_loss: f64::NAN,
                best: f64::INFINITY,
                worst: f64::NEG_INFINITY,
                steps: 7,
            },
            None,
        )
        .unwrap();
    out.push(Logged {
        action: "evaluation_start".to_owned(),
        status: Status::Success,
        details: json!({"split": "val", "last_loss": "NaN", "best": "Infinity",
                        "worst": "-Infinity", "steps": 7})
        .as_object()
        .unwrap()
        .clone(),
        error: None,
    });
    log(
        logger,
        out,
        "checkpoint_restore",
        true,
        json!({"checkpoint_id": "ckpt_001", "path": "C:\\runs\\n\\t"}),
        Some("-1 is not a checkpoint"),
    );
    log(logger, out, "pause", false, json!({}), None);
    log(
        logger,
        out,
        "+plus_action",
        true,
        json!({"big": 12_345_678_901_234_567_890u64, "tiny": 1e-300, "neg": -2.5e17,
               "list": [1, "two", null, true, {"x": []}], "empty": ""}),
        Some("\r\nstarts with a line break"),
    );
    log(
        logger,
        out,
        "-minus",
        false,
        json!({"tab": "\tlead"}),
        Some("'=already quoted"),
    );
    log(
        logger,
        out,
        "@at",
        true,
        json!({"k": "v"}),
        Some("\tstarts with a tab"),
    );
}

/// Plain events with a sequence number, three actions, one in four failed.
fn log_fillers(logger: &AuditLogger, out: &mut Vec<Logged>, seqs: std::ops::Range<u32>) {
    for seq in seqs {
        let action = ["hp_change", "tag_add", "pause"][seq as usize % 3];
        let failed = seq.is_multiple_of(4);
        let actor = ["alice", "bob", "dave"][seq as usize % 3];
        log(
            logger,
            out,
            action,
            failed,
            json!({"seq": seq, "actor": actor}),
            failed.then_some("it broke"),
        );
    }
}

/// Ten fillers, the nasty events, ten more fillers (30 events).
fn log_mixed(logger: &AuditLogger) -> Vec<Logged> {
    let mut out = Vec::new();
    log_fillers(logger, &mut out, 0..10);
    log_nasty(logger, &mut out);
    log_fillers(logger, &mut out, 10..20);
    out
}

/// The events of a log file, oldest first, read with the runtime's reader (and, for JSON, a
/// plain strict serde_json parse must agree).
fn stored(path: &Path) -> Vec<AuditEvent> {
    let stream = open_events(path).unwrap();
    let format = stream.format();
    let mut events: Vec<AuditEvent> = stream.map(Result::unwrap).collect();
    if format == Format::Json {
        let strict: Vec<AuditEvent> = serde_json::from_slice(&std::fs::read(path).unwrap())
            .unwrap_or_else(|e| panic!("{} is not strict JSON: {e}", path.display()));
        assert_eq!(strict, events);
        events.reverse();
    }
    events
}

/// `stored`, checked against what was logged: same events in the same order, timestamps
/// strictly increasing.
fn stored_checked(path: &Path, logged: &[Logged]) -> Vec<AuditEvent> {
    let events = stored(path);
    let got: Vec<Logged> = events.iter().map(Logged::of).collect();
    assert_eq!(got, logged, "{}", path.display());
    assert!(
        events.windows(2).all(|w| w[0].timestamp < w[1].timestamp),
        "{}",
        path.display()
    );
    events
}

fn newest_first(events: &[AuditEvent]) -> Vec<AuditEvent> {
    events.iter().rev().cloned().collect()
}

// ------------------------------------------------------------------ summary

#[test]
fn summary_equals_the_loggers_own_summary() {
    for format in FORMATS {
        let dir = tempfile::tempdir().unwrap();
        let logger = logger(dir.path(), format);
        let logged = log_mixed(&logger);
        let events = stored_checked(&log_path(dir.path(), format), &logged);
        let expected = logger.get_log_summary().unwrap();
        assert_eq!(expected.total_events, 30);
        assert_eq!(expected.by_status["failed"], 10, "{format}");

        for path in [dir.path().to_owned(), log_path(dir.path(), format)] {
            let text = stdout_of(auditlog().args(["summary", "--json"]).arg(&path));
            let got: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(got, serde_json::to_value(&expected).unwrap(), "{format}");
            let got: LogSummary = serde_json::from_value(got).unwrap();
            assert_eq!(got, expected);
        }

        let text = stdout_of(auditlog().arg("summary").arg(dir.path()));
        assert!(text.contains("events:    30\n"), "{text}");
        let first = events.first().unwrap().timestamp;
        let last = events.last().unwrap().timestamp;
        assert!(text.contains(&format!("first:     {first}\n")), "{text}");
        assert!(text.contains(&format!("last:      {last}\n")), "{text}");
        assert!(
            text.contains("by status: failed 10, success 20\n"),
            "{text}"
        );
        for (action, n) in &expected.by_action_type {
            let failed = events
                .iter()
                .filter(|e| &e.action_type == action && e.status == Status::Failed)
                .count();
            let row = text
                .lines()
                .find_map(|l| l.strip_prefix(action.as_str())?.strip_prefix("  "))
                .unwrap_or_else(|| panic!("no row for {action} in\n{text}"));
            let cells: Vec<&str> = row.split_whitespace().collect();
            assert_eq!(cells, [n.to_string(), failed.to_string()], "{text}");
        }
        // Actors: alice 1+7 (fillers 0,3,..,18), bob 1+7, carol 1 (an object), dave 6.
        for (actor, n) in [("alice", 8), ("bob", 8), ("carol", 1), ("dave", 6)] {
            assert!(
                text.lines()
                    .any(|l| l.split_whitespace().collect::<Vec<_>>() == [actor, &n.to_string()]),
                "{actor} {n} in\n{text}"
            );
        }
    }
}

// ------------------------------------------------------------------ query

fn query(path: &Path, args: &[&str]) -> Vec<AuditEvent> {
    jsonl(&stdout_of(
        auditlog()
            .arg("query")
            .arg(path)
            .args(["--output", "jsonl"])
            .args(args),
    ))
}

#[test]
fn query_filters_and_outputs_on_runtime_logs() {
    for format in FORMATS {
        let dir = tempfile::tempdir().unwrap();
        let logger = logger(dir.path(), format);
        let logged = log_mixed(&logger);
        let path = log_path(dir.path(), format);
        let all = stored_checked(&path, &logged);
        let newest = newest_first(&all);
        let expect = |keep: &dyn Fn(&AuditEvent) -> bool| -> Vec<AuditEvent> {
            let kept: Vec<AuditEvent> = newest.iter().filter(|e| keep(e)).cloned().collect();
            assert!(
                !kept.is_empty() && kept.len() < all.len(),
                "a filter that selects nothing or everything proves nothing"
            );
            kept
        };

        assert_eq!(query(&path, &[]), newest, "{format}");
        assert_eq!(query(dir.path(), &[]), newest, "{format}");
        assert_eq!(
            query(&path, &["--action", "pause", "--action", HYPERLINK]),
            expect(&|e| e.action_type == "pause" || e.action_type == HYPERLINK),
            "{format}"
        );
        assert_eq!(
            query(&path, &["--status", "failed"]),
            expect(&|e| e.status == Status::Failed)
        );
        assert_eq!(
            query(&path, &["--status", "success"]),
            expect(&|e| e.status == Status::Success)
        );
        assert_eq!(
            query(
                &path,
                &[
                    "--action",
                    "hp_change",
                    "--action",
                    "tag_add",
                    "--status",
                    "failed"
                ]
            ),
            expect(
                &|e| ["hp_change", "tag_add"].contains(&e.action_type.as_str())
                    && e.status == Status::Failed
            )
        );
        let (since, until) = (all[5].timestamp, all[17].timestamp);
        assert_eq!(
            query(
                &path,
                &["--since", &since.to_string(), "--until", &until.to_string()]
            ),
            expect(&|e| e.timestamp >= since && e.timestamp <= until)
        );
        assert_eq!(query(&path, &["--since", &since.to_string()]).len(), 25);
        assert_eq!(query(&path, &["--until", &until.to_string()]).len(), 18);
        // The --since/--until bounds are inclusive to the microsecond.
        assert_eq!(
            query(
                &path,
                &["--since", &since.to_string(), "--until", &since.to_string()]
            ),
            [all[5].clone()]
        );
        assert_eq!(query(&path, &["--since", "1h"]), newest);
        assert!(query(&path, &["--until", "1h"]).is_empty());
        assert_eq!(
            query(&path, &["--contains", "😀"]),
            expect(&|e| e
                .details
                .get("q")
                .is_some_and(|q| q.as_str().is_some_and(|q| q.contains('😀'))))
        );
        assert_eq!(query(&path, &["--contains", "😀"]).len(), 1);
        assert_eq!(
            query(&path, &["--contains", "ckpt_001"]),
            expect(&|e| e.action_type == "checkpoint_restore")
        );
        assert_eq!(
            query(&path, &["--contains", "\"NaN\""]),
            expect(&|e| e.action_type == "evaluation_start")
        );
        assert_eq!(
            query(&path, &["--actor", "carol"]),
            expect(&|e| e.action_type == "query_execute")
        );
        assert_eq!(query(&path, &["--limit", "4"]), newest[..4].to_vec());
        assert_eq!(
            query(&path, &["--limit", "4", "--oldest-first"]),
            all[..4].to_vec()
        );
        assert_eq!(query(&path, &["--oldest-first"]), all);
        assert_eq!(
            query(&path, &["--status", "failed", "--limit", "3"]),
            expect(&|e| e.status == Status::Failed)[..3].to_vec()
        );
        let failed_oldest: Vec<AuditEvent> = all
            .iter()
            .filter(|e| e.status == Status::Failed)
            .take(3)
            .cloned()
            .collect();
        assert_eq!(
            query(
                &path,
                &["--status", "failed", "--limit", "3", "--oldest-first"]
            ),
            failed_oldest
        );
        assert!(query(&path, &["--limit", "0"]).is_empty());

        // --output json: one valid array; csv: the CSV log format, read back by the runtime.
        let filters = ["--status", "failed"];
        let failed = expect(&|e| e.status == Status::Failed);
        let text = stdout_of(
            auditlog()
                .arg("query")
                .arg(&path)
                .args(filters)
                .args(["--output", "json"]),
        );
        let parsed: Vec<AuditEvent> = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed, failed);
        let text = stdout_of(
            auditlog()
                .arg("query")
                .arg(&path)
                .args(filters)
                .args(["--output", "csv"]),
        );
        assert!(text.starts_with("timestamp,action_type,status,details,error\r\n"));
        assert!(text.contains(&format!(",\"'{}\",", HYPERLINK.replace('"', "\"\""))));
        let parsed: Vec<AuditEvent> = CsvEvents::new(text.as_bytes())
            .map(|r| r.unwrap().1)
            .collect();
        assert_eq!(parsed, failed);
        // Table: a header and one line per event, line breaks in values flattened.
        let text = stdout_of(auditlog().arg("query").arg(&path).args(filters));
        assert_eq!(text.lines().count(), failed.len() + 1, "{text}");
        assert!(text.starts_with("TIMESTAMP"));
    }
}

// ------------------------------------------------------------------ verify

fn verify_ok(path: &Path, events: usize) {
    auditlog()
        .arg("verify")
        .arg(path)
        .assert()
        .code(0)
        .stdout(predicate::str::contains(format!(": {events} events")));
}

#[test]
fn verify_passes_on_fresh_logs() {
    for format in FORMATS {
        let dir = tempfile::tempdir().unwrap();
        let logger = logger(dir.path(), format);
        verify_ok(dir.path(), 0);
        let logged = log_mixed(&logger);
        stored_checked(&log_path(dir.path(), format), &logged);
        verify_ok(dir.path(), 30);
        verify_ok(&log_path(dir.path(), format), 30);
    }
}

/// Logs events of about 600 bytes until the file holds more than 1 MiB; returns what was
/// logged and how many times the file was replaced (a new inode).
fn log_a_megabyte(logger: &AuditLogger, path: &Path) -> (Vec<Logged>, u32) {
    let mut logged = Vec::new();
    let mut replaced = 0;
    let mut inode = std::fs::metadata(path).unwrap().ino();
    let mut seq = 0u32;
    loop {
        let pad = "x".repeat(400 + (seq as usize * 37) % 200);
        let failed = seq.is_multiple_of(7);
        log(
            logger,
            &mut logged,
            ["hp_change", "tag_add", "pause", "query_execute"][seq as usize % 4],
            failed,
            json!({"seq": seq, "pad": pad, "quote": "a \"b\", c\nd"}),
            failed.then_some("=ERROR()"),
        );
        seq += 1;
        let meta = std::fs::metadata(path).unwrap();
        if meta.ino() != inode {
            inode = meta.ino();
            replaced += 1;
        }
        if meta.len() > 1024 * 1024 + 4096 {
            return (logged, replaced);
        }
    }
}

#[test]
fn verify_passes_on_a_megabyte_log_that_was_rewritten() {
    for format in FORMATS {
        let dir = tempfile::tempdir().unwrap();
        let logger = logger(dir.path(), format);
        let path = log_path(dir.path(), format);
        let (logged, replaced) = log_a_megabyte(&logger, &path);
        if format == Format::Json {
            assert!(
                replaced >= 3,
                "the JSON file should have been rewritten several times, was {replaced}"
            );
        }
        stored_checked(&path, &logged);
        verify_ok(dir.path(), logged.len());
        let summary: LogSummary = serde_json::from_str(&stdout_of(
            auditlog().args(["summary", "--json"]).arg(dir.path()),
        ))
        .unwrap();
        assert_eq!(summary, logger.get_log_summary().unwrap());
        assert_eq!(summary.total_events, logged.len() as u64);
    }
}

/// Runs verify, expects exit 1 and a problem placed at `line`, inside `bytes`; returns the
/// message.
fn verify_fails(path: &Path, line: u64, bytes: std::ops::Range<u64>, good: usize) -> String {
    let out = auditlog().arg("verify").arg(path).assert().code(1);
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(text.starts_with("problem: "), "{text}");
    assert!(text.contains(&path.display().to_string()), "{text}");
    assert!(text.contains(&format!("(line {line}): ")), "{text}");
    assert!(
        text.contains(&format!("(after {good} good events)")),
        "{text}"
    );
    let offset: u64 = text
        .split("byte ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no byte offset in {text}"));
    assert!(
        bytes.contains(&offset),
        "offset {offset} not in {bytes:?}: {text}"
    );
    text
}

/// The byte range and 1-based line of the line holding `needle` (there must be one).
fn line_with(bytes: &[u8], needle: &str) -> (std::ops::Range<usize>, u64) {
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle.as_bytes())
        .unwrap_or_else(|| panic!("{needle} not found"));
    let start = bytes[..at]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let end = at + bytes[at..].iter().position(|&b| b == b'\n').unwrap() + 1;
    let line = bytes[..start].iter().filter(|&&b| b == b'\n').count() as u64 + 1;
    (start..end, line)
}

fn seq_needle(format: Format, seq: u32) -> String {
    match format {
        Format::Csv => format!("\"\"seq\"\":{seq},"),
        _ => format!("\"seq\":{seq},"),
    }
}

#[test]
fn verify_reports_a_corrupted_byte_with_its_place() {
    for format in FORMATS {
        let dir = tempfile::tempdir().unwrap();
        let logger = logger(dir.path(), format);
        log_mixed(&logger);
        drop(logger);
        let path = log_path(dir.path(), format);
        let mut bytes = std::fs::read(&path).unwrap();
        // Filler 14 is a success; sits in the middle of the file in both orders.
        let (range, line) = line_with(&bytes, &seq_needle(format, 14));
        let needle: &[u8] = match format {
            Format::Csv => b",success,",
            _ => br#""status":"#,
        };
        let at = range.start
            + bytes[range.clone()]
                .windows(needle.len())
                .position(|w| w == needle)
                .unwrap();
        // JSON: `"status";` no longer parses. CSV: `x026-…` is not a timestamp (a changed
        // status would still be one: any non-empty status is valid, kept as written).
        let target = match format {
            Format::Csv => range.start,
            _ => at + needle.len() - 1,
        };
        bytes[target] = if format == Format::Csv { b'x' } else { b';' };
        std::fs::write(&path, &bytes).unwrap();
        // JSON is newest first: the 5 newer fillers come before it; CSV: the 24 older events.
        let good = if format == Format::Csv { 24 } else { 5 };
        let text = verify_fails(&path, line, range.start as u64..range.end as u64, good);
        if format == Format::Csv {
            assert!(text.contains("column \"timestamp\""), "{text}");
        }
        // The other commands refuse the damaged log too, naming the place (exit 2).
        auditlog()
            .arg("summary")
            .arg(&path)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(format!("(line {line})")));
    }
}

#[test]
fn verify_reports_two_swapped_lines() {
    for format in FORMATS {
        let dir = tempfile::tempdir().unwrap();
        let logger = logger(dir.path(), format);
        log_mixed(&logger);
        drop(logger);
        let path = log_path(dir.path(), format);
        let bytes = std::fs::read(&path).unwrap();
        let (a, line_a) = line_with(&bytes, &seq_needle(format, 12));
        let (b, line_b) = line_with(&bytes, &seq_needle(format, 13));
        // Adjacent lines: JSON has 13 above 12, CSV 12 above 13.
        let (first, second, line) = if a.start < b.start {
            (a, b, line_a)
        } else {
            (b, a, line_b)
        };
        assert_eq!(first.end, second.start);
        let mut swapped = bytes[..first.start].to_vec();
        swapped.extend_from_slice(&bytes[second.clone()]);
        swapped.extend_from_slice(&bytes[first.clone()]);
        swapped.extend_from_slice(&bytes[second.end..]);
        assert_eq!(swapped.len(), bytes.len());
        std::fs::write(&path, &swapped).unwrap();
        // The problem is the second of the two lines, now on line `line + 1`.
        let second_now = first.start + (second.end - second.start);
        let good = if format == Format::Csv { 23 } else { 7 };
        let text = verify_fails(&path, line + 1, second_now as u64..second.end as u64, good);
        let order = if format == Format::Csv {
            "strictly increasing"
        } else {
            "strictly decreasing"
        };
        assert!(text.contains(order), "{text}");
    }
}

// ------------------------------------------------------------------ export

fn export(from: &Path, to: &str, out: &Path) {
    auditlog()
        .arg("export")
        .arg(from)
        .args(["--to", to, "-o"])
        .arg(out)
        .assert()
        .success()
        .stderr(predicate::str::contains("wrote"));
}

#[test]
fn export_round_trips_runtime_logs_with_hostile_strings() {
    for format in FORMATS {
        let dir = tempfile::tempdir().unwrap();
        let logger = logger(dir.path(), format);
        let logged = log_mixed(&logger);
        let path = log_path(dir.path(), format);
        let original = stored_checked(&path, &logged);
        let out = tempfile::tempdir().unwrap();
        let (a, b, c) = (
            out.path().join("a.json"),
            out.path().join("b.csv"),
            out.path().join("c.json"),
        );
        // json → csv → json (from a CSV log: csv → json → csv → json).
        export(&path, "json", &a);
        export(&a, "csv", &b);
        export(&b, "json", &c);
        for file in [&a, &b, &c] {
            assert_eq!(stored(file), original, "{format}: {}", file.display());
        }
        let d = out.path().join("d.csv");
        export(&c, "csv", &d);
        assert_eq!(stored(&d), original);
        // Exported files are byte-for-byte what the runtime's writer writes for the same
        // events (apart from the JSON log's free space).
        let csv_twice = std::fs::read(&d).unwrap();
        assert_eq!(std::fs::read(&b).unwrap(), csv_twice);
        if format == Format::Csv {
            assert_eq!(std::fs::read(&path).unwrap(), csv_twice);
        } else {
            let written = std::fs::read_to_string(&path).unwrap();
            let exported = std::fs::read_to_string(&c).unwrap();
            let events = |text: &str| text.lines().skip(1).map(str::to_owned).collect::<Vec<_>>();
            assert_eq!(events(&written), events(&exported));
        }
        // JSON lines, oldest first.
        let text = stdout_of(auditlog().arg("export").arg(&path).args(["--to", "jsonl"]));
        assert_eq!(jsonl(&text), original);
        // The NaN logged through log_serialize survived as the string "NaN".
        let eval = original
            .iter()
            .find(|e| e.action_type == "evaluation_start")
            .unwrap();
        assert_eq!(eval.details["last_loss"], "NaN");
        assert_eq!(eval.details["worst"], "-Infinity");
    }
}

#[test]
fn the_writer_continues_an_exported_log() {
    for (source, to) in [
        (Format::Json, Format::Json),
        (Format::Csv, Format::Json),
        (Format::Json, Format::Csv),
        (Format::Csv, Format::Csv),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let logger = logger(dir.path(), source);
        let mut logged = log_mixed(&logger);
        stored_checked(&log_path(dir.path(), source), &logged);

        let next = tempfile::tempdir().unwrap();
        let target = log_path(next.path(), to);
        export(dir.path(), to.as_str(), &target);
        let continued = self::logger(next.path(), to);
        assert!(
            continued.recovery().is_none(),
            "{source} -> {to}: the exported log should be continued as it is, got {:?}",
            continued.recovery()
        );
        // Enough to make the JSON writer regrow the (gap-less) exported file, then more.
        log_fillers(&continued, &mut logged, 100..110);
        log_nasty(&continued, &mut logged);
        let events = stored_checked(&target, &logged);
        assert_eq!(events.len(), 50);
        verify_ok(next.path(), 50);
        assert_eq!(
            continued.get_log_summary().unwrap().total_events,
            50,
            "{source} -> {to}"
        );
        // Nothing was kept aside: the file was accepted, not salvaged.
        let names: Vec<String> = std::fs::read_dir(next.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with(".audit_log"))
            .collect();
        assert_eq!(names, [to.file_name().unwrap()], "{source} -> {to}");
    }
}

#[test]
fn the_writer_continues_an_exported_empty_log() {
    for format in FORMATS {
        let dir = tempfile::tempdir().unwrap();
        let logger = logger(dir.path(), format);
        drop(logger);
        let next = tempfile::tempdir().unwrap();
        let target = log_path(next.path(), format);
        export(dir.path(), format.as_str(), &target);
        let continued = self::logger(next.path(), format);
        assert!(
            continued
                .recovery()
                .is_none_or(|r| r.kind == RecoveryKind::Relaid && r.original_kept_at.is_none()),
            "{:?}",
            continued.recovery()
        );
        let mut logged = Vec::new();
        log_nasty(&continued, &mut logged);
        stored_checked(&target, &logged);
        verify_ok(&target, logged.len());
    }
}

// ------------------------------------------------------------------ tail

#[test]
fn tail_n_prints_the_newest_oldest_first() {
    for format in FORMATS {
        let dir = tempfile::tempdir().unwrap();
        let logger = logger(dir.path(), format);
        let logged = log_mixed(&logger);
        let all = stored_checked(&log_path(dir.path(), format), &logged);
        let text = stdout_of(
            auditlog()
                .arg("tail")
                .arg(dir.path())
                .args(["-n", "3", "--output", "jsonl"]),
        );
        assert_eq!(jsonl(&text), all[27..].to_vec(), "{format}");
        let table = stdout_of(auditlog().arg("tail").arg(dir.path()).args(["-n", "3"]));
        assert_eq!(table.lines().count(), 4, "{table}");
        for (line, event) in table.lines().skip(1).zip(&all[27..]) {
            assert!(
                line.starts_with(&event.timestamp.to_string()),
                "{line} / {event:?}"
            );
        }
        let text = stdout_of(
            auditlog()
                .arg("tail")
                .arg(dir.path())
                .args(["-n", "100", "--output", "jsonl"]),
        );
        assert_eq!(jsonl(&text), all);
    }
}

/// Follows a log while a thread of this process logs `count` events to it, a few at a time
/// with pauses; checks that each appears exactly once, in order. Returns how many times the
/// file was replaced meanwhile.
fn follow_while_logging(format: Format, initial: u32, count: u32, pad: usize) -> u32 {
    let dir = tempfile::tempdir().unwrap();
    let logger = logger(dir.path(), format);
    let mut before = Vec::new();
    log_fillers(&logger, &mut before, 0..initial);
    let path = log_path(dir.path(), format);
    let existing = stored_checked(&path, &before);

    let follow = if initial == 0 {
        // Whatever is written before tail has read the log comes from the initial -n.
        Follow::start(dir.path(), count as usize + 1)
    } else {
        let follow = Follow::start(dir.path(), 2);
        let n = existing.len();
        assert_eq!(
            follow.take(2, Duration::from_secs(20)),
            existing[n - 2..].to_vec()
        );
        follow
    };

    let writer = {
        let logger = logger.clone();
        let path = path.clone();
        std::thread::spawn(move || {
            let mut logged = Vec::new();
            let mut replaced = 0;
            let mut inode = std::fs::metadata(&path).unwrap().ino();
            for seq in 0..count {
                let failed = seq.is_multiple_of(5);
                log(
                    &logger,
                    &mut logged,
                    ["hp_change", "=tag_add", "pause"][seq as usize % 3],
                    failed,
                    json!({"seq": seq, "pad": "y".repeat(pad), "nl": "a\nb,\"c\""}),
                    failed.then_some("boom,\r\n\"x\""),
                );
                let ino = std::fs::metadata(&path).unwrap().ino();
                if ino != inode {
                    inode = ino;
                    replaced += 1;
                }
                if seq % 4 == 3 {
                    std::thread::sleep(Duration::from_millis(3));
                }
            }
            (logged, replaced)
        })
    };
    let got = follow.take(count as usize, Duration::from_secs(60));
    let (logged, replaced) = writer.join().unwrap();
    let mut everything = before;
    everything.extend(logged);
    let all = stored_checked(&path, &everything);
    assert_eq!(got, all[initial as usize..].to_vec(), "{format}");
    follow.assert_quiet_for(Duration::from_millis(500));
    replaced
}

#[test]
fn tail_follows_a_json_log_written_by_the_runtime_across_rewrites() {
    let replaced = follow_while_logging(Format::Json, 5, 600, 500);
    assert!(
        replaced >= 2,
        "the writer should have rewritten the file while it was followed, was {replaced}"
    );
}

#[test]
fn tail_follows_a_csv_log_written_by_the_runtime() {
    follow_while_logging(Format::Csv, 5, 300, 200);
}

#[test]
fn tail_follows_logs_that_start_empty() {
    for format in FORMATS {
        follow_while_logging(format, 0, 200, 100);
    }
}

/// Bytes the process has read so far (`rchar` in `/proc/<pid>/io`), if the system tells.
fn bytes_read_by(pid: u32) -> Option<u64> {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    io.lines()
        .find_map(|l| l.strip_prefix("rchar:"))
        .and_then(|n| n.trim().parse().ok())
}

/// `tail -f` on a JSON log with a large free space (after 5 MB of events the writer rewrote
/// it with 64 KiB plus a quarter of that): every new event is printed, and following reads
/// about as much as the new events take, not the free space again at every change.
#[test]
fn tail_follows_a_json_log_with_a_large_free_space_reading_only_new_events() {
    let dir = tempfile::tempdir().unwrap();
    let logger = logger(dir.path(), Format::Json);
    let mut logged = Vec::new();
    let path = log_path(dir.path(), Format::Json);
    // 5 MB of events, then on until the next rewrite (which leaves the largest free space).
    let mut inode = std::fs::metadata(&path).unwrap().ino();
    let mut seq = 0;
    loop {
        log(
            &logger,
            &mut logged,
            "step",
            false,
            json!({"seq": seq, "pad": "p".repeat(2000)}),
            None,
        );
        seq += 1;
        let now = std::fs::metadata(&path).unwrap().ino();
        if now != inode && seq > 2500 {
            break;
        }
        inode = now;
    }
    let initial = logged.len();
    let bytes = std::fs::read(&path).unwrap();
    let gap = bytes[1..].iter().take_while(|&&b| b == b' ').count() as u64;
    assert!(
        bytes.len() > 5_000_000 && gap > 1_000_000,
        "{} bytes, gap {gap}",
        bytes.len()
    );
    drop(bytes);
    let inode = std::fs::metadata(&path).unwrap().ino();
    let follow = Follow::start(&path, 1);
    assert_eq!(
        follow.take(1, Duration::from_secs(30))[0].details["seq"],
        seq - 1
    );
    let pid = follow.child.id();
    let read_before = bytes_read_by(pid);
    // Small events in bursts, so that the follower sees the file change many times.
    let count = 300;
    for seq in 0..count {
        log_fillers(&logger, &mut logged, seq..seq + 1);
        if seq % 10 == 9 {
            std::thread::sleep(Duration::from_millis(30));
        }
    }
    let got = follow.take(count as usize, Duration::from_secs(60));
    let all = stored_checked(&path, &logged);
    assert_eq!(got, all[initial..].to_vec());
    follow.assert_quiet_for(Duration::from_millis(300));
    assert_eq!(
        std::fs::metadata(&path).unwrap().ino(),
        inode,
        "the file should not have been rewritten"
    );
    if let (Some(before), Some(after)) = (read_before, bytes_read_by(pid)) {
        let new_bytes: u64 = all[initial..]
            .iter()
            .map(|e| serde_json::to_vec(e).unwrap().len() as u64 + 2)
            .sum();
        let read = after - before;
        eprintln!(
            "tail -f read {read} bytes for {count} new events ({new_bytes} bytes) in a log \
             with a free space of {gap} bytes"
        );
        // Reading the free space again even once would be more than this.
        assert!(read < gap / 4, "read {read} bytes, new events {new_bytes}");
    } else {
        eprintln!("(no /proc/<pid>/io here: bytes read not checked)");
    }
}

/// Some file systems keep modification times at a coarse granularity (seconds on some, a
/// clock tick on Linux): two writes in one tick leave the same time, and a JSON write into the
/// free space does not change the length. Simulated by setting the time back after each write.
#[test]
fn tail_follows_a_json_log_whose_modification_time_does_not_change() {
    let dir = tempfile::tempdir().unwrap();
    let logger = logger(dir.path(), Format::Json);
    let mut logged = Vec::new();
    log_fillers(&logger, &mut logged, 0..3);
    let path = log_path(dir.path(), Format::Json);
    let pinned = SystemTime::now() - Duration::from_secs(3600);
    let pin = || {
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(pinned)
            .unwrap();
    };
    pin();
    let len = std::fs::metadata(&path).unwrap().len();
    let follow = Follow::start(&path, 1);
    assert_eq!(follow.take(1, Duration::from_secs(20)).len(), 1);
    // Let it look at the file a few times.
    std::thread::sleep(Duration::from_millis(200));
    for seq in 3..6 {
        log_fillers(&logger, &mut logged, seq..seq + 1);
        pin();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), len);
        let all = stored_checked(&path, &logged);
        assert_eq!(
            follow.take(1, Duration::from_secs(10)),
            [all.last().unwrap().clone()]
        );
    }
    follow.assert_quiet_for(Duration::from_millis(300));
}

/// `auditlog` pointed at the log of a running experiment: every command sees a consistent
/// log while another thread keeps writing (and, for JSON, rewriting) it. On CSV a command
/// that reaches the end of the file while a row is being written must not see the first part
/// of that row (it reads up to a length taken under the writers' lock).
///
/// Runs a fixed number of rounds, each after the writer has logged a fixed number of events
/// more: how fast the commands or the writer run does not change what is checked.
fn commands_read_a_log_while_it_is_being_written(format: Format) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    const ROUNDS: usize = 6;
    // Enough padded events between rounds that the JSON writer rewrites the file while the
    // rounds run (its first rewrite comes after about 70 of them).
    const EVENTS_PER_ROUND: usize = 40;
    // Needed for the JSON check below; the writer goes on until it has happened.
    let rewrites_needed = if format == Format::Json { 2 } else { 0 };
    let dir = tempfile::tempdir().unwrap();
    let logger = logger(dir.path(), format);
    let mut before = Vec::new();
    log_fillers(&logger, &mut before, 0..5);
    let path = log_path(dir.path(), format);
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicUsize::new(0));
    // How many events the writer may have logged so far: one round ahead of the commands,
    // never more, so that a slow machine cannot let the log grow without bound while the
    // commands re-read it (it once reached gigabytes under load).
    let allowed = Arc::new(AtomicUsize::new(EVENTS_PER_ROUND));
    let writer = {
        let (logger, stop, written, path, allowed) = (
            logger.clone(),
            stop.clone(),
            written.clone(),
            path.clone(),
            allowed.clone(),
        );
        // Longer CSV rows take longer to copy: more chances to catch one half written.
        let pad = if format == Format::Csv { 8000 } else { 700 };
        std::thread::spawn(move || {
            let mut logged = Vec::new();
            let mut replaced = 0;
            let mut inode = std::fs::metadata(&path).unwrap().ino();
            let mut seq = 0;
            while !(stop.load(Ordering::Relaxed) && replaced >= rewrites_needed) {
                if !stop.load(Ordering::Relaxed) && logged.len() >= allowed.load(Ordering::Acquire)
                {
                    std::thread::sleep(Duration::from_micros(200));
                    continue;
                }
                log(
                    &logger,
                    &mut logged,
                    "step",
                    false,
                    json!({"seq": seq, "pad": "z".repeat(pad + seq % 300),
                           "nl": "a\r\nb,\"c\""}),
                    None,
                );
                seq += 1;
                written.store(logged.len(), Ordering::Release);
                // Leaves the commands moments when no write is in progress, as well.
                std::thread::sleep(Duration::from_micros(500));
                let ino = std::fs::metadata(&path).unwrap().ino();
                if ino != inode {
                    inode = ino;
                    replaced += 1;
                }
            }
            (logged.len(), replaced)
        })
    };
    // Only a safety limit against a writer that is stuck: fails loudly, never paces the test.
    let wait_for_writer = |at_least: usize| {
        let deadline = Instant::now() + Duration::from_secs(120);
        while written.load(Ordering::Acquire) < at_least {
            assert!(
                Instant::now() < deadline && !writer.is_finished(),
                "the writer logged {} of {at_least} events",
                written.load(Ordering::Acquire)
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    };
    let mut totals: Vec<u64> = Vec::new();
    for round in 1..=ROUNDS {
        // Every round sees at least one event the round before did not.
        let seen_before = totals.last().map_or(0, |&t| t as usize - before.len());
        allowed.store((round + 1) * EVENTS_PER_ROUND, Ordering::Release);
        wait_for_writer((round * EVENTS_PER_ROUND).max(seen_before + 1));
        let text = stdout_of(auditlog().args(["summary", "--json"]).arg(&path));
        let summary: LogSummary = serde_json::from_str(&text).unwrap();
        totals.push(summary.total_events);
        auditlog()
            .arg("verify")
            .arg(&path)
            .assert()
            .code(0)
            .stdout(predicate::str::starts_with("ok: "));
        let events = query(&path, &["--oldest-first"]);
        assert!(events.windows(2).all(|w| w[0].timestamp < w[1].timestamp));
        assert!(events.len() as u64 >= summary.total_events);
        let tail = jsonl(&stdout_of(
            auditlog()
                .arg("tail")
                .arg(&path)
                .args(["-n", "3", "--output", "jsonl"]),
        ));
        assert_eq!(tail.len(), 3);
    }
    stop.store(true, Ordering::Relaxed);
    let (written, replaced) = writer.join().unwrap();
    if format == Format::Json {
        assert!(replaced >= 2, "rewritten {replaced} times");
    }
    assert!(
        totals.len() == ROUNDS
            && totals[0] >= (before.len() + EVENTS_PER_ROUND) as u64
            && totals.windows(2).all(|w| w[0] < w[1]),
        "{totals:?}"
    );
    verify_ok(&path, before.len() + written);
}

#[test]
fn commands_read_a_json_log_while_it_is_being_written() {
    commands_read_a_log_while_it_is_being_written(Format::Json);
}

#[test]
fn commands_read_a_csv_log_while_it_is_being_written() {
    commands_read_a_log_while_it_is_being_written(Format::Csv);
}

/// A CSV log whose last row is cut off, with and without the writers' lock file (a log
/// written by the reference has none): the other commands read every complete row and say
/// where they stopped; `verify` reports the cut.
#[test]
fn a_cut_off_last_csv_row_is_read_up_to_and_reported_by_verify() {
    for with_sidecar in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let logger = logger(dir.path(), Format::Csv);
        let logged = log_mixed(&logger);
        drop(logger);
        let path = log_path(dir.path(), Format::Csv);
        let all = stored_checked(&path, &logged);
        let sidecar = dir.path().join(".audit_log.csv.lock");
        assert!(sidecar.exists());
        if !with_sidecar {
            std::fs::remove_file(&sidecar).unwrap();
        }
        let bytes = std::fs::read(&path).unwrap();
        // The last row is a filler whose details are quoted: cut inside them.
        let (range, line) = line_with(&bytes, &seq_needle(Format::Csv, 19));
        assert_eq!(range.end, bytes.len());
        std::fs::write(&path, &bytes[..range.start + 40]).unwrap();

        let out = auditlog()
            .arg("query")
            .arg(&path)
            .args(["--output", "jsonl", "--oldest-first"])
            .assert()
            .success();
        let stderr = String::from_utf8(out.get_output().stderr.clone()).unwrap();
        assert!(
            stderr.contains(&format!("line {line})")) && stderr.contains("incomplete"),
            "{stderr}"
        );
        let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
        assert_eq!(jsonl(&text), all[..29].to_vec(), "sidecar: {with_sidecar}");
        let text = stdout_of(auditlog().args(["summary", "--json"]).arg(&path));
        let summary: LogSummary = serde_json::from_str(&text).unwrap();
        assert_eq!(summary.total_events, 29);
        let text = stdout_of(
            auditlog()
                .arg("tail")
                .arg(&path)
                .args(["-n", "2", "--output", "jsonl"]),
        );
        assert_eq!(jsonl(&text), all[27..29].to_vec());
        verify_fails(&path, line, range.start as u64..range.start as u64 + 1, 29);
    }
}

/// Without the writers' lock file, a command that finds the last row cut off reads it again
/// after a moment: a row whose write was still being copied in is then read whole.
#[test]
fn without_the_lock_file_a_row_completed_meanwhile_is_read_whole() {
    let dir = tempfile::tempdir().unwrap();
    let logger = logger(dir.path(), Format::Csv);
    let logged = log_mixed(&logger);
    drop(logger);
    let path = log_path(dir.path(), Format::Csv);
    let all = stored_checked(&path, &logged);
    std::fs::remove_file(dir.path().join(".audit_log.csv.lock")).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let (range, _) = line_with(&bytes, &seq_needle(Format::Csv, 19));
    let cut = range.start + 40;
    std::fs::write(&path, &bytes[..cut]).unwrap();
    let child = StdCommand::new(assert_cmd::cargo::cargo_bin("auditlog"))
        .arg("query")
        .arg(&path)
        .args(["--output", "jsonl", "--oldest-first"])
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The rest of the row arrives while the command runs (it waits up to about 230 ms).
    std::thread::sleep(Duration::from_millis(60));
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    std::io::Write::write_all(&mut file, &bytes[cut..]).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        jsonl(&text),
        all,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

// ------------------------------------------------------------------ empty errors

#[test]
fn an_empty_error_is_null_in_both_formats_and_through_export() {
    #[derive(serde::Serialize)]
    struct Ckpt {
        checkpoint_id: &'static str,
    }
    for format in FORMATS {
        let dir = tempfile::tempdir().unwrap();
        let logger = logger(dir.path(), format);
        logger
            .log_event(
                "checkpoint_restore",
                Status::Failed,
                json!({"checkpoint_id": "a"}),
                Some(""),
            )
            .unwrap();
        logger
            .log_serialize(
                "checkpoint_restore",
                Status::Failed,
                &Ckpt { checkpoint_id: "b" },
                Some(""),
            )
            .unwrap();
        let path = log_path(dir.path(), format);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains(r#""error":"""#), "{text}");
        let original = stored(&path);
        assert_eq!(original.len(), 2);
        assert!(original.iter().all(|e| e.error.is_none()), "{original:?}");

        let out = tempfile::tempdir().unwrap();
        let (other, back) = match format {
            Format::Json => ("csv", "json"),
            _ => ("json", "csv"),
        };
        let there = out.path().join(format!("there.{other}"));
        let again = out.path().join(format!("again.{back}"));
        export(&path, other, &there);
        export(&there, back, &again);
        for file in [&there, &again] {
            assert_eq!(stored(file), original, "{format}: {}", file.display());
        }
        let lines = stdout_of(auditlog().arg("export").arg(&there).args(["--to", "jsonl"]));
        for line in lines.lines() {
            let value: Value = serde_json::from_str(line).unwrap();
            assert_eq!(value["error"], Value::Null, "{line}");
        }
    }
}

// ------------------------------------------------------------------ deep details

/// Details exactly `MAX_DETAILS_DEPTH` levels deep, built without recursion.
fn nested_to_the_limit() -> Value {
    let mut value = json!({"leaf": 1});
    for _ in 1..audit_runtime::MAX_DETAILS_DEPTH {
        let mut outer = Map::new();
        outer.insert("a".to_owned(), value);
        value = Value::Object(outer);
    }
    value
}

#[test]
fn details_at_the_depth_limit_are_read_by_verify_export_and_summary() {
    for format in FORMATS {
        let dir = tempfile::tempdir().unwrap();
        let logger = logger(dir.path(), format);
        let details = nested_to_the_limit();
        logger
            .log_event("hp_change", Status::Success, details.clone(), None)
            .unwrap();
        // One level more is refused, and leaves nothing behind.
        let mut deeper = Map::new();
        deeper.insert("a".to_owned(), details.clone());
        assert!(
            logger
                .log_event("hp_change", Status::Success, Value::Object(deeper), None)
                .is_err()
        );
        let path = log_path(dir.path(), format);
        verify_ok(&path, 1);
        let summary = stdout_of(auditlog().arg("summary").arg(&path).arg("--json"));
        let summary: LogSummary = serde_json::from_str(&summary).unwrap();
        assert_eq!(summary.total_events, 1);
        let out = tempfile::tempdir().unwrap();
        let other = if format == Format::Json {
            "csv"
        } else {
            "json"
        };
        let there = out.path().join(format!("there.{other}"));
        export(&path, other, &there);
        verify_ok(&there, 1);
        for file in [&path, &there] {
            let events = stored(file);
            assert_eq!(Value::Object(events[0].details.clone()), details);
        }
    }
}

/// Leaves in a JSON log what a writer killed while copying an event that spans pages leaves
/// (the torn mark before the free space's newline, the event's first pages), holding the
/// writers' lock as that writer did.
fn tear_json_event(path: &Path) {
    use std::os::unix::fs::FileExt;
    let lock = std::fs::File::options()
        .read(true)
        .write(true)
        .open(path.with_file_name(".audit_log.json.lock"))
        .unwrap();
    lock.lock().unwrap();
    let bytes = std::fs::read(path).unwrap();
    let spaces = bytes[1..].iter().take_while(|&&b| b == b' ').count();
    let gap_end = (1 + spaces + 1) as u64;
    let event = format!(
        "\n{{\"timestamp\":\"2030-01-01T00:00:00.000000Z\",\"action_type\":\"tag_add\",\"status\":\"success\",\"details\":{{\"pad\":\"{}\"}},\"error\":null}},\n",
        "x".repeat(20_000)
    );
    let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    file.write_all_at(b"\r", gap_end - 2).unwrap();
    file.write_all_at(&event.as_bytes()[..8192], gap_end - event.len() as u64)
        .unwrap();
    lock.unlock().unwrap();
}

#[test]
fn commands_read_a_json_log_a_killed_writer_left_a_torn_event_in() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(dir.path(), Format::Json);
    let writer = logger(dir.path(), Format::Json);
    let mut logged = Vec::new();
    log_fillers(&writer, &mut logged, 0..3);
    tear_json_event(&path);
    assert!(
        serde_json::from_slice::<Value>(&std::fs::read(&path).unwrap()).is_err(),
        "the tear must make the file invalid for a plain JSON parser"
    );
    // Every complete event is read, the cut-off one is not.
    let summary = stdout_of(auditlog().args(["summary", "--json"]).arg(&path));
    let summary: Value = serde_json::from_str(&summary).unwrap();
    assert_eq!(summary["total_events"], 3, "{summary}");
    assert_eq!(query(&path, &[]).len(), 3);
    // verify says what is wrong and that nothing acknowledged is lost.
    auditlog()
        .arg("verify")
        .arg(&path)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("cut off by a writer that died"))
        .stdout(predicate::str::contains("after 3 good events"));
    // The next write clears it, for every reader.
    log_fillers(&writer, &mut logged, 3..4);
    verify_ok(&path, 4);
    let all: Vec<Value> = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(all.len(), 4);
}

#[test]
fn tail_f_waits_for_a_log_that_does_not_exist_yet() {
    for format in FORMATS {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("not-yet");
        let mut follow = Follow::start(&dir, 10);
        // It must still be running, waiting, rather than having exited with an error.
        assert!(follow.quiet_for(Duration::from_millis(300)), "{format:?}");
        assert!(
            follow.child.try_wait().unwrap().is_none(),
            "{format:?}: tail -f exited instead of waiting"
        );
        let writer = logger(&dir, format);
        let mut logged = Vec::new();
        log_fillers(&writer, &mut logged, 0..3);
        let got = follow.take(3, Duration::from_secs(60));
        assert_eq!(got.len(), 3, "{format:?}");
        assert_eq!(got[0].action_type, logged[0].action);
    }
}
