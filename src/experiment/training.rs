//! Training control, the part of a hyperparameter change that is state rather than settings:
//! training running or paused (`is_training`: `pause` / `resume`) and the mode
//! (`auditor_mode`, `evaluation_mode`: `mode_switch`).

use serde_json::json;

use super::{Action, Mode, Planned, obj};

/// The `mode_switch` that `auditor_mode` / `evaluation_mode` ask for: `None` when neither is
/// set or the mode stays the same.
pub(super) fn plan_mode(
    current: Mode,
    auditor: Option<bool>,
    evaluation: Option<bool>,
) -> Option<Planned<Mode>> {
    if auditor.is_none() && evaluation.is_none() {
        return None;
    }
    let target = match (auditor, evaluation) {
        (Some(true), Some(true)) => {
            return Some(Planned {
                action: Action::ModeSwitch,
                details: obj(json!({"from_mode": current.as_str()})),
                change: Err("auditor_mode and evaluation_mode cannot both be on".to_owned()),
            });
        }
        (Some(true), _) => Mode::Audit,
        (_, Some(true)) => Mode::Evaluation,
        // Turning off the mode we are in returns to training; turning off another is a no-op.
        (Some(false), _) if current == Mode::Audit => Mode::Train,
        (_, Some(false)) if current == Mode::Evaluation => Mode::Train,
        _ => current,
    };
    (target != current).then(|| Planned {
        action: Action::ModeSwitch,
        details: obj(json!({"from_mode": current.as_str(), "to_mode": target.as_str()})),
        change: Ok(target),
    })
}

/// `resume` or `pause` for every `is_training` sent, also one equal to the current state:
/// the event records what was requested, and its `before` shows that nothing changed.
pub(super) fn plan_training(training: bool, model_age: i32, wanted: bool) -> Planned<bool> {
    Planned {
        action: if wanted {
            Action::Resume
        } else {
            Action::Pause
        },
        details: obj(json!({
            "before": {"is_training": training},
            "after": {"is_training": wanted},
            "model_age": model_age,
        })),
        change: Ok(wanted),
    }
}
