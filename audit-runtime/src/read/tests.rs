//! Tests for the readers: the reference's files, our layout, damage of every kind.

use std::io::Cursor;
use std::path::PathBuf;

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::{AuditEvent, Status};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/reference")
        .join(name)
}

fn event(ts: &str, action: &str, details: Value, error: Option<&str>) -> AuditEvent {
    AuditEvent {
        timestamp: ts.parse().unwrap(),
        action_type: action.to_owned(),
        status: if error.is_some() {
            Status::Failed
        } else {
            Status::Success
        }
        .into(),
        details: crate::event::details_object(Some(details)),
        error: error.map(str::to_owned),
    }
}

fn three_events() -> Vec<AuditEvent> {
    vec![
        event(
            "2026-05-27T14:30:10.789012Z",
            "query_execute",
            json!({"q": "x"}),
            Some("bad"),
        ),
        event(
            "2026-05-27T14:30:05.456789Z",
            "tag_add",
            json!({"tag": "d", "ids": ["s1"]}),
            None,
        ),
        event(
            "2026-05-27T14:30:00.123456Z",
            "hp_change",
            json!({"lr": 0.001}),
            None,
        ),
    ]
}

/// Our writer's layout: `[`, a gap of spaces, newline, one compact event per line.
fn our_layout(events: &[AuditEvent], gap: usize) -> Vec<u8> {
    let mut out = b"[".to_vec();
    out.extend(std::iter::repeat_n(b' ', gap));
    out.push(b'\n');
    for (i, e) in events.iter().enumerate() {
        out.extend(serde_json::to_vec(e).unwrap());
        if i + 1 < events.len() {
            out.push(b',');
        }
        out.push(b'\n');
    }
    out.extend(b"]\n");
    out
}

fn scan_all(bytes: &[u8]) -> Result<Vec<JsonElement>, ScanError> {
    let mut scanner = JsonScanner::new(Cursor::new(bytes));
    let mut out = Vec::new();
    while let Some(el) = scanner.next_element()? {
        out.push(el);
    }
    Ok(out)
}

fn salvage_all(bytes: &[u8]) -> (Vec<JsonElement>, SalvageReport) {
    let mut out = Vec::new();
    let report = salvage_json(Cursor::new(bytes), |el| {
        out.push(el);
        Ok::<(), ()>(())
    })
    .unwrap();
    (out, report)
}

fn events_of(elements: &[JsonElement]) -> Vec<AuditEvent> {
    elements.iter().map(|e| e.to_event().unwrap()).collect()
}

// ---------------------------------------------------------------- JSON: reference files

#[test]
fn reference_indent2_file_reads_strictly() {
    let bytes = std::fs::read(fixture("audit_log.indent2.json")).unwrap();
    let elements = scan_all(&bytes).unwrap();
    let events = events_of(&elements);
    let actions: Vec<&str> = events.iter().map(|e| e.action_type.as_str()).collect();
    assert_eq!(
        actions,
        [
            "checkpoint_restore",
            "query_execute",
            "note_write",
            "tag_add",
            "hp_change"
        ]
    );
    assert!(events.windows(2).all(|w| w[0].timestamp > w[1].timestamp));
    assert_eq!(
        events[0].error.as_deref(),
        Some("Checkpoint file not found")
    );
    // Surrogate pair and escapes decode to the real characters.
    assert_eq!(
        events[2].details["note_text"],
        "spike after lr change \u{1F389} \u{2014} \"check\" \\ C:\\runs"
    );
    assert_eq!(
        events[3].details["sample_ids"],
        json!(["s1", "s2", "s3", "s4", "s5"])
    );
    // Offsets point at the '{' of each element, which starts after an indent.
    for el in &elements {
        assert_eq!(bytes[el.start as usize], b'{');
        assert_eq!(bytes[el.end as usize - 1], b'}');
        assert!(!el.single_line && !el.starts_line);
    }
    assert_eq!(elements[0].start, 4);
}

#[test]
fn reference_nan_tokens_become_strings() {
    let bytes = std::fs::read(fixture("audit_log.nan-tokens.json")).unwrap();
    let elements = scan_all(&bytes).unwrap();
    assert_eq!(elements.len(), 2);
    assert_eq!(elements[0].non_finite_tokens, 0);
    assert_eq!(elements[1].non_finite_tokens, 3);
    let event = elements[1].to_event().unwrap();
    assert_eq!(event.details["last_loss"], "NaN");
    assert_eq!(event.details["best"], "Infinity");
    assert_eq!(event.details["worst"], "-Infinity");
    let (_, report) = salvage_all(&bytes);
    assert_eq!((report.recovered, report.non_finite_tokens), (2, 3));
    assert!(report.is_clean());
}

#[test]
fn reference_files_are_detected_by_content() {
    assert_eq!(
        detect(fixture("audit_log.indent2.json")).unwrap(),
        Format::Json
    );
    assert_eq!(
        detect(fixture("audit_log.reference.csv")).unwrap(),
        Format::Csv
    );
}

