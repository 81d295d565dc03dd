//! Checkpoints: saved model states, restored by id (`load_checkpoint_operation` of a
//! command) or by hash (`RestoreCheckpoint`); both are `checkpoint_restore`.

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::hyper::HyperParams;
use super::{Action, Experiment, Planned, Report, State, obj};

/// A saved model state.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// Its number (`LoadCheckpointOperation.checkpoint_id`).
    pub id: i32,
    /// Its hash (`RestoreCheckpointRequest.experiment_hash`).
    pub hash: String,
    /// The training step it was taken at.
    pub model_age: i32,
    /// The hyperparameters at that point.
    pub hyper_params: HyperParams,
}

/// What restoring a checkpoint changes: the training step and the hyperparameters.
///
/// It serialises as one flat object (`model_age` next to each setting), so that when the
/// `RestoreCheckpoint` handler captures it before and after the call, `details.changed` names
/// each value the restore changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainingState {
    /// The training step.
    pub model_age: i32,
    /// The hyperparameters.
    #[serde(flatten)]
    pub hyper_params: HyperParams,
}

/// `count` checkpoints, numbered from 1, checkpoint `i` at step `i * 1000` with learning
/// rate `0.01 / i`.
pub(super) fn generate(count: usize, hp: &HyperParams) -> Vec<Checkpoint> {
    (1..=count)
        .map(|i| {
            let i = i as i32;
            let mut hyper_params = hp.clone();
            hyper_params.learning_rate = 0.01 / i as f32;
            Checkpoint {
                id: i,
                // Stable, hash-looking names: ckpt 1 is always the same hash.
                hash: format!("{:08x}", (i as u32).wrapping_mul(0x9e37_79b9)),
                model_age: i * 1000,
                hyper_params,
            }
        })
        .collect()
}

/// The command's restore by id: the index of the checkpoint, or why not.
pub(super) fn plan_load(checkpoints: &[Checkpoint], id: i32) -> Planned<usize> {
    let mut details = obj(json!({"checkpoint_id": id}));
    let change = match checkpoints.iter().position(|c| c.id == id) {
        Some(i) => {
            details.insert("experiment_hash".into(), checkpoints[i].hash.clone().into());
            Ok(i)
        }
        None => Err(format!("unknown checkpoint id {id}")),
    };
    Planned {
        action: Action::CheckpointRestore,
        details,
        change,
    }
}

impl Experiment {
    /// The checkpoints, oldest first.
    pub fn checkpoints(&self) -> Vec<Checkpoint> {
        self.lock().checkpoints.clone()
    }

    /// The current step and hyperparameters.
    pub fn training_state(&self) -> TrainingState {
        let st = self.lock();
        TrainingState {
            model_age: st.model_age,
            hyper_params: st.hp.clone(),
        }
    }

    /// The checkpoint with this hash, or the refusal to log.
    pub fn find_checkpoint(&self, hash: &str) -> Result<Checkpoint, Report> {
        let st = self.lock();
        let hash = hash.trim();
        st.checkpoints
            .iter()
            .find(|c| c.hash == hash)
            .cloned()
            .ok_or_else(|| {
                let reason = if hash.is_empty() {
                    "experiment_hash is empty".to_owned()
                } else {
                    format!("unknown checkpoint {hash:?}")
                };
                Report::one(
                    Action::CheckpointRestore,
                    obj(json!({"experiment_hash": hash})),
                    Err(reason),
                )
            })
    }

    /// `RestoreCheckpoint`: loads the checkpoint with this hash (taking
    /// [`ExperimentConfig::checkpoint_load_time`](super::ExperimentConfig::checkpoint_load_time)),
    /// then makes it current. A call dropped while loading changes nothing.
    ///
    /// The event's details name the checkpoint (`experiment_hash`, `checkpoint_id`); the
    /// state before and after is left to the caller, as a [`TrainingState`] (the service
    /// captures it around the call).
    pub async fn restore_checkpoint(&self, hash: &str) -> Report {
        let checkpoint = match self.find_checkpoint(hash) {
            Ok(c) => c,
            Err(report) => return report,
        };
        if !self.config.checkpoint_load_time.is_zero() {
            tokio::time::sleep(self.config.checkpoint_load_time).await;
        }
        let mut st = self.lock();
        let d = obj(json!({
            "experiment_hash": checkpoint.hash,
            "checkpoint_id": checkpoint.id,
        }));
        let i = st
            .checkpoints
            .iter()
            .position(|c| c.id == checkpoint.id)
            .unwrap_or_default();
        st.restore(i);
        let msg = format!(
            "restored checkpoint {} (step {})",
            checkpoint.hash, checkpoint.model_age
        );
        Report::one(Action::CheckpointRestore, d, Ok(msg))
    }
}

impl State {
    /// Makes checkpoint `i` current.
    fn restore(&mut self, i: usize) {
        let c = &self.checkpoints[i];
        self.hp = c.hyper_params.clone();
        self.model_age = c.model_age;
    }

    /// The command's restore by id: the details get the step before and after. (A command's
    /// events cannot come from the handler's `capture`: all of them would share it.)
    pub(super) fn restore_recording_steps(&mut self, i: usize, d: &mut Map<String, Value>) {
        d.insert("before".into(), json!({"model_age": self.model_age}));
        self.restore(i);
        d.insert("after".into(), json!({"model_age": self.model_age}));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::experiment::Experiment;

    #[tokio::test]
    async fn restore_by_hash_reports_the_checkpoint_and_changes_the_training_state() {
        let exp = Experiment::default();
        let target = exp.checkpoints()[1].clone();
        let report = exp.restore_checkpoint(&format!(" {} ", target.hash)).await;
        assert!(report.is_ok(), "{report:?}");
        assert_eq!(report.effects.len(), 1);
        assert_eq!(
            serde_json::Value::Object(report.effects[0].details.clone()),
            json!({"experiment_hash": target.hash, "checkpoint_id": 2})
        );
        let state = exp.training_state();
        assert_eq!(
            (state.model_age, state.hyper_params),
            (target.model_age, target.hyper_params)
        );
    }
}
