//! `ExperimentCommand`: one request that may carry several operations (hyperparameters,
//! training, mode, a note, a checkpoint, denylists). Each is planned by its own module; the
//! command applies them all, in a fixed order, or none of them.

use audited::AuditAction;
use serde_json::{Map, Value, json};

use super::dataset::Split;
use super::denylist::DenylistChange;
use super::notes::NoteChange;
use super::{
    Effect, Experiment, Mode, Planned, Report, State, checkpoints, denylist, hyper, notes, plural,
    training,
};
use crate::proto::{HyperParameters, TrainerCommand};

/// A validated change, ready to apply.
enum Op {
    Hp(Box<HyperParameters>),
    Mode(Mode),
    Training(bool),
    Note(NoteChange),
    Checkpoint(usize),
    Denylist(DenylistChange),
}

impl<T> Planned<T> {
    fn map(self, op: impl FnOnce(T) -> Op) -> Planned<Op> {
        Planned {
            action: self.action,
            details: self.details,
            change: self.change.map(op),
        }
    }
}

impl Experiment {
    /// `ExperimentCommand`: applies every operation in `cmd`, or none if one is invalid.
    ///
    /// Events, in this order: `hp_change` (the changed settings), `mode_switch`,
    /// `pause`/`resume`, `note_write`, `checkpoint_restore`, `sample_discard` (train, then
    /// eval denylist), `sample_restore` (likewise). A command with only `get_*` fields is
    /// read-only and has no event.
    pub fn command(&self, cmd: &TrainerCommand) -> Report {
        let mut st = self.lock();
        let mut plans: Vec<Planned<Op>> = Vec::new();

        if let Some(req) = cmd
            .hyper_parameter_change
            .as_ref()
            .and_then(|c| c.hyper_parameters.as_ref())
        {
            plans.extend(hyper::plan_change(&st.hp, req).map(|p| p.map(Op::Hp)));
            plans.extend(
                training::plan_mode(st.mode, req.auditor_mode, req.evaluation_mode)
                    .map(|p| p.map(Op::Mode)),
            );
            if let Some(wanted) = req.is_training {
                plans.push(
                    training::plan_training(st.training, st.model_age, wanted).map(Op::Training),
                );
            }
        }
        if let Some(note) = &cmd.plot_note_operation {
            plans.push(notes::plan(note).map(Op::Note));
        }
        if let Some(load) = &cmd.load_checkpoint_operation {
            plans.push(
                checkpoints::plan_load(&st.checkpoints, load.checkpoint_id).map(Op::Checkpoint),
            );
        }
        let denylists = [
            (&cmd.deny_samples_operation, Split::Train, true),
            (&cmd.deny_eval_samples_operation, Split::Eval, true),
            (&cmd.remove_from_denylist_operation, Split::Train, false),
            (&cmd.remove_eval_from_denylist_operation, Split::Eval, false),
        ];
        for (op, split, deny) in denylists {
            if let Some(op) = op {
                plans.push(denylist::plan(&st, op, split, deny).map(Op::Denylist));
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
            .filter_map(|p| p.change.as_ref().err().cloned())
            .collect();
        if !errors.is_empty() {
            return Report {
                effects: plans
                    .into_iter()
                    .map(|p| Effect {
                        action: p.action,
                        details: p.details,
                    })
                    .collect(),
                result: Err(errors.join("; ")),
            };
        }
        let mut effects = Vec::with_capacity(plans.len());
        for Planned {
            action,
            mut details,
            change,
        } in plans
        {
            if let Ok(op) = change {
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
}

impl State {
    fn apply(&mut self, op: Op, d: &mut Map<String, Value>) {
        match op {
            Op::Hp(req) => self.hp.apply(&req),
            Op::Mode(mode) => self.mode = mode,
            Op::Training(training) => self.training = training,
            Op::Note(change) => self.write_note(change, d),
            Op::Checkpoint(i) => self.restore_recording_steps(i, d),
            Op::Denylist(change) => self.apply_denylist(change, d),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::actions;
    use crate::proto::{HyperParameterCommand, LoadCheckpointOperation};

    fn hp_command(hp: HyperParameters) -> TrainerCommand {
        TrainerCommand {
            hyper_parameter_change: Some(HyperParameterCommand {
                hyper_parameters: Some(hp),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn one_command_can_mean_several_actions() {
        let exp = Experiment::default();
        let report = exp.command(&hp_command(HyperParameters {
            learning_rate: Some(0.001),
            is_training: Some(false),
            auditor_mode: Some(true),
            ..Default::default()
        }));
        assert!(report.is_ok(), "{report:?}");
        assert_eq!(actions(&report), ["hp_change", "mode_switch", "pause"]);
        assert_eq!(report.effects[1].details["to_mode"], "audit");
        assert!(!exp.is_training());
        assert_eq!(exp.mode(), Mode::Audit);
    }

    #[test]
    fn get_only_commands_are_read_only() {
        let exp = Experiment::default();
        let report = exp.command(&TrainerCommand {
            get_hyper_parameters: true,
            ..Default::default()
        });
        assert!(report.effects.is_empty());
        assert!(report.message().contains("learning_rate"));
    }

    #[test]
    fn a_refused_command_changes_nothing() {
        let exp = Experiment::default();
        let mut cmd = hp_command(HyperParameters {
            learning_rate: Some(0.5),
            ..Default::default()
        });
        cmd.load_checkpoint_operation = Some(LoadCheckpointOperation { checkpoint_id: 99 });
        let report = exp.command(&cmd);
        assert_eq!(report.result, Err("unknown checkpoint id 99".to_owned()));
        assert_eq!(actions(&report), ["hp_change", "checkpoint_restore"]);
        assert_eq!(exp.hyper_params().learning_rate, 0.01);
    }
}
