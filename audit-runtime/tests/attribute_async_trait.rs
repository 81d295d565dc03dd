//! `#[audited]` on methods of `#[async_trait]` impls (the shape tonic's generated server
//! traits use): the boxed future stays `Send`, and every outcome is recorded.

mod common;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use audit_runtime::{Action, AuditLogger, AuditOutcome, Status, audited, scope};
use common::TestLog;
use serde_json::json;

#[derive(Debug, AuditOutcome)]
struct EditResponse {
    success: bool,
    message: String,
}

#[async_trait]
trait Experiment: Send + Sync + 'static {
    async fn edit(&self, tag: String, add: bool, ids: Vec<u32>) -> Result<EditResponse, String>;
    async fn set_mode(&mut self, mode: &str) -> Result<(), String>;
    async fn evaluate(&self, split: String) -> u32;
    async fn restore(&self, id: String) -> Result<(), String>;
}

struct Server {
    log: AuditLogger,
    mode: String,
}

#[async_trait]
impl Experiment for Server {
    #[audited(action = "tag_add" | "tag_remove", logger = &self.log, details(tag = tag.clone(), requested = ids.len()))]
    async fn edit(&self, tag: String, add: bool, ids: Vec<u32>) -> Result<EditResponse, String> {
        if tag.is_empty() {
            return Err("empty tag".into());
        }
        scope::set_action(if add {
            Action::TagAdd
        } else {
            Action::TagRemove
        });
        tokio::task::yield_now().await;
        let known: Vec<u32> = ids.into_iter().filter(|i| *i < 100).collect();
        scope::record("samples_affected", known.len());
        if known.is_empty() {
            return Ok(EditResponse {
                success: false,
                message: "no known samples".into(),
            });
        }
        Ok(EditResponse {
            success: true,
            message: String::new(),
        })
    }

    #[audited(action = "mode_switch", logger = &self.log.clone(), capture = json!({"mode": self.mode}))]
    async fn set_mode(&mut self, mode: &str) -> Result<(), String> {
        tokio::task::yield_now().await;
        self.mode = mode.to_owned();
        Ok(())
    }

    #[audited(action = "evaluation_start", logger = &self.log, details(split = split.clone()))]
    async fn evaluate(&self, split: String) -> u32 {
        scope::record("phase", format!("started {split}"));
        tokio::time::sleep(Duration::from_secs(3600)).await;
        0
    }

    #[audited(action = "checkpoint_restore", logger = &self.log, details(checkpoint_id = id.clone()))]
    async fn restore(&self, id: String) -> Result<(), String> {
        tokio::task::yield_now().await;
        panic!("cannot restore {id}");
    }
}

fn assert_send<T: Send>(_: &T) {}

fn server(log: &TestLog) -> Server {
    Server {
        log: log.logger.clone(),
        mode: "train".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_trait_methods_record_every_outcome() {
    let log = TestLog::new();
    let s = Arc::new(server(&log));
    let fut = s.edit("defect".into(), true, vec![1, 2, 300]);
    assert_send(&fut);
    assert!(fut.await.unwrap().success);
    let s2 = s.clone();
    let resp = tokio::spawn(async move { s2.edit("defect".into(), false, vec![500]).await })
        .await
        .unwrap()
        .unwrap();
    assert!(!resp.success);
    assert_eq!(
        s.edit(String::new(), true, vec![]).await.unwrap_err(),
        "empty tag"
    );
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
        events[0],
        (
            "tag_add".into(),
            Status::Success,
            None,
            json!({"tag": "defect", "requested": 3, "samples_affected": 2})
        )
    );
    assert_eq!(
        events[1],
        (
            "tag_remove".into(),
            Status::Failed,
            Some("no known samples".into()),
            json!({"tag": "defect", "requested": 1, "samples_affected": 0})
        )
    );
    assert_eq!(events[2].0, "tag_add");
    assert_eq!(events[2].2.as_deref(), Some("empty tag"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mut_self_method_with_capture() {
    let log = TestLog::new();
    let mut s = server(&log);
    s.set_mode("eval").await.unwrap();
    assert_eq!(
        log.only_event().details["changed"],
        json!({"mode": {"before": "train", "after": "eval"}})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_trait_future_dropped_is_cancelled() {
    let log = TestLog::new();
    let s = server(&log);
    let timed_out = tokio::time::timeout(Duration::from_millis(30), s.evaluate("val".into())).await;
    assert!(timed_out.is_err());
    let event = log.only_event();
    assert_eq!(event.error.as_deref(), Some("cancelled"));
    assert_eq!(
        serde_json::Value::Object(event.details),
        json!({"split": "val", "phase": "started val"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_trait_panic_propagates() {
    let log = TestLog::new();
    let s = Arc::new(server(&log));
    let s2 = s.clone();
    let err = tokio::spawn(async move { s2.restore("ckpt_1".into()).await })
        .await
        .unwrap_err();
    assert_eq!(
        err.into_panic()
            .downcast_ref::<String>()
            .map(String::as_str),
        Some("cannot restore ckpt_1")
    );
    let event = log.only_event();
    assert_eq!(
        event.error.as_deref(),
        Some("panicked: cannot restore ckpt_1")
    );
    assert_eq!(event.details["checkpoint_id"], "ckpt_1");
}

/// `#[async_trait(?Send)]` futures need not be `Send`; the attribute must not require it.
#[async_trait(?Send)]
trait LocalNotes {
    async fn write(&self, text: &str) -> usize;
}

struct Notes {
    log: AuditLogger,
    local: std::rc::Rc<()>,
}

#[async_trait(?Send)]
impl LocalNotes for Notes {
    #[audited(action = "note_write", logger = &self.log, details(len = text.len()))]
    async fn write(&self, text: &str) -> usize {
        let rc = self.local.clone();
        tokio::task::yield_now().await;
        drop(rc);
        text.len()
    }
}

#[tokio::test]
async fn non_send_async_trait() {
    let log = TestLog::new();
    let notes = Notes {
        log: log.logger.clone(),
        local: std::rc::Rc::new(()),
    };
    assert_eq!(notes.write("hello").await, 5);
    assert_eq!(log.only_event().details["len"], 5);
}

/// When `#[audited]` expands before `#[async_trait]` would, it must leave an `async fn`
/// that async-trait can box. Here the impl is a plain inherent impl and the trait is
/// implemented by forwarding, which is the closest stable stand-in: the expanded method is
/// an `async fn` with the same signature, and its future is `Send`.
struct Forwarding {
    log: AuditLogger,
}

impl Forwarding {
    #[audited(action = "pause", logger = &self.log)]
    async fn pause(&self, reason: String) -> Result<(), String> {
        tokio::task::yield_now().await;
        if reason.is_empty() {
            Err("no reason".into())
        } else {
            Ok(())
        }
    }
}

#[async_trait]
trait Pausable {
    async fn pause_training(&self, reason: String) -> Result<(), String>;
}

#[async_trait]
impl Pausable for Forwarding {
    async fn pause_training(&self, reason: String) -> Result<(), String> {
        self.pause(reason).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audited_async_fn_inside_async_trait_future() {
    let log = TestLog::new();
    let f = Arc::new(Forwarding {
        log: log.logger.clone(),
    });
    let f2 = f.clone();
    tokio::spawn(async move { f2.pause_training("user".into()).await })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(log.only_event().action_type, "pause");
}
