//! `#[audited]` on `async fn`s and on functions returning futures: outcomes, cancellation,
//! panics, `scope::record` across `.await`s on a multi-threaded runtime, and `Send`.
//!
//! What is logged is checked exactly through an in-memory logger (`AuditLogger::in_memory`):
//! these tests are about the attribute, not the file.

mod common;

use std::time::Duration;

use audit_runtime::{AuditLogger, Status, audited, scope};
use common::{MemLog, entry};
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

fn server(log: &MemLog) -> Server {
    Server {
        log: log.logger.clone(),
        state: tokio::sync::Mutex::new(Vec::new()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn success_failure_and_record_across_awaits() {
    let log = MemLog::new();
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
    // Arrays are not diffed: no `changed`.
    assert_eq!(
        log.entries(),
        [
            entry(
                "tag_add",
                Status::Success,
                json!({
                    "tag": "defect",
                    "before": [],
                    "phase": "validated",
                    "samples_affected": 1,
                    "after": ["defect"],
                }),
                None
            ),
            entry(
                "tag_add",
                Status::Success,
                json!({
                    "tag": "blurry",
                    "before": ["defect"],
                    "phase": "validated",
                    "samples_affected": 2,
                    "after": ["defect", "blurry"],
                }),
                None
            ),
            entry(
                "tag_add",
                Status::Failed,
                json!({
                    "tag": "",
                    "before": ["defect", "blurry"],
                    "after": ["defect", "blurry"],
                }),
                Some("empty tag")
            ),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_calls_keep_their_own_details() {
    let log = MemLog::new();
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
    // The calls finish in any order; as a set, each has exactly its own details.
    let mut entries = log.entries();
    entries.sort_by_key(|e| e.2["split"].as_str().unwrap().to_owned());
    let mut expected: Vec<_> = (0..16)
        .map(|i| {
            entry(
                "evaluation_start",
                Status::Success,
                json!({"split": format!("split{i}"), "phase": "finished"}),
                None,
            )
        })
        .collect();
    expected.sort_by_key(|e| e.2["split"].as_str().unwrap().to_owned());
    assert_eq!(entries, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_future_is_one_cancelled_event_with_details_so_far() {
    let log = MemLog::new();
    let s = server(&log);
    let result = tokio::time::timeout(Duration::from_millis(50), s.evaluate("val", 3600)).await;
    assert!(result.is_err());
    assert_eq!(
        log.entries(),
        [entry(
            "evaluation_start",
            Status::Failed,
            json!({"split": "val", "phase": "started"}),
            Some("cancelled")
        )]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_event_keeps_the_actor_of_the_call() {
    let log = MemLog::new();
    let s = server(&log);
    let call = audit_runtime::actor::with_actor("bob", s.evaluate("val", 3600));
    assert!(
        tokio::time::timeout(Duration::from_millis(20), call)
            .await
            .is_err()
    );
    assert_eq!(
        log.entries(),
        [entry(
            "evaluation_start",
            Status::Failed,
            json!({"split": "val", "phase": "started", "actor": "bob"}),
            Some("cancelled")
        )]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_polled_future_logs_nothing() {
    let log = MemLog::new();
    let s = server(&log);
    drop(s.evaluate("val", 1));
    assert!(log.events().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panic_propagates_and_is_logged_once() {
    let log = MemLog::new();
    let s = std::sync::Arc::new(server(&log));
    let s2 = s.clone();
    let joined = tokio::spawn(async move { s2.restore("bad").await }).await;
    let panic = joined.unwrap_err().into_panic();
    assert_eq!(
        panic.downcast_ref::<String>().map(String::as_str),
        Some("checkpoint bad is corrupt")
    );
    assert_eq!(
        log.entries(),
        [entry(
            "checkpoint_restore",
            Status::Failed,
            json!({"checkpoint_id": "bad"}),
            Some("panicked: checkpoint bad is corrupt")
        )]
    );
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
    let log = MemLog::new();
    let fut = query_future(&log.logger, "SELECT 1");
    assert!(log.events().is_empty(), "logged before the future ran");
    assert_eq!(fut.await, Ok(3));
    assert_eq!(
        query_future(&log.logger, "DROP x").await,
        Err("read-only".into())
    );
    assert_eq!(boxed_future(&log.logger).await, 7);
    assert_eq!(
        log.entries(),
        [
            entry(
                "query_execute",
                Status::Success,
                json!({"query": "SELECT 1", "rows": 3}),
                None
            ),
            entry(
                "query_execute",
                Status::Failed,
                json!({"query": "DROP x", "rows": 3}),
                Some("read-only")
            ),
            entry(
                "query_execute",
                Status::Success,
                json!({"boxed": true}),
                None
            ),
        ]
    );
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

    let log = MemLog::new();
    let items = vec![1, 2];
    assert_eq!(first(&log.logger, &items).await, Some(&1));
    assert_eq!(
        log.entries(),
        [entry(
            "note_write",
            Status::Success,
            json!({"count": 2}),
            None
        )]
    );
}
