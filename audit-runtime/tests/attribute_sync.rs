//! `#[audited]` on sync functions and methods: every outcome, capture, details, redaction,
//! the scope API, and the shapes of function it must accept.
//!
//! What is logged is checked exactly, event by event, through an in-memory logger
//! (`AuditLogger::in_memory`): these tests are about the attribute, not the file.

mod common;

use std::fmt;

use audit_runtime::{Action, AuditLogger, AuditOutcome, Status, audited, scope};
use common::{MemLog, TestLog, entry};
use serde::Serialize;
use serde_json::json;

#[derive(Debug)]
struct HpError(String);

impl fmt::Display for HpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid hyperparameter: {}", self.0)
    }
}

#[derive(Serialize, Clone)]
struct Hparams {
    learning_rate: f64,
    batch_size: u32,
}

struct Trainer {
    log: AuditLogger,
    hp: Hparams,
}

impl Trainer {
    #[audited(action = "hp_change", logger = &self.log, capture = self.hp.clone(), details(requested = lr))]
    fn set_lr(&mut self, lr: f64) -> Result<(), HpError> {
        if lr <= 0.0 {
            return Err(HpError(format!("learning_rate {lr}")));
        }
        self.hp.learning_rate = lr;
        Ok(())
    }

    #[audited(action = "pause", logger = &self.log)]
    fn pause(&self) {}

    #[audited(action = "resume", logger = &self.log)]
    fn resume_by_value(self) -> u32 {
        self.hp.batch_size
    }

    #[audited(action = "query_execute", logger = &self.log)]
    fn query<'a>(&self, rows: &'a [u32]) -> impl Iterator<Item = &'a u32> + use<'a> {
        rows.iter().filter(|r| **r > 1)
    }

    #[audited(action = "note_write", logger = &self.log)]
    fn parse_note<T: std::str::FromStr>(&self, text: &str) -> Result<T, T::Err>
    where
        T::Err: fmt::Display,
    {
        let value = text.trim().parse()?;
        Ok(value)
    }
}

fn trainer(log: &MemLog) -> Trainer {
    Trainer {
        log: log.logger.clone(),
        hp: Hparams {
            learning_rate: 0.1,
            batch_size: 32,
        },
    }
}

#[test]
fn success_with_capture_and_changed_keys() {
    let log = MemLog::new();
    let mut t = trainer(&log);
    t.set_lr(0.01).unwrap();
    assert_eq!(
        log.entries(),
        [entry(
            "hp_change",
            Status::Success,
            json!({
                "requested": 0.01,
                "before": {"learning_rate": 0.1, "batch_size": 32},
                "after": {"learning_rate": 0.01, "batch_size": 32},
                "changed": {"learning_rate": {"before": 0.1, "after": 0.01}},
            }),
            None
        )]
    );
}

#[test]
fn early_return_err_is_failed_with_display() {
    let log = MemLog::new();
    let mut t = trainer(&log);
    let err = t.set_lr(-1.0).unwrap_err();
    assert_eq!(err.0, "learning_rate -1");
    let hp = json!({"learning_rate": 0.1, "batch_size": 32});
    assert_eq!(
        log.entries(),
        [entry(
            "hp_change",
            Status::Failed,
            json!({"requested": -1.0, "before": hp, "after": hp, "changed": {}}),
            Some("invalid hyperparameter: learning_rate -1")
        )]
    );
}

#[test]
fn question_mark_and_generics() {
    let log = MemLog::new();
    let t = trainer(&log);
    assert_eq!(t.parse_note::<u32>(" 42 ").unwrap(), 42);
    assert!(t.parse_note::<u32>("x").is_err());
    assert_eq!(
        log.entries(),
        [
            entry("note_write", Status::Success, json!({}), None),
            entry(
                "note_write",
                Status::Failed,
                json!({}),
                Some("invalid digit found in string")
            ),
        ]
    );
}

#[test]
fn unit_value_by_value_self_and_impl_trait() {
    let log = MemLog::new();
    let t = trainer(&log);
    t.pause();
    let rows = [1, 2, 3];
    assert_eq!(t.query(&rows).count(), 2);
    assert_eq!(t.resume_by_value(), 32);
    assert_eq!(
        log.entries(),
        [
            entry("pause", Status::Success, json!({}), None),
            entry("query_execute", Status::Success, json!({}), None),
            entry("resume", Status::Success, json!({}), None),
        ]
    );
}

#[derive(AuditOutcome)]
struct EditResponse {
    success: bool,
    message: String,
}

