//! Each of the spec's twelve actions through a real gRPC server on loopback: the right event,
//! status, details and actor; and the failure paths.

mod common;

use common::{check, logged, server_with_tokens};
use experiment_service::proto::{
    DataEditsRequest, DataQueryRequest, DenySamplesOperation, HyperParameterCommand,
    HyperParameters, LoadCheckpointOperation, PlotNoteOperation, RestoreCheckpointRequest,
    SampleEditType, TrainerCommand, TriggerEvaluationRequest,
};
use experiment_service::testing::{LocalServer, LocalServerOptions};
use serde_json::json;

fn hp(hp: HyperParameters) -> TrainerCommand {
    TrainerCommand {
        hyper_parameter_change: Some(HyperParameterCommand {
            hyper_parameters: Some(hp),
        }),
        ..Default::default()
    }
}

fn ids(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn hp_change_records_before_and_after_of_changed_params() {
    let (server, _dir) = server_with_tokens().await;
    let mut client = server.client_with_token("alice-token").await.unwrap();
    let r = client
        .experiment_command(hp(HyperParameters {
            learning_rate: Some(0.001),
            batch_size: Some(64),
            nb_steps: Some(10_000), // unchanged: not logged as changed
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(r.success, "{r:?}");
    let events = logged(&server);
    assert_eq!(events.len(), 1);
    let d = check(&events[0], "hp_change", "success", "alice");
    assert_eq!(
        d["changed_params"],
        json!({"batch_size": 64, "learning_rate": 0.001})
    );
    assert_eq!(
        d["before"],
        json!({"batch_size": 32, "learning_rate": 0.01})
    );
    assert_eq!(
        d["after"],
        json!({"batch_size": 64, "learning_rate": 0.001})
    );
}

#[tokio::test]
async fn pause_and_resume() {
    let (server, _dir) = server_with_tokens().await;
    let mut client = server.client_with_token("bob-token").await.unwrap();
    for training in [false, true] {
        let r = client
            .experiment_command(hp(HyperParameters {
                is_training: Some(training),
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner();
        assert!(r.success);
    }
    let events = logged(&server);
    assert_eq!(events.len(), 2);
    let d = check(&events[0], "pause", "success", "bob");
    assert_eq!(d["before"]["is_training"], true);
    assert_eq!(d["after"]["is_training"], false);
    let d = check(&events[1], "resume", "success", "bob");
    assert_eq!(d["after"]["is_training"], true);
    assert!(server.experiment().is_training());
}

#[tokio::test]
async fn mode_switch_records_from_and_to() {
    let (server, _dir) = server_with_tokens().await;
    let mut client = server.client_with_token("alice-token").await.unwrap();
    client
        .experiment_command(hp(HyperParameters {
            auditor_mode: Some(true),
            ..Default::default()
        }))
        .await
        .unwrap();
    client
        .experiment_command(hp(HyperParameters {
            auditor_mode: Some(false),
            evaluation_mode: Some(true),
            ..Default::default()
        }))
        .await
        .unwrap();
    let events = logged(&server);
    assert_eq!(events.len(), 2);
    let d = check(&events[0], "mode_switch", "success", "alice");
    assert_eq!(
        (&d["from_mode"], &d["to_mode"]),
        (&json!("train"), &json!("audit"))
    );
    let d = check(&events[1], "mode_switch", "success", "alice");
    assert_eq!(
        (&d["from_mode"], &d["to_mode"]),
        (&json!("audit"), &json!("evaluation"))
    );
}

#[tokio::test]
async fn one_command_with_several_changes_logs_each_action() {
    let (server, _dir) = server_with_tokens().await;
    let mut client = server.client_with_token("alice-token").await.unwrap();
    client
        .experiment_command(hp(HyperParameters {
            learning_rate: Some(0.02),
            evaluation_mode: Some(true),
            is_training: Some(false),
            ..Default::default()
        }))
        .await
        .unwrap();
    let actions: Vec<_> = logged(&server)
        .iter()
        .map(|e| e["action_type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(actions, ["hp_change", "mode_switch", "pause"]);
}

#[tokio::test]
async fn one_call_shares_its_request_id_and_trace_id_and_the_response_names_it() {
    let (server, _dir) = server_with_tokens().await;
    let mut client = server.client_with_token("alice-token").await.unwrap();
    let several = || {
        hp(HyperParameters {
            learning_rate: Some(0.02),
            evaluation_mode: Some(true),
            is_training: Some(false),
            ..Default::default()
        })
    };
    let mut request = tonic::Request::new(several());
    request
        .metadata_mut()
        .insert("x-request-id", "ui-click-17".parse().unwrap());
    request.metadata_mut().insert(
        "traceparent",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
            .parse()
            .unwrap(),
    );
    let response = client.experiment_command(request).await.unwrap();
    assert_eq!(
        response.metadata().get("x-request-id").unwrap(),
        "ui-click-17"
    );
    let first_call = logged(&server);
    assert_eq!(first_call.len(), 3, "{first_call:#?}");
    for event in &first_call {
        assert_eq!(event["details"]["request_id"], "ui-click-17", "{event:#}");
        assert_eq!(
            event["details"]["trace_id"],
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
    }
    // Without a header, each call gets an id of its own, sent back too.
    let mut seen = first_call.len();
    let mut generated = Vec::new();
    for lr in [0.03, 0.04] {
        let command = hp(HyperParameters {
            learning_rate: Some(lr),
            ..Default::default()
        });
        let response = client.experiment_command(command).await.unwrap();
        let id = response.metadata().get("x-request-id").unwrap();
        let id = id.to_str().unwrap().to_owned();
        let events = logged(&server);
        assert_eq!(events.len(), seen + 1, "{events:#?}");
        assert_eq!(events[seen]["details"]["request_id"], id.as_str());
        assert!(events[seen]["details"].get("trace_id").is_none());
        seen = events.len();
        generated.push(id);
    }
    assert_ne!(generated[0], generated[1]);

    // A refused call's event and answer carry the id too.
    let mut anonymous = server.client().await.unwrap();
    let mut request = tonic::Request::new(several());
    request
        .metadata_mut()
        .insert("x-request-id", "refused-1".parse().unwrap());
    let refused = anonymous.experiment_command(request).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    assert_eq!(refused.metadata().get("x-request-id").unwrap(), "refused-1");
    let events = logged(&server);
    assert_eq!(events[seen]["details"]["request_id"], "refused-1");
}

#[tokio::test]
async fn get_only_commands_log_nothing() {
    let (server, _dir) = server_with_tokens().await;
    let mut client = server.client_with_token("alice-token").await.unwrap();
    let r = client
        .experiment_command(TrainerCommand {
            get_hyper_parameters: true,
            get_data_records: Some("train".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(r.success && r.message.contains("learning_rate"), "{r:?}");
    assert!(logged(&server).is_empty());
}

#[tokio::test]
async fn note_write_saved_then_cleared() {
    let (server, _dir) = server_with_tokens().await;
    let mut client = server.client_with_token("alice-token").await.unwrap();
    for note in ["lr spike here", ""] {
        client
            .experiment_command(TrainerCommand {
                plot_note_operation: Some(PlotNoteOperation {
                    metric_name: "val/loss".into(),
                    experiment_hash: "abc123".into(),
                    model_age: 1200,
                    note: note.into(),
                }),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let events = logged(&server);
    let d = check(&events[0], "note_write", "success", "alice");
    assert_eq!(d["operation"], "saved");
    assert_eq!(d["note"], "lr spike here");
    assert_eq!(d["metric_name"], "val/loss");
    assert_eq!(d["model_age"], 1200);
    let d = check(&events[1], "note_write", "success", "alice");
    assert_eq!(d["operation"], "cleared");
    assert_eq!(d["previous_note"], "lr spike here");
    assert_eq!(server.experiment().note("val/loss", "abc123", 1200), None);
}

#[tokio::test]
async fn checkpoint_restore_by_id_and_by_hash() {
    let (server, _dir) = server_with_tokens().await;
    let mut client = server.client_with_token("alice-token").await.unwrap();
    let checkpoints = server.experiment().checkpoints();
    client
        .experiment_command(TrainerCommand {
            load_checkpoint_operation: Some(LoadCheckpointOperation { checkpoint_id: 2 }),
            ..Default::default()
        })
        .await
        .unwrap();
    let r = client
        .restore_checkpoint(RestoreCheckpointRequest {
            experiment_hash: checkpoints[2].hash.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(r.success, "{r:?}");
    let events = logged(&server);
    let d = check(&events[0], "checkpoint_restore", "success", "alice");
    assert_eq!(d["checkpoint_id"], 2);
    assert_eq!(d["experiment_hash"], checkpoints[1].hash);
    assert_eq!(d["after"]["model_age"], 2000);
    let d = check(&events[1], "checkpoint_restore", "success", "alice");
    assert_eq!(d["experiment_hash"], checkpoints[2].hash);
    assert_eq!(d["before"]["model_age"], 2000);
    assert_eq!(d["after"]["model_age"], 3000);
    assert_eq!(server.experiment().model_age(), 3000);
}

/// `RestoreCheckpoint`'s handler shows `capture` and `details(..)` of `#[audited]`: the
/// hash from the request, the step and hyperparameters before and after, and what changed.
#[tokio::test]
async fn restore_by_hash_captures_step_and_hyperparameters_before_and_after() {
    let (server, _dir) = server_with_tokens().await;
    let mut client = server.client_with_token("alice-token").await.unwrap();
    let hash = server.experiment().checkpoints()[1].hash.clone();
    for experiment_hash in [hash.clone(), "deadbeef".to_owned()] {
        client
            .restore_checkpoint(RestoreCheckpointRequest { experiment_hash })
            .await
            .unwrap();
    }
    let state = |model_age: i32, learning_rate: f64| {
        json!({
            "model_age": model_age,
            "experiment_name": "mnist-cnn",
            "training_steps_to_do": 10_000,
            "learning_rate": learning_rate,
            "batch_size": 32,
            "full_eval_frequency": 500,
            "checkpont_frequency": 1000,
            "nb_steps": 10_000,
            "train_batch_size": 32,
            "val_batch_size": 64,
            "test_batch_size": 64,
            "evaluation_config": "",
        })
    };
    let events = logged(&server);
    assert_eq!(events.len(), 2, "{events:#?}");
    let d = check(&events[0], "checkpoint_restore", "success", "alice");
    assert_eq!(
        d,
        &json!({
            "experiment_hash": hash,
            "checkpoint_id": 2,
            "before": state(4200, 0.01),
            "after": state(2000, 0.005),
            "changed": {
                "model_age": {"before": 4200, "after": 2000},
                "learning_rate": {"before": 0.01, "after": 0.005},
            },
            "actor": "alice",
            "request_id": d["request_id"].clone(),
        })
    );
    // A refused restore changed nothing, and says so.
    let d = check(&events[1], "checkpoint_restore", "failed", "alice");
    assert_eq!(
        d,
        &json!({
            "experiment_hash": "deadbeef",
            "before": state(2000, 0.005),
            "after": state(2000, 0.005),
            "changed": {},
            "actor": "alice",
            "request_id": d["request_id"].clone(),
        })
    );
}

#[tokio::test]
async fn tag_add_and_tag_remove() {
    let (server, _dir) = server_with_tokens().await;
    let mut client = server.client_with_token("bob-token").await.unwrap();
    let edit = |stat: &str, value: &str, ty: SampleEditType| DataEditsRequest {
        stat_name: stat.into(),
        string_value: value.into(),
        r#type: ty as i32,
        samples_ids: ids(&["s1", "s2", "s250"]),
        sample_origins: ids(&["train", "train", "val"]),
        ..Default::default()
    };
    let r = client
        .edit_data_sample(edit("tag", "defect", SampleEditType::EditAccumulate))
        .await
        .unwrap()
        .into_inner();
    assert!(r.success, "{r:?}");
    client
        .edit_data_sample(edit("tag:defect", "", SampleEditType::EditRemove))
        .await
        .unwrap();
    let events = logged(&server);
    assert_eq!(events.len(), 2);
    let d = check(&events[0], "tag_add", "success", "bob");
    assert_eq!(d["tag_name"], "defect");
    assert_eq!(d["samples_affected"], 3);
    assert_eq!(d["sample_ids"], json!(["s1", "s2", "s250"]));
    assert_eq!(d["origins"], json!(["train", "train", "val"]));
    let d = check(&events[1], "tag_remove", "success", "bob");
    assert_eq!(d["tag_name"], "defect");
    assert_eq!(d["samples_affected"], 3);
}

#[tokio::test]
async fn sample_discard_and_restore_through_both_rpcs() {
    let (server, _dir) = server_with_tokens().await;
    let mut client = server.client_with_token("alice-token").await.unwrap();
    let flag = |discard: bool| DataEditsRequest {
        stat_name: "discarded".into(),
        bool_value: discard,
        samples_ids: ids(&["s10", "s11"]),
        ..Default::default()
    };
    client.edit_data_sample(flag(true)).await.unwrap();
    client.edit_data_sample(flag(false)).await.unwrap();
    let deny = DenySamplesOperation {
        sample_ids: ids(&["s250", "s290"]),
        accumulate: true,
    };
    client
        .experiment_command(TrainerCommand {
            deny_eval_samples_operation: Some(deny.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    client
        .experiment_command(TrainerCommand {
            remove_eval_from_denylist_operation: Some(deny),
            ..Default::default()
        })
        .await
        .unwrap();
    let events = logged(&server);
    assert_eq!(events.len(), 4);
    let d = check(&events[0], "sample_discard", "success", "alice");
    assert_eq!(d["samples_affected"], 2);
    assert_eq!(d["sample_ids"], json!(["s10", "s11"]));
    assert_eq!(d["origins"], json!(["train", "train"]));
    let d = check(&events[1], "sample_restore", "success", "alice");
    assert_eq!(d["samples_affected"], 2);
    let d = check(&events[2], "sample_discard", "success", "alice");
    assert_eq!(d["split"], "eval");
    assert_eq!(d["samples_affected"], 2);
    assert_eq!(d["origins"], json!(["val", "test"]));
    let d = check(&events[3], "sample_restore", "success", "alice");
    assert_eq!(d["split"], "eval");
    assert_eq!(d["samples_affected"], 2);
}

#[tokio::test]
async fn query_execute_counts_results() {
    let (server, _dir) = server_with_tokens().await;
    let mut client = server.client_with_token("alice-token").await.unwrap();
    let r = client
        .apply_data_query(DataQueryRequest {
            query: "origin == 'val' and loss < 0.5".into(),
            accumulate: false,
            is_natural_language: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(r.success, "{r:?}");
    let expected = server
        .experiment()
        .samples()
        .iter()
        .filter(|s| s.origin.as_str() == "val" && s.loss < 0.5)
        .count();
    assert_eq!(r.number_of_all_samples as usize, expected);
    let events = logged(&server);
    let d = check(&events[0], "query_execute", "success", "alice");
    assert_eq!(d["query_type"], "pandas");
    assert_eq!(d["query_text"], "origin == 'val' and loss < 0.5");
    assert_eq!(d["results_count"], expected);
}

#[tokio::test]
async fn evaluation_start() {
    let (server, _dir) = server_with_tokens().await;
    let mut client = server.client_with_token("bob-token").await.unwrap();
    let r = client
        .trigger_evaluation(TriggerEvaluationRequest {
            split_name: "test".into(),
            tags: vec![],
            use_full_set: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(r.success, "{r:?}");
    let events = logged(&server);
    let d = check(&events[0], "evaluation_start", "success", "bob");
    assert_eq!(d["split_name"], "test");
    assert_eq!(d["samples_count"], 40);
    assert_eq!(d["use_full_set"], true);
}

#[tokio::test]
async fn without_tokens_the_actor_is_the_peer_address() {
    let dir = tempfile::tempdir().unwrap();
    let server = LocalServer::start(LocalServerOptions::new(dir.path()))
        .await
        .unwrap();
    let mut client = server.client().await.unwrap();
    client
        .trigger_evaluation(TriggerEvaluationRequest {
            split_name: "val".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let events = logged(&server);
    let actor = events[0]["details"]["actor"].as_str().unwrap();
    assert!(actor.starts_with("peer:127.0.0.1:"), "{actor}");
    server.stop().await.unwrap();
}

// ---- failure paths ----

#[tokio::test]
async fn unknown_checkpoint_fails() {
    let (server, _dir) = server_with_tokens().await;
    let mut client = server.client_with_token("alice-token").await.unwrap();
    let r = client
        .restore_checkpoint(RestoreCheckpointRequest {
            experiment_hash: "deadbeef".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!r.success);
    let e = &logged(&server)[0];
    let d = check(e, "checkpoint_restore", "failed", "alice");
    assert_eq!(d["experiment_hash"], "deadbeef");
    assert_eq!(e["error"], "unknown checkpoint \"deadbeef\"");
    assert_eq!(e["error"], r.message.as_str());
}

#[tokio::test]
async fn malformed_query_fails_with_the_reason() {
    let (server, _dir) = server_with_tokens().await;
    let mut client = server.client_with_token("alice-token").await.unwrap();
    let r = client
        .apply_data_query(DataQueryRequest {
            query: "loss > > 0.5".into(),
            accumulate: false,
            is_natural_language: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!r.success);
    let e = &logged(&server)[0];
    let d = check(e, "query_execute", "failed", "alice");
    assert_eq!(d["query_text"], "loss > > 0.5");
    assert_eq!(
        e["error"],
        "Invalid query syntax: expected a value, found '>' at column 8"
    );
    assert!(d.get("results_count").is_none());
}

#[tokio::test]
async fn evaluation_already_running_fails() {
    let (server, _dir) = server_with_tokens().await;
    let mut client = server.client_with_token("alice-token").await.unwrap();
    let eval = |split: &str| TriggerEvaluationRequest {
        split_name: split.into(),
        ..Default::default()
    };
    assert!(
        client
            .trigger_evaluation(eval("val"))
            .await
            .unwrap()
            .into_inner()
            .success
    );
    let r = client
        .trigger_evaluation(eval("test"))
        .await
        .unwrap()
        .into_inner();
    assert!(!r.success);
    let r = client
        .trigger_evaluation(eval(""))
        .await
        .unwrap()
        .into_inner();
    assert!(!r.success);
    let events = logged(&server);
    check(&events[0], "evaluation_start", "success", "alice");
    let e = &events[1];
    check(e, "evaluation_start", "failed", "alice");
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .starts_with("an evaluation is already running on split \"val\""),
        "{e}"
    );
    assert_eq!(events[2]["error"], "split_name is empty");
}

#[tokio::test]
async fn invalid_hyperparameters_fail_and_change_nothing() {
    let (server, _dir) = server_with_tokens().await;
    let mut client = server.client_with_token("alice-token").await.unwrap();
    let r = client
        .experiment_command(hp(HyperParameters {
            learning_rate: Some(-1.0),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(!r.success);
    let e = &logged(&server)[0];
    let d = check(e, "hp_change", "failed", "alice");
    assert_eq!(d["requested"]["learning_rate"], -1.0);
    assert_eq!(server.experiment().hyper_params().learning_rate, 0.01);
}

#[tokio::test]
async fn missing_or_unknown_token_is_refused_and_logged() {
    let (server, _dir) = server_with_tokens().await;
    let mut anonymous = server.client().await.unwrap();
    let status = anonymous
        .restore_checkpoint(RestoreCheckpointRequest {
            experiment_hash: "whatever".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    let mut intruder = server.client_with_token("guessed-token").await.unwrap();
    let status = intruder
        .experiment_command(TrainerCommand::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);

    let events = logged(&server);
    assert_eq!(events.len(), 2, "{events:#?}");
    let e = &events[0];
    assert_eq!(e["action_type"], "checkpoint_restore");
    assert_eq!(e["status"], "failed");
    assert_eq!(e["error"], "unauthenticated: missing token");
    assert_eq!(
        e["details"]["method"],
        "/ExperimentService/RestoreCheckpoint"
    );
    assert!(
        e["details"]["actor"]
            .as_str()
            .unwrap()
            .starts_with("peer:127.0.0.1:")
    );
    let e = &events[1];
    assert_eq!(e["action_type"], "access_denied");
    assert_eq!(e["error"], "unauthenticated: unknown token");
    assert_eq!(
        e["details"]["actor"],
        audited::tonic_layer::token_fingerprint("guessed-token")
    );
    let text = std::fs::read_to_string(server.log_path().unwrap()).unwrap();
    assert!(!text.contains("guessed-token"));
    // The refused calls did nothing.
    assert_eq!(server.experiment().model_age(), 4200);
}

#[tokio::test]
async fn unsupported_edit_is_invalid_argument_and_not_audited() {
    let (server, _dir) = server_with_tokens().await;
    let mut client = server.client_with_token("alice-token").await.unwrap();
    let status = client
        .edit_data_sample(DataEditsRequest {
            stat_name: "label".into(),
            samples_ids: ids(&["s1"]),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(logged(&server).is_empty());
}
