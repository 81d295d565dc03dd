//! The global logger, in a test binary of its own because it is process-wide: one test walks
//! through its whole life (buffer before init, init, second init, switch, shutdown).

use std::fs;
use std::path::Path;

use audit_runtime::{AuditEvent, AuditLogger, Format, InitError, Status};
use serde_json::json;

fn events(dir: &Path) -> Vec<AuditEvent> {
    serde_json::from_slice(&fs::read(dir.join("audit_log.json")).unwrap()).unwrap()
}

fn actions(dir: &Path) -> Vec<String> {
    events(dir)
        .into_iter()
        .rev()
        .map(|e| e.action_type)
        .collect()
}

#[test]
fn global_logger_lifecycle() {
    let first = tempfile::tempdir().unwrap();
    let second = tempfile::tempdir().unwrap();

    // Before init: nothing installed, events wait in a bounded buffer.
    assert!(audit_runtime::global().is_none());
    assert!(audit_runtime::is_active());
    audit_runtime::set_pre_init_capacity(3);
    for action in ["hp_change", "pause", "resume", "tag_add", "tag_remove"] {
        audit_runtime::log_event(action, Status::Success, json!({"early": true}), None).unwrap();
    }
    assert_eq!(audit_runtime::pre_init_dropped(), 2);

    // init writes the buffered events, oldest first, with their original times.
    let before_init = chrono::Utc::now().timestamp_micros();
    audit_runtime::init(
        AuditLogger::builder(first.path())
            .format(Format::Json)
            .build()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(actions(first.path()), ["hp_change", "pause", "resume"]);
    assert!(
        events(first.path())
            .iter()
            .all(|e| e.timestamp.as_micros() <= before_init)
    );
    assert_eq!(
        audit_runtime::pre_init_dropped(),
        0,
        "the count is reported and reset at init"
    );

    audit_runtime::log_event(
        "mode_switch",
        Status::Success,
        json!({"to_mode": "audit"}),
        None,
    )
    .unwrap();
    assert_eq!(
        actions(first.path()).last().map(String::as_str),
        Some("mode_switch")
    );

    // A second init is refused and changes nothing.
    let err = audit_runtime::init(
        AuditLogger::builder(second.path())
            .format(Format::Json)
            .build()
            .unwrap(),
    )
    .unwrap_err();
    assert!(matches!(err, InitError::AlreadyInitialized { .. }), "{err}");
    audit_runtime::log_event("note_write", Status::Success, None, None).unwrap();
    assert_eq!(events(first.path()).len(), 5);
    assert!(events(second.path()).is_empty());

    // An explicit switch moves to the new experiment.
    let old = audit_runtime::switch_experiment(
        AuditLogger::builder(second.path())
            .format(Format::Json)
            .build()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        old.and_then(|l| l.path().map(Path::to_owned)),
        Some(first.path().join("audit_log.json"))
    );
    audit_runtime::log_event("evaluation_start", Status::Success, None, None).unwrap();
    assert_eq!(actions(second.path()), ["evaluation_start"]);
    assert_eq!(events(first.path()).len(), 5);

    // A logger with format none switches auditing off entirely.
    audit_runtime::switch_experiment(
        AuditLogger::builder(second.path())
            .format(Format::None)
            .build()
            .unwrap(),
    )
    .unwrap();
    assert!(!audit_runtime::is_active());
    audit_runtime::log_event("pause", Status::Success, None, None).unwrap();
    assert_eq!(events(second.path()).len(), 1);

    // After shutdown, events are buffered again (or dropped when the buffer is off).
    assert!(audit_runtime::shutdown().unwrap().is_some());
    assert!(audit_runtime::global().is_none());
    assert!(audit_runtime::is_active());
    audit_runtime::set_pre_init_capacity(0);
    assert!(!audit_runtime::is_active());
}
