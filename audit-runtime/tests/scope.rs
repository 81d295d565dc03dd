//! The scope API (`audit_runtime::scope`) inside audited calls: across `.await`s and thread
//! hops, nested calls, extra events, skipping, and misuse.
//!
//! What is logged is checked exactly, event by event, through an in-memory logger
//! (`AuditLogger::in_memory`): these tests are about the scope, not the file.

mod common;

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use audit_runtime::{Action, AuditLogger, Status, audited, scope};
use common::{MemLog, entry};
use serde_json::{Map, Value, json};

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
    let log = MemLog::new();
    let threads = std::sync::Arc::new(Mutex::new(HashSet::new()));
    let logger = log.logger.clone();
    let t = threads.clone();
    let n = tokio::spawn(async move { discard(&logger, &t).await })
        .await
        .unwrap();
    assert_eq!(n, 20);
    assert!(!scope::is_recording());
    // Every step, recorded on whichever thread, and nothing of the nested call's.
    let mut outer: Map<String, Value> = (0..20u32)
        .map(|step| (format!("step_{step}"), Value::from(step)))
        .collect();
    outer.insert("after_nested".into(), true.into());
    assert_eq!(
        log.entries(),
        [
            entry(
                "sample_restore",
                Status::Success,
                json!({"inner_only": 1}),
                None
            ),
            entry(
                "sample_discard",
                Status::Success,
                Value::Object(outer),
                None
            ),
        ]
    );
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
    let log = MemLog::new();
    emits(&log.logger, false).unwrap();
    emits(&log.logger, true).unwrap_err();
    assert_eq!(
        log.entries(),
        [
            entry("pause", Status::Success, json!({"value": 42}), None),
            entry(
                "pause",
                Status::Failed,
                json!({"value": 42}),
                Some("disk full")
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
    let log = MemLog::new();
    emits_undeclared(&log.logger);
    assert_eq!(
        log.entries(),
        [entry(
            "hp_change",
            Status::Failed,
            json!({}),
            Some(
                "audited: scope::emit(\"resume\"): not one of the actions this \
                 handler declares (hp_change) (the call itself succeeded)"
            )
        )]
    );
}

#[test]
fn outside_any_call_nothing_happens() {
    scope::record("k", 1);
    scope::set_action(Action::Pause);
    scope::emit(Action::Pause);
    scope::skip();
    assert!(!scope::is_recording());
}

/// The model's details of one effect, as a service would hand them over.
fn effect_details(n: u64) -> Map<String, Value> {
    let details = json!({
        "changed_params": {"learning_rate": 0.001},
        "before": {"learning_rate": 0.01, "name": "run \"a\""},
        "after": {"learning_rate": 0.001, "n": n},
        "tag": "own wins",
    });
    details.as_object().unwrap().clone()
}

// The same handler twice: once handing the maps to `emit_with`, once to `emit_details`
// (moved, not serialised again); what each logs must be the same, event for event.
#[audited(
    action = "hp_change" | "pause" | "resume",
    logger = log,
    details(tag = "the call's", call_only = 1)
)]
fn emits_with(log: &AuditLogger, skip: bool, fail: bool) -> Result<(), String> {
    scope::set_action(Action::HpChange);
    scope::emit_with(Action::Pause, effect_details(1));
    scope::emit_with(Action::Resume, effect_details(2));
    if skip {
        scope::skip();
    }
    if fail {
        Err("disk full".into())
    } else {
        Ok(())
    }
}

#[audited(
    action = "hp_change" | "pause" | "resume",
    logger = log,
    details(tag = "the call's", call_only = 1)
)]
fn emits_details(log: &AuditLogger, skip: bool, fail: bool) -> Result<(), String> {
    scope::set_action(Action::HpChange);
    scope::emit_details(Action::Pause, effect_details(1));
    scope::emit_details(Action::Resume, effect_details(2));
    if skip {
        scope::skip();
    }
    if fail {
        Err("disk full".into())
    } else {
        Ok(())
    }
}

// Without details of its own, as the example service's `ExperimentCommand` is: each event's
// details are exactly the effect's.
#[audited(action = "hp_change" | "pause", logger = log)]
fn emits_only_details(log: &AuditLogger) {
    scope::skip();
    scope::emit_details(Action::HpChange, effect_details(1));
    scope::emit_details(Action::Pause, Map::new());
}

#[test]
fn emit_details_logs_what_emit_with_logs() {
    for skip in [false, true] {
        for fail in [false, true] {
            let (with, details) = (MemLog::new(), MemLog::new());
            let _ = emits_with(&with.logger, skip, fail);
            let _ = emits_details(&details.logger, skip, fail);
            let expected = with.entries();
            assert_eq!(details.entries(), expected, "skip {skip}, fail {fail}");
            // Two emitted events, then the call's own unless skipped; each emitted one has the
            // call's details overridden by its own.
            assert_eq!(expected.len(), if skip { 2 } else { 3 });
            assert_eq!(expected[0].2["tag"], "own wins");
            assert_eq!(expected[0].2["call_only"], 1);
            assert_eq!(expected[1].2["after"]["n"], 2);
        }
    }
    let log = MemLog::new();
    emits_only_details(&log.logger);
    assert_eq!(
        log.entries(),
        [
            entry(
                "hp_change",
                Status::Success,
                Value::Object(effect_details(1)),
                None
            ),
            entry("pause", Status::Success, json!({}), None),
        ]
    );
}

#[audited(action = "hp_change", logger = log)]
fn emits_undeclared_details(log: &AuditLogger) {
    let not_declared = Action::Resume;
    scope::emit_details(not_declared, effect_details(1));
    scope::skip();
}

#[test]
fn emit_details_of_an_undeclared_action_fails_the_call() {
    let log = MemLog::new();
    emits_undeclared_details(&log.logger);
    assert_eq!(
        log.entries(),
        [entry(
            "hp_change",
            Status::Failed,
            json!({}),
            Some(
                "audited: scope::emit(\"resume\"): not one of the actions this \
                 handler declares (hp_change) (the call itself succeeded)"
            )
        )]
    );
    // Outside any call: dropped, nothing logged.
    scope::emit_details(Action::Pause, effect_details(1));
    assert_eq!(log.entries().len(), 1);
}
