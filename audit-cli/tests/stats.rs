//! `auditlog stats`: the counters a logger wrote to its stats file, as a table and as JSON,
//! found from a log directory, a log file or the file itself; clear errors (exit code 2)
//! for a missing, corrupt or foreign file; and `auditlog summary` mentioning them.

use std::path::Path;

use assert_cmd::Command;
use audit_runtime::{AuditLogger, Format, STATS_FILE_NAME, Status};
use predicates::prelude::*;
use serde_json::Value;

fn auditlog() -> Command {
    let mut cmd = Command::cargo_bin("auditlog").unwrap();
    cmd.env_remove("COLUMNS").env("NO_COLOR", "1");
    cmd
}

/// A log in `dir` with three events and one failed (invalid) event, and its stats file.
fn logged_with_stats(dir: &Path, format: Format) -> AuditLogger {
    let logger = AuditLogger::builder(dir).format(format).build().unwrap();
    for action in ["pause", "resume", "hp_change"] {
        logger
            .log_event(action, Status::Success, None, None)
            .unwrap();
    }
    assert!(logger.log_event(" ", Status::Success, None, None).is_err());
    logger.write_stats_file(dir.join(STATS_FILE_NAME)).unwrap();
    logger
}

/// The value printed after `label:` in the table.
fn field<'a>(table: &'a str, label: &str) -> &'a str {
    let prefix = format!("{label}:");
    table
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {label:?} line in:\n{table}"))
        .trim()
}

#[test]
fn stats_prints_the_counters_as_a_table_from_a_directory_a_log_file_or_the_file() {
    for format in [Format::Json, Format::Csv] {
        let dir = tempfile::tempdir().unwrap();
        let logger = logged_with_stats(dir.path(), format);
        let log = logger.path().unwrap().to_owned();
        let stats_file = dir.path().join(STATS_FILE_NAME);
        for arg in [dir.path(), log.as_path(), stats_file.as_path()] {
            let out = auditlog().arg("stats").arg(arg).assert().success();
            let table = String::from_utf8(out.get_output().stdout.clone()).unwrap();
            assert_eq!(field(&table, "events written"), "3", "{table}");
            assert_eq!(field(&table, "events failed"), "1", "{table}");
            assert_eq!(field(&table, "calls refused"), "0", "{table}");
            assert_eq!(
                field(&table, "stats file"),
                stats_file.display().to_string()
            );
            assert_eq!(field(&table, "log"), log.display().to_string());
            assert!(
                field(&table, "last error").contains("the action type is empty"),
                "{table}"
            );
            assert!(
                field(&table, "written at").contains(&format!("by pid {}", std::process::id())),
                "{table}"
            );
        }
    }
}

#[test]
fn stats_json_prints_the_files_document() {
    let dir = tempfile::tempdir().unwrap();
    let logger = logged_with_stats(dir.path(), Format::Json);
    let out = auditlog()
        .args(["stats", "--json"])
        .arg(dir.path())
        .assert()
        .success();
    let doc: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(doc["format"], "audited-logger-stats");
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["stats"]["events_written"], 3);
    assert_eq!(doc["stats"]["events_failed"], 1);
    assert_eq!(
        doc["stats"]["bytes_written"],
        logger.stats().bytes_written,
        "the counters as the logger had them"
    );
    assert_eq!(
        doc["log"],
        logger.path().unwrap().to_string_lossy().as_ref()
    );
}

#[test]
fn stats_without_a_stats_file_says_how_to_get_one() {
    let dir = tempfile::tempdir().unwrap();
    auditlog()
        .arg("stats")
        .arg(dir.path())
        .assert()
        .code(2)
        .stdout("")
        .stderr(
            predicate::str::contains("no stats file at")
                .and(predicate::str::contains(STATS_FILE_NAME))
                .and(predicate::str::contains("SIGUSR1"))
                .and(predicate::str::contains("at exit"))
                .and(predicate::str::contains("experiment_server"))
                .and(predicate::str::contains("--stats-file")),
        );
}

#[test]
fn a_corrupt_or_foreign_stats_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    logged_with_stats(dir.path(), Format::Json);
    let path = dir.path().join(STATS_FILE_NAME);
    let good = std::fs::read_to_string(&path).unwrap();
    let mut versioned: Value = serde_json::from_str(&good).unwrap();
    versioned["version"] = 99.into();
    let mut without_a_counter: Value = serde_json::from_str(&good).unwrap();
    without_a_counter["stats"]
        .as_object_mut()
        .unwrap()
        .remove("events_refused");
    let mut a_negative_counter: Value = serde_json::from_str(&good).unwrap();
    a_negative_counter["stats"]["events_failed"] = (-1).into();
    let cases: [(String, &str); 7] = [
        (good[..good.len() / 2].to_owned(), "not JSON"),
        ("\u{0}\u{1}binary".to_owned(), "not JSON"),
        ("[1, 2]".to_owned(), "not a JSON object"),
        (
            r#"{"name": "package.json"}"#.to_owned(),
            r#"no "format": "audited-logger-stats""#,
        ),
        (versioned.to_string(), "version 99"),
        (
            without_a_counter.to_string(),
            "stats.events_refused is missing",
        ),
        (
            a_negative_counter.to_string(),
            "stats.events_failed is missing or not a count",
        ),
    ];
    for (content, expected) in cases {
        std::fs::write(&path, &content).unwrap();
        auditlog()
            .arg("stats")
            .arg(dir.path())
            .assert()
            .code(2)
            .stdout("")
            .stderr(
                predicate::str::contains(path.display().to_string())
                    .and(predicate::str::contains(expected)),
            );
    }
}

#[test]
fn summary_mentions_the_stats_files_counters_when_there_is_one() {
    let dir = tempfile::tempdir().unwrap();
    logged_with_stats(dir.path(), Format::Csv);
    let out = auditlog().arg("summary").arg(dir.path()).assert().success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(
        text.contains("logger:    3 events written, 1 failed, 0 refused"),
        "{text}"
    );
    std::fs::write(dir.path().join(STATS_FILE_NAME), "{").unwrap();
    let out = auditlog().arg("summary").arg(dir.path()).assert().success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(text.contains("logger:    counters not shown"), "{text}");
    std::fs::remove_file(dir.path().join(STATS_FILE_NAME)).unwrap();
    let out = auditlog().arg("summary").arg(dir.path()).assert().success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(!text.contains("logger:"), "{text}");
}
