//! Hyperparameters: the current values, validation of a requested change, and the
//! before/after of the values that actually change.

use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use super::{Action, Planned};
use crate::proto::HyperParameters;

/// The experiment's hyperparameters (the fields of WeightsLab's `HyperParameters` that are
/// settings; `is_training`, `auditor_mode` and `evaluation_mode` are state, kept elsewhere).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HyperParams {
    /// The experiment's display name.
    pub experiment_name: String,
    /// Steps still to train.
    pub training_steps_to_do: i32,
    /// Learning rate.
    #[serde(serialize_with = "learning_rate_as_typed")]
    pub learning_rate: f32,
    /// Batch size.
    pub batch_size: i32,
    /// Steps between full evaluations.
    pub full_eval_frequency: i32,
    /// Steps between checkpoints (WeightsLab's spelling).
    pub checkpont_frequency: i32,
    /// Total steps.
    pub nb_steps: i32,
    /// Training batch size.
    pub train_batch_size: i32,
    /// Validation batch size.
    pub val_batch_size: i32,
    /// Test batch size.
    pub test_batch_size: i32,
    /// Free-form evaluation configuration.
    pub evaluation_config: String,
}

impl Default for HyperParams {
    fn default() -> Self {
        HyperParams {
            experiment_name: "mnist-cnn".to_owned(),
            training_steps_to_do: 10_000,
            learning_rate: 0.01,
            batch_size: 32,
            full_eval_frequency: 500,
            checkpont_frequency: 1000,
            nb_steps: 10_000,
            train_batch_size: 32,
            val_batch_size: 64,
            test_batch_size: 64,
            evaluation_config: String::new(),
        }
    }
}

/// A float as the user typed it: `0.001f32` is logged as `0.001`, not `0.0010000000474974513`.
pub fn f32_json(x: f32) -> Value {
    x.to_string()
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map_or_else(|| Value::String(x.to_string()), Value::Number)
}

// Serialised through `f32_json` so that every place the settings are logged or answered with
// (a captured before/after, `GetHyperParameters`) shows the value `hp_change` logs.
fn learning_rate_as_typed<S: Serializer>(lr: &f32, serializer: S) -> Result<S::Ok, S::Error> {
    f32_json(*lr).serialize(serializer)
}

/// One hyperparameter that a request changes.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The field's name.
    pub name: &'static str,
    /// Its value now.
    pub before: Value,
    /// Its value once applied.
    pub after: Value,
}

/// The changes `request` asks for: validated, and only the fields whose value differs.
/// Nothing is applied; see [`HyperParams::apply`].
pub fn plan(current: &HyperParams, request: &HyperParameters) -> Result<Vec<Change>, String> {
    let mut changes = Vec::new();
    let mut int = |name: &'static str, now: i32, wanted: Option<i32>, min: i32| match wanted {
        Some(v) if v < min => Err(format!("{name} must be at least {min}, got {v}")),
        Some(v) if v != now => {
            changes.push(Change {
                name,
                before: now.into(),
                after: v.into(),
            });
            Ok(())
        }
        _ => Ok(()),
    };
    int(
        "training_steps_to_do",
        current.training_steps_to_do,
        request.training_steps_to_do,
        0,
    )?;
    int("batch_size", current.batch_size, request.batch_size, 1)?;
    int(
        "full_eval_frequency",
        current.full_eval_frequency,
        request.full_eval_frequency,
        1,
    )?;
    int(
        "checkpont_frequency",
        current.checkpont_frequency,
        request.checkpont_frequency,
        1,
    )?;
    int("nb_steps", current.nb_steps, request.nb_steps, 0)?;
    int(
        "train_batch_size",
        current.train_batch_size,
        request.train_batch_size,
        1,
    )?;
    int(
        "val_batch_size",
        current.val_batch_size,
        request.val_batch_size,
        1,
    )?;
    int(
        "test_batch_size",
        current.test_batch_size,
        request.test_batch_size,
        1,
    )?;
    if let Some(lr) = request.learning_rate {
        if !(lr.is_finite() && lr > 0.0) {
            return Err(format!("learning_rate must be a positive number, got {lr}"));
        }
        if lr != current.learning_rate {
            changes.push(Change {
                name: "learning_rate",
                before: f32_json(current.learning_rate),
                after: f32_json(lr),
            });
        }
    }
    if let Some(name) = &request.experiment_name {
        if name.trim().is_empty() {
            return Err("experiment_name must not be empty".to_owned());
        }
        if *name != current.experiment_name {
            changes.push(Change {
                name: "experiment_name",
                before: current.experiment_name.clone().into(),
                after: name.clone().into(),
            });
        }
    }
    if let Some(config) = &request.evaluation_config
        && *config != current.evaluation_config
    {
        changes.push(Change {
            name: "evaluation_config",
            before: current.evaluation_config.clone().into(),
            after: config.clone().into(),
        });
    }
    Ok(changes)
}

