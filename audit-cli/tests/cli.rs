//! `auditlog` end to end: logs in our layout and the reference's, both formats, damage,
//! exit codes.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod common;
#[path = "../../audit-runtime/tests/common/v2_services.rs"]
mod v2_services;

use assert_cmd::Command;
use audit_runtime::{AuditEvent, Status, Timestamp};
use common::Follow;
use predicates::prelude::*;
use serde_json::{Value, json};

fn reference(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../audit-runtime/tests/fixtures/reference")
        .join(name)
}

fn auditlog() -> Command {
    let mut cmd = Command::cargo_bin("auditlog").unwrap();
    cmd.env_remove("COLUMNS").env("NO_COLOR", "1");
    cmd
}

fn event(micros: i64, action: &str, failed: bool, details: Value) -> AuditEvent {
    AuditEvent {
        timestamp: Timestamp::from_micros(micros),
        action_type: action.to_owned(),
        status: if failed {
            Status::Failed
        } else {
            Status::Success
        }
        .into(),
        details: details.as_object().cloned().unwrap_or_default(),
        error: failed.then(|| "it broke, badly".to_owned()),
    }
}

const T0: i64 = 1_779_892_200_000_000; // 2026-05-27T14:30:00Z

/// Six events, oldest first.
fn events() -> Vec<AuditEvent> {
    vec![
        event(T0, "hp_change", false, json!({"actor": "alice", "lr": 0.1})),
        event(
            T0 + 1_000_000,
            "tag_add",
            false,
            json!({"actor": "bob", "tag": "defect", "request_id": "r-10"}),
        ),
        event(
            T0 + 2_000_000,
            "query_execute",
            true,
            json!({"actor": "alice", "q": "bad", "request_id": "r-1"}),
        ),
        event(T0 + 3_000_000, "pause", false, json!({"request_id": "r-1"})),
        event(
            T0 + 4_000_000,
            "=formula",
            true,
            json!({"actor": {"name": "carol"}}),
        ),
        event(
            T0 + 5_000_000,
            "hp_change",
            false,
            json!({"actor": "bob", "lr": "NaN"}),
        ),
    ]
}

/// The runtime's JSON layout: '[', a gap, then one compact event per line, newest first.
fn json_log(events: &[AuditEvent], gap: usize) -> Vec<u8> {
    let mut out = b"[".to_vec();
    out.extend(std::iter::repeat_n(b' ', gap));
    out.push(b'\n');
    let newest_first: Vec<&AuditEvent> = events.iter().rev().collect();
    for (i, e) in newest_first.iter().enumerate() {
        out.extend(serde_json::to_vec(e).unwrap());
        out.extend(if i + 1 < newest_first.len() {
            &b",\n"[..]
        } else {
            b"\n"
        });
    }
    out.extend(b"]\n");
    out
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn stdout_of(cmd: &mut Command) -> String {
    let out = cmd.assert().success().get_output().stdout.clone();
    String::from_utf8(out).unwrap()
}

fn jsonl(text: &str) -> Vec<AuditEvent> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

// ------------------------------------------------------------------ summary

#[test]
fn summary_json_is_the_spec_shape_for_every_reference_file() {
    let expected = [
        (
            "audit_log.indent2.json",
            json!({"total_events": 5,
                   "by_action_type": {"checkpoint_restore": 1, "hp_change": 1, "note_write": 1, "query_execute": 1, "tag_add": 1},
                   "by_status": {"failed": 2, "success": 3}}),
        ),
        (
            "audit_log.nan-tokens.json",
            json!({"total_events": 2, "by_action_type": {"evaluation_start": 1, "pause": 1}, "by_status": {"success": 2}}),
        ),
        (
            "audit_log.reference.csv",
            json!({"total_events": 4,
                   "by_action_type": {"checkpoint_restore": 1, "hp_change": 1, "resume": 1, "tag_add": 1},
                   "by_status": {"failed": 1, "success": 3}}),
        ),
    ];
    for (file, want) in expected {
        let text = stdout_of(auditlog().args(["summary", "--json"]).arg(reference(file)));
        let got: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(got, want, "{file}");
    }
}

#[test]
fn summary_shows_times_failures_and_actors_for_both_formats() {
    let dir = tempfile::tempdir().unwrap();
    let json_path = write(dir.path(), "a.json", &json_log(&events(), 64));
    let csv_path = dir.path().join("a.csv");
    auditlog()
        .args(["export", "--to", "csv", "-o"])
        .arg(&csv_path)
        .arg(&json_path)
        .assert()
        .success();
    for path in [&json_path, &csv_path] {
        let text = stdout_of(auditlog().arg("summary").arg(path));
        assert!(text.contains("events:    6"), "{text}");
        assert!(
            text.contains("first:     2026-05-27T14:30:00.000000Z"),
            "{text}"
        );
        assert!(
            text.contains("last:      2026-05-27T14:30:05.000000Z"),
            "{text}"
        );
        assert!(text.contains("by status: failed 2, success 4"), "{text}");
        assert!(
            text.lines()
                .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["query_execute", "1", "1"]),
            "{text}"
        );
        assert!(
            text.lines()
                .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["alice", "2"]),
            "{text}"
        );
        assert!(
            text.lines()
                .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["carol", "1"]),
            "{text}"
        );
    }
}

