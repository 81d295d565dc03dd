//! `#[audited]` without `logger = ..`: events go to the global logger, or wait in the
//! pre-init buffer, and nothing is evaluated when auditing is off. The global logger is
//! process-wide, so this binary runs its steps in one test, in order.
//!
//! The global logger is given an in-memory logger (`AuditLogger::in_memory`), so the events
//! are checked exactly without reading a file back.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use audit_runtime::{AuditLogger, Format, Status, audited, scope};
use common::{MemLog, entry};
use serde_json::json;

static EVALUATED: AtomicUsize = AtomicUsize::new(0);

fn expensive() -> u32 {
    EVALUATED.fetch_add(1, Ordering::SeqCst);
    7
}

#[audited(action = "hp_change", capture = expensive(), details(cost = expensive()))]
fn change(ok: bool) -> Result<u32, String> {
    scope::record("recorded", expensive());
    if ok { Ok(1) } else { Err("rejected".into()) }
}

#[audited(action = "resume")]
async fn resume() -> u8 {
    tokio::task::yield_now().await;
    scope::record("step", 10);
    2
}

#[test]
fn global_logger_lifecycle() {
    // 1. No logger and no pre-init buffer: inactive; only the body's own call evaluates.
    audit_runtime::set_pre_init_capacity(0);
    assert!(!audit_runtime::is_active());
    assert_eq!(change(true), Ok(1));
    assert_eq!(EVALUATED.load(Ordering::SeqCst), 1);

    // 2. Pre-init buffer on: events wait for the logger.
    audit_runtime::set_pre_init_capacity(16);
    assert_eq!(change(false), Err("rejected".into()));
    assert_eq!(EVALUATED.load(Ordering::SeqCst), 1 + 4);

    // 3. init writes the buffered event, then events go straight to the logger.
    let log = MemLog::new();
    audit_runtime::init(log.logger.clone()).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    assert_eq!(rt.block_on(resume()), 2);
    let logged = [
        entry(
            "hp_change",
            Status::Failed,
            json!({"cost": 7, "before": 7, "recorded": 7, "after": 7}),
            Some("rejected"),
        ),
        entry("resume", Status::Success, json!({"step": 10}), None),
    ];
    assert_eq!(log.entries(), logged);

    // 4. A logger with format none: inactive again.
    let none_dir = tempfile::tempdir().unwrap();
    audit_runtime::switch_experiment(
        AuditLogger::builder(none_dir.path())
            .format(Format::None)
            .build()
            .unwrap(),
    )
    .unwrap();
    let before = EVALUATED.load(Ordering::SeqCst);
    assert_eq!(change(true), Ok(1));
    assert_eq!(EVALUATED.load(Ordering::SeqCst), before + 1);
    assert_eq!(log.entries(), logged);
}