#[audited(action = "tag_add", logger = log)]
fn respond(log: &AuditLogger, ok: bool) -> Result<EditResponse, HpError> {
    Ok(EditResponse {
        success: ok,
        message: if ok {
            String::new()
        } else {
            "unknown sample s9".into()
        },
    })
}

#[audited(action = "tag_add", logger = log)]
fn respond_plain(log: &AuditLogger, ok: bool) -> EditResponse {
    EditResponse {
        success: ok,
        message: "tag store is read-only".into(),
    }
}

#[test]
fn responses_that_say_they_failed() {
    let log = MemLog::new();
    assert!(respond(&log.logger, true).unwrap().success);
    assert!(!respond(&log.logger, false).unwrap().success);
    assert!(respond_plain(&log.logger, true).success);
    assert!(!respond_plain(&log.logger, false).success);
    assert_eq!(
        log.entries(),
        [
            entry("tag_add", Status::Success, json!({}), None),
            entry(
                "tag_add",
                Status::Failed,
                json!({}),
                Some("unknown sample s9")
            ),
            entry("tag_add", Status::Success, json!({}), None),
            entry(
                "tag_add",
                Status::Failed,
                json!({}),
                Some("tag store is read-only")
            ),
        ]
    );
}

#[audited(action = "checkpoint_restore", logger = log, details(checkpoint_id = id))]
fn restore(log: &AuditLogger, id: &str) -> usize {
    if id == "corrupt" {
        panic!("checkpoint {id} is corrupt");
    }
    id.len()
}

#[test]
fn panic_is_logged_then_continues_unchanged() {
    let log = MemLog::new();
    let caught = std::panic::catch_unwind(|| restore(&log.logger, "corrupt")).unwrap_err();
    assert_eq!(
        caught.downcast_ref::<String>().map(String::as_str),
        Some("checkpoint corrupt is corrupt")
    );
    assert_eq!(
        log.entries(),
        [entry(
            "checkpoint_restore",
            Status::Failed,
            json!({"checkpoint_id": "corrupt"}),
            Some("panicked: checkpoint corrupt is corrupt")
        )]
    );
}

#[audited(action = "tag_add" | "tag_remove", logger = log, details(tag))]
fn edit(log: &AuditLogger, tag: &str, add: Option<bool>, ids: &[u32]) -> Result<(), String> {
    let Some(add) = add else {
        return Err("no operation given".into());
    };
    scope::set_action(if add {
        Action::TagAdd
    } else {
        Action::TagRemove
    });
    scope::record("samples_affected", ids.len());
    scope::record("sample_ids", ids);
    Ok(())
}

#[test]
fn handler_with_several_actions_picks_one() {
    let log = MemLog::new();
    edit(&log.logger, "defect", Some(true), &[1, 2]).unwrap();
    edit(&log.logger, "defect", Some(false), &[3]).unwrap();
    edit(&log.logger, "defect", None, &[]).unwrap_err();
    assert_eq!(
        log.entries(),
        [
            entry(
                "tag_add",
                Status::Success,
                json!({"tag": "defect", "samples_affected": 2, "sample_ids": [1, 2]}),
                None
            ),
            entry(
                "tag_remove",
                Status::Success,
                json!({"tag": "defect", "samples_affected": 1, "sample_ids": [3]}),
                None
            ),
            // Failed before choosing: logged under the first declared action, with its own
            // error, and the details say the action was not decided.
            entry(
                "tag_add",
                Status::Failed,
                json!({"tag": "defect", "action_undecided": ["tag_add", "tag_remove"]}),
                Some("no operation given")
            ),
        ]
    );
}

#[audited(action = "tag_add" | "tag_remove", logger = log)]
fn forgets_to_choose(log: &AuditLogger) {}

/// Chooses an action it did not declare. Written through a variable so that the
/// compile-time check cannot see it; the runtime check must.
#[audited(action = "tag_add" | "tag_remove", logger = log)]
fn chooses_undeclared(log: &AuditLogger) {
    let wrong = Action::Pause;
    scope::set_action(wrong);
}

#[test]
fn undecided_or_undeclared_actions_are_failed_events_never_a_wrong_name() {
    let log = MemLog::new();
    forgets_to_choose(&log.logger);
    chooses_undeclared(&log.logger);
    let events = log.events();
    assert_eq!(events.len(), 2);
    assert!(events.iter().all(|e| e.action_type == "tag_add"));
    assert!(events.iter().all(|e| e.status == Status::Failed));
    assert!(
        events[0]
            .error
            .as_deref()
            .unwrap()
            .contains("did not choose one")
    );
    let undeclared = events[1].error.as_deref().unwrap();
    assert!(undeclared.contains("\"pause\""), "{undeclared}");
    assert!(
        undeclared.contains("the call itself succeeded"),
        "{undeclared}"
    );
}