/// Issue [6]: the demo printed a summary table of its own, with other columns than
/// `auditlog summary`. Both now print `summary_text`, which must be what the command prints.
#[test]
fn summary_text_is_what_auditlog_summary_prints() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "audit_log.json", &json_log(&events(), 64));
    let text = audit_cli::summary_text(&path, false).unwrap();
    assert_eq!(text, stdout_of(auditlog().arg("summary").arg(&path)));
    assert_eq!(
        audit_cli::summary_text(dir.path(), false).unwrap(),
        stdout_of(auditlog().arg("summary").arg(dir.path())),
        "a directory, too"
    );
    assert!(text.contains("actor"), "{text}");
}

#[test]
fn a_directory_is_searched_and_a_double_is_announced() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "audit_log.json", &json_log(&events(), 8));
    auditlog()
        .arg("summary")
        .arg(dir.path())
        .assert()
        .success()
        .stdout(predicate::str::contains("audit_log.json (json)"))
        .stderr(predicate::str::is_empty());
    write(
        dir.path(),
        "audit_log.csv",
        &std::fs::read(reference("audit_log.reference.csv")).unwrap(),
    );
    auditlog()
        .arg("summary")
        .arg(dir.path())
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "both audit_log.json and audit_log.csv",
        ));
}

#[test]
fn content_not_extension_decides_the_format() {
    let dir = tempfile::tempdir().unwrap();
    let csv_named_json = write(
        dir.path(),
        "log.json",
        &std::fs::read(reference("audit_log.reference.csv")).unwrap(),
    );
    auditlog()
        .arg("summary")
        .arg(&csv_named_json)
        .assert()
        .success()
        .stdout(predicate::str::contains("(csv)"));
}

// ------------------------------------------------------------------ clear failures

#[test]
fn missing_empty_neither_and_truncated_have_clear_messages() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no/such/dir");
    auditlog()
        .arg("summary")
        .arg(&missing)
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("no/such/dir").and(predicate::str::contains("No such file")),
        );

    let empty_dir = tempfile::tempdir().unwrap();
    auditlog()
        .arg("query")
        .arg(empty_dir.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("holds no audit log"));

    let empty = write(dir.path(), "audit_log.json", b"");
    auditlog()
        .arg("summary")
        .arg(&empty)
        .assert()
        .success()
        .stdout(predicate::str::contains("the log is empty"));
    auditlog()
        .arg("verify")
        .arg(&empty)
        .assert()
        .success()
        .stdout(predicate::str::contains("0 events (empty log)"));

    let neither = write(dir.path(), "notes.txt", b"just some notes\n");
    auditlog()
        .arg("summary")
        .arg(&neither)
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("notes.txt")
                .and(predicate::str::contains("neither a JSON log")),
        );

    let full = json_log(&events(), 8);
    let truncated = write(dir.path(), "cut.json", &full[..full.len() - 40]);
    auditlog()
        .arg("summary")
        .arg(&truncated)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cut.json").and(predicate::str::contains("truncated")));
    auditlog()
        .arg("verify")
        .arg(&truncated)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("problem:").and(predicate::str::contains("(line 7)")));
}

