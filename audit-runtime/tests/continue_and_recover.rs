//! Continuing logs that already exist: the reference implementation's own files, and logs
//! damaged by a crash or by hand. Nothing that was in the file may be lost.

use std::fs;
use std::path::{Path, PathBuf};

use audit_runtime::{AuditEvent, AuditLogger, Format, RecoveryKind, Status, csv_safety};
use serde_json::{Value, json};

#[path = "common/v2_services.rs"]
mod v2_services;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/reference")
        .join(name)
}

fn open(dir: &Path, format: Format) -> AuditLogger {
    AuditLogger::builder(dir)
        .format(format)
        .build()
        .expect("open")
}

fn json_events(dir: &Path) -> Vec<AuditEvent> {
    serde_json::from_slice(&fs::read(dir.join("audit_log.json")).unwrap()).expect("valid JSON log")
}

/// The action of every event in the JSON log, newest first.
fn json_actions(dir: &Path) -> Vec<String> {
    json_events(dir)
        .into_iter()
        .map(|e| e.action_type)
        .collect()
}

fn files_named(dir: &Path, contains: &str) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().contains(contains))
        .collect()
}

fn event_line(ts: &str, action: &str) -> String {
    format!(
        r#"{{"timestamp":"{ts}","action_type":"{action}","status":"success","details":{{}},"error":null}}"#
    )
}

#[test]
fn continues_the_reference_indent2_json_keeping_every_event() {
    let dir = tempfile::tempdir().unwrap();
    fs::copy(
        fixture("audit_log.indent2.json"),
        dir.path().join("audit_log.json"),
    )
    .unwrap();
    let original: Vec<Value> =
        serde_json::from_slice(&fs::read(fixture("audit_log.indent2.json")).unwrap()).unwrap();
    let logger = open(dir.path(), Format::Json);
    let recovery = logger
        .recovery()
        .expect("the layout was changed, and said so");
    assert_eq!(recovery.kind, RecoveryKind::Relaid);
    assert_eq!(recovery.events_kept, 5);
    assert_eq!(
        recovery.original_kept_at, None,
        "only whitespace changed: nothing to keep"
    );
    logger
        .log_event(
            "pause",
            Status::Success,
            json!({"trainer_state": "paused"}),
            None,
        )
        .unwrap();
    let now: Vec<Value> =
        serde_json::from_slice(&fs::read(dir.path().join("audit_log.json")).unwrap()).unwrap();
    assert_eq!(now.len(), 6);
    assert_eq!(now[0]["action_type"], "pause", "new events go first");
    assert_eq!(
        &now[1..],
        &original[..],
        "old events unchanged, in order (emoji, escapes and all)"
    );
    // A second open continues in place.
    let again = open(dir.path(), Format::Json);
    assert!(again.recovery().is_none());
}

#[test]
fn continues_python_nan_tokens_as_strings_and_keeps_the_original() {
    let dir = tempfile::tempdir().unwrap();
    fs::copy(
        fixture("audit_log.nan-tokens.json"),
        dir.path().join("audit_log.json"),
    )
    .unwrap();
    let logger = open(dir.path(), Format::Json);
    let recovery = logger.recovery().expect("recovery report");
    assert_eq!(recovery.non_finite_converted, 3);
    let kept = recovery
        .original_kept_at
        .clone()
        .expect("values changed: original kept");
    assert_eq!(
        fs::read(kept).unwrap(),
        fs::read(fixture("audit_log.nan-tokens.json")).unwrap()
    );
    logger
        .log_event("resume", Status::Success, None, None)
        .unwrap();
    let events = json_events(dir.path());
    assert_eq!(events.len(), 3);
    let eval = &events[2].details;
    assert_eq!(eval["last_loss"], "NaN");
    assert_eq!(eval["best"], "Infinity");
    assert_eq!(eval["worst"], "-Infinity");
}

