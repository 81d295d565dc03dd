//! `#[derive(AuditAction)]` and `#[derive(AuditOutcome)]`, and user actions in `#[audited]`
//! (their events checked exactly through an in-memory logger).

mod common;

use std::borrow::Cow;

use audit_runtime::{AuditAction, AuditLogger, AuditOutcome, Status, audited, scope};
use common::{MemLog, entry};
use serde_json::json;

#[derive(Debug, Clone, Copy, PartialEq, AuditAction)]
enum LabAction {
    Retrain,
    #[audit(name = "dataset_swap")]
    SwapDataset,
    HTTPRetry,
}

#[test]
fn derived_names() {
    assert_eq!(LabAction::Retrain.name(), "retrain");
    assert_eq!(LabAction::SwapDataset.name(), "dataset_swap");
    assert_eq!(LabAction::HTTPRetry.name(), "http_retry");
    let as_object: &dyn AuditAction = &LabAction::Retrain;
    assert_eq!(as_object.name(), "retrain");
}

mod lab {
    #[derive(audit_runtime::AuditAction)]
    pub enum Ops {
        Warmup,
    }
}

#[audited(action = LabAction::Retrain | LabAction::SwapDataset, logger = log)]
fn retrain_or_swap(log: &AuditLogger, swap: bool, cheat: bool) {
    if cheat {
        // Not declared: the runtime check catches what the compiler cannot.
        scope::set_action(LabAction::HTTPRetry);
    } else if swap {
        scope::set_action(LabAction::SwapDataset);
    } else {
        scope::set_action(LabAction::Retrain);
    }
}

#[audited(action = lab::Ops::Warmup | "pause", logger = log)]
fn warmup(log: &AuditLogger) {
    scope::set_action(lab::Ops::Warmup);
}

#[test]
fn user_actions_in_the_attribute() {
    let log = MemLog::new();
    retrain_or_swap(&log.logger, false, false);
    retrain_or_swap(&log.logger, true, false);
    retrain_or_swap(&log.logger, false, true);
    warmup(&log.logger);
    assert_eq!(
        log.entries(),
        [
            entry("retrain", Status::Success, json!({}), None),
            entry("dataset_swap", Status::Success, json!({}), None),
            // An undeclared user action: never logged under its name.
            entry(
                "retrain",
                Status::Failed,
                json!({"action_undecided": ["retrain", "dataset_swap"]}),
                Some(
                    "audited: scope::set_action(\"http_retry\"): not one of the \
                     actions this handler declares (retrain | dataset_swap) (the call itself \
                     succeeded)"
                )
            ),
            entry("warmup", Status::Success, json!({}), None),
        ]
    );
}

#[derive(AuditOutcome)]
#[audit(success = ok, message = reason)]
struct Renamed {
    ok: bool,
    reason: Cow<'static, str>,
}

#[derive(AuditOutcome)]
struct Optional {
    success: Option<bool>,
    message: Option<String>,
}

#[derive(AuditOutcome)]
struct FlagOnly<T> {
    success: bool,
    payload: T,
}

#[test]
fn derived_outcomes() {
    let failed = Renamed {
        ok: false,
        reason: "quota".into(),
    }
    .audit_outcome();
    assert_eq!(failed.status, Status::Failed);
    assert_eq!(failed.error.as_deref(), Some("quota"));
    assert!(
        Optional {
            success: None,
            message: None
        }
        .audit_outcome()
        .is_success()
    );
    let no_message = Optional {
        success: Some(false),
        message: None,
    }
    .audit_outcome();
    assert!(no_message.error.unwrap().contains("success = false"));
    let flag = FlagOnly {
        success: true,
        payload: 1u8,
    };
    assert!(flag.audit_outcome().is_success());
    assert_eq!(flag.payload, 1);
}