#[test]
fn usage_errors_exit_2() {
    auditlog().assert().code(2);
    auditlog()
        .args(["query", "x", "--status", "maybe"])
        .assert()
        .code(2);
    auditlog()
        .args(["query"])
        .arg(reference("audit_log.indent2.json"))
        .args(["--since", "last tuesday"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--since"));
}

// ------------------------------------------------------------------ query

#[test]
fn query_filters_combine() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "audit_log.json", &json_log(&events(), 8));
    let q = |args: &[&str]| {
        jsonl(&stdout_of(
            auditlog()
                .arg("query")
                .arg(&path)
                .args(["--output", "jsonl"])
                .args(args),
        ))
        .into_iter()
        .map(|e| e.timestamp.as_micros() - T0)
        .collect::<Vec<_>>()
    };
    assert_eq!(q(&[]), [5, 4, 3, 2, 1, 0].map(|s| s * 1_000_000));
    assert_eq!(q(&["--action", "hp_change"]), [5_000_000, 0]);
    assert_eq!(
        q(&["--action", "hp_change", "--action", "pause"]),
        [5_000_000, 3_000_000, 0]
    );
    assert_eq!(q(&["--status", "failed"]), [4_000_000, 2_000_000]);
    assert_eq!(
        q(&["--action", "hp_change", "--status", "failed"]),
        Vec::<i64>::new()
    );
    assert_eq!(
        q(&[
            "--since",
            "2026-05-27T14:30:01Z",
            "--until",
            "2026-05-27T16:30:03+02:00"
        ]),
        [3_000_000, 2_000_000, 1_000_000]
    );
    assert_eq!(q(&["--since", "1h"]), Vec::<i64>::new());
    assert_eq!(q(&["--until", "2026-05-28"]).len(), 6);
    assert_eq!(q(&["--actor", "alice"]), [2_000_000, 0]);
    assert_eq!(q(&["--actor", "carol"]), [4_000_000]);
    assert_eq!(q(&["--contains", "defect"]), [1_000_000]);
    // One request's events, and only its own: an exact match, not a prefix.
    assert_eq!(q(&["--request", "r-1"]), [3_000_000, 2_000_000]);
    assert_eq!(q(&["--request", "r-10"]), [1_000_000]);
    assert_eq!(q(&["--request", "r-1", "--action", "pause"]), [3_000_000]);
    assert_eq!(q(&["--request", "r"]), Vec::<i64>::new());
    assert_eq!(q(&["--limit", "2"]), [5_000_000, 4_000_000]);
    assert_eq!(q(&["--oldest-first", "--limit", "2"]), [0, 1_000_000]);
    assert_eq!(
        q(&["--oldest-first", "--action", "hp_change"]),
        [0, 5_000_000]
    );
}

#[test]
fn query_orders_csv_newest_first_by_default() {
    let text = stdout_of(
        auditlog()
            .arg("query")
            .arg(reference("audit_log.reference.csv"))
            .args(["--output", "jsonl"]),
    );
    let events = jsonl(&text);
    assert_eq!(events.len(), 4);
    assert!(events.windows(2).all(|w| w[0].timestamp > w[1].timestamp));
    let text = stdout_of(
        auditlog()
            .arg("query")
            .arg(reference("audit_log.reference.csv"))
            .args(["--output", "jsonl", "--oldest-first", "--limit", "1"]),
    );
    assert_eq!(jsonl(&text)[0].action_type, "hp_change");
}

