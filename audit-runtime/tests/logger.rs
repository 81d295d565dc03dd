//! The behaviours the reference implementation's test suite covers (event creation and
//! serialisation, JSON and CSV writing, ordering, summaries, persistence, concurrency,
//! special characters, edge cases), checked on files read back with plain serde_json and the
//! csv crate, plus what the reference does not do.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use audit_runtime::{AuditError, AuditEvent, AuditLogger, Durability, Format, Status, csv_safety};
use serde_json::{Value, json};

fn json_logger(dir: &Path) -> AuditLogger {
    AuditLogger::builder(dir)
        .format(Format::Json)
        .build()
        .expect("open json log")
}

fn csv_logger(dir: &Path) -> AuditLogger {
    AuditLogger::builder(dir)
        .format(Format::Csv)
        .build()
        .expect("open csv log")
}

/// The JSON log as stored: newest first.
fn json_events(dir: &Path) -> Vec<AuditEvent> {
    let bytes = fs::read(dir.join("audit_log.json")).expect("read audit_log.json");
    serde_json::from_slice(&bytes).expect("audit_log.json must be one valid JSON array")
}

/// The CSV log as raw string records (header excluded), oldest first.
fn csv_rows(dir: &Path) -> Vec<csv::StringRecord> {
    let mut reader = csv::Reader::from_path(dir.join("audit_log.csv")).expect("open csv");
    let header = reader.headers().expect("header").clone();
    assert_eq!(
        header,
        vec!["timestamp", "action_type", "status", "details", "error"]
    );
    reader.records().map(|r| r.expect("valid record")).collect()
}

#[test]
fn event_serialises_with_the_five_spec_fields_in_order() {
    let dir = tempfile::tempdir().unwrap();
    json_logger(dir.path())
        .log_event(
            "hp_change",
            Status::Success,
            json!({"learning_rate": 0.001, "batch_size": 32}),
            None,
        )
        .unwrap();
    let text = fs::read_to_string(dir.path().join("audit_log.json")).unwrap();
    let line = text.lines().find(|l| l.starts_with('{')).unwrap();
    let value: Value = serde_json::from_str(line.trim_end_matches(',')).unwrap();
    let keys: Vec<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        ["timestamp", "action_type", "status", "details", "error"]
    );
    assert_eq!(value["error"], Value::Null);
    assert_eq!(
        value["details"],
        json!({"learning_rate": 0.001, "batch_size": 32})
    );
}

#[test]
fn timestamps_are_utc_iso8601_with_microseconds() {
    let dir = tempfile::tempdir().unwrap();
    json_logger(dir.path())
        .log_event("pause", Status::Success, None, None)
        .unwrap();
    let ts = json_events(dir.path())[0].timestamp.to_string();
    assert_eq!(ts.len(), 27, "{ts}");
    assert!(ts.ends_with('Z') && ts.as_bytes()[19] == b'.', "{ts}");
    let now = chrono::Utc::now().timestamp_micros();
    let logged = json_events(dir.path())[0].timestamp.as_micros();
    assert!(
        (now - logged).abs() < 60_000_000,
        "timestamp is not now: {ts}"
    );
}

#[test]
fn json_file_is_created_on_first_use_in_nested_directories() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("a").join("b").join("exp1");
    let logger = AuditLogger::new(&nested, "exp1");
    // Default format unless the environment says otherwise; this binary never sets it.
    let logger = logger.unwrap();
    assert_eq!(logger.format(), Format::Json);
    assert_eq!(logger.path(), Some(nested.join("audit_log.json").as_path()));
    assert!(
        json_events(&nested).is_empty(),
        "a new log is an empty array"
    );
    assert!(
        !nested.join("audit_log.csv").exists(),
        "only the chosen format's file"
    );
}

#[test]
fn json_is_newest_first_and_valid_after_every_event() {
    let dir = tempfile::tempdir().unwrap();
    let logger = json_logger(dir.path());
    for i in 0..50 {
        logger
            .log_event("tag_add", Status::Success, json!({"i": i}), None)
            .unwrap();
        let events = json_events(dir.path());
        assert_eq!(events.len(), i + 1);
        assert_eq!(events[0].details["i"], json!(i));
    }
    let events = json_events(dir.path());
    assert!(events.windows(2).all(|w| w[0].timestamp > w[1].timestamp));
}