#[test]
fn continues_the_reference_csv_with_its_line_endings() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit_log.csv");
    fs::copy(fixture("audit_log.reference.csv"), &path).unwrap();
    let original = fs::read(&path).unwrap();
    let logger = open(dir.path(), Format::Csv);
    assert!(logger.recovery().is_none(), "{:?}", logger.recovery());
    logger
        .log_event(
            "tag_remove",
            Status::Failed,
            json!({"tag_name": "=1+2"}),
            Some("@boom"),
        )
        .unwrap();
    let now = fs::read(&path).unwrap();
    assert!(
        now.starts_with(&original),
        "existing rows are never rewritten"
    );
    assert!(now.ends_with(b"\r\n"), "continues with the file's CRLF");
    let mut reader = csv::Reader::from_path(&path).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 5);
    assert_eq!(
        &rows[2][3], "",
        "the reference's empty details stay as they were"
    );
    assert_eq!(csv_safety::restore(&rows[4][4]), "@boom");
    assert_eq!(logger.get_log_summary().unwrap().total_events, 5);
}

#[test]
fn truncated_json_is_kept_aside_and_complete_events_salvaged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit_log.json");
    let text = format!(
        "[\n{},\n{},\n{{\"timestamp\":\"2026-01-01T00:00:00.000001Z\",\"action_ty",
        event_line("2026-01-01T00:00:00.000003Z", "resume"),
        event_line("2026-01-01T00:00:00.000002Z", "pause")
    );
    fs::write(&path, &text).unwrap();
    let logger = open(dir.path(), Format::Json);
    let recovery = logger.recovery().expect("damage reported");
    assert_eq!(recovery.kind, RecoveryKind::Salvaged);
    assert_eq!(recovery.events_kept, 2);
    assert!(!recovery.problems.is_empty());
    let kept = recovery.original_kept_at.clone().unwrap();
    assert_eq!(
        fs::read_to_string(&kept).unwrap(),
        text,
        "original bytes kept as they were"
    );
    assert!(
        kept.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("audit_log.json.corrupt-")
    );
    logger
        .log_event("tag_add", Status::Success, None, None)
        .unwrap();
    assert_eq!(json_actions(dir.path()), ["tag_add", "resume", "pause"]);
}

#[test]
fn garbage_after_the_array_is_kept_aside() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit_log.json");
    fs::write(
        &path,
        format!(
            "[\n{}\n]\nGARBAGE{{",
            event_line("2026-01-01T00:00:00.000001Z", "pause")
        ),
    )
    .unwrap();
    let logger = open(dir.path(), Format::Json);
    assert_eq!(
        logger.recovery().map(|r| r.kind),
        Some(RecoveryKind::Salvaged)
    );
    assert_eq!(files_named(dir.path(), ".corrupt-").len(), 1);
    logger
        .log_event("resume", Status::Success, None, None)
        .unwrap();
    assert_eq!(json_events(dir.path()).len(), 2);
}

#[test]
fn torn_write_in_the_gap_is_salvaged() {
    // What a power cut can leave: half of a new event's bytes in the gap.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit_log.json");
    let text = format!(
        "[{}\n\"status\":\"success\",\"details\":{{}},\"error\":null}},\n{},\n{}\n]\n",
        " ".repeat(100),
        event_line("2026-01-01T00:00:00.000002Z", "resume"),
        event_line("2026-01-01T00:00:00.000001Z", "pause")
    );
    fs::write(&path, text).unwrap();
    // Even the quick check (no full verification) sees it.
    let logger = AuditLogger::builder(dir.path())
        .format(Format::Json)
        .verify_on_open(false)
        .build()
        .unwrap();
    let recovery = logger.recovery().expect("torn write reported");
    assert_eq!(recovery.events_kept, 2);
    logger
        .log_event("tag_add", Status::Success, None, None)
        .unwrap();
    assert_eq!(json_actions(dir.path()), ["tag_add", "resume", "pause"]);
}