#[test]
fn query_output_formats() {
    let path = reference("audit_log.indent2.json");
    let json_text = stdout_of(
        auditlog()
            .arg("query")
            .arg(&path)
            .args(["--output", "json"]),
    );
    let parsed: Vec<AuditEvent> = serde_json::from_str(&json_text).unwrap();
    assert_eq!(parsed.len(), 5);
    let none = stdout_of(
        auditlog()
            .arg("query")
            .arg(&path)
            .args(["--output", "json", "--action", "nope"]),
    );
    assert_eq!(none, "[]\n");

    let csv_text = stdout_of(auditlog().arg("query").arg(&path).args(["--output", "csv"]));
    assert!(csv_text.starts_with("timestamp,action_type,status,details,error\r\n"));
    assert_eq!(csv_text.matches("\r\n").count(), 6);

    let table = stdout_of(auditlog().env("COLUMNS", "70").arg("query").arg(&path));
    assert!(table.starts_with("TIMESTAMP"));
    assert_eq!(table.lines().count(), 6);
    assert!(table.lines().all(|l| l.chars().count() <= 70), "{table}");
    assert!(
        !table.contains('\x1b'),
        "no colour when NO_COLOR is set / not a terminal"
    );
}

#[test]
fn fail_on_empty_exits_1() {
    let path = reference("audit_log.indent2.json");
    auditlog()
        .arg("query")
        .arg(&path)
        .args(["--action", "nope", "--fail-on-empty"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no event"));
    auditlog()
        .arg("query")
        .arg(&path)
        .args([
            "--action",
            "pause",
            "--action",
            "note_write",
            "--fail-on-empty",
        ])
        .assert()
        .success();
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

fn read_all(path: &Path) -> Vec<AuditEvent> {
    audit_runtime::read::open_events(path)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn export_round_trips_losslessly() {
    let dir = tempfile::tempdir().unwrap();
    let ours = write(dir.path(), "ours.json", &json_log(&events(), 100));
    for source in [
        ours,
        reference("audit_log.indent2.json"),
        reference("audit_log.nan-tokens.json"),
    ] {
        let original = read_all(&source);
        let csv = dir.path().join("x.csv");
        let back = dir.path().join("back.json");
        export(&source, "csv", &csv);
        export(&csv, "json", &back);
        assert_eq!(read_all(&back), original, "{}", source.display());
        // The JSON written is our layout: one event per line, newest first.
        let text = std::fs::read_to_string(&back).unwrap();
        assert_eq!(text.lines().count(), original.len() + 2);
        // jsonl is oldest first.
        let lines = dir.path().join("x.jsonl");
        export(&source, "jsonl", &lines);
        let mut chronological = original.clone();
        chronological.reverse();
        assert_eq!(
            jsonl(&std::fs::read_to_string(&lines).unwrap()),
            chronological
        );
    }
    // CSV → JSON → CSV keeps the rows.
    let csv_source = reference("audit_log.reference.csv");
    let json = dir.path().join("r.json");
    let csv = dir.path().join("r.csv");
    export(&csv_source, "json", &json);
    export(&json, "csv", &csv);
    assert_eq!(read_all(&csv), read_all(&csv_source));
    // Formulas are neutralised in our CSV and restored when read.
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(
        text.contains("'=HYPERLINK") || text.contains("=HYPERLINK"),
        "{text}"
    );
    // No temporary file is left behind.
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(".auditlog-export-")
        })
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn export_neutralises_formulas_in_csv() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "a.json", &json_log(&events(), 0));
    let text = stdout_of(auditlog().arg("export").arg(&path).args(["--to", "csv"]));
    assert!(text.contains(",'=formula,failed,"), "{text}");
    let back = write(dir.path(), "b.csv", text.as_bytes());
    assert_eq!(read_all(&back)[4].action_type, "=formula");
}

#[test]
fn export_refuses_to_overwrite_its_input() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "a.json", &json_log(&events(), 0));
    auditlog()
        .arg("export")
        .arg(&path)
        .args(["--to", "json", "-o"])
        .arg(&path)
        .assert()
        .code(2);
    assert_eq!(std::fs::read(&path).unwrap(), json_log(&events(), 0));
}

