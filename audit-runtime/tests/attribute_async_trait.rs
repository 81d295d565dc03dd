//! `#[audited]` on methods of `#[async_trait]` impls (the shape tonic's generated server
//! traits use): the boxed future stays `Send`, and every outcome is recorded.
//!
//! What is logged is checked exactly, event by event, through an in-memory logger
//! (`AuditLogger::in_memory`): these tests are about the attribute, not the file.

mod common;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use audit_runtime::{Action, AuditLogger, AuditOutcome, Status, audited, scope};
use common::{MemLog, entry};
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

fn server(log: &MemLog) -> Server {
    Server {
        log: log.logger.clone(),
        mode: "train".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_trait_methods_record_every_outcome() {
    let log = MemLog::new();
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
    assert_eq!(
        log.entries(),
        [
            entry(
                "tag_add",
                Status::Success,
                json!({"tag": "defect", "requested": 3, "samples_affected": 2}),
                None
            ),
            entry(
                "tag_remove",
                Status::Failed,
                json!({"tag": "defect", "requested": 1, "samples_affected": 0}),
                Some("no known samples")
            ),
            // Refused before choosing: the first declared action, saying none was chosen.
            entry(
                "tag_add",
                Status::Failed,
                json!({"tag": "", "requested": 0, "action_undecided": ["tag_add", "tag_remove"]}),
                Some("empty tag")
            ),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mut_self_method_with_capture() {
    let log = MemLog::new();
    let mut s = server(&log);
    s.set_mode("eval").await.unwrap();
    assert_eq!(
        log.entries(),
        [entry(
            "mode_switch",
            Status::Success,
            json!({
                "before": {"mode": "train"},
                "after": {"mode": "eval"},
                "changed": {"mode": {"before": "train", "after": "eval"}},
            }),
            None
        )]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_trait_future_dropped_is_cancelled() {
    let log = MemLog::new();
    let s = server(&log);
    let timed_out = tokio::time::timeout(Duration::from_millis(30), s.evaluate("val".into())).await;
    assert!(timed_out.is_err());
    assert_eq!(
        log.entries(),
        [entry(
            "evaluation_start",
            Status::Failed,
            json!({"split": "val", "phase": "started val"}),
            Some("cancelled")
        )]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_trait_panic_propagates() {
    let log = MemLog::new();
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
    assert_eq!(
        log.entries(),
        [entry(
            "checkpoint_restore",
            Status::Failed,
            json!({"checkpoint_id": "ckpt_1"}),
            Some("panicked: cannot restore ckpt_1")
        )]
    );
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
    let log = MemLog::new();
    let notes = Notes {
        log: log.logger.clone(),
        local: std::rc::Rc::new(()),
    };
    assert_eq!(notes.write("hello").await, 5);
    assert_eq!(
        log.entries(),
        [entry(
            "note_write",
            Status::Success,
            json!({"len": 5}),
            None
        )]
    );
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
    let log = MemLog::new();
    let f = Arc::new(Forwarding {
        log: log.logger.clone(),
    });
    let f2 = f.clone();
    tokio::spawn(async move { f2.pause_training("user".into()).await })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        log.entries(),
        [entry("pause", Status::Success, json!({}), None)]
    );
}