// ---------------------------------------------------------------- JSON: our layout

#[test]
fn our_layout_with_a_big_gap() {
    let events = three_events();
    let bytes = our_layout(&events, 1 << 20);
    let elements = scan_all(&bytes).unwrap();
    assert_eq!(events_of(&elements), events);
    assert_eq!(elements[0].start, (1 << 20) + 2);
    for el in &elements {
        assert!(el.single_line && el.starts_line);
        assert!(matches!(bytes[el.end as usize], b',' | b'\n'));
    }
    let mut scanner = JsonScanner::new(Cursor::new(&bytes));
    while scanner.next_element().unwrap().is_some() {}
    assert_eq!(scanner.array_end(), Some(bytes.len() as u64 - 2));
    assert_eq!(scanner.next_element(), Ok(None));
}

#[test]
fn lines_are_counted() {
    let bytes = our_layout(&three_events(), 10);
    let mut scanner = JsonScanner::new(Cursor::new(&bytes));
    let mut lines = Vec::new();
    while scanner.next_element().unwrap().is_some() {
        lines.push(scanner.last_line());
    }
    assert_eq!(lines, [2, 3, 4]);
}

#[test]
fn inside_array_and_limit_read_a_snapshot() {
    let events = three_events();
    let mut bytes = our_layout(&events, 100);
    let first = 102u64;
    let len = bytes.len() as u64;
    // Another process writes into the gap and appends nothing we should see.
    bytes[50..60].copy_from_slice(b"{\"partial\"");
    bytes.extend(b"garbage after the snapshot");
    let mut scanner = JsonScanner::inside_array(Cursor::new(&bytes), first).limit(len);
    let mut got = Vec::new();
    while let Some(el) = scanner.next_element().unwrap() {
        assert!(el.starts_line);
        got.push(el.to_event().unwrap());
    }
    assert_eq!(got, events);
    // In the whitespace before the first element works too.
    let mut scanner = JsonScanner::inside_array(Cursor::new(&bytes), 70).limit(len);
    assert_eq!(scanner.next_element().unwrap().unwrap().start, first);

    let summary =
        crate::read::summary::summarize_json_snapshot(Cursor::new(&bytes), first, len).unwrap();
    assert_eq!(summary.total_events, 3);
}

#[test]
fn empty_array_and_empty_file() {
    for text in ["[]", "[ \n ]\n", "", "   \n\t "] {
        assert!(scan_all(text.as_bytes()).unwrap().is_empty(), "{text:?}");
        let (_, report) = salvage_all(text.as_bytes());
        assert!(report.is_clean() && report.recovered == 0, "{text:?}");
    }
    let mut scanner = JsonScanner::new(Cursor::new(b"[   ]".as_slice()));
    assert_eq!(scanner.next_element(), Ok(None));
    assert_eq!(scanner.array_end(), Some(4));
}

#[test]
fn any_json_whitespace_and_non_object_elements() {
    let text = "\r\n\t [\t1 ,\r\n\"two\",[3],{\"four\":4} ,null,true,-1.5e3]  \n";
    let values: Vec<Value> = scan_all(text.as_bytes())
        .unwrap()
        .into_iter()
        .map(|e| e.value)
        .collect();
    assert_eq!(
        values,
        vec![
            json!(1),
            json!("two"),
            json!([3]),
            json!({"four": 4}),
            json!(null),
            json!(true),
            json!(-1500.0)
        ]
    );
}

// ---------------------------------------------------------------- JSON: errors

#[test]
fn strict_errors_say_where() {
    let cases: &[(&str, u64, u64, &str)] = &[
        ("{}", 0, 1, "not a JSON array"),
        ("\n\n  x", 4, 3, "not a JSON array"),
        ("[1 2]", 3, 1, "expected ',' or ']'"),
        ("[1,]", 3, 1, "after ','"),
        ("[1]\n x", 5, 2, "after the closing ']'"),
        ("[1,\n", 4, 2, "ends inside the array"),
        ("[\n{\"a\":\n  1", 2, 2, "truncated"),
        ("[\n{\"a\":\"b\nc\"}]", 9, 2, "line break inside a string"),
        ("[\n{\"a\":\n tru}]", 12, 3, "not valid JSON"),
    ];
    for &(text, offset, line, message) in cases {
        let err = scan_all(text.as_bytes()).unwrap_err();
        assert_eq!((err.offset, err.line), (offset, line), "{text:?}: {err}");
        assert!(err.message.contains(message), "{text:?}: {err}");
        assert!(
            err.to_string()
                .starts_with(&format!("byte {offset} (line {line}): "))
        );
    }
}

#[test]
fn errors_repeat_after_the_first() {
    let mut scanner = JsonScanner::new(Cursor::new(b"[1 2]".as_slice()));
    assert!(scanner.next_element().unwrap().is_some());
    let first = scanner.next_element().unwrap_err();
    assert_eq!(scanner.next_element().unwrap_err(), first);
    assert_eq!(scanner.next_element().unwrap_err(), first);
}