// ------------------------------------------------------------------ verify

#[test]
fn verify_accepts_good_logs() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "a.json", &json_log(&events(), 10));
    auditlog()
        .arg("verify")
        .arg(&path)
        .assert()
        .success()
        .stdout(predicate::str::contains("ok:").and(predicate::str::contains("6 events")));
    for file in ["audit_log.indent2.json", "audit_log.reference.csv"] {
        auditlog()
            .arg("verify")
            .arg(reference(file))
            .assert()
            .success();
    }
    auditlog()
        .arg("verify")
        .arg(reference("audit_log.nan-tokens.json"))
        .assert()
        .success()
        .stderr(predicate::str::contains("3 bare NaN/Infinity tokens"));
}

#[test]
fn verify_reports_the_first_problem_with_its_place() {
    let dir = tempfile::tempdir().unwrap();
    // Out of order: swap two events.
    let mut swapped = events();
    swapped.swap(2, 3);
    let path = write(dir.path(), "order.json", &json_log(&swapped, 10));
    let bytes = std::fs::read(&path).unwrap();
    let fourth = bytes
        .split(|&b| b == b'\n')
        .take(4)
        .map(|l| l.len() + 1)
        .sum::<usize>();
    auditlog().arg("verify").arg(&path).assert().code(1).stdout(
        predicate::str::contains(format!("byte {fourth} (line 5)"))
            .and(predicate::str::contains("strictly decreasing"))
            .and(predicate::str::contains("after 3 good events")),
    );

    let extra = br#"[{"timestamp":"2026-05-27T14:30:00Z","action_type":"a","status":"success","details":{},"error":null,"actor":"x"}]"#;
    let path = write(dir.path(), "extra.json", extra);
    auditlog().arg("verify").arg(&path).assert().code(1).stdout(
        predicate::str::contains("byte 1 (line 1)")
            .and(predicate::str::contains("unexpected field \"actor\"")),
    );

    let missing = br#"[{"timestamp":"2026-05-27T14:30:00Z","action_type":"a","status":"success","details":{}}]"#;
    let path = write(dir.path(), "missing.json", missing);
    auditlog()
        .arg("verify")
        .arg(&path)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("\"error\" is missing"));

    // Any other status is another writer's (see below); an empty one is no status.
    let bad_status = br#"[{"timestamp":"2026-05-27T14:30:00Z","action_type":"a","status":"","details":{},"error":null}]"#;
    let path = write(dir.path(), "status.json", bad_status);
    auditlog()
        .arg("verify")
        .arg(&path)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("the status is empty"));

    let csv = "timestamp,action_type,status,details,error\r\n\
               2026-05-27T14:30:01Z,a,success,{},\r\n\
               2026-05-27T14:30:00Z,b,success,{},\r\n";
    let path = write(dir.path(), "order.csv", csv.as_bytes());
    auditlog().arg("verify").arg(&path).assert().code(1).stdout(
        predicate::str::contains("byte 80 (line 3)")
            .and(predicate::str::contains("strictly increasing")),
    );

    let full = std::fs::read(reference("audit_log.reference.csv")).unwrap();
    let path = write(dir.path(), "cut.csv", &full[..full.len() - 10]);
    auditlog()
        .arg("verify")
        .arg(&path)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("(line 5)").and(predicate::str::contains("truncated")));
}

// ------------------------------------------------------------------ tail

#[test]
fn tail_prints_the_newest_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    let json = write(dir.path(), "a.json", &json_log(&events(), 10));
    let csv = dir.path().join("a.csv");
    export(&json, "csv", &csv);
    for path in [&json, &csv] {
        let got = jsonl(&stdout_of(
            auditlog()
                .arg("tail")
                .arg(path)
                .args(["-n", "2", "--output", "jsonl"]),
        ));
        assert_eq!(got, events()[4..].to_vec(), "{}", path.display());
        let all = jsonl(&stdout_of(
            auditlog().arg("tail").arg(path).args(["--output", "jsonl"]),
        ));
        assert_eq!(all, events());
    }
}

