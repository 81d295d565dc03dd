//! Details nested too deeply for JSON parsers (issue [5], item 5): refused with a clear error
//! before anything is written, by every entry point and in both formats, without recursion
//! (10,000 levels overflowed the stack and aborted the process); exactly the limit is
//! accepted and read back.

use std::path::Path;

use audit_runtime::read::open_events;
use audit_runtime::{
    Action, AuditError, AuditLogger, Format, InvalidEventKind, MAX_DETAILS_DEPTH, Status, audited,
    scope,
};
use serde_json::{Map, Value, json};

const FORMATS: [Format; 2] = [Format::Json, Format::Csv];

/// Runs `f` on a thread with the default 2 MB stack (spelled out: the test harness may be
/// configured otherwise), propagating its panic.
fn on_a_2mb_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
}

/// Details `levels` deep: `{"a": {"a": ... {"leaf": 1}}}`, built without recursion.
fn nested(levels: usize) -> Value {
    let mut value = json!({"leaf": 1});
    for _ in 1..levels {
        let mut outer = Map::new();
        outer.insert("a".to_owned(), value);
        value = Value::Object(outer);
    }
    value
}

fn logger(dir: &Path, format: Format) -> AuditLogger {
    AuditLogger::builder(dir).format(format).build().unwrap()
}

/// The path the error names for any details deeper than the limit.
fn too_deep_path() -> String {
    format!("details{}", ".a".repeat(MAX_DETAILS_DEPTH))
}

fn assert_refused(result: Result<(), AuditError>) {
    match result {
        Err(AuditError::InvalidEvent(invalid)) => {
            assert_eq!(invalid.kind(), InvalidEventKind::TooDeep);
            let message = invalid.to_string();
            assert!(
                message.contains(&format!("deeper than {MAX_DETAILS_DEPTH} levels")),
                "{message}"
            );
            assert!(
                message.ends_with(&format!("first at {}", too_deep_path())),
                "{message}"
            );
        }
        other => panic!("expected InvalidEvent, got {other:?}"),
    }
}

/// Nothing was written, and the log still opens clean and verifies.
fn assert_untouched(dir: &Path, format: Format, before: &[u8]) {
    let path = dir.join(format.file_name().unwrap());
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "{format}: the file changed"
    );
    let again = logger(dir, format);
    assert!(again.recovery().is_none(), "{:?}", again.recovery());
    let events: Vec<_> = open_events(&path)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(events.len(), 1, "{format}");
}

#[audited(action = "hp_change", logger = log, details(value = deep))]
fn audited_with(log: &AuditLogger, deep: &Value) -> Result<(), String> {
    let _ = deep;
    Ok(())
}

#[test]
fn deep_details_are_refused_before_writing() {
    on_a_2mb_stack(|| {
        for format in FORMATS {
            let dir = tempfile::tempdir().unwrap();
            let log = logger(dir.path(), format);
            log.log_event("pause", Status::Success, json!({"ok": 1}), None)
                .unwrap();
            let path = dir.path().join(format.file_name().unwrap());
            let before = std::fs::read(&path).unwrap();
            for levels in [MAX_DETAILS_DEPTH + 1, 127, 10_000] {
                assert_refused(log.log_event("hp_change", Status::Success, nested(levels), None));
                let deep = nested(levels);
                assert_refused(log.log_serialize("hp_change", Status::Success, &deep, None));
                // The caller still owns this one: take it apart without recursion too.
                audit_runtime::dismantle(deep);
            }
            assert_untouched(dir.path(), format, &before);
        }
    });
}

