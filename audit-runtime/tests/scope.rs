//! The scope API (`audit_runtime::scope`) inside audited calls: across `.await`s and thread
//! hops, nested calls, extra events, skipping, and misuse.

mod common;

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use audit_runtime::{Action, AuditLogger, Status, audited, scope};
use common::TestLog;
use serde_json::json;

#[audited(action = "sample_discard", logger = log)]
async fn discard(log: &AuditLogger, threads: &Mutex<HashSet<std::thread::ThreadId>>) -> usize {
    for step in 0..20u32 {
        threads.lock().unwrap().insert(std::thread::current().id());
        scope::record(format!("step_{step}"), step);
        assert!(scope::is_recording());
        // Sleeping hands the future back to the runtime, which may resume it elsewhere.
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    nested(log).await;
    scope::record("after_nested", true);
    20
}

#[audited(action = "sample_restore", logger = log)]
async fn nested(log: &AuditLogger) {
    tokio::task::yield_now().await;
    scope::record("inner_only", 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_survives_awaits_and_thread_hops() {
    let log = TestLog::new();
    let threads = std::sync::Arc::new(Mutex::new(HashSet::new()));
    let logger = log.logger.clone();
    let t = threads.clone();
    let n = tokio::spawn(async move { discard(&logger, &t).await })
        .await
        .unwrap();
    assert_eq!(n, 20);
    assert!(!scope::is_recording());
    let events = log.events();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].action_type, "sample_restore");
    assert_eq!(
        serde_json::Value::Object(events[0].details.clone()),
        json!({"inner_only": 1})
    );
    let outer = &events[1].details;
    assert_eq!(outer.len(), 21, "{outer:?}");
    assert_eq!(outer["step_19"], 19);
    assert_eq!(outer["after_nested"], true);
    // Not asserted: which threads ran it (the runtime decides), only that it was recorded.
    assert!(!threads.lock().unwrap().is_empty());
}

#[audited(action = "hp_change" | "pause", logger = log)]
fn emits(log: &AuditLogger, fail: bool) -> Result<(), String> {
    scope::set_action(Action::HpChange);
    scope::emit_with(Action::Pause, 42);
    scope::skip();
    if fail {
        Err("disk full".into())
    } else {
        Ok(())
    }
}

#[test]
fn skipped_call_still_logs_its_extra_events_with_the_outcome() {
    let log = TestLog::new();
    emits(&log.logger, false).unwrap();
    emits(&log.logger, true).unwrap_err();
    let events: Vec<_> = log
        .events()
        .into_iter()
        .map(|e| {
            (
                e.action_type,
                e.status.known().unwrap(),
                e.error,
                serde_json::Value::Object(e.details),
            )
        })
        .collect();
    assert_eq!(
        events,
        [
            ("pause".into(), Status::Success, None, json!({"value": 42})),
            (
                "pause".into(),
                Status::Failed,
                Some("disk full".into()),
                json!({"value": 42})
            ),
        ]
    );
}

#[audited(action = "hp_change", logger = log)]
fn emits_undeclared(log: &AuditLogger) {
    let not_declared = Action::Resume;
    scope::emit(not_declared);
    scope::skip();
}

#[test]
fn undeclared_extra_event_fails_the_call_even_when_skipped() {
    let log = TestLog::new();
    emits_undeclared(&log.logger);
    let event = log.only_event();
    assert_eq!(event.action_type, "hp_change");
    assert_eq!(event.status, Status::Failed);
    assert!(event.error.unwrap().contains("scope::emit(\"resume\")"));
}

#[test]
fn outside_any_call_nothing_happens() {
    scope::record("k", 1);
    scope::set_action(Action::Pause);
    scope::emit(Action::Pause);
    scope::skip();
    assert!(!scope::is_recording());
}