#[test]
fn a_file_that_is_not_json_at_all_is_kept_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit_log.json");
    fs::write(&path, "this is not a log\n").unwrap();
    let logger = open(dir.path(), Format::Json);
    let recovery = logger.recovery().expect("reported");
    assert_eq!(recovery.events_kept, 0);
    let kept = recovery.original_kept_at.clone().unwrap();
    assert_eq!(fs::read_to_string(kept).unwrap(), "this is not a log\n");
    logger
        .log_event("pause", Status::Success, None, None)
        .unwrap();
    assert_eq!(json_events(dir.path()).len(), 1);
}

#[test]
fn empty_file_is_an_empty_log() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("audit_log.json"), "").unwrap();
    fs::write(dir.path().join("audit_log.csv"), "").unwrap();
    for format in [Format::Json, Format::Csv] {
        let logger = open(dir.path(), format);
        assert!(logger.recovery().is_none());
        logger
            .log_event("pause", Status::Success, None, None)
            .unwrap();
        assert_eq!(logger.get_log_summary().unwrap().total_events, 1);
    }
    assert!(files_named(dir.path(), "corrupt").is_empty());
}

#[test]
fn torn_csv_tail_is_cut_and_kept_aside() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit_log.csv");
    let text = "timestamp,action_type,status,details,error\r\n\
                2026-01-01T00:00:00.000001Z,pause,success,{},\r\n\
                2026-01-01T00:00:00.000002Z,resume,failed,\"{\"\"a\"\":1}\",\"half a quoted err";
    fs::write(&path, text).unwrap();
    let logger = open(dir.path(), Format::Csv);
    let recovery = logger.recovery().expect("reported");
    assert_eq!(recovery.events_kept, 1);
    assert_eq!(
        fs::read_to_string(recovery.original_kept_at.clone().unwrap()).unwrap(),
        text
    );
    logger
        .log_event("tag_add", Status::Success, None, None)
        .unwrap();
    let mut reader = csv::Reader::from_path(&path).unwrap();
    let actions: Vec<String> = reader.records().map(|r| r.unwrap()[1].to_owned()).collect();
    assert_eq!(actions, ["pause", "tag_add"]);
}

#[test]
fn csv_with_a_complete_but_unterminated_last_row_gets_a_line_break() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit_log.csv");
    fs::write(
        &path,
        "timestamp,action_type,status,details,error\n2026-01-01T00:00:00.000001Z,pause,success,{},",
    )
    .unwrap();
    let logger = open(dir.path(), Format::Csv);
    logger
        .log_event("resume", Status::Success, None, None)
        .unwrap();
    let mut reader = csv::Reader::from_path(&path).unwrap();
    let actions: Vec<String> = reader.records().map(|r| r.unwrap()[1].to_owned()).collect();
    assert_eq!(actions, ["pause", "resume"]);
    assert!(
        fs::read_to_string(&path)
            .unwrap()
            .ends_with("success,{},\n"),
        "LF file continued with LF"
    );
}

#[test]
fn truncation_at_every_byte_never_loses_a_complete_event() {
    let source = tempfile::tempdir().unwrap();
    let logger = open(source.path(), Format::Json);
    for i in 0..3 {
        logger
            .log_event("tag_add", Status::Success, json!({"i": i}), None)
            .unwrap();
    }
    let full = fs::read(source.path().join("audit_log.json")).unwrap();
    let text = String::from_utf8(full.clone()).unwrap();
    let first_event = text.find('{').unwrap();
    // Cut only within the events region (cutting the gap leaves an empty array).
    for cut in (first_event..full.len()).step_by(7) {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("audit_log.json"), &full[..cut]).unwrap();
        let complete = text[..cut].matches("\"error\":null}").count();
        let logger = AuditLogger::builder(dir.path())
            .format(Format::Json)
            .verify_on_open(false)
            .build()
            .unwrap();
        let kept = json_events(dir.path()).len();
        assert!(
            kept >= complete.min(3),
            "cut at {cut}: kept {kept} of {complete} complete events"
        );
        if cut < full.len() - 3 {
            assert!(logger.recovery().is_some(), "cut at {cut} went unnoticed");
        }
    }
}