#[test]
fn a_million_levels_neither_overflow_nor_abort() {
    on_a_2mb_stack(|| {
        let dir = tempfile::tempdir().unwrap();
        let log = logger(dir.path(), Format::Json);
        log.log_event("pause", Status::Success, None, None).unwrap();
        let before = std::fs::read(dir.path().join("audit_log.json")).unwrap();
        assert_refused(log.log_event("hp_change", Status::Success, nested(1_000_000), None));
        let deep = nested(1_000_000);
        assert_refused(log.log_serialize("hp_change", Status::Success, &deep, None));
        // Through the attribute: the event is refused (reported on stderr, the call itself
        // unaffected), and the value it serialised is never walked past the limit.
        assert_eq!(audited_with(&log, &deep), Ok(()));
        audit_runtime::dismantle(deep);
        // A disabled logger drops what it is handed without recursion as well.
        let off = AuditLogger::builder(dir.path())
            .format(Format::None)
            .build()
            .unwrap();
        off.log_event("hp_change", Status::Success, nested(1_000_000), None)
            .unwrap();
        assert_untouched(dir.path(), Format::Json, &before);
    });
}

#[test]
fn details_exactly_at_the_limit_are_written_and_read_back() {
    on_a_2mb_stack(|| {
        for format in FORMATS {
            let dir = tempfile::tempdir().unwrap();
            let log = logger(dir.path(), format);
            let details = nested(MAX_DETAILS_DEPTH);
            log.log_event("hp_change", Status::Success, details.clone(), None)
                .unwrap();
            #[derive(serde::Serialize)]
            struct Wrapped {
                inner: Value,
            }
            // log_serialize: the struct is level 1, so its field may be one level less.
            let inner = nested(MAX_DETAILS_DEPTH - 1);
            log.log_serialize(
                "hp_change",
                Status::Success,
                &Wrapped {
                    inner: inner.clone(),
                },
                None,
            )
            .unwrap();
            let path = dir.path().join(format.file_name().unwrap());
            let mut events: Vec<_> = open_events(&path)
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            if format == Format::Json {
                events.reverse();
                // A plain parse of the whole file (one level more: the array) agrees.
                let plain: Vec<audit_runtime::AuditEvent> =
                    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
                assert_eq!(plain.into_iter().rev().collect::<Vec<_>>(), events);
            }
            assert_eq!(Value::Object(events[0].details.clone()), details);
            assert_eq!(events[1].details["inner"], inner);
            // The next open finds nothing wrong.
            assert!(logger(dir.path(), format).recovery().is_none());
        }
    });
}

/// An emitted event whose details are handed over as a map, moved in unserialised.
#[audited(action = "hp_change", logger = log)]
fn emits_map(log: &AuditLogger, details: Map<String, Value>) {
    scope::skip();
    scope::emit_details(Action::HpChange, details);
}

fn as_map(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => unreachable!("nested() builds objects"),
    }
}

#[test]
fn emit_details_refuses_deep_maps_without_recursion_and_keeps_the_limit() {
    on_a_2mb_stack(|| {
        let dir = tempfile::tempdir().unwrap();
        let log = logger(dir.path(), Format::Json);
        log.log_event("pause", Status::Success, None, None).unwrap();
        let before = std::fs::read(dir.path().join("audit_log.json")).unwrap();
        // Refused (and reported, the call unaffected), never walked by recursion: in a call,
        // outside one, and with auditing off.
        for levels in [MAX_DETAILS_DEPTH + 1, 1_000_000] {
            emits_map(&log, as_map(nested(levels)));
        }
        scope::emit_details(Action::HpChange, as_map(nested(1_000_000)));
        let off = AuditLogger::builder(dir.path())
            .format(Format::None)
            .build()
            .unwrap();
        emits_map(&off, as_map(nested(1_000_000)));
        assert_untouched(dir.path(), Format::Json, &before);
        assert_eq!(log.stats().events_failed, 2);

        // Exactly the limit is written as it was handed over.
        emits_map(&log, as_map(nested(MAX_DETAILS_DEPTH)));
        let events: Vec<_> = open_events(dir.path().join("audit_log.json"))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let mut written = events[0].details.clone();
        assert!(written.remove("request_id").is_some(), "the call's request");
        assert_eq!(Value::Object(written), nested(MAX_DETAILS_DEPTH));
    });
}