#[audited(action = "hp_change" | "mode_switch" | "resume", logger = log, details(mode))]
fn command(log: &AuditLogger, mode: &str, read_only: bool) {
    if read_only {
        scope::skip();
        return;
    }
    scope::set_action(Action::HpChange);
    scope::emit(Action::ModeSwitch);
    scope::emit_with(Action::Resume, json!({"resumed_at_step": 1200}));
}

#[test]
fn one_call_yields_zero_to_n_events() {
    let log = MemLog::new();
    command(&log.logger, "train", true);
    assert!(log.events().is_empty());
    command(&log.logger, "train", false);
    assert_eq!(
        log.entries(),
        [
            entry(
                "mode_switch",
                Status::Success,
                json!({"mode": "train"}),
                None
            ),
            entry(
                "resume",
                Status::Success,
                json!({"mode": "train", "resumed_at_step": 1200}),
                None
            ),
            entry("hp_change", Status::Success, json!({"mode": "train"}), None),
        ]
    );
}

#[derive(Serialize)]
struct Credentials {
    user: String,
    token: String,
}

#[audited(action = "query_execute", logger = log, details(creds, nested = json!({"inner": {"token": "t2"}})), redact(token, "api_key"))]
fn query_with_secrets(log: &AuditLogger, creds: &Credentials) {
    scope::record("api_key", "k-123");
    scope::record("loss", f64::NAN);
}

#[test]
fn redaction_applies_to_every_detail_source_and_nan_survives() {
    let log = MemLog::new();
    let creds = Credentials {
        user: "alice".into(),
        token: "secret".into(),
    };
    query_with_secrets(&log.logger, &creds);
    assert_eq!(
        log.entries(),
        [entry(
            "query_execute",
            Status::Success,
            json!({
                "creds": {"user": "alice", "token": "[REDACTED]"},
                "nested": {"inner": {"token": "[REDACTED]"}},
                "api_key": "[REDACTED]",
                "loss": "NaN",
            }),
            None
        )]
    );
}

#[test]
fn disabled_logger_evaluates_nothing() {
    use std::cell::Cell;
    let log = TestLog::disabled();
    let evaluated = Cell::new(0);
    let count = || {
        evaluated.set(evaluated.get() + 1);
        1
    };

    #[audited(action = "pause", logger = log, capture = count(), details(x = count()))]
    fn paused(log: &AuditLogger, count: &dyn Fn() -> i32) -> i32 {
        scope::record("never", count());
        7
    }

    assert_eq!(paused(&log.logger, &count), 7);
    // Only the body's own call ran: capture, details and the recorded value's argument are
    // not evaluated by the attribute (the body still evaluates its own expressions).
    assert_eq!(evaluated.get(), 1);
    assert!(!scope::is_recording());
}

#[test]
fn nested_calls_have_their_own_scopes() {
    let log = MemLog::new();

    #[audited(action = "evaluation_start", logger = log)]
    fn outer(log: &AuditLogger) {
        scope::record("outer_before", 1);
        inner(log);
        scope::record("outer_after", 2);
    }

    #[audited(action = "checkpoint_restore", logger = log)]
    fn inner(log: &AuditLogger) {
        scope::record("inner", 3);
    }

    outer(&log.logger);
    assert_eq!(
        log.entries(),
        [
            entry(
                "checkpoint_restore",
                Status::Success,
                json!({"inner": 3}),
                None
            ),
            entry(
                "evaluation_start",
                Status::Success,
                json!({"outer_before": 1, "outer_after": 2}),
                None
            ),
        ]
    );
}

#[test]
fn actor_is_recorded() {
    let log = MemLog::new();
    audit_runtime::actor::scope("alice@lab", || {
        let mut t = trainer(&log);
        t.set_lr(0.5).unwrap();
    });
    assert_eq!(log.only_event().details["actor"], "alice@lab");
}

#[audited(action = "query_execute", logger = log, redact(actor))]
fn anonymous_query(log: &AuditLogger) {}

#[test]
fn the_actor_is_redacted_like_any_detail() {
    let log = MemLog::new();
    audit_runtime::actor::scope("alice@lab", || anonymous_query(&log.logger));
    assert_eq!(
        log.entries(),
        [entry(
            "query_execute",
            Status::Success,
            json!({"actor": "[REDACTED]"}),
            None
        )]
    );
}
