//! The in-memory experiment behind the example service: hyperparameters, training running or
//! paused, a mode (train / audit / evaluation), a dataset with tags and denylists, checkpoints
//! by hash, notes on metric points, and one evaluation at a time.
//!
//! Every operation returns a [`Report`]: what happened as audit events (action + details) and
//! whether it worked. The model knows nothing of gRPC or of the audit log; the service in
//! [`crate::server`] turns reports into responses and events.
//!
//! Operations are all-or-nothing: a request is validated as a whole before anything changes,
//! so a refused request leaves the experiment as it was.
//!
//! Each operation has its own file, holding its validation, its change and the details it
//! reports, so that what one action logs can be read (and tested) in one place:
//!
//! | file | operation |
//! | --- | --- |
//! | `command.rs` | `ExperimentCommand`: gathers the operations below, applies all or none |
//! | [`hyper`] | hyperparameters (`hp_change`) |
//! | `training.rs` | training running or paused (`pause` / `resume`), the mode (`mode_switch`) |
//! | `notes.rs` | notes on metric points (`note_write`) |
//! | `checkpoints.rs` | checkpoints by id or by hash (`checkpoint_restore`) |
//! | `denylist.rs` | the train and eval denylists (`sample_discard` / `sample_restore`) |
//! | `edit.rs` | `EditDataSample`: tags (`tag_add` / `tag_remove`) and the discarded flag |
//! | `data_query.rs` | `ApplyDataQuery` (`query_execute`) |
//! | `evaluation.rs` | `TriggerEvaluation` (`evaluation_start`) |
//! | [`dataset`] | the samples themselves |
//!
//! This file keeps what they share: the state, the report types and the sample lookup.

pub mod dataset;
pub mod hyper;

mod checkpoints;
mod command;
mod data_query;
mod denylist;
mod edit;
mod evaluation;
mod notes;
mod training;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{Map, Value};

use crate::query::Expr;
use dataset::{Origin, Sample};
use evaluation::Evaluation;
use hyper::HyperParams;

/// The built-in actions: the spec's twelve and the eight WeightsLab v2.0 services log (the same enum
/// `#[audited]` checks names against).
pub use audited::Action;
pub use checkpoints::{Checkpoint, TrainingState};
pub use data_query::QueryView;

/// One auditable thing a request did (or tried to do).
#[derive(Debug, Clone, PartialEq)]
pub struct Effect {
    /// Which action.
    pub action: Action,
    /// The event's details.
    pub details: Map<String, Value>,
}

/// What a request did: its events, and its outcome (a message, or why it was refused).
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The events to log, in order; empty for a read-only request.
    pub effects: Vec<Effect>,
    /// `Ok(message)` or `Err(reason)`; a refused request changed nothing.
    pub result: Result<String, String>,
}

impl Report {
    fn one(action: Action, details: Map<String, Value>, result: Result<String, String>) -> Self {
        Report {
            effects: vec![Effect { action, details }],
            result,
        }
    }

    /// Whether the request succeeded.
    pub fn is_ok(&self) -> bool {
        self.result.is_ok()
    }

    /// The message for the response: the success message or the reason for the refusal.
    pub fn message(&self) -> &str {
        match &self.result {
            Ok(m) | Err(m) => m,
        }
    }
}

/// The experiment's mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Training.
    Train,
    /// Auditing (inspecting data, training held).
    Audit,
    /// Evaluating.
    Evaluation,
}