impl HyperParams {
    /// Applies the requested values (already validated by [`plan`]).
    pub fn apply(&mut self, request: &HyperParameters) {
        let set = |field: &mut i32, v: Option<i32>| {
            if let Some(v) = v {
                *field = v;
            }
        };
        set(&mut self.training_steps_to_do, request.training_steps_to_do);
        set(&mut self.batch_size, request.batch_size);
        set(&mut self.full_eval_frequency, request.full_eval_frequency);
        set(&mut self.checkpont_frequency, request.checkpont_frequency);
        set(&mut self.nb_steps, request.nb_steps);
        set(&mut self.train_batch_size, request.train_batch_size);
        set(&mut self.val_batch_size, request.val_batch_size);
        set(&mut self.test_batch_size, request.test_batch_size);
        if let Some(lr) = request.learning_rate {
            self.learning_rate = lr;
        }
        if let Some(name) = &request.experiment_name {
            self.experiment_name.clone_from(name);
        }
        if let Some(config) = &request.evaluation_config {
            self.evaluation_config.clone_from(config);
        }
    }
}

/// The spec's `hp_change` details: `changed_params` (the new values, as in the spec's
/// example), plus `before` and `after` of the changed ones.
pub fn change_details(changes: &[Change]) -> Map<String, Value> {
    let mut changed = Map::with_capacity(changes.len());
    let mut before = Map::with_capacity(changes.len());
    let mut after = Map::with_capacity(changes.len());
    for c in changes {
        changed.insert(c.name.to_owned(), c.after.clone());
        before.insert(c.name.to_owned(), c.before.clone());
        after.insert(c.name.to_owned(), c.after.clone());
    }
    // Room for the `actor` the logger adds to every event, so that adding it does not grow
    // (reallocate and rehash) the map.
    let mut details = Map::with_capacity(4);
    details.insert("changed_params".into(), changed.into());
    details.insert("before".into(), before.into());
    details.insert("after".into(), after.into());
    details
}

/// The `hp_change` of a command: `None` when no setting would change; refused with the
/// requested settings as details when one is invalid.
pub(super) fn plan_change(
    current: &HyperParams,
    request: &HyperParameters,
) -> Option<Planned<Box<HyperParameters>>> {
    match plan(current, request) {
        Ok(changes) if changes.is_empty() => None,
        Ok(changes) => Some(Planned {
            action: Action::HpChange,
            details: change_details(&changes),
            change: Ok(Box::new(request.clone())),
        }),
        Err(e) => {
            let mut details = Map::new();
            details.insert("requested".into(), requested(request).into());
            Some(Planned {
                action: Action::HpChange,
                details,
                change: Err(e),
            })
        }
    }
}

/// The settings a request names, for the details of a refused change.
pub fn requested(request: &HyperParameters) -> Map<String, Value> {
    let mut m = Map::new();
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            m.insert(k.to_owned(), v);
        }
    };
    put(
        "experiment_name",
        request.experiment_name.clone().map(Value::from),
    );
    put(
        "training_steps_to_do",
        request.training_steps_to_do.map(Value::from),
    );
    put("learning_rate", request.learning_rate.map(f32_json));
    put("batch_size", request.batch_size.map(Value::from));
    put(
        "full_eval_frequency",
        request.full_eval_frequency.map(Value::from),
    );
    put(
        "checkpont_frequency",
        request.checkpont_frequency.map(Value::from),
    );
    put("nb_steps", request.nb_steps.map(Value::from));
    put(
        "train_batch_size",
        request.train_batch_size.map(Value::from),
    );
    put("val_batch_size", request.val_batch_size.map(Value::from));
    put("test_batch_size", request.test_batch_size.map(Value::from));
    put(
        "evaluation_config",
        request.evaluation_config.clone().map(Value::from),
    );
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_changed_values_with_before_and_after() {
        let hp = HyperParams::default();
        let req = HyperParameters {
            learning_rate: Some(0.001),
            batch_size: Some(32), // unchanged
            nb_steps: Some(500),
            ..Default::default()
        };
        let changes = plan(&hp, &req).unwrap();
        let d = change_details(&changes);
        assert_eq!(
            Value::Object(d),
            serde_json::json!({
                "changed_params": {"nb_steps": 500, "learning_rate": 0.001},
                "before": {"nb_steps": 10000, "learning_rate": 0.01},
                "after": {"nb_steps": 500, "learning_rate": 0.001}
            })
        );
    }

    #[test]
    fn invalid_values_are_refused() {
        let hp = HyperParams::default();
        for req in [
            HyperParameters {
                learning_rate: Some(-0.1),
                ..Default::default()
            },
            HyperParameters {
                learning_rate: Some(f32::NAN),
                ..Default::default()
            },
            HyperParameters {
                batch_size: Some(0),
                ..Default::default()
            },
            HyperParameters {
                experiment_name: Some(" ".into()),
                ..Default::default()
            },
        ] {
            assert!(plan(&hp, &req).is_err(), "{req:?}");
        }
    }

    #[test]
    fn f32_is_logged_as_typed() {
        assert_eq!(f32_json(0.001).to_string(), "0.001");
        assert_eq!(f32_json(3e-4).to_string(), "0.0003");
    }

    #[test]
    fn serialized_settings_show_the_learning_rate_as_typed() {
        let hp = HyperParams {
            learning_rate: 0.005,
            ..HyperParams::default()
        };
        let v = serde_json::to_value(&hp).unwrap();
        assert_eq!(v["learning_rate"].to_string(), "0.005");
    }
}