#[test]
fn json_has_one_event_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let logger = json_logger(dir.path());
    logger
        .log_event(
            "note_write",
            Status::Success,
            json!({"note": "two\nlines"}),
            None,
        )
        .unwrap();
    logger
        .log_event("pause", Status::Success, None, None)
        .unwrap();
    let text = fs::read_to_string(dir.path().join("audit_log.json")).unwrap();
    let event_lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("\"timestamp\""))
        .collect();
    assert_eq!(event_lines.len(), 2);
    assert!(event_lines[0].starts_with(r#"{"timestamp":"#));
    assert!(event_lines[0].contains(r#""action_type":"pause""#));
    assert!(text.ends_with("}\n]\n"));
}

#[test]
fn failed_events_carry_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let logger = json_logger(dir.path());
    logger
        .log_event(
            "checkpoint_restore",
            Status::Failed,
            json!({"checkpoint_id": "ckpt_001"}),
            Some("Checkpoint file not found"),
        )
        .unwrap();
    let event = &json_events(dir.path())[0];
    assert_eq!(event.status, Status::Failed);
    assert_eq!(event.error.as_deref(), Some("Checkpoint file not found"));
}

#[test]
fn the_error_status_of_weightslab_v2_is_written_as_its_services_write_it() {
    let dir = tempfile::tempdir().unwrap();
    for logger in [json_logger(dir.path()), csv_logger(dir.path())] {
        logger
            .log_event(
                "notebook_run",
                Status::Error,
                json!({"cell": 3}),
                Some("NameError"),
            )
            .unwrap();
    }
    let event = &json_events(dir.path())[0];
    assert_eq!(event.status, Status::Error);
    assert_eq!(event.status.as_str(), "error");
    assert_eq!(event.error.as_deref(), Some("NameError"));
    let rows = csv_rows(dir.path());
    assert_eq!(&rows[0][2], "error");
}

#[test]
fn empty_and_missing_details_are_an_empty_object() {
    let dir = tempfile::tempdir().unwrap();
    let logger = json_logger(dir.path());
    logger
        .log_event("resume", Status::Success, None, None)
        .unwrap();
    logger
        .log_event("resume", Status::Success, json!({}), None)
        .unwrap();
    logger
        .log_event("resume", Status::Success, Value::Null, None)
        .unwrap();
    let raw: Value =
        serde_json::from_slice(&fs::read(dir.path().join("audit_log.json")).unwrap()).unwrap();
    for event in raw.as_array().unwrap() {
        assert_eq!(event["details"], json!({}));
    }
}

#[test]
fn non_object_details_are_wrapped() {
    let dir = tempfile::tempdir().unwrap();
    json_logger(dir.path())
        .log_event("hp_change", Status::Success, json!([1, 2]), None)
        .unwrap();
    assert_eq!(
        Value::Object(json_events(dir.path())[0].details.clone()),
        json!({"value": [1, 2]})
    );
}

#[test]
fn complex_nested_details_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let details = json!({
        "changed_params": {"learning_rate": {"before": 0.01, "after": 0.001}, "batch_size": [32, 64]},
        "sample_ids": (0..100).map(|i| format!("s{i}")).collect::<Vec<_>>(),
        "deep": {"a": {"b": {"c": {"d": [null, true, false, 1e-300, -12345678901234_i64]}}}},
    });
    for (logger, read) in [
        (
            json_logger(dir.path()),
            Box::new(|d: &Path| json_events(d)[0].details.clone())
                as Box<dyn Fn(&Path) -> serde_json::Map<String, Value>>,
        ),
        (
            csv_logger(dir.path()),
            Box::new(|d: &Path| serde_json::from_str(&csv_rows(d)[0][3]).unwrap()),
        ),
    ] {
        logger
            .log_event("hp_change", Status::Success, details.clone(), None)
            .unwrap();
        assert_eq!(Value::Object(read(dir.path())), details);
    }
}

#[test]
fn special_characters_and_unicode_survive_both_formats() {
    let dir = tempfile::tempdir().unwrap();
    let nasty = "quote \" backslash \\ comma , newline \n cr \r tab \t nul \u{0} bell \u{7} \u{2028} emoji 🎉 accents éàü CJK 漢字 RTL \u{202e}";
    let details = json!({"note": nasty, nasty: "as a key"});
    let json_log = json_logger(dir.path());
    let csv_log = csv_logger(dir.path());
    for logger in [&json_log, &csv_log] {
        logger
            .log_event("note_write", Status::Failed, details.clone(), Some(nasty))
            .unwrap();
    }
    let event = &json_events(dir.path())[0];
    assert_eq!(Value::Object(event.details.clone()), details);
    assert_eq!(event.error.as_deref(), Some(nasty));
    let rows = csv_rows(dir.path());
    assert_eq!(rows.len(), 1, "a newline or quote forged a row");
    assert_eq!(serde_json::from_str::<Value>(&rows[0][3]).unwrap(), details);
    assert_eq!(&rows[0][4], nasty);
}

#[test]
fn csv_writes_the_header_once_and_rows_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    let logger = csv_logger(dir.path());
    logger
        .log_event(
            "hp_change",
            Status::Success,
            json!({"learning_rate": 0.001}),
            None,
        )
        .unwrap();
    logger
        .log_event(
            "query_execute",
            Status::Failed,
            json!({"query_type": "natural_language"}),
            Some("Invalid query syntax: unexpected token"),
        )
        .unwrap();
    drop(logger);
    csv_logger(dir.path())
        .log_event("pause", Status::Success, None, None)
        .unwrap();
    let text = fs::read_to_string(dir.path().join("audit_log.csv")).unwrap();
    assert_eq!(
        text.matches("timestamp,action_type,status,details,error")
            .count(),
        1
    );
    assert!(text.starts_with("timestamp,action_type,status,details,error\r\n"));
    let rows = csv_rows(dir.path());
    let actions: Vec<&str> = rows.iter().map(|r| &r[1]).collect();
    assert_eq!(actions, ["hp_change", "query_execute", "pause"]);
    assert_eq!(
        &rows[0][3], r#"{"learning_rate":0.001}"#,
        "details are compact JSON"
    );
    assert_eq!(&rows[0][4], "", "no error is an empty cell");
    assert_eq!(&rows[1][4], "Invalid query syntax: unexpected token");
    assert_eq!(&rows[2][3], "{}");
    assert!(
        rows.windows(2).all(|w| w[0][0] < w[1][0]),
        "timestamps increase"
    );
}