#[test]
fn a_first_event_with_keys_in_another_order_is_continued_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit_log.json");
    let foreign = r#"{"action_type":"pause","status":"success","timestamp":"2026-01-01T00:00:00.000001Z","details":{},"error":null}"#;
    fs::write(&path, format!("[{}\n{foreign}\n]\n", " ".repeat(300))).unwrap();
    let logger = open(dir.path(), Format::Json);
    assert!(logger.recovery().is_none(), "{:?}", logger.recovery());
    for _ in 0..3 {
        logger
            .log_event("resume", Status::Success, None, None)
            .unwrap();
    }
    let events = json_events(dir.path());
    assert_eq!(events.len(), 4);
    assert_eq!(events[3].action_type, "pause");
}

#[test]
fn a_rewrite_interrupted_between_mark_and_rename_loses_nothing() {
    // A writer that is killed after marking the old file (gap newline -> tab) but before
    // renaming the new one leaves the old file in place with the mark: still valid JSON.
    let dir = tempfile::tempdir().unwrap();
    let logger = open(dir.path(), Format::Json);
    for i in 0..5 {
        logger
            .log_event("tag_add", Status::Success, json!({"i": i}), None)
            .unwrap();
    }
    let path = dir.path().join("audit_log.json");
    let mut bytes = fs::read(&path).unwrap();
    let first_event = bytes.windows(2).position(|w| w == b"\n{").unwrap();
    bytes[first_event] = b'\t';
    fs::write(&path, &bytes).unwrap();
    let marked: Vec<AuditEvent> =
        serde_json::from_slice(&bytes).expect("marked file is valid JSON");
    assert_eq!(marked.len(), 5);
    // The running logger sees the mark and carries on with the file at the path.
    logger
        .log_event("pause", Status::Success, None, None)
        .unwrap();
    // So does a new one.
    open(dir.path(), Format::Json)
        .log_event("resume", Status::Success, None, None)
        .unwrap();
    assert_eq!(
        json_actions(dir.path()),
        [
            "resume", "pause", "tag_add", "tag_add", "tag_add", "tag_add", "tag_add"
        ]
    );
}

/// A log in our layout whose middle event has a misspelled field: valid JSON, not a valid
/// event (the rule `auditlog verify` applies too, see `audit_runtime::read::check_event`).
fn log_with_a_misspelled_field() -> String {
    format!(
        "[  \n{},\n{},\n{}\n]\n",
        event_line("2026-01-01T00:00:00.000003Z", "resume"),
        event_line("2026-01-01T00:00:00.000002Z", "pause").replace("action_type", "actoin_type"),
        event_line("2026-01-01T00:00:00.000001Z", "tag_add"),
    )
}

#[test]
fn a_misspelled_field_name_is_damage_on_open_and_kept_aside() {
    for (verify, first) in [(true, false), (false, true)] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit_log.json");
        let mut text = log_with_a_misspelled_field();
        if first {
            // Without the full check only the first event is looked at: put it there.
            text = format!(
                "[  \n{},\n{}\n]\n",
                event_line("2026-01-01T00:00:00.000002Z", "pause")
                    .replace("action_type", "actoin_type"),
                event_line("2026-01-01T00:00:00.000001Z", "tag_add"),
            );
        }
        fs::write(&path, &text).unwrap();
        let logger = AuditLogger::builder(dir.path())
            .format(Format::Json)
            .verify_on_open(verify)
            .build()
            .unwrap();
        let recovery = logger.recovery().expect("the bad event is reported");
        assert_eq!(recovery.kind, RecoveryKind::Salvaged, "verify {verify}");
        assert_eq!(recovery.events_kept, if first { 1 } else { 2 });
        assert_eq!(recovery.problems.len(), 1, "{recovery}");
        assert!(
            recovery.problems[0].contains("\"actoin_type\""),
            "{recovery}"
        );
        let kept = recovery.original_kept_at.clone().unwrap();
        assert!(kept.to_string_lossy().contains(".corrupt-"));
        assert_eq!(fs::read_to_string(&kept).unwrap(), text);
        let live = fs::read_to_string(&path).unwrap();
        assert!(!live.contains("actoin_type"), "{live}");
        logger
            .log_event("hp_change", Status::Success, None, None)
            .unwrap();
        let expected: &[&str] = if first {
            &["hp_change", "tag_add"]
        } else {
            &["hp_change", "resume", "tag_add"]
        };
        assert_eq!(json_actions(dir.path()), expected);
        // The continued log is clean: the next open has nothing to report.
        assert!(open(dir.path(), Format::Json).recovery().is_none());
        assert_eq!(files_named(dir.path(), ".corrupt-").len(), 1);
    }
}

