//! Request ids: every event of one `#[audited]` call (its own, the ones it emits, nested
//! audited calls and by-hand events inside it) shares one `details.request_id`; calls made
//! outside any request get one each; a request set around the work (a middleware, the tonic
//! layer) is used instead, with its trace id; and the ids are in the file, JSON and CSV.

use std::time::Duration;

use audit_runtime::request::{self, RequestIds};
use audit_runtime::{
    Action, AuditEvent, AuditLogger, Format, MemorySink, Status, audited, read, scope,
};
use serde_json::Value;

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

#[audited(action = "hp_change" | "mode_switch" | "resume", logger = logger)]
fn change_and_resume(logger: &AuditLogger, inner: bool) {
    scope::set_action(Action::HpChange);
    scope::emit(Action::ModeSwitch);
    scope::emit(Action::Resume);
    if inner {
        checkpoint(logger);
    }
    logger
        .log_event("note", Status::Success, None, None)
        .expect("logged");
}

#[audited(action = "checkpoint_save", logger = logger)]
fn checkpoint(logger: &AuditLogger) {}

#[audited(action = "evaluation_start", logger = logger)]
async fn evaluate(logger: &AuditLogger, hang: bool) {
    tokio::task::yield_now().await;
    if hang {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}

fn request_id(event: &AuditEvent) -> &str {
    event.details["request_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no request_id in {event:?}"))
}

fn memory() -> (MemorySink, AuditLogger) {
    let sink = MemorySink::new();
    let logger = AuditLogger::in_memory(sink.clone());
    (sink, logger)
}

#[test]
fn every_event_of_one_call_shares_its_id_and_each_call_has_its_own() {
    let (sink, logger) = memory();
    change_and_resume(&logger, true);
    change_and_resume(&logger, false);
    let events = sink.events();
    let actions: Vec<_> = events.iter().map(|e| e.action_type.as_str()).collect();
    assert_eq!(
        actions,
        [
            "checkpoint_save",
            "note",
            "mode_switch",
            "resume",
            "hp_change",
            "note",
            "mode_switch",
            "resume",
            "hp_change"
        ]
    );
    let first = request_id(&events[0]);
    assert!(
        events[..5].iter().all(|e| request_id(e) == first),
        "{events:#?}"
    );
    let second = request_id(&events[5]);
    assert_ne!(
        first, second,
        "a new call outside any request gets a new id"
    );
    assert!(events[5..].iter().all(|e| request_id(e) == second));
    assert!(events.iter().all(|e| !e.details.contains_key("trace_id")));

    // Outside any call, an event belongs to no request.
    logger
        .log_event("pause", Status::Success, None, None)
        .unwrap();
    assert!(!sink.events()[9].details.contains_key("request_id"));
}

#[test]
fn a_request_set_around_the_work_is_used_with_its_trace_id() {
    let (sink, logger) = memory();
    let ids = RequestIds::from_header_values(Some("req-42"), Some(TRACEPARENT));
    request::scope(ids, || {
        change_and_resume(&logger, true);
        logger
            .log_event("pause", Status::Success, None, None)
            .unwrap();
    });
    let events = sink.events();
    assert_eq!(events.len(), 6);
    for event in &events {
        assert_eq!(request_id(event), "req-42", "{event:?}");
        assert_eq!(event.details["trace_id"], TRACE_ID);
    }
    // Details that name their own keep them.
    request::scope(RequestIds::generate(), || {
        logger
            .log_event(
                "pause",
                Status::Success,
                serde_json::json!({"request_id": "mine"}),
                None,
            )
            .unwrap()
    });
    assert_eq!(request_id(&sink.events()[6]), "mine");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_calls_keep_their_request_across_awaits_and_when_cancelled() {
    let (sink, logger) = memory();
    let ids = RequestIds::from_header_values(Some("job-1"), None);
    request::with_request(ids.clone(), evaluate(&logger, false)).await;
    let cancelled = tokio::time::timeout(
        Duration::from_millis(5),
        request::with_request(ids, evaluate(&logger, true)),
    )
    .await;
    assert!(cancelled.is_err());
    evaluate(&logger, false).await;
    let events = sink.events();
    assert_eq!(events.len(), 3);
    assert_eq!(request_id(&events[0]), "job-1");
    assert_eq!(events[1].error.as_deref(), Some("cancelled"));
    assert_eq!(request_id(&events[1]), "job-1");
    assert_ne!(request_id(&events[2]), "job-1");
    assert_eq!(request::current(), None);
}

#[test]
fn request_ids_are_written_to_the_file_in_both_formats() {
    for format in [Format::Json, Format::Csv] {
        let dir = tempfile::tempdir().unwrap();
        let logger = AuditLogger::builder(dir.path())
            .format(format)
            .build()
            .unwrap();
        change_and_resume(&logger, false);
        let ids = RequestIds::from_header_values(Some("req-7"), Some(TRACEPARENT));
        request::scope(ids, || checkpoint(&logger));
        let events: Vec<AuditEvent> = read::open_events(logger.path().unwrap())
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(events.len(), 5, "{format}");
        let mut ids: Vec<&str> = events.iter().map(request_id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 2, "{format}: {events:#?}");
        assert!(ids.contains(&"req-7"));
        let traced: Vec<&Value> = events
            .iter()
            .filter_map(|e| e.details.get("trace_id"))
            .collect();
        assert_eq!(traced, [&Value::from(TRACE_ID)], "{format}");
    }
}
