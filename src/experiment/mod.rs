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

pub mod dataset;
pub mod hyper;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use crate::proto::{
    DataEditsRequest, DataQueryRequest, DenySamplesOperation, PlotNoteOperation, SampleEditType,
    TrainerCommand, TriggerEvaluationRequest,
};
use crate::query::Expr;
use dataset::{Origin, Sample, Split};
use hyper::HyperParams;

/// The built-in actions: the spec's twelve and the eight WeightsLab v2.0 services log (the same enum
/// `#[audited]` checks names against).
pub use audit_runtime::Action;
use audit_runtime::AuditAction;

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

#[derive(Debug)]
struct Evaluation {
    split: String,
    until: Instant,
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

fn sample_ids_json(ids: &[String]) -> Value {
    Value::from(ids.to_vec())
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
        let checkpoints = (1..=config.checkpoints)
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
            .collect();
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

    /// The checkpoints, oldest first.
    pub fn checkpoints(&self) -> Vec<Checkpoint> {
        self.lock().checkpoints.clone()
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

    /// The note on a metric point, if any.
    pub fn note(&self, metric: &str, experiment_hash: &str, model_age: i32) -> Option<String> {
        self.lock()
            .notes
            .get(&(metric.to_owned(), experiment_hash.to_owned(), model_age))
            .cloned()
    }

    /// `ExperimentCommand`: applies every operation in `cmd`, or none if one is invalid.
    ///
    /// Events, in this order: `hp_change` (the changed settings), `mode_switch`,
    /// `pause`/`resume`, `note_write`, `checkpoint_restore`, `sample_discard` (train, then
    /// eval denylist), `sample_restore` (likewise). A command with only `get_*` fields is
    /// read-only and has no event.
    pub fn command(&self, cmd: &TrainerCommand) -> Report {
        let mut st = self.lock();
        let mut plans: Vec<Plan> = Vec::new();

        if let Some(req) = cmd
            .hyper_parameter_change
            .as_ref()
            .and_then(|c| c.hyper_parameters.as_ref())
        {
            match hyper::plan(&st.hp, req) {
                Ok(changes) if changes.is_empty() => {}
                Ok(changes) => plans.push((
                    Action::HpChange,
                    hyper::change_details(&changes),
                    Ok(Op::Hp(Box::new(req.clone()))),
                )),
                Err(e) => {
                    let mut d = Map::new();
                    d.insert("requested".into(), hyper::requested(req).into());
                    plans.push((Action::HpChange, d, Err(e)));
                }
            }
            if let Some(plan) = plan_mode(st.mode, req.auditor_mode, req.evaluation_mode) {
                plans.push(plan);
            }
            if let Some(training) = req.is_training {
                let action = if training {
                    Action::Resume
                } else {
                    Action::Pause
                };
                let d = obj(json!({
                    "before": {"is_training": st.training},
                    "after": {"is_training": training},
                    "model_age": st.model_age,
                }));
                plans.push((action, d, Ok(Op::Training(training))));
            }
        }
        if let Some(note) = &cmd.plot_note_operation {
            plans.push(plan_note(note));
        }
        if let Some(load) = &cmd.load_checkpoint_operation {
            let id = load.checkpoint_id;
            let found = st.checkpoints.iter().position(|c| c.id == id);
            let mut d = obj(json!({"checkpoint_id": id}));
            let plan = match found {
                Some(i) => {
                    d.insert(
                        "experiment_hash".into(),
                        st.checkpoints[i].hash.clone().into(),
                    );
                    Ok(Op::Checkpoint(i))
                }
                None => Err(format!("unknown checkpoint id {id}")),
            };
            plans.push((Action::CheckpointRestore, d, plan));
        }
        let denylists = [
            (&cmd.deny_samples_operation, Split::Train, true),
            (&cmd.deny_eval_samples_operation, Split::Eval, true),
            (&cmd.remove_from_denylist_operation, Split::Train, false),
            (&cmd.remove_eval_from_denylist_operation, Split::Eval, false),
        ];
        for (op, split, deny) in denylists {
            if let Some(op) = op {
                plans.push(plan_denylist(&st, op, split, deny));
            }
        }

        if plans.is_empty() {
            return Report {
                effects: Vec::new(),
                result: Ok(read_only_answer(&st, cmd)),
            };
        }
        let errors: Vec<String> = plans
            .iter()
            .filter_map(|(_, _, p)| p.as_ref().err().cloned())
            .collect();
        if !errors.is_empty() {
            return Report {
                effects: plans
                    .into_iter()
                    .map(|(action, details, _)| Effect { action, details })
                    .collect(),
                result: Err(errors.join("; ")),
            };
        }
        let mut effects = Vec::with_capacity(plans.len());
        for (action, mut details, op) in plans {
            if let Ok(op) = op {
                st.apply(op, &mut details);
            }
            effects.push(Effect { action, details });
        }
        let names: Vec<&str> = effects.iter().map(|e| e.action.name()).collect();
        Report {
            result: Ok(format!("applied: {}", names.join(", "))),
            effects,
        }
    }

    /// `EditDataSample`: tags (`stat_name` `tag` or `tag:<name>`) or the discarded flag
    /// (`stat_name` `discarded`). `Err` for any other `stat_name`: nothing to audit.
    pub fn edit(&self, req: &DataEditsRequest) -> Result<Report, String> {
        let stat = req.stat_name.trim();
        let edit_type =
            SampleEditType::try_from(req.r#type).unwrap_or(SampleEditType::EditOverride);
        let mut st = self.lock();
        if stat == "discarded" {
            let action = if req.bool_value {
                Action::SampleDiscard
            } else {
                Action::SampleRestore
            };
            let mut d = obj(json!({"sample_ids": req.samples_ids}));
            let idx = match st.resolve(&req.samples_ids, &req.sample_origins) {
                Ok(idx) => idx,
                Err(e) => return Ok(Report::one(action, d, Err(e))),
            };
            let mut affected = 0;
            for &i in &idx {
                let s = &mut st.samples[i];
                affected += usize::from(s.discarded != req.bool_value);
                s.discarded = req.bool_value;
            }
            d.insert("samples_affected".into(), affected.into());
            d.insert("origins".into(), st.origins(&idx));
            let verb = if req.bool_value {
                "discarded"
            } else {
                "restored"
            };
            return Ok(Report::one(
                action,
                d,
                Ok(format!("{} {verb}", plural(affected, "sample"))),
            ));
        }
        let tag = match stat.strip_prefix("tag:") {
            Some(name) => name.trim(),
            None if stat == "tag" || stat == "tags" => req.string_value.trim(),
            None => {
                return Err(format!(
                    "unsupported stat_name {stat:?}: expected \"tag\", \"tag:<name>\" or \"discarded\""
                ));
            }
        };
        let (action, mode) = match edit_type {
            SampleEditType::EditRemove => (Action::TagRemove, "remove"),
            SampleEditType::EditAccumulate => (Action::TagAdd, "accumulate"),
            SampleEditType::EditOverride => (Action::TagAdd, "override"),
        };
        let mut d = obj(json!({"tag_name": tag, "sample_ids": req.samples_ids, "edit_type": mode}));
        if tag.is_empty() {
            return Ok(Report::one(
                action,
                d,
                Err("the tag name is empty".to_owned()),
            ));
        }
        let idx = match st.resolve(&req.samples_ids, &req.sample_origins) {
            Ok(idx) => idx,
            Err(e) => return Ok(Report::one(action, d, Err(e))),
        };
        let mut affected = 0;
        for &i in &idx {
            let tags = &mut st.samples[i].tags;
            let changed = match edit_type {
                SampleEditType::EditRemove => tags.remove(tag),
                SampleEditType::EditAccumulate => tags.insert(tag.to_owned()),
                SampleEditType::EditOverride => {
                    let changed = !(tags.len() == 1 && tags.contains(tag));
                    *tags = BTreeSet::from([tag.to_owned()]);
                    changed
                }
            };
            affected += usize::from(changed);
        }
        d.insert("samples_affected".into(), affected.into());
        d.insert("origins".into(), st.origins(&idx));
        let msg = format!("tag {tag:?}: {} changed", plural(affected, "sample"));
        Ok(Report::one(action, d, Ok(msg)))
    }

    /// `ApplyDataQuery`: filters the samples (see [`crate::query`]); with `accumulate`, on
    /// top of the previous query. Returns the report and, on success, the matching view.
    pub fn query(&self, req: &DataQueryRequest) -> (Report, Option<QueryView>) {
        let query_type = if req.is_natural_language {
            "natural_language"
        } else {
            "pandas"
        };
        let mut d = obj(json!({
            "query_type": query_type,
            "query_text": req.query,
            "accumulate": req.accumulate,
        }));
        let expr = match Expr::parse(&req.query) {
            Ok(expr) => expr,
            Err(e) => {
                let reason = if req.is_natural_language {
                    // No language model here: natural-language queries must already be in the
                    // filter language.
                    format!(
                        "{e} (this server understands natural-language queries only when written in the filter language)"
                    )
                } else {
                    e.to_string()
                };
                return (Report::one(Action::QueryExecute, d, Err(reason)), None);
            }
        };
        let mut st = self.lock();
        let expr = if req.accumulate {
            Expr::And(Box::new(st.view.clone()), Box::new(expr))
        } else {
            expr
        };
        let matching: Vec<&Sample> = st.samples.iter().filter(|s| expr.matches(*s)).collect();
        let discarded = matching.iter().filter(|s| s.discarded).count();
        let tags: BTreeSet<&str> = matching
            .iter()
            .flat_map(|s| s.tags.iter().map(String::as_str))
            .collect();
        let view = QueryView {
            matching: matching.len(),
            in_the_loop: matching.len() - discarded,
            discarded,
            unique_tags: tags.into_iter().map(str::to_owned).collect(),
        };
        st.view = expr;
        d.insert("results_count".into(), view.matching.into());
        let msg = match view.matching {
            1 => "1 sample matches".to_owned(),
            n => format!("{n} samples match"),
        };
        (Report::one(Action::QueryExecute, d, Ok(msg)), Some(view))
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
    /// [`ExperimentConfig::checkpoint_load_time`]), then makes it current. A call dropped
    /// while loading changes nothing.
    pub async fn restore_checkpoint(&self, hash: &str) -> Report {
        let checkpoint = match self.find_checkpoint(hash) {
            Ok(c) => c,
            Err(report) => return report,
        };
        if !self.config.checkpoint_load_time.is_zero() {
            tokio::time::sleep(self.config.checkpoint_load_time).await;
        }
        let mut st = self.lock();
        let mut d = obj(json!({
            "experiment_hash": checkpoint.hash,
            "checkpoint_id": checkpoint.id,
        }));
        let i = st
            .checkpoints
            .iter()
            .position(|c| c.id == checkpoint.id)
            .unwrap_or_default();
        st.apply(Op::Checkpoint(i), &mut d);
        let msg = format!(
            "restored checkpoint {} (step {})",
            checkpoint.hash, checkpoint.model_age
        );
        Report::one(Action::CheckpointRestore, d, Ok(msg))
    }

    /// `TriggerEvaluation`: starts an evaluation of a split (`train`, `val`, `test` or
    /// `all`), optionally only of samples with one of `tags`, including discarded samples
    /// with `use_full_set`. Refused while another evaluation runs.
    pub fn trigger_evaluation(&self, req: &TriggerEvaluationRequest) -> Report {
        let split = req.split_name.trim();
        let mut d = obj(json!({
            "split_name": split,
            "tags": req.tags,
            "use_full_set": req.use_full_set,
        }));
        let fail = |d, reason: String| Report::one(Action::EvaluationStart, d, Err(reason));
        if split.is_empty() {
            return fail(d, "split_name is empty".to_owned());
        }
        let origin = match split {
            "all" => None,
            other => match Origin::parse(other) {
                Some(o) => Some(o),
                None => {
                    return fail(
                        d,
                        format!("unknown split {other:?}: expected train, val, test or all"),
                    );
                }
            },
        };
        let mut st = self.lock();
        let now = Instant::now();
        if let Some(running) = st.evaluation.as_ref().filter(|e| e.until > now) {
            let left = running.until.saturating_duration_since(now).as_secs_f64();
            let reason = format!(
                "an evaluation is already running on split {:?} ({left:.1} s left)",
                running.split
            );
            return fail(d, reason);
        }
        let count = st
            .samples
            .iter()
            .filter(|s| origin.is_none_or(|o| s.origin == o))
            .filter(|s| req.use_full_set || !s.discarded)
            .filter(|s| req.tags.is_empty() || req.tags.iter().any(|t| s.tags.contains(t)))
            .count();
        st.evaluation = Some(Evaluation {
            split: split.to_owned(),
            until: now + self.config.evaluation_duration,
        });
        d.insert("samples_count".into(), count.into());
        d.insert("model_age".into(), st.model_age.into());
        let msg = format!(
            "evaluation of {} of {split:?} started",
            plural(count, "sample")
        );
        Report::one(Action::EvaluationStart, d, Ok(msg))
    }
}

/// The counts `ApplyDataQuery` answers with, over the samples a query matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryView {
    /// Matching samples.
    pub matching: usize,
    /// Matching samples not discarded.
    pub in_the_loop: usize,
    /// Matching samples discarded.
    pub discarded: usize,
    /// Tags on matching samples, sorted.
    pub unique_tags: Vec<String>,
}

/// One requested operation: its action, the details known before applying it, and the
/// validated operation or why it is refused.
type Plan = (Action, Map<String, Value>, Result<Op, String>);

enum Op {
    Hp(Box<crate::proto::HyperParameters>),
    Mode(Mode),
    Training(bool),
    Note {
        key: (String, String, i32),
        note: String,
    },
    Checkpoint(usize),
    Denylist {
        split: Split,
        deny: bool,
        indices: Vec<usize>,
        accumulate: bool,
    },
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn plan_mode(current: Mode, auditor: Option<bool>, evaluation: Option<bool>) -> Option<Plan> {
    if auditor.is_none() && evaluation.is_none() {
        return None;
    }
    let target = match (auditor, evaluation) {
        (Some(true), Some(true)) => {
            let d = obj(json!({"from_mode": current.as_str()}));
            return Some((
                Action::ModeSwitch,
                d,
                Err("auditor_mode and evaluation_mode cannot both be on".to_owned()),
            ));
        }
        (Some(true), _) => Mode::Audit,
        (_, Some(true)) => Mode::Evaluation,
        // Turning off the mode we are in returns to training; turning off another is a no-op.
        (Some(false), _) if current == Mode::Audit => Mode::Train,
        (_, Some(false)) if current == Mode::Evaluation => Mode::Train,
        _ => current,
    };
    (target != current).then(|| {
        let d = obj(json!({"from_mode": current.as_str(), "to_mode": target.as_str()}));
        (Action::ModeSwitch, d, Ok(Op::Mode(target)))
    })
}

fn plan_note(note: &PlotNoteOperation) -> Plan {
    let cleared = note.note.is_empty();
    let mut d = obj(json!({
        "metric_name": note.metric_name,
        "experiment_hash": note.experiment_hash,
        "model_age": note.model_age,
        "operation": if cleared { "cleared" } else { "saved" },
    }));
    if !cleared {
        d.insert("note".into(), note.note.clone().into());
    }
    let plan = if note.metric_name.trim().is_empty() {
        Err("metric_name is empty".to_owned())
    } else {
        Ok(Op::Note {
            key: (
                note.metric_name.clone(),
                note.experiment_hash.clone(),
                note.model_age,
            ),
            note: note.note.clone(),
        })
    };
    (Action::NoteWrite, d, plan)
}

fn plan_denylist(st: &State, op: &DenySamplesOperation, split: Split, deny: bool) -> Plan {
    let action = if deny {
        Action::SampleDiscard
    } else {
        Action::SampleRestore
    };
    let d = obj(json!({
        "sample_ids": sample_ids_json(&op.sample_ids),
        "split": split.as_str(),
        "accumulate": op.accumulate,
    }));
    let plan = st.resolve(&op.sample_ids, &[]).and_then(|indices| {
        match indices
            .iter()
            .find(|&&i| st.samples[i].origin.split() != split)
        {
            Some(&i) => Err(format!(
                "sample {:?} is a {} sample, not in the {} denylist",
                st.samples[i].id,
                st.samples[i].origin,
                split.as_str()
            )),
            None => Ok(Op::Denylist {
                split,
                deny,
                indices,
                accumulate: op.accumulate,
            }),
        }
    });
    (action, d, plan)
}

fn read_only_answer(st: &State, cmd: &TrainerCommand) -> String {
    let mut parts = Vec::new();
    if cmd.get_hyper_parameters {
        parts.push(
            json!({
                "hyper_parameters": st.hp,
                "is_training": st.training,
                "mode": st.mode.as_str(),
                "model_age": st.model_age,
            })
            .to_string(),
        );
    }
    if cmd.get_data_records.is_some() {
        parts.push(plural(st.samples.len(), "data record"));
    }
    if cmd.get_interactive_layers || cmd.get_single_layer_info_id.is_some() {
        parts.push("no interactive layers in this example".to_owned());
    }
    if parts.is_empty() {
        "nothing to do".to_owned()
    } else {
        parts.join("; ")
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

    fn apply(&mut self, op: Op, d: &mut Map<String, Value>) {
        match op {
            Op::Hp(req) => self.hp.apply(&req),
            Op::Mode(mode) => self.mode = mode,
            Op::Training(training) => self.training = training,
            Op::Note { key, note } => {
                let previous = if note.is_empty() {
                    self.notes.remove(&key)
                } else {
                    self.notes.insert(key, note)
                };
                d.insert("previous_note".into(), previous.into());
            }
            Op::Checkpoint(i) => {
                let c = self.checkpoints[i].clone();
                d.insert("before".into(), json!({"model_age": self.model_age}));
                self.hp = c.hyper_params;
                self.model_age = c.model_age;
                d.insert("after".into(), json!({"model_age": self.model_age}));
            }
            Op::Denylist {
                split,
                deny,
                indices,
                accumulate,
            } => {
                let mut affected = 0usize;
                if deny && !accumulate {
                    // Without accumulate, the listed samples become the whole denylist.
                    let keep: BTreeSet<usize> = indices.iter().copied().collect();
                    let mut released = 0usize;
                    for (i, s) in self.samples.iter_mut().enumerate() {
                        if s.origin.split() == split && s.discarded && !keep.contains(&i) {
                            s.discarded = false;
                            released += 1;
                        }
                    }
                    d.insert("released_from_denylist".into(), released.into());
                }
                for &i in &indices {
                    let s = &mut self.samples[i];
                    affected += usize::from(s.discarded != deny);
                    s.discarded = deny;
                }
                d.insert("samples_affected".into(), affected.into());
                d.insert("origins".into(), self.origins(&indices));
            }
        }
    }
}

/// `n` and `noun`, plural unless `n` is 1: "1 sample", "2 samples" (not "1 samples").
fn plural(n: usize, noun: &str) -> String {
    match n {
        1 => format!("1 {noun}"),
        n => format!("{n} {noun}s"),
    }
}

#[cfg(test)]
mod tests;