#[test]
fn to_event_says_what_is_wrong() {
    // A valid event with one field replaced (or removed, for `Value::Null` here).
    let with = |field: &str, value: Value| {
        let mut event = json!({"timestamp": "2026-05-27T14:30:00Z", "action_type": "a",
                               "status": "failed", "details": {}, "error": null});
        let map = event.as_object_mut().unwrap();
        if value.is_null() {
            map.remove(field);
        } else {
            map.insert(field.to_owned(), value);
        }
        event
    };
    use crate::InvalidEventKind as Kind;
    let cases = [
        (json!([1]), Kind::NotAnObject, "expected an event object"),
        (
            with("timestamp", Value::Null),
            Kind::MissingField,
            "\"timestamp\" is missing",
        ),
        (
            with("error", Value::Null),
            Kind::MissingField,
            "\"error\" is missing",
        ),
        (
            with("details", Value::Null),
            Kind::MissingField,
            "\"details\" is missing",
        ),
        (
            with("timestamp", json!("yesterday")),
            Kind::InvalidTimestamp,
            "timestamp",
        ),
        (
            with("action_type", json!("")),
            Kind::EmptyActionType,
            "empty",
        ),
        (
            with("status", json!("")),
            Kind::EmptyStatus,
            "field \"status\": the status is empty",
        ),
        (
            with("status", json!(" ")),
            Kind::EmptyStatus,
            "field \"status\": the status is empty",
        ),
        (
            with("status", json!(1)),
            Kind::NotAString,
            "field \"status\" must be a string",
        ),
        (
            with("status", Value::Null),
            Kind::MissingField,
            "\"status\" is missing",
        ),
        (
            with("action_type", json!(3)),
            Kind::NotAString,
            "must be a string",
        ),
        (with("error", json!(5)), Kind::NotAString, "\"error\""),
        (
            with("details", json!(7)),
            Kind::DetailsNotAnObject,
            "\"details\" must be an object",
        ),
        (
            with("actor", json!("x")),
            Kind::UnexpectedField,
            "unexpected field \"actor\"",
        ),
    ];
    for (value, kind, message) in cases {
        let err = value_to_event(&value).unwrap_err();
        assert!(err.to_string().contains(message), "{value}: {err}");
        assert_eq!(err.kind(), kind, "{value}: {err}");
        assert_eq!(check_event(&value).unwrap_err(), err);
        assert_eq!(value_into_event(value.clone()).unwrap_err(), err);
        let bytes = serde_json::to_vec(&value).unwrap();
        assert_eq!(parse_event(&bytes).unwrap_err(), err);
    }
    // Another writer's status is an event's own, kept as written by every reader.
    let other = with("status", json!("timed out"));
    check_event(&other).unwrap();
    let bytes = serde_json::to_vec(&other).unwrap();
    for event in [
        value_to_event(&other).unwrap(),
        value_into_event(other.clone()).unwrap(),
        parse_event(&bytes).unwrap(),
    ] {
        assert_eq!(event.status.as_str(), "timed out");
        assert_eq!(event.status.known(), None);
        assert_eq!(serde_json::to_value(&event).unwrap()["status"], "timed out");
    }
    let ok = with("error", json!(""));
    assert_eq!(value_to_event(&ok).unwrap().error, None);
    assert_eq!(
        parse_event(&serde_json::to_vec(&ok).unwrap())
            .unwrap()
            .error,
        None
    );
}

fn open_events_in(bytes: &[u8]) -> Result<Vec<AuditEvent>, AuditError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit_log.json");
    std::fs::write(&path, bytes).unwrap();
    open_events(&path).unwrap().collect()
}

#[test]
fn a_misspelled_field_is_refused_by_every_json_reader_alike() {
    let typo = br#"{"timestamp":"2026-05-27T14:30:00.000000Z","actoin_type":"pause","status":"success","details":{},"error":null}"#;
    let message = parse_event(typo).unwrap_err().to_string();
    assert!(message.contains("\"actoin_type\""), "{message}");
    let mut array = b"[\n".to_vec();
    array.extend_from_slice(typo);
    array.extend_from_slice(b"\n]\n");
    // As JSON it is fine; as an event it is not.
    assert_eq!(scan_all(&array).unwrap().len(), 1);
    let err = JsonScanner::new(Cursor::new(&array))
        .next_event()
        .unwrap_err();
    assert_eq!((err.offset, err.line), (2, 2));
    assert_eq!(err.message, message);
    let err = open_events_in(&array).unwrap_err().to_string();
    assert!(err.contains(&message), "{err}");
    let (kept, report) = salvage_all(&array);
    assert!(kept.is_empty());
    assert_eq!(report.problems.len(), 1);
    assert!(report.problems[0].message.contains("\"actoin_type\""));
}

// ---------------------------------------------------------------- JSON: damage and salvage