#[test]
fn csv_neutralises_spreadsheet_formulas_reversibly() {
    let dir = tempfile::tempdir().unwrap();
    let logger = csv_logger(dir.path());
    let formula = "=HYPERLINK(\"http://evil\",\"click\")";
    logger
        .log_event(
            "tag_add",
            Status::Failed,
            json!({"tag_name": formula}),
            Some(formula),
        )
        .unwrap();
    logger
        .log_event("tag_add", Status::Failed, None, Some("-1 samples"))
        .unwrap();
    logger
        .log_event("tag_add", Status::Failed, None, Some("@SUM(A1)"))
        .unwrap();
    logger
        .log_event("tag_add", Status::Failed, None, Some("+cmd"))
        .unwrap();
    let rows = csv_rows(dir.path());
    for row in &rows {
        for cell in row.iter() {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "live formula cell {cell:?}"
            );
        }
    }
    assert_eq!(csv_safety::restore(&rows[0][4]), formula);
    assert_eq!(csv_safety::restore(&rows[1][4]), "-1 samples");
    let details: Value = serde_json::from_str(&rows[0][3]).unwrap();
    assert_eq!(
        details["tag_name"], formula,
        "details keep the tag name exactly"
    );
}

#[test]
fn summary_counts_by_action_and_status_for_both_formats() {
    for format in [Format::Json, Format::Csv] {
        let dir = tempfile::tempdir().unwrap();
        let logger = AuditLogger::builder(dir.path())
            .format(format)
            .build()
            .unwrap();
        for _ in 0..5 {
            logger
                .log_event("hp_change", Status::Success, None, None)
                .unwrap();
        }
        for _ in 0..3 {
            logger
                .log_event("tag_add", Status::Success, None, None)
                .unwrap();
        }
        logger
            .log_event("checkpoint_restore", Status::Failed, None, Some("missing"))
            .unwrap();
        let summary = logger.get_log_summary().unwrap();
        assert_eq!(summary.total_events, 9, "{format}");
        assert_eq!(summary.by_action_type["hp_change"], 5);
        assert_eq!(summary.by_action_type["tag_add"], 3);
        assert_eq!(summary.by_status["success"], 8);
        assert_eq!(summary.by_status["failed"], 1);
        let shape = serde_json::to_value(&summary).unwrap();
        assert_eq!(shape["total_events"], 9);
        assert_eq!(shape["by_status"], json!({"failed": 1, "success": 8}));
    }
}

#[test]
fn summary_of_an_empty_log_is_zero() {
    let dir = tempfile::tempdir().unwrap();
    let summary = json_logger(dir.path()).get_log_summary().unwrap();
    assert_eq!(
        serde_json::to_value(summary).unwrap(),
        json!({"total_events": 0, "by_action_type": {}, "by_status": {}})
    );
}

