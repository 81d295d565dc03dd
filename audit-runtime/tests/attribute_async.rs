//! `#[audited]` on `async fn`s and on functions returning futures: outcomes, cancellation,
//! panics, `scope::record` across `.await`s on a multi-threaded runtime, and `Send`.

mod common;

use std::time::Duration;

use audit_runtime::{AuditLogger, Status, audited, scope};
use common::TestLog;
use serde_json::json;

fn assert_send<T: Send>(_: &T) {}

struct Server {
    log: AuditLogger,
    state: tokio::sync::Mutex<Vec<String>>,
}

impl Server {
    #[audited(action = "tag_add", logger = &self.log, capture = self.state.lock().await.clone(), details(tag))]
    async fn add_tag(&self, tag: String) -> Result<usize, String> {
        if tag.is_empty() {
            return Err("empty tag".into());
        }
        scope::record("phase", "validated");
        tokio::task::yield_now().await;
        let mut state = self.state.lock().await;
        state.push(tag);
        tokio::time::sleep(Duration::from_millis(1)).await;
        scope::record("samples_affected", state.len());
        Ok(state.len())
    }

    #[audited(action = "evaluation_start", logger = &self.log, details(split))]
    async fn evaluate(&self, split: &str, steps: u64) -> u64 {
        scope::record("phase", "started");
        tokio::time::sleep(Duration::from_secs(steps)).await;
        scope::record("phase", "finished");
        steps
    }

    #[audited(action = "checkpoint_restore", logger = &self.log, details(checkpoint_id = id))]
    async fn restore(&self, id: &str) -> Result<(), String> {
        tokio::task::yield_now().await;
        if id == "bad" {
            panic!("checkpoint {id} is corrupt");
        }
        Ok(())
    }
}

fn server(log: &TestLog) -> Server {
    Server {
        log: log.logger.clone(),
        state: tokio::sync::Mutex::new(Vec::new()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn success_failure_and_record_across_awaits() {
    let log = TestLog::new();
    let s = std::sync::Arc::new(server(&log));
    let fut = s.add_tag("defect".into());
    assert_send(&fut);
    assert_eq!(fut.await, Ok(1));
    // Polled on whatever worker: the scope follows the future.
    let s2 = s.clone();
    tokio::spawn(async move { s2.add_tag("blurry".into()).await })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.add_tag(String::new()).await, Err("empty tag".into()));
    let events = log.events();
    assert_eq!(events.len(), 3);
    assert_eq!(
        serde_json::Value::Object(events[0].details.clone()),
        json!({
            "tag": "defect",
            "before": [],
            "phase": "validated",
            "samples_affected": 1,
            "after": ["defect"],
        })
    );
    assert_eq!(events[1].details["samples_affected"], 2);
    assert!(
        !events[1].details.contains_key("changed"),
        "arrays are not diffed"
    );
    assert_eq!(events[2].status, Status::Failed);
    assert_eq!(events[2].error.as_deref(), Some("empty tag"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_calls_keep_their_own_details() {
    let log = TestLog::new();
    let s = std::sync::Arc::new(server(&log));
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move { s.evaluate(&format!("split{i}"), 0).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let events = log.events();
    assert_eq!(events.len(), 16);
    for e in events {
        assert_eq!(e.details["phase"], "finished");
        assert!(e.details["split"].as_str().unwrap().starts_with("split"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_future_is_one_cancelled_event_with_details_so_far() {
    let log = TestLog::new();
    let s = server(&log);
    let result = tokio::time::timeout(Duration::from_millis(50), s.evaluate("val", 3600)).await;
    assert!(result.is_err());
    let event = log.only_event();
    assert_eq!(event.action_type, "evaluation_start");
    assert_eq!(event.status, Status::Failed);
    assert_eq!(event.error.as_deref(), Some("cancelled"));
    assert_eq!(
        serde_json::Value::Object(event.details),
        json!({"split": "val", "phase": "started"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_event_keeps_the_actor_of_the_call() {
    let log = TestLog::new();
    let s = server(&log);
    let call = audit_runtime::actor::with_actor("bob", s.evaluate("val", 3600));
    assert!(
        tokio::time::timeout(Duration::from_millis(20), call)
            .await
            .is_err()
    );
    assert_eq!(log.only_event().details["actor"], "bob");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_polled_future_logs_nothing() {
    let log = TestLog::new();
    let s = server(&log);
    drop(s.evaluate("val", 1));
    assert!(log.events().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panic_propagates_and_is_logged_once() {
    let log = TestLog::new();
    let s = std::sync::Arc::new(server(&log));
    let s2 = s.clone();
    let joined = tokio::spawn(async move { s2.restore("bad").await }).await;
    let panic = joined.unwrap_err().into_panic();
    assert_eq!(
        panic.downcast_ref::<String>().map(String::as_str),
        Some("checkpoint bad is corrupt")
    );
    let event = log.only_event();
    assert_eq!(event.status, Status::Failed);
    assert_eq!(
        event.error.as_deref(),
        Some("panicked: checkpoint bad is corrupt")
    );
    assert_eq!(event.details["checkpoint_id"], "bad");
}

#[audited(action = "query_execute", logger = log, details(query))]
fn query_future(
    log: &AuditLogger,
    query: &str,
) -> impl std::future::Future<Output = Result<u32, String>> + Send + use<> {
    let query = query.to_owned();
    async move {
        tokio::task::yield_now().await;
        scope::record("rows", 3);
        if query.contains("DROP") {
            Err("read-only".to_owned())
        } else {
            Ok(3)
        }
    }
}

#[audited(action = "query_execute", logger = log)]
fn boxed_future(
    log: &AuditLogger,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = u8> + Send + 'static>> {
    let fut = async {
        scope::record("boxed", true);
        7
    };
    Box::pin(fut)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn functions_returning_futures_are_audited_when_the_future_completes() {
    let log = TestLog::new();
    let fut = query_future(&log.logger, "SELECT 1");
    assert!(log.events().is_empty(), "logged before the future ran");
    assert_eq!(fut.await, Ok(3));
    assert_eq!(
        query_future(&log.logger, "DROP x").await,
        Err("read-only".into())
    );
    assert_eq!(boxed_future(&log.logger).await, 7);
    let events = log.events();
    assert_eq!(events.len(), 3);
    assert_eq!(events[0].details["rows"], 3);
    assert_eq!(events[0].details["query"], "SELECT 1");
    assert_eq!(events[1].error.as_deref(), Some("read-only"));
    assert_eq!(events[2].details["boxed"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generic_async_fn_with_lifetimes() {
    #[audited(action = "note_write", logger = log)]
    async fn first<'a, T: serde::Serialize + Sync>(
        log: &AuditLogger,
        items: &'a [T],
    ) -> Option<&'a T> {
        scope::record("count", items.len());
        items.first()
    }

    let log = TestLog::new();
    let items = vec![1, 2];
    assert_eq!(first(&log.logger, &items).await, Some(&1));
    assert_eq!(log.only_event().details["count"], 2);
}
