//! The pre-init buffer holds finished events: an event logged before `init` is written as it
//! was finished then, with its own actor and time, not the actor of whoever calls `init`.
//! The global logger is process-wide, so this binary has one test.

use audit_runtime::{AuditLogger, MemorySink, Status, Timestamp, actor};
use serde_json::{Value, json};

#[test]
fn buffered_events_keep_the_actor_and_time_of_their_call() {
    audit_runtime::set_pre_init_capacity(16);
    audit_runtime::log_event("pause", Status::Success, json!({"step": 1}), None).unwrap();
    actor::scope("alice", || {
        audit_runtime::log_event("resume", Status::Success, None, None).unwrap();
    });
    let logged_by = Timestamp::now();

    let sink = MemorySink::new();
    // An operator's call installs the logger: its actor is not the buffered events'.
    actor::scope("admin", || {
        audit_runtime::init(AuditLogger::in_memory(sink.clone())).unwrap();
    });
    audit_runtime::log_event("hp_change", Status::Failed, None, Some("")).unwrap();

    let events = sink.events();
    let seen: Vec<(String, Value, Option<String>)> = events
        .iter()
        .map(|e| {
            (
                e.action_type.clone(),
                Value::Object(e.details.clone()),
                e.error.clone(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("pause".to_owned(), json!({"step": 1}), None),
            ("resume".to_owned(), json!({"actor": "alice"}), None),
            ("hp_change".to_owned(), json!({}), None),
        ]
    );
    assert!(events[0].timestamp <= events[1].timestamp);
    assert!(events[1].timestamp <= logged_by);
    assert!(events[2].timestamp >= logged_by);
    assert_eq!(events[2].status, Status::Failed);
    let stats = audit_runtime::global().unwrap().stats();
    assert_eq!((stats.events_written, stats.events_failed), (3, 0));
}