/// Two events as Python's `json.dump(events, f, indent=2)` writes them, newest first: a file
/// name that was not valid UTF-8 (`os.fsdecode(b"ckpt_\xff.pt")` holds the lone surrogate
/// U+DCFF, which `json` escapes as `\udcff`) in `details` and in `error`, and an emoji,
/// escaped as a valid surrogate pair.
const LONE_SURROGATE_LOG: &str = r#"[
  {
    "timestamp": "2026-11-25T19:03:33.539087Z",
    "action_type": "checkpoint_restore",
    "status": "failed",
    "details": {
      "checkpoint_path": "/runs/ckpt_\udcff.pt",
      "note": "\ud83c\udf89"
    },
    "error": "No such file: /runs/ckpt_\udcff.pt"
  },
  {
    "timestamp": "2026-11-25T19:03:33.535618Z",
    "action_type": "hp_change",
    "status": "success",
    "details": {
      "learning_rate": 0.001
    },
    "error": null
  }
]"#;

#[test]
fn a_reference_log_with_a_lone_surrogate_keeps_every_event() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit_log.json");
    fs::write(&path, LONE_SURROGATE_LOG).unwrap();
    let logger = open(dir.path(), Format::Json);
    let recovery = logger.recovery().expect("the rewrite is reported");
    assert_eq!(recovery.kind, RecoveryKind::Relaid, "{recovery}");
    assert_eq!(recovery.events_kept, 2);
    assert_eq!(recovery.lone_surrogates_replaced, 2);
    assert!(recovery.problems.is_empty(), "{recovery}");
    assert!(
        recovery.to_string().contains("2 lone surrogate"),
        "{recovery}"
    );
    let kept = recovery
        .original_kept_at
        .clone()
        .expect("values changed: original kept");
    assert!(kept.to_string_lossy().contains(".original-"));
    assert_eq!(fs::read_to_string(&kept).unwrap(), LONE_SURROGATE_LOG);
    logger
        .log_event("resume", Status::Success, None, None)
        .unwrap();

    let events = json_events(dir.path());
    assert_eq!(
        events
            .iter()
            .map(|e| e.action_type.as_str())
            .collect::<Vec<_>>(),
        ["resume", "checkpoint_restore", "hp_change"]
    );
    let restore = &events[1];
    assert_eq!(restore.details["checkpoint_path"], "/runs/ckpt_\u{fffd}.pt");
    assert_eq!(restore.details["note"], "🎉", "a valid pair is untouched");
    assert_eq!(
        restore.error.as_deref(),
        Some("No such file: /runs/ckpt_\u{fffd}.pt")
    );
    let read: Vec<AuditEvent> = audit_runtime::read::open_events(&path)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(read, events);
    assert!(open(dir.path(), Format::Json).recovery().is_none());

    // Python reads the continued file (when it is there to ask).
    match std::process::Command::new("python3")
        .arg("-c")
        .arg(
            "import json, sys\n\
             events = json.load(open(sys.argv[1], encoding='utf-8'))\n\
             print(len(events), events[1]['details']['checkpoint_path'] == '/runs/ckpt_\\ufffd.pt')",
        )
        .arg(&path)
        .output()
    {
        Ok(out) => {
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "3 True");
        }
        // No Python on this machine: the Rust readers above are the check.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => panic!("cannot run python3: {e}"),
    }
}