impl Mode {
    /// `train`, `audit` or `evaluation`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Train => "train",
            Mode::Audit => "audit",
            Mode::Evaluation => "evaluation",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Sizes and timings of an [`Experiment`].
#[derive(Debug, Clone)]
pub struct ExperimentConfig {
    /// How many samples the dataset has (default 300).
    pub samples: usize,
    /// How many checkpoints exist (default 5).
    pub checkpoints: usize,
    /// How long an evaluation runs; another cannot start meanwhile (default 2 s).
    pub evaluation_duration: Duration,
    /// How long restoring a checkpoint by hash takes (default 0; tests make it long to
    /// cancel a call mid-way).
    pub checkpoint_load_time: Duration,
}

impl Default for ExperimentConfig {
    fn default() -> Self {
        ExperimentConfig {
            samples: 300,
            checkpoints: 5,
            evaluation_duration: Duration::from_secs(2),
            checkpoint_load_time: Duration::ZERO,
        }
    }
}

#[derive(Debug)]
struct State {
    hp: HyperParams,
    training: bool,
    mode: Mode,
    model_age: i32,
    samples: Vec<Sample>,
    index: HashMap<String, usize>,
    checkpoints: Vec<Checkpoint>,
    notes: BTreeMap<(String, String, i32), String>,
    evaluation: Option<Evaluation>,
    view: Expr,
}

/// One operation requested by an `ExperimentCommand`: its action, the details known before
/// applying it, and the validated change or why it is refused.
struct Planned<T> {
    action: Action,
    details: Map<String, Value>,
    change: Result<T, String>,
}

/// The experiment; share it behind an `Arc`.
#[derive(Debug)]
pub struct Experiment {
    config: ExperimentConfig,
    state: Mutex<State>,
}

impl Default for Experiment {
    fn default() -> Self {
        Self::new(ExperimentConfig::default())
    }
}

impl Experiment {
    /// A fresh experiment: training, in train mode, at step 4200.
    pub fn new(config: ExperimentConfig) -> Self {
        let samples = dataset::generate(config.samples);
        let index = samples
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.clone(), i))
            .collect();
        let hp = HyperParams::default();
        let checkpoints = checkpoints::generate(config.checkpoints, &hp);
        Experiment {
            state: Mutex::new(State {
                hp,
                training: true,
                mode: Mode::Train,
                model_age: 4200,
                samples,
                index,
                checkpoints,
                notes: BTreeMap::new(),
                evaluation: None,
                view: Expr::All,
            }),
            config,
        }
    }

    /// The configuration it was made with.
    pub fn config(&self) -> &ExperimentConfig {
        &self.config
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent data (every change is validated
        // first), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A copy of the samples.
    pub fn samples(&self) -> Vec<Sample> {
        self.lock().samples.clone()
    }

    /// The current hyperparameters.
    pub fn hyper_params(&self) -> HyperParams {
        self.lock().hp.clone()
    }

    /// Whether training is running.
    pub fn is_training(&self) -> bool {
        self.lock().training
    }

    /// The current mode.
    pub fn mode(&self) -> Mode {
        self.lock().mode
    }

    /// The current training step.
    pub fn model_age(&self) -> i32 {
        self.lock().model_age
    }
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

impl State {
    /// The indices of `ids`, all of which must exist; with `origins` (parallel to `ids`,
    /// as WeightsLab's clients send them), each must match the sample's.
    fn resolve(&self, ids: &[String], origins: &[String]) -> Result<Vec<usize>, String> {
        if ids.is_empty() {
            return Err("no sample ids given".to_owned());
        }
        if !origins.is_empty() && origins.len() != ids.len() {
            return Err(format!(
                "{} sample ids but {} origins",
                ids.len(),
                origins.len()
            ));
        }
        let mut out = Vec::with_capacity(ids.len());
        for (n, id) in ids.iter().enumerate() {
            let &i = self
                .index
                .get(id.as_str())
                .ok_or_else(|| format!("unknown sample id {id:?}"))?;
            if let Some(claimed) = origins.get(n)
                && Origin::parse(claimed) != Some(self.samples[i].origin)
            {
                return Err(format!(
                    "sample {id:?} is a {} sample, not {claimed:?}",
                    self.samples[i].origin
                ));
            }
            out.push(i);
        }
        Ok(out)
    }

    fn origins(&self, indices: &[usize]) -> Value {
        indices
            .iter()
            .map(|&i| Value::from(self.samples[i].origin.as_str()))
            .collect()
    }
}

/// `n` and `noun`, plural unless `n` is 1: "1 sample", "2 samples" (not "1 samples").
fn plural(n: usize, noun: &str) -> String {
    match n {
        1 => format!("1 {noun}"),
        n => format!("{n} {noun}s"),
    }
}

/// The actions of a report's events, in order.
#[cfg(test)]
fn actions(report: &Report) -> Vec<&'static str> {
    use audited::AuditAction;
    report.effects.iter().map(|e| e.action.name()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{DataEditsRequest, DataQueryRequest, SampleEditType};

    /// Issue [6]: one sample was reported as "1 samples".
    #[test]
    fn one_sample_is_not_reported_as_1_samples() {
        let exp = Experiment::default();
        let edit = |stat: &str, ids: &[&str]| DataEditsRequest {
            stat_name: stat.into(),
            r#type: SampleEditType::EditAccumulate as i32,
            samples_ids: ids.iter().map(|s| s.to_string()).collect(),
            bool_value: true,
            ..Default::default()
        };
        let r = exp.edit(&edit("tag:defect", &["s1"])).unwrap();
        assert_eq!(r.message(), "tag \"defect\": 1 sample changed");
        let r = exp.edit(&edit("tag:defect", &["s1", "s2"])).unwrap();
        assert_eq!(r.message(), "tag \"defect\": 1 sample changed");
        let r = exp.edit(&edit("tag:defect", &["s3", "s4"])).unwrap();
        assert_eq!(r.message(), "tag \"defect\": 2 samples changed");
        let r = exp.edit(&edit("discarded", &["s5"])).unwrap();
        assert_eq!(r.message(), "1 sample discarded");
        let r = exp.edit(&edit("discarded", &["s5"])).unwrap();
        assert_eq!(r.message(), "0 samples discarded");
        let query = |q: &str| DataQueryRequest {
            query: q.into(),
            accumulate: false,
            is_natural_language: false,
        };
        assert_eq!(
            exp.query(&query("id == 's7'")).0.message(),
            "1 sample matches"
        );
        assert_eq!(
            exp.query(&query("id == 'nope'")).0.message(),
            "0 samples match"
        );
        assert_eq!(plural(1, "data record"), "1 data record");
        assert_eq!(plural(0, "sample"), "0 samples");
    }
}