#[test]
fn truncated_at_every_byte() {
    let events = three_events();
    for gap in [0, 5] {
        let full = our_layout(&events, gap);
        let mut scanner = JsonScanner::new(Cursor::new(&full));
        let mut ends = Vec::new();
        while let Some(el) = scanner.next_element().unwrap() {
            ends.push(el.end);
        }
        let close = scanner.array_end().unwrap() as usize;
        for cut in 0..full.len() {
            let bytes = &full[..cut];
            let complete = ends.iter().filter(|&&end| end as usize <= cut).count();
            let (elements, report) = salvage_all(bytes);
            assert_eq!(events_of(&elements), events[..complete], "cut at {cut}");
            let strict = scan_all(bytes);
            let whitespace_only = bytes.iter().all(u8::is_ascii_whitespace);
            if cut > close || whitespace_only {
                assert!(strict.is_ok(), "cut at {cut}");
                assert!(report.is_clean(), "cut at {cut}");
            } else {
                let err = strict.unwrap_err();
                assert!(err.offset <= cut as u64, "cut at {cut}: {err}");
                assert!(!report.is_clean(), "cut at {cut}");
            }
        }
    }
}

#[test]
fn reference_file_truncated_at_every_byte() {
    let full = std::fs::read(fixture("audit_log.indent2.json")).unwrap();
    let all = events_of(&scan_all(&full).unwrap());
    let ends: Vec<u64> = scan_all(&full).unwrap().iter().map(|e| e.end).collect();
    for cut in 0..full.len() {
        let complete = ends.iter().filter(|&&end| end as usize <= cut).count();
        let (elements, _) = salvage_all(&full[..cut]);
        assert_eq!(events_of(&elements), all[..complete], "cut at {cut}");
    }
}

#[test]
fn garbage_after_the_array() {
    let events = three_events();
    let mut bytes = our_layout(&events, 3);
    let close = bytes.len() - 2;
    bytes.extend(b"\x00\x00garbage{\"x\":1}\n");
    let err = scan_all(&bytes).unwrap_err();
    assert_eq!(err.offset, close as u64 + 2);
    assert_eq!(err.line, 6);
    let (elements, report) = salvage_all(&bytes);
    assert_eq!(events_of(&elements), events);
    assert_eq!(report.problems.len(), 1);
}

#[test]
fn torn_write_in_the_gap() {
    let events = three_events();
    let tail = our_layout(&events, 0);
    let mut bytes = b"[     \n  \"status\":\"success\"},\n".to_vec();
    bytes.extend(&tail[2..]);
    let (elements, report) = salvage_all(&bytes);
    assert_eq!(events_of(&elements), events);
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert_eq!(report.problems[0].line, 2);

    // A torn event prefix whose object never closes does not swallow the events after it.
    let mut bytes =
        b"[   \n{\"timestamp\":\"2026-05-27T14:31:00.000000Z\",\"details\":{\"a\":1\n".to_vec();
    bytes.extend(&tail[2..]);
    let err = scan_all(&bytes).unwrap_err();
    assert!(err.message.contains("next event starts"), "{err}");
    let (elements, report) = salvage_all(&bytes);
    assert_eq!(events_of(&elements), events);
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);

    // Stray bytes of a string cut mid-way.
    let mut bytes = b"[ \n{\"timestamp\":\"2026-05-27T14:31:00.00".to_vec();
    bytes.extend(b"\n");
    bytes.extend(&tail[2..]);
    let (elements, report) = salvage_all(&bytes);
    assert_eq!(events_of(&elements), events);
    assert_eq!(report.problems.len(), 1);
}

#[test]
fn torn_write_in_the_middle_of_reference_layout() {
    let full = std::fs::read(fixture("audit_log.indent2.json")).unwrap();
    let all = events_of(&scan_all(&full).unwrap());
    // Cut the second event in half and glue the rest back.
    let elements = scan_all(&full).unwrap();
    let cut_from = (elements[1].start + elements[1].end) / 2;
    let mut bytes = full[..cut_from as usize].to_vec();
    bytes.extend(&full[elements[2].start as usize - 4..]);
    let (got, report) = salvage_all(&bytes);
    let mut expected = all.clone();
    expected.remove(1);
    assert_eq!(events_of(&got), expected);
    assert!(!report.is_clean());
}

#[test]
fn salvage_skips_objects_that_are_not_valid_events() {
    let bytes = br#"[{"timestamp":"2026-05-27T14:30:00Z","action_type":"a","statsu":"success","details":{"e":{"timestamp":"2026-05-27T14:30:00Z","action_type":"a","status":"success","details":{},"error":null}},"error":null}, 7, {"x":1}]"#;
    let (got, report) = salvage_all(bytes);
    // The odd object is a problem (and the event-shaped object inside it is not picked out
    // of it); 7 is a problem; {"x":1} is no event start, so the resync after 7 skips it.
    assert!(got.is_empty(), "{got:?}");
    assert_eq!(report.problems.len(), 2, "{:?}", report.problems);
    assert!(report.problems[0].message.contains("statsu"));
    assert!(report.problems[1].message.contains("not an object"));
}