/// The events of a log in stored order, as JSON values, read by the runtime's reader.
fn logged_values(path: &Path) -> Vec<Value> {
    audit_runtime::read::open_events(path)
        .unwrap()
        .map(|e| serde_json::to_value(e.unwrap()).unwrap())
        .collect()
}

/// Continues `log` (another writer's, with statuses this version does not write), with
/// verify-on-open on and off: no recovery may move an event (a JSON relay into our layout is
/// fine), nothing is kept aside as corrupt, and every event stays in the live log as written.
/// `original` is the events as JSON values in stored order.
fn continues_without_moving_events(log: &[u8], format: Format, original: &[Value]) {
    let name = match format {
        Format::Csv => "audit_log.csv",
        _ => "audit_log.json",
    };
    let others = original.iter().filter(|e| e["status"] == "error").count() as u64;
    assert!(others > 0, "the log has events with the status \"error\"");
    for verify in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        fs::write(&path, log).unwrap();
        let open = || {
            AuditLogger::builder(dir.path())
                .format(format)
                .verify_on_open(verify)
                .build()
                .unwrap()
        };
        let logger = open();
        if let Some(recovery) = logger.recovery() {
            assert_eq!(
                recovery.kind,
                RecoveryKind::Relaid,
                "verify {verify}: {recovery}"
            );
            assert_eq!(
                recovery.original_kept_at, None,
                "verify {verify}: {recovery}"
            );
            assert!(recovery.problems.is_empty(), "verify {verify}: {recovery}");
            assert_eq!(recovery.events_kept, original.len() as u64);
        }
        assert!(
            files_named(dir.path(), "corrupt").is_empty(),
            "verify {verify}"
        );
        let stored: Vec<Value> = match format {
            // Byte-equal as JSON values: the file itself, not a reader's view of it.
            Format::Json => serde_json::from_slice(&fs::read(&path).unwrap()).unwrap(),
            _ => logged_values(&path),
        };
        assert_eq!(
            stored, original,
            "verify {verify}: every event kept as written"
        );
        let summary = logger.get_log_summary().unwrap();
        assert_eq!(summary.by_status.get("error"), Some(&others), "{summary:?}");
        assert_eq!(summary.total_events, original.len() as u64);

        logger
            .log_event(
                "notebook_save",
                Status::Success,
                json!({"cell_id": "c9"}),
                None,
            )
            .unwrap();
        drop(logger);
        let again = open();
        assert!(
            again.recovery().is_none(),
            "verify {verify}: {:?}",
            again.recovery()
        );
        assert!(
            files_named(dir.path(), "corrupt").is_empty(),
            "verify {verify}"
        );
        let mut after = logged_values(&path);
        let newest = match format {
            Format::Json => after.remove(0),
            _ => after.pop().unwrap(),
        };
        assert_eq!(newest["action_type"], "notebook_save");
        assert_eq!(after, original, "verify {verify}");
    }
}

#[test]
fn a_v2_services_log_is_continued_without_moving_any_event() {
    let json = fs::read(fixture("audit_log.v2-services.json")).unwrap();
    let original: Vec<Value> = serde_json::from_slice(&json).unwrap();
    continues_without_moving_events(&json, Format::Json, &original);

    let csv = fs::read(fixture("audit_log.v2-services.csv")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("copy.csv");
    fs::write(&path, &csv).unwrap();
    let original = logged_values(&path);
    assert_eq!(original.len(), 23);
    continues_without_moving_events(&csv, Format::Csv, &original);
}

#[test]
fn a_generated_1000_event_v2_log_is_continued_without_moving_any_event() {
    let events = v2_services::events(1000);
    let newest_first: Vec<Value> = events.iter().rev().cloned().collect();
    continues_without_moving_events(
        v2_services::json_log(&events).as_bytes(),
        Format::Json,
        &newest_first,
    );
    continues_without_moving_events(
        v2_services::csv_log(&events).as_bytes(),
        Format::Csv,
        &events,
    );
}
