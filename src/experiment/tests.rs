use super::*;
use crate::proto::{HyperParameterCommand, HyperParameters, LoadCheckpointOperation};
use audit_runtime::AuditAction;

fn hp_command(hp: HyperParameters) -> TrainerCommand {
    TrainerCommand {
        hyper_parameter_change: Some(HyperParameterCommand {
            hyper_parameters: Some(hp),
        }),
        ..Default::default()
    }
}

fn actions(report: &Report) -> Vec<&'static str> {
    report.effects.iter().map(|e| e.action.name()).collect()
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

#[test]
fn denylists_respect_splits_and_accumulate() {
    let exp = Experiment::default();
    let deny = |ids: &[&str], accumulate| DenySamplesOperation {
        sample_ids: ids.iter().map(|s| s.to_string()).collect(),
        accumulate,
    };
    let r = exp.command(&TrainerCommand {
        deny_samples_operation: Some(deny(&["s1", "s2"], true)),
        ..Default::default()
    });
    assert_eq!(r.effects[0].details["samples_affected"], 2);
    let r = exp.command(&TrainerCommand {
        deny_samples_operation: Some(deny(&["s3"], false)),
        ..Default::default()
    });
    assert_eq!(r.effects[0].details["released_from_denylist"], 2);
    let discarded: Vec<String> = exp
        .samples()
        .into_iter()
        .filter(|s| s.discarded)
        .map(|s| s.id)
        .collect();
    assert_eq!(discarded, ["s3"]);
    // s300 is a test sample: not in the train denylist.
    let r = exp.command(&TrainerCommand {
        deny_samples_operation: Some(deny(&["s300"], true)),
        ..Default::default()
    });
    assert!(r.message().contains("not in the train denylist"), "{r:?}");
    let r = exp.command(&TrainerCommand {
        remove_from_denylist_operation: Some(deny(&["s3"], false)),
        ..Default::default()
    });
    assert_eq!(actions(&r), ["sample_restore"]);
    assert_eq!(r.effects[0].details["samples_affected"], 1);
}

#[test]
fn tag_edits_count_real_changes() {
    let exp = Experiment::default();
    let edit = |ty: SampleEditType, ids: &[&str]| DataEditsRequest {
        stat_name: "tag:defect".into(),
        r#type: ty as i32,
        samples_ids: ids.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    };
    let r = exp
        .edit(&edit(SampleEditType::EditAccumulate, &["s1", "s2"]))
        .unwrap();
    assert_eq!(r.effects[0].details["samples_affected"], 2);
    let r = exp
        .edit(&edit(SampleEditType::EditAccumulate, &["s1"]))
        .unwrap();
    assert_eq!(r.effects[0].details["samples_affected"], 0);
    let r = exp
        .edit(&edit(SampleEditType::EditRemove, &["s1", "s2"]))
        .unwrap();
    assert_eq!(actions(&r), ["tag_remove"]);
    assert_eq!(r.effects[0].details["samples_affected"], 2);
    assert!(
        exp.edit(&DataEditsRequest {
            stat_name: "label".into(),
            ..Default::default()
        })
        .is_err()
    );
}

#[test]
fn queries_accumulate_on_the_previous_view() {
    let exp = Experiment::default();
    let q = |query: &str, accumulate| DataQueryRequest {
        query: query.into(),
        accumulate,
        is_natural_language: false,
    };
    let (_, all) = exp.query(&q("", false));
    assert_eq!(all.unwrap().matching, 300);
    let (_, val) = exp.query(&q("origin == 'val'", false));
    assert_eq!(val.unwrap().matching, 60);
    let (r, low) = exp.query(&q("loss < 0.75", true));
    let low = low.unwrap();
    assert!(low.matching < 60 && low.matching > 0);
    assert_eq!(r.effects[0].details["results_count"], low.matching);
    let (r, none) = exp.query(&q("loss <", false));
    assert!(none.is_none());
    assert!(r.message().starts_with("Invalid query syntax"));
}

#[test]
fn one_evaluation_at_a_time() {
    let exp = Experiment::new(ExperimentConfig {
        evaluation_duration: Duration::from_secs(60),
        ..Default::default()
    });
    let req = |split: &str| TriggerEvaluationRequest {
        split_name: split.into(),
        ..Default::default()
    };
    assert!(exp.trigger_evaluation(&req("")).message().contains("empty"));
    assert!(
        exp.trigger_evaluation(&req("bogus"))
            .message()
            .contains("unknown split")
    );
    let r = exp.trigger_evaluation(&req("val"));
    assert_eq!(r.effects[0].details["samples_count"], 60);
    let r = exp.trigger_evaluation(&req("test"));
    assert!(r.message().contains("already running"), "{r:?}");
}

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