#[test]
fn events_persist_across_restarts() {
    for format in [Format::Json, Format::Csv] {
        let dir = tempfile::tempdir().unwrap();
        for round in 0..3 {
            let logger = AuditLogger::builder(dir.path())
                .format(format)
                .build()
                .unwrap();
            assert!(logger.recovery().is_none(), "{:?}", logger.recovery());
            logger
                .log_event("hp_change", Status::Success, json!({"round": round}), None)
                .unwrap();
            assert_eq!(logger.get_log_summary().unwrap().total_events, round + 1);
        }
    }
    let dir = tempfile::tempdir().unwrap();
    for round in 0..3 {
        json_logger(dir.path())
            .log_event("pause", Status::Success, json!({"round": round}), None)
            .unwrap();
    }
    let rounds: Vec<Value> = json_events(dir.path())
        .iter()
        .map(|e| e.details["round"].clone())
        .collect();
    assert_eq!(rounds, [json!(2), json!(1), json!(0)]);
}

#[test]
fn concurrent_logging_from_many_threads_loses_nothing() {
    for format in [Format::Json, Format::Csv] {
        let dir = tempfile::tempdir().unwrap();
        let logger = Arc::new(
            AuditLogger::builder(dir.path())
                .format(format)
                .build()
                .unwrap(),
        );
        let threads: Vec<_> = (0..16)
            .map(|t| {
                let logger = logger.clone();
                std::thread::spawn(move || {
                    for i in 0..200 {
                        // Large events now and then force the JSON file to be rewritten
                        // while other threads write.
                        let pad = if i % 50 == 0 {
                            "x".repeat(20_000)
                        } else {
                            String::new()
                        };
                        logger
                            .log_event(
                                "tag_add",
                                Status::Success,
                                json!({"t": t, "i": i, "pad": pad}),
                                None,
                            )
                            .unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(
            logger.get_log_summary().unwrap().total_events,
            3200,
            "{format}"
        );
        let mut seen = std::collections::HashSet::new();
        match format {
            Format::Json => {
                let events = json_events(dir.path());
                assert!(events.windows(2).all(|w| w[0].timestamp > w[1].timestamp));
                for e in events {
                    assert!(seen.insert((e.details["t"].as_u64(), e.details["i"].as_u64())));
                }
            }
            _ => {
                for row in csv_rows(dir.path()) {
                    let d: Value = serde_json::from_str(&row[3]).unwrap();
                    assert!(seen.insert((d["t"].as_u64(), d["i"].as_u64())));
                }
            }
        }
        assert_eq!(seen.len(), 3200);
    }
}

#[test]
fn durable_mode_writes_the_same_file() {
    let dir = tempfile::tempdir().unwrap();
    let logger = AuditLogger::builder(dir.path())
        .format(Format::Json)
        .durability(Durability::Synced)
        .build()
        .unwrap();
    std::thread::scope(|s| {
        for t in 0..4 {
            let logger = &logger;
            s.spawn(move || {
                for i in 0..25 {
                    logger
                        .log_event("pause", Status::Success, json!({"t": t, "i": i}), None)
                        .unwrap();
                }
            });
        }
    });
    logger.flush().unwrap();
    assert_eq!(json_events(dir.path()).len(), 100);
}

#[test]
fn format_none_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("never");
    let logger = AuditLogger::builder(&target)
        .format(Format::None)
        .build()
        .unwrap();
    assert!(!logger.is_enabled());
    logger
        .log_event("pause", Status::Success, json!({"a": 1}), None)
        .unwrap();
    assert_eq!(logger.get_log_summary().unwrap().total_events, 0);
    assert_eq!(logger.path(), None);
    assert!(!target.exists(), "format none created {target:?}");
}

#[test]
fn file_loggers_are_enabled_and_clones_agree() {
    let dir = tempfile::tempdir().unwrap();
    for format in [Format::Json, Format::Csv] {
        let logger = AuditLogger::builder(dir.path().join(format.as_str()))
            .format(format)
            .build()
            .unwrap();
        assert!(logger.is_enabled(), "{format}");
        assert!(logger.clone().is_enabled(), "{format}");
    }
    let off = AuditLogger::builder(dir.path())
        .format(Format::None)
        .build()
        .unwrap();
    assert!(!off.clone().is_enabled());
}

/// With the size cap raised past them (the default, 1 MiB, cuts them: `secrets_and_size.rs`).
#[test]
fn large_details_are_written_whole_when_the_size_cap_allows() {
    let dir = tempfile::tempdir().unwrap();
    let big = "x".repeat(10 * 1024 * 1024);
    let uncapped = |format| {
        AuditLogger::builder(dir.path())
            .format(format)
            .max_event_bytes(usize::MAX)
            .max_csv_details_chars(usize::MAX)
            .build()
            .unwrap()
    };
    for logger in [uncapped(Format::Json), uncapped(Format::Csv)] {
        logger
            .log_event("note_write", Status::Success, json!({"note": big}), None)
            .unwrap();
        logger
            .log_event("pause", Status::Success, None, None)
            .unwrap();
    }
    let events = json_events(dir.path());
    assert_eq!(
        events[1].details["note"].as_str().map(str::len),
        Some(big.len())
    );
    let size = fs::metadata(dir.path().join("audit_log.json"))
        .unwrap()
        .len();
    let content = (big.len() + 400) as u64;
    // The documented bound: a gap of at most 64 KiB plus twice the events.
    assert!(
        size <= content + 2 * content + 64 * 1024 + 1024,
        "gap overhead too large: {size} for {content}"
    );
    assert_eq!(csv_rows(dir.path()).len(), 2);
}

#[test]
fn non_finite_floats_are_kept_as_strings() {
    #[derive(serde::Serialize)]
    struct Eval {
        last_loss: f64,
        best: f32,
        worst: f64,
    }
    let dir = tempfile::tempdir().unwrap();
    for logger in [json_logger(dir.path()), csv_logger(dir.path())] {
        logger
            .log_serialize(
                "evaluation_start",
                Status::Success,
                &Eval {
                    last_loss: f64::NAN,
                    best: f32::INFINITY,
                    worst: f64::NEG_INFINITY,
                },
                None,
            )
            .unwrap();
    }
    let expected = json!({"last_loss": "NaN", "best": "Infinity", "worst": "-Infinity"});
    assert_eq!(
        Value::Object(json_events(dir.path())[0].details.clone()),
        expected
    );
    assert_eq!(
        serde_json::from_str::<Value>(&csv_rows(dir.path())[0][3]).unwrap(),
        expected
    );
}

#[test]
fn empty_action_type_is_rejected_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let logger = json_logger(dir.path());
    let err = logger
        .log_event("  ", Status::Success, None, None)
        .unwrap_err();
    assert!(matches!(err, AuditError::InvalidEvent(_)), "{err}");
    assert!(json_events(dir.path()).is_empty());
}

#[test]
fn unwritable_directory_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a_file");
    fs::write(&file, "not a directory").unwrap();
    let err = AuditLogger::builder(file.join("logs"))
        .format(Format::Json)
        .build()
        .unwrap_err();
    let message = err.to_string();
    assert!(message.contains("a_file"), "{message}");
    assert!(matches!(err, AuditError::Io { .. }), "{err:?}");
    assert_eq!(fs::read_to_string(&file).unwrap(), "not a directory");
}

#[test]
fn a_log_deleted_while_running_is_recreated() {
    let dir = tempfile::tempdir().unwrap();
    for format in [Format::Json, Format::Csv] {
        let logger = AuditLogger::builder(dir.path())
            .format(format)
            .build()
            .unwrap();
        logger
            .log_event("pause", Status::Success, None, None)
            .unwrap();
        fs::remove_file(logger.path().unwrap()).unwrap();
        // Removal by hand is noticed within 100 ms (an fstat per event would cost more than
        // the rest of the event).
        std::thread::sleep(std::time::Duration::from_millis(150));
        logger
            .log_event("resume", Status::Success, None, None)
            .unwrap();
        let summary = logger.get_log_summary().unwrap();
        assert_eq!(summary.total_events, 1, "{format}");
        assert_eq!(summary.by_action_type["resume"], 1);
    }
}

#[test]
fn timestamps_stay_increasing_when_continuing_a_log_from_the_future() {
    let dir = tempfile::tempdir().unwrap();
    let future = "2999-01-01T00:00:00.000000Z";
    fs::write(
        dir.path().join("audit_log.json"),
        format!("[\n  {{\"timestamp\": \"{future}\", \"action_type\": \"pause\", \"status\": \"success\", \"details\": {{}}, \"error\": null}}\n]"),
    )
    .unwrap();
    let logger = json_logger(dir.path());
    logger
        .log_event("resume", Status::Success, None, None)
        .unwrap();
    logger
        .log_event("pause", Status::Success, None, None)
        .unwrap();
    let events = json_events(dir.path());
    assert_eq!(events.len(), 3);
    assert_eq!(
        events[1].timestamp.to_string(),
        "2999-01-01T00:00:00.000001Z"
    );
    assert!(events.windows(2).all(|w| w[0].timestamp > w[1].timestamp));
}

#[test]
fn logger_is_send_sync_and_clone() {
    fn assert_traits<T: Send + Sync + Clone + 'static>() {}
    assert_traits::<AuditLogger>();
}