#[test]
fn tail_follows_a_json_log_written_in_place_and_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let all = events();
    let path = write(dir.path(), "audit_log.json", &json_log(&all[..3], 4096));
    let follow = Follow::start(&path, 1);
    assert_eq!(follow.next(), all[2]);

    // Our writer's way: the new event goes into the end of the gap with one positioned write.
    let mut line = serde_json::to_vec(&all[3]).unwrap();
    line.insert(0, b'\n');
    line.push(b',');
    let gap_end = 1 + 4096; // the '\n' that ends the gap
    let mut file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    use std::os::unix::fs::FileExt;
    file.write_at(&line, (gap_end - line.len()) as u64).unwrap();
    file.flush().unwrap();
    assert_eq!(follow.next(), all[3]);

    // A rewrite by rename (a new inode), holding two new events.
    let temp = write(dir.path(), "new.json", &json_log(&all, 10));
    std::fs::rename(&temp, &path).unwrap();
    assert_eq!(follow.next(), all[4]);
    assert_eq!(follow.next(), all[5]);
    assert!(
        follow.quiet_for(Duration::from_millis(300)),
        "nothing printed twice"
    );
}

#[test]
fn tail_follows_a_csv_log_as_rows_are_appended() {
    let dir = tempfile::tempdir().unwrap();
    let all = events();
    let json = write(dir.path(), "a.json", &json_log(&all[..2], 0));
    let path = dir.path().join("audit_log.csv");
    export(&json, "csv", &path);
    let follow = Follow::start(&path, 1);
    assert_eq!(follow.next(), all[1]);

    let full = dir.path().join("full.csv");
    let full_json = write(dir.path(), "b.json", &json_log(&all, 0));
    export(&full_json, "csv", &full);
    let full_bytes = std::fs::read(&full).unwrap();
    let now = std::fs::metadata(&path).unwrap().len() as usize;
    let rest = &full_bytes[now..];
    // Write half a row first: nothing may be printed until the row is complete.
    let half = rest.iter().position(|&b| b == b'\n').unwrap() / 2;
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    file.write_all(&rest[..half]).unwrap();
    file.flush().unwrap();
    assert!(follow.quiet_for(Duration::from_millis(200)));
    file.write_all(&rest[half..]).unwrap();
    file.flush().unwrap();
    for expected in &all[2..] {
        assert_eq!(&follow.next(), expected);
    }
}

// ------------------------------------------------------------------ one definition of an event

#[test]
fn a_misspelled_field_is_refused_by_verify_and_by_the_loggers_open_alike() {
    let dir = tempfile::tempdir().unwrap();
    let mut events = events();
    events.truncate(3);
    let text = String::from_utf8(json_log(&events, 4)).unwrap();
    // The middle event (line 3), with its action_type misspelled.
    let typo = text.replacen(
        r#""action_type":"tag_add""#,
        r#""actoin_type":"tag_add""#,
        1,
    );
    assert_ne!(typo, text);
    let path = write(dir.path(), "audit_log.json", typo.as_bytes());
    let offset = typo.find(r#"{"timestamp":"2026-05-27T14:30:01"#).unwrap();
    auditlog().arg("verify").arg(&path).assert().code(1).stdout(
        predicate::str::contains(format!("byte {offset} (line 3)"))
            .and(predicate::str::contains("unexpected field \"actoin_type\""))
            .and(predicate::str::contains("after 1 good events")),
    );

    // The logger's open judges it the same way: damaged, the event kept aside only.
    let logger = audit_runtime::AuditLogger::builder(dir.path())
        .format(audit_runtime::Format::Json)
        .build()
        .unwrap();
    let recovery = logger.recovery().expect("damage reported");
    assert_eq!(recovery.kind, audit_runtime::RecoveryKind::Salvaged);
    assert_eq!(recovery.events_kept, 2);
    assert!(
        recovery.problems[0].contains("\"actoin_type\""),
        "{recovery}"
    );
    let kept = recovery.original_kept_at.clone().unwrap();
    assert_eq!(std::fs::read_to_string(&kept).unwrap(), typo);
    auditlog()
        .arg("verify")
        .arg(&kept)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("\"actoin_type\""));
    auditlog()
        .arg("verify")
        .arg(&path)
        .assert()
        .success()
        .stdout(predicate::str::contains(": 2 events"));
}