#[test]
fn salvage_keeps_an_event_with_another_writers_status() {
    // WeightsLab v2.0 logs "status": "error"; it is a valid event, kept as written.
    let bytes = br#"[{"timestamp":"2026-05-27T14:30:00Z","action_type":"notebook_run","status":"error","details":{},"error":"cell raised"}]"#;
    let (got, report) = salvage_all(bytes);
    assert!(report.is_clean(), "{:?}", report.problems);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].value["status"], "error");
    assert_eq!(got[0].to_event().unwrap().status.as_str(), "error");
}

#[test]
fn v2_services_json_reads_strictly_with_its_error_status() {
    let bytes = std::fs::read(fixture("audit_log.v2-services.json")).unwrap();
    let mut scanner = JsonScanner::new(Cursor::new(&bytes));
    let mut events = Vec::new();
    while let Some(element) = scanner.next_event().unwrap() {
        events.push(element.into_event().unwrap());
    }
    let original: Vec<Value> = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(events.len(), original.len());
    for (event, value) in events.iter().zip(&original) {
        assert_eq!(&serde_json::to_value(event).unwrap(), value);
    }
    let errors: Vec<&str> = events
        .iter()
        .filter(|e| e.status.as_str() == "error")
        .map(|e| e.action_type.as_str())
        .collect();
    assert_eq!(errors, ["notebook_run"]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit_log.json");
    std::fs::write(&path, &bytes).unwrap();
    let streamed: Vec<AuditEvent> = open_events(&path)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(streamed, events);
}

#[test]
fn salvage_callback_errors_stop_the_pass() {
    let bytes = our_layout(&three_events(), 1);
    let mut seen = 0;
    let result = salvage_json(Cursor::new(&bytes), |_| {
        seen += 1;
        if seen == 2 { Err("stop") } else { Ok(()) }
    });
    assert!(matches!(result, Err(SalvageError::Callback("stop"))));
    assert_eq!(seen, 2);
}

#[test]
fn unicode_and_escapes() {
    let text = "[{\"timestamp\":\"2026-05-27T14:30:00.000001Z\",\"action_type\":\"note_write\",\"status\":\"success\",\"details\":{\"t\":\"\\ud83c\\udf89 é 日本 \\\" \\\\\",\"raw\":\"🎉\"},\"error\":null}]";
    let el = scan_all(text.as_bytes()).unwrap().remove(0);
    let event = el.to_event().unwrap();
    assert_eq!(event.details["t"], "🎉 é 日本 \" \\");
    assert_eq!(event.details["raw"], "🎉");
}

#[test]
fn elements_larger_than_the_read_buffer() {
    let big = "x".repeat(600_000);
    let events = vec![
        event(
            "2026-05-27T14:30:01Z",
            "a",
            json!({"big": big, "esc": "\\\"".repeat(70_000)}),
            None,
        ),
        event("2026-05-27T14:30:00Z", "b", json!({}), None),
    ];
    let bytes = our_layout(&events, 300_000);
    assert_eq!(events_of(&scan_all(&bytes).unwrap()), events);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn our_layout_scans_back_equal(
        raw in proptest::collection::vec(
            (0i64..4_000_000_000_000_000, "[a-z_]{1,12}", any::<bool>(),
             proptest::collection::btree_map("\\PC{0,6}", prop_oneof![
                 any::<i64>().prop_map(Value::from),
                 "\\PC{0,12}".prop_map(Value::from),
                 any::<bool>().prop_map(Value::from),
                 Just(Value::Null),
                 Just(json!({"nested": [1, "two", null]})),
             ], 0..4),
             proptest::option::of("\\PC{0,20}")),
            0..12),
        gap in 0usize..70_000,
    ) {
        let events: Vec<AuditEvent> = raw.into_iter().map(|(ts, action, ok, details, error)| AuditEvent {
            timestamp: crate::Timestamp::from_micros(ts),
            action_type: action,
            status: if ok { Status::Success } else { Status::Failed }.into(),
            details: details.into_iter().collect(),
            // An empty error reads back as none (the writers never store one).
            error: error.filter(|e| !e.is_empty()),
        }).collect();
        let bytes = our_layout(&events, gap);
        let elements = scan_all(&bytes).unwrap();
        prop_assert_eq!(events_of(&elements), events.clone());
        for el in &elements {
            prop_assert!(el.single_line && el.starts_line);
            let parsed: Value = serde_json::from_slice(&bytes[el.start as usize..el.end as usize]).unwrap();
            prop_assert_eq!(&parsed, &el.value);
        }
        let (salvaged, report) = salvage_all(&bytes);
        prop_assert!(report.is_clean());
        prop_assert_eq!(events_of(&salvaged), events);
    }
}

// ---------------------------------------------------------------- CSV

fn csv_all(text: &[u8]) -> Result<Vec<(RecordPosition, AuditEvent)>, ScanError> {
    CsvEvents::new(text).collect()
}

fn csv_salvage(text: &[u8]) -> (Vec<AuditEvent>, CsvSalvageReport) {
    let mut out = Vec::new();
    let report = salvage_csv(text, |_, e| {
        out.push(e);
        Ok::<(), ()>(())
    })
    .unwrap();
    (out, report)
}

#[test]
fn v2_services_csv_reads_with_its_error_status() {
    let bytes = std::fs::read(fixture("audit_log.v2-services.csv")).unwrap();
    let events: Vec<AuditEvent> = csv_all(&bytes)
        .unwrap()
        .into_iter()
        .map(|(_, e)| e)
        .collect();
    assert_eq!(events.len(), 23);
    let error: Vec<&AuditEvent> = events
        .iter()
        .filter(|e| e.status.as_str() == "error")
        .collect();
    assert_eq!(error.len(), 1);
    assert_eq!(error[0].action_type, "notebook_run");
    assert_eq!(
        error[0].error.as_deref(),
        Some("NameError: name 'x' is not defined")
    );
    let (salvaged, report) = csv_salvage(&bytes);
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(salvaged, events);
}

#[test]
fn a_csv_status_cell_is_any_non_empty_text_kept_as_written() {
    let row = |status| {
        super::csv::row_to_event(["2026-05-27T14:30:00Z", "notebook_run", status, "", "boom"])
    };
    assert_eq!(row("error").unwrap().0.status.as_str(), "error");
    assert_eq!(row(" failed ").unwrap().0.status, Status::Failed);
    // A status guarded against spreadsheets on the way out reads back as logged.
    assert_eq!(row("'=x").unwrap().0.status.as_str(), "=x");
    for empty in ["", "  "] {
        let err = row(empty).unwrap_err();
        assert_eq!(err.to_string(), "column \"status\": the status is empty");
        assert_eq!(err.kind(), crate::InvalidEventKind::EmptyStatus);
    }
}

#[test]
fn reference_csv_reads() {
    let bytes = std::fs::read(fixture("audit_log.reference.csv")).unwrap();
    let rows = csv_all(&bytes).unwrap();
    let lines: Vec<u64> = rows.iter().map(|(p, _)| p.line).collect();
    assert_eq!(lines, [2, 3, 4, 5]);
    let events: Vec<&AuditEvent> = rows.iter().map(|(_, e)| e).collect();
    assert_eq!(events[0].details["changed_params"]["batch_size"], 32);
    // The reference does not neutralise; nothing to restore.
    assert_eq!(events[1].details["tag_name"], "=HYPERLINK(\"http://x\")");
    assert!(events[2].details.is_empty());
    assert_eq!(events[2].error, None);
    assert_eq!(
        events[3].error.as_deref(),
        Some("Checkpoint file not found,\nsee \"logs\"")
    );
    assert!(events.windows(2).all(|w| w[0].timestamp < w[1].timestamp));
    let (salvaged, report) = csv_salvage(&bytes);
    assert_eq!(salvaged.len(), 4);
    assert!(report.problems.is_empty());
    assert_eq!(report.good_prefix_len, bytes.len() as u64);
    assert!(!report.needs_line_break);
}

#[test]
fn csv_lf_neutralised_cells_and_nan() {
    let text = "timestamp,action_type,status,details,error\n\
                2026-05-27T14:30:00.123456Z,'=cmd,failed,\"{\"\"loss\"\": NaN, \"\"a\"\": \"\"x,\"\"}\",'@SUM(1)\n\
                \n\
                2026-05-27T14:30:01.123456Z,pause,success,{},\n";
    let rows = csv_all(text.as_bytes()).unwrap();
    assert_eq!(rows.len(), 2);
    let (p, e) = &rows[0];
    assert_eq!((p.byte, p.line), (43, 2));
    assert_eq!(e.action_type, "=cmd");
    assert_eq!(e.error.as_deref(), Some("@SUM(1)"));
    assert_eq!(e.details["loss"], "NaN");
    assert_eq!(e.details["a"], "x,");
    assert_eq!(rows[1].0.line, 4);
    let (_, report) = csv_salvage(text.as_bytes());
    assert_eq!(report.non_finite_tokens, 1);
}

#[test]
fn csv_matches_the_csv_crate_on_the_reference_file() {
    let bytes = std::fs::read(fixture("audit_log.reference.csv")).unwrap();
    let mut theirs = ::csv::ReaderBuilder::new().from_reader(bytes.as_slice());
    let ours = csv_all(&bytes).unwrap();
    for ((_, event), record) in ours.iter().zip(theirs.records()) {
        let record = record.unwrap();
        assert_eq!(&record[1], event.action_type);
        assert_eq!(record[4].is_empty(), event.error.is_none());
    }
}

#[test]
fn csv_header_problems() {
    assert!(csv_all(b"").unwrap().is_empty());
    assert!(
        csv_all(b"timestamp,action_type,status,details,error\r\n")
            .unwrap()
            .is_empty()
    );
    assert!(
        csv_all("\u{feff}timestamp,action_type,status,details,error\r\n".as_bytes())
            .unwrap()
            .is_empty()
    );
    let err = csv_all(b"time,action\n1,2\n").unwrap_err();
    assert_eq!((err.offset, err.line), (0, 1));
    assert!(err.message.contains("expected the header"), "{err}");
}

#[test]
fn csv_row_problems_say_where() {
    let header = "timestamp,action_type,status,details,error\r\n";
    let cases = [
        (
            "2026-05-27T14:30:00Z,a,success,{}\r\n",
            "expected 5 columns",
        ),
        ("2026-05-27T14:30:00Z,a,,{},\r\n", "status"),
        ("2026-05-27T14:30:00Z,,success,{},\r\n", "action_type"),
        ("2026-05-27T14:30:00Z,a,success,{oops,\r\n", "details"),
        ("never,a,success,{},\r\n", "timestamp"),
    ];
    for (row, message) in cases {
        let text = format!("{header}2026-05-27T14:29:00Z,ok,success,,\r\n{row}");
        let err = csv_all(text.as_bytes()).unwrap_err();
        assert_eq!(
            (err.offset, err.line),
            (header.len() as u64 + 35, 3),
            "{row}"
        );
        assert!(err.message.contains(message), "{row}: {err}");
        let (events, report) = csv_salvage(text.as_bytes());
        assert_eq!(events.len(), 1);
        assert_eq!(report.problems.len(), 1);
        assert_eq!(report.good_prefix_len, header.len() as u64 + 35);
    }
}

#[test]
fn csv_truncated_at_every_byte() {
    let full = std::fs::read(fixture("audit_log.reference.csv")).unwrap();
    let rows = csv_all(&full).unwrap();
    // Where each record ends (the next one's start, or the end of the file).
    let mut ends: Vec<u64> = rows.iter().skip(1).map(|(p, _)| p.byte).collect();
    ends.push(full.len() as u64);
    for cut in 0..full.len() {
        let bytes = &full[..cut];
        let (events, report) = csv_salvage(bytes);
        // Every complete, terminated record survives.
        let complete = ends.iter().filter(|&&end| end as usize <= cut).count();
        assert!(events.len() >= complete, "cut at {cut}");
        assert!(events.len() <= complete + 1, "cut at {cut}");
        assert!(report.good_prefix_len <= cut as u64);
        if events.len() > complete && !bytes.ends_with(b"\r") {
            // A row cut right after a complete last cell parses; it is flagged. (A cut
            // between '\r' and '\n' leaves a row ended by '\r', which is complete.)
            assert!(report.needs_line_break, "cut at {cut}");
        }
        let strict = csv_all(bytes);
        if report.problems.is_empty() {
            assert!(strict.is_ok(), "cut at {cut}");
        } else {
            let err = strict.unwrap_err();
            assert_eq!(err, report.problems[0], "cut at {cut}");
        }
    }
    // Cut inside the quoted error cell: a reported truncation at the row's start.
    let at = full.windows(6).position(|w| w == b"found,").unwrap();
    let err = csv_all(&full[..at + 6]).unwrap_err();
    assert_eq!(err.line, 5);
    assert!(err.message.contains("truncated"), "{err}");
}

// ---------------------------------------------------------------- detection and streams

#[test]
fn detection_and_open_events() {
    let dir = tempfile::tempdir().unwrap();
    let json_path = dir.path().join("log.txt");
    std::fs::write(&json_path, our_layout(&three_events(), 4)).unwrap();
    assert_eq!(detect(&json_path).unwrap(), Format::Json);
    let events: Vec<AuditEvent> = open_events(&json_path)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(events, three_events());

    let empty_csv = dir.path().join("audit_log.csv");
    std::fs::write(&empty_csv, "").unwrap();
    assert_eq!(detect(&empty_csv).unwrap(), Format::Csv);
    assert_eq!(open_events(&empty_csv).unwrap().count(), 0);
    let empty_json = dir.path().join("audit_log.json");
    std::fs::write(&empty_json, "  \n").unwrap();
    assert_eq!(detect(&empty_json).unwrap(), Format::Json);

    let neither = dir.path().join("notes.json");
    std::fs::write(&neither, "hello world\n").unwrap();
    let err = detect(&neither).unwrap_err();
    assert!(matches!(err, AuditError::Malformed { .. }), "{err}");
    // Only the first byte is named: the file could be anything, a secret among them.
    assert!(err.to_string().contains("starts with 'h'"), "{err}");
    assert!(!err.to_string().contains("hello world"), "{err}");

    let truncated = dir.path().join("t.json");
    let bytes = our_layout(&three_events(), 4);
    std::fs::write(&truncated, &bytes[..bytes.len() - 30]).unwrap();
    let results: Vec<_> = open_events(&truncated).unwrap().collect();
    assert_eq!(results.len(), 3);
    let err = results[2].as_ref().unwrap_err();
    assert!(err.to_string().contains("truncated"), "{err}");
    assert!(err.to_string().contains("t.json"), "{err}");

    let missing = open_events(dir.path().join("nope.json")).err().unwrap();
    assert!(matches!(missing, AuditError::Io { .. }));
}

#[test]
fn summaries_match_for_both_formats() {
    let summary =
        crate::read::summary::summarize_file(fixture("audit_log.indent2.json"), Format::Json)
            .unwrap();
    assert_eq!(
        serde_json::to_value(&summary).unwrap(),
        json!({
            "total_events": 5,
            "by_action_type": {"checkpoint_restore": 1, "query_execute": 1, "note_write": 1, "tag_add": 1, "hp_change": 1},
            "by_status": {"failed": 2, "success": 3}
        })
    );
    let summary =
        crate::read::summary::summarize_file(fixture("audit_log.nan-tokens.json"), Format::Json)
            .unwrap();
    assert_eq!(summary.total_events, 2);
    let csv = crate::read::summary::summarize_file(fixture("audit_log.reference.csv"), Format::Csv)
        .unwrap();
    assert_eq!(csv.total_events, 4);
    assert_eq!(csv.by_status["failed"], 1);
    let mut by_hand = crate::LogSummary::default();
    for e in open_events(fixture("audit_log.reference.csv")).unwrap() {
        by_hand.add(&e.unwrap());
    }
    assert_eq!(by_hand, csv);

    let snapshot_bytes = b"timestamp,action_type,status,details,error\r\n2026-05-27T14:30:00Z,a,success,,\r\n2026-05-27T14:31:00Z,b,su";
    let s = crate::read::summary::summarize_csv_snapshot(&snapshot_bytes[..], 76).unwrap();
    assert_eq!(s.total_events, 1);
}

#[test]
fn csv_starting_at_a_row_and_last_end() {
    let bytes = std::fs::read(fixture("audit_log.reference.csv")).unwrap();
    let rows = csv_all(&bytes).unwrap();
    let (position, event) = &rows[2];
    let mut from = CsvEvents::starting_at(&bytes[position.byte as usize..], *position);
    let (again_at, again) = from.next().unwrap().unwrap();
    assert_eq!((&again_at, &again), (position, event));
    assert_eq!(from.last_end(), Some((rows[3].0.byte, true)));
    let mut all = CsvEvents::new(bytes.as_slice());
    while all.next().is_some() {}
    assert_eq!(all.last_end(), Some((bytes.len() as u64, true)));
}

#[test]
fn csv_cut_off_kind_tells_a_cut_off_last_row_from_damage() {
    let header = "timestamp,action_type,status,details,error\r\n";
    let row = "2026-05-27T14:30:00.000001Z,a,failed,\"{\"\"k\"\":\"\"a,b\"\"}\",\"bo\r\nom\"\r\n";
    let reached_end = |text: &str| {
        let mut rows = CsvEvents::new(text.as_bytes());
        loop {
            match rows.next() {
                Some(Ok(_)) => {}
                Some(Err(e)) => return Some(e.kind == ScanErrorKind::CutOffAtEnd),
                None => return None,
            }
        }
    };
    // Every proper prefix of the row that does not parse is an error at the end.
    for cut in 1..row.len() {
        let text = format!("{header}{row}{}", &row[..cut]);
        if let Some(at_end) = reached_end(&text) {
            assert!(at_end, "cut at {cut}: {text:?}");
        }
    }
    assert_eq!(reached_end(&format!("{header}{row}{row}")), None);
    // A bad row that ends with a line break is damage, even as the last row.
    let bad = "2026-05-27T14:30:00.000002Z,a,,{},\r\n";
    assert_eq!(reached_end(&format!("{header}{row}{bad}")), Some(false));
    assert_eq!(reached_end(&format!("{header}{bad}{row}")), Some(false));
}

#[test]
fn json_scan_errors_say_what_kind_of_problem_they_are() {
    let bytes = our_layout(&three_events(), 4);
    let kind_of = |bytes: &[u8]| {
        let mut scanner = JsonScanner::new(std::io::Cursor::new(bytes));
        loop {
            match scanner.next_event() {
                Ok(Some(_)) => {}
                Ok(None) => return None,
                Err(e) => return Some(e.kind),
            }
        }
    };
    assert_eq!(kind_of(&bytes), None);
    // Cut inside the last event: it runs into the end.
    assert_eq!(
        kind_of(&bytes[..bytes.len() - 30]),
        Some(ScanErrorKind::CutOffAtEnd)
    );
    // Cut after an element: the array is not closed.
    let text = String::from_utf8(bytes.clone()).unwrap();
    let after_first = text.find("},\n").unwrap() + 1;
    assert_eq!(
        kind_of(&bytes[..after_first]),
        Some(ScanErrorKind::CutOffAtEnd)
    );
    // Well-formed JSON that is not an event.
    let typo = text.replacen("\"action_type\"", "\"actoin_type\"", 1);
    assert_eq!(
        kind_of(typo.as_bytes()),
        Some(ScanErrorKind::InvalidEvent(
            crate::InvalidEventKind::UnexpectedField
        ))
    );
    // Not JSON in the middle.
    let broken = text.replacen("\"status\"", "\"status\" junk", 1);
    assert_eq!(kind_of(broken.as_bytes()), Some(ScanErrorKind::Malformed));
}