// ------------------------------------------------------------------ Python's lone surrogates

#[test]
fn verify_and_export_read_a_lone_surrogate_as_a_replacement_character() {
    // As Python's json.dump(indent=2) writes a file name that was not valid UTF-8, beside an
    // emoji (a valid surrogate pair).
    let text = r#"[
  {
    "timestamp": "2026-11-25T19:03:33.539087Z",
    "action_type": "checkpoint_restore",
    "status": "failed",
    "details": {
      "checkpoint_path": "/runs/ckpt_\udcff.pt",
      "note": "\ud83c\udf89"
    },
    "error": null
  }
]"#;
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "audit_log.json", text.as_bytes());
    auditlog()
        .arg("verify")
        .arg(&path)
        .assert()
        .success()
        .stdout(predicate::str::contains(": 1 events"))
        .stderr(predicate::str::contains("1 lone surrogate escapes"));
    let lines = stdout_of(auditlog().arg("export").arg(&path).args(["--to", "jsonl"]));
    let events = jsonl(&lines);
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].details["checkpoint_path"],
        "/runs/ckpt_\u{fffd}.pt"
    );
    assert_eq!(events[0].details["note"], "🎉");
    let summary = stdout_of(auditlog().arg("summary").arg(&path).arg("--json"));
    assert!(summary.contains("checkpoint_restore"), "{summary}");
}

// ------------------------------------------------------------------ another writer's status

/// Logs written by WeightsLab v2.0's services (the reference fixtures and a generated
/// 1,000-event log in both layouts), with statuses beside success and failed (`error`):
/// each path with its events, oldest first, as JSON values.
fn v2_logs(dir: &Path) -> Vec<(PathBuf, Vec<Value>)> {
    let generated = v2_services::events(1000);
    let mut logs = vec![
        (
            write(
                dir,
                "gen.json",
                v2_services::json_log(&generated).as_bytes(),
            ),
            generated.clone(),
        ),
        (
            write(dir, "gen.csv", v2_services::csv_log(&generated).as_bytes()),
            generated,
        ),
    ];
    for file in ["audit_log.v2-services.json", "audit_log.v2-services.csv"] {
        let path = reference(file);
        let mut events: Vec<Value> = read_all(&path)
            .iter()
            .map(|e| serde_json::to_value(e).unwrap())
            .collect();
        if file.ends_with(".json") {
            events.reverse();
        }
        logs.push((path, events));
    }
    logs
}

fn with_status<'a>(events: &'a [Value], status: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["status"] == status).collect()
}

#[test]
fn verify_accepts_another_writers_status_with_a_note_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    for (path, events) in v2_logs(dir.path()) {
        // `error` is one of the statuses this version writes: no note.
        assert!(!with_status(&events, "error").is_empty());
        auditlog()
            .arg("verify")
            .arg(&path)
            .assert()
            .code(0)
            .stdout(predicate::str::contains(format!("{} events", events.len())))
            .stderr(predicate::str::contains("note:").not());
        // A status nobody here writes is valid too, and named.
        let text = std::fs::read_to_string(&path).unwrap();
        let renamed = write(
            dir.path(),
            &format!("renamed-{}", path.file_name().unwrap().to_string_lossy()),
            text.replace(",error,", ",timed out,")
                .replace("\"status\": \"error\"", "\"status\": \"timed out\"")
                .replace("\"status\":\"error\"", "\"status\":\"timed out\"")
                .as_bytes(),
        );
        let renamed_count = with_status(&events, "error").len();
        let noun = if renamed_count == 1 {
            "event"
        } else {
            "events"
        };
        auditlog()
            .arg("verify")
            .arg(&renamed)
            .assert()
            .code(0)
            .stderr(predicate::str::contains(format!(
                "note: {} holds {renamed_count} {noun} with the status \"timed out\"",
                renamed.display()
            )));
    }
    // An empty status is still a problem.
    let bad = "timestamp,action_type,status,details,error\r\n2026-05-27T14:30:00Z,a,,,\r\n";
    let path = write(dir.path(), "bad.csv", bad.as_bytes());
    auditlog()
        .arg("verify")
        .arg(&path)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("the status is empty"));
}

#[test]
fn query_status_error_finds_every_event_with_that_status() {
    let dir = tempfile::tempdir().unwrap();
    for (path, events) in v2_logs(dir.path()) {
        let query = |args: &[&str]| -> Vec<Value> {
            stdout_of(
                auditlog()
                    .arg("query")
                    .arg(&path)
                    .args(["--output", "jsonl", "--oldest-first"])
                    .args(args),
            )
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
        };
        let all = query(&[]);
        assert_eq!(all, events, "{}", path.display());
        for status in ["error", "failed", "success"] {
            let found = query(&["--status", status]);
            assert_eq!(
                found.iter().collect::<Vec<_>>(),
                with_status(&events, status),
                "{} --status {status}",
                path.display()
            );
        }
        assert!(!query(&["--status", "error"]).is_empty());
    }
}

#[test]
fn export_round_trips_another_writers_status_in_both_directions() {
    let dir = tempfile::tempdir().unwrap();
    for (path, _) in v2_logs(dir.path()) {
        // Oldest first, whichever order the format stores.
        let read = |path: &Path| {
            let mut events = read_all(path);
            events.sort_by_key(|e| e.timestamp);
            events
        };
        let original = read(&path);
        let (first, second) = if path.extension().unwrap() == "json" {
            ("csv", "json")
        } else {
            ("json", "csv")
        };
        let there = dir.path().join(format!("there.{first}"));
        let back = dir.path().join(format!("back.{second}"));
        export(&path, first, &there);
        export(&there, second, &back);
        assert!(read(&there) == original, "{} to {first}", path.display());
        assert!(read(&back) == original, "{} and back", path.display());
        let statuses = |events: &[AuditEvent]| -> Vec<String> {
            events
                .iter()
                .map(|e| e.status.as_str().to_owned())
                .collect()
        };
        assert_eq!(statuses(&read(&back)), statuses(&original));
        assert!(statuses(&original).iter().any(|s| s == "error"));
    }
}

#[test]
fn summary_counts_another_writers_status_under_its_own_name() {
    let dir = tempfile::tempdir().unwrap();
    for (path, events) in v2_logs(dir.path()) {
        let count = |status| with_status(&events, status).len();
        let json: Value = serde_json::from_str(&stdout_of(
            auditlog().args(["summary", "--json"]).arg(&path),
        ))
        .unwrap();
        assert_eq!(
            json["by_status"],
            json!({"error": count("error"), "failed": count("failed"), "success": count("success")}),
            "{}",
            path.display()
        );
        let text = stdout_of(auditlog().arg("summary").arg(&path));
        assert!(
            text.contains(&format!(
                "by status: error {}, failed {}, success {}",
                count("error"),
                count("failed"),
                count("success")
            )),
            "{text}"
        );
        // The table has a column for it beside failed, per action.
        let header = text.lines().find(|l| l.starts_with("action")).unwrap();
        assert_eq!(
            header.split_whitespace().collect::<Vec<_>>(),
            ["action", "events", "failed", "error"]
        );
        let runs: Vec<&Value> = events
            .iter()
            .filter(|e| e["action_type"] == "notebook_run")
            .collect();
        let cells = |status: &str| {
            runs.iter()
                .filter(|e| e["status"] == status)
                .count()
                .to_string()
        };
        let expected = [
            "notebook_run".to_owned(),
            runs.len().to_string(),
            cells("failed"),
            cells("error"),
        ];
        assert!(
            text.lines()
                .any(|l| l.split_whitespace().collect::<Vec<_>>() == expected),
            "{expected:?}\n{text}"
        );
    }
}
