//! The service under stress: a client that cancels, 8 concurrent clients, and every format.

mod common;

use std::time::{Duration, Instant};

use audited::Format;
use common::{events, logged};
use experiment_service::experiment::ExperimentConfig;
use experiment_service::proto::{
    DataEditsRequest, DataQueryRequest, PlotNoteOperation, RestoreCheckpointRequest,
    SampleEditType, TrainerCommand, TriggerEvaluationRequest,
};
use experiment_service::testing::{LocalServer, LocalServerOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_call_leaves_exactly_one_failed_cancelled_event() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = LocalServerOptions::new(dir.path());
    options.tokens = Some(common::TOKENS.to_owned());
    options.experiment = ExperimentConfig {
        checkpoint_load_time: Duration::from_secs(5),
        ..Default::default()
    };
    let server = LocalServer::start(options).await.unwrap();
    let hash = server.experiment().checkpoints()[0].hash.clone();
    let mut client = server.client_with_token("alice-token").await.unwrap();

    let call = client.restore_checkpoint(RestoreCheckpointRequest {
        experiment_hash: hash.clone(),
    });
    // The client gives up mid-way: dropping the call resets the HTTP/2 stream.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), call)
            .await
            .is_err()
    );

    let deadline = Instant::now() + Duration::from_secs(5);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        seen = logged(&server);
        if !seen.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Nothing more arrives later.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let events = logged(&server);
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events, seen);
    let e = &events[0];
    assert_eq!(e["action_type"], "checkpoint_restore");
    assert_eq!(e["status"], "failed");
    assert_eq!(e["error"], "cancelled");
    assert_eq!(e["details"]["experiment_hash"], hash.as_str());
    assert_eq!(e["details"]["actor"], "alice");
    // `capture` ran before the load, never after it.
    assert_eq!(e["details"]["before"]["model_age"], 4200);
    assert!(e["details"].get("after").is_none(), "{e:#}");
    assert!(e["details"].get("changed").is_none(), "{e:#}");
    // The restore never happened.
    assert_eq!(server.experiment().model_age(), 4200);
}

const CLIENTS: usize = 8;
const CALLS: usize = 250;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_clients_250_calls_each_one_event_per_audited_call() {
    let dir = tempfile::tempdir().unwrap();
    let tokens: Vec<String> = (0..CLIENTS).map(|i| format!("user{i}:tok-{i}")).collect();
    let mut options = LocalServerOptions::new(dir.path());
    options.tokens = Some(tokens.join(","));
    options.experiment.evaluation_duration = Duration::from_millis(1);
    let server = LocalServer::start(options).await.unwrap();
    let hash = server.experiment().checkpoints()[1].hash.clone();

    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let mut client = server.client_with_token(&format!("tok-{c}")).await.unwrap();
        let hash = hash.clone();
        tasks.push(tokio::spawn(async move {
            let mut audited = 0usize;
            for i in 0..CALLS {
                match i % 6 {
                    0 => {
                        client
                            .apply_data_query(DataQueryRequest {
                                query: format!("loss > {}", (i % 10) as f64 / 10.0),
                                ..Default::default()
                            })
                            .await
                            .unwrap();
                    }
                    1 => {
                        client
                            .edit_data_sample(DataEditsRequest {
                                stat_name: "tag".into(),
                                string_value: format!("t{c}"),
                                r#type: SampleEditType::EditAccumulate as i32,
                                samples_ids: vec![format!("s{}", i + 1)],
                                ..Default::default()
                            })
                            .await
                            .unwrap();
                    }
                    2 => {
                        client
                            .experiment_command(TrainerCommand {
                                plot_note_operation: Some(PlotNoteOperation {
                                    metric_name: "loss".into(),
                                    experiment_hash: format!("c{c}"),
                                    model_age: i as i32,
                                    note: format!("note {i}"),
                                }),
                                ..Default::default()
                            })
                            .await
                            .unwrap();
                    }
                    3 => {
                        client
                            .restore_checkpoint(RestoreCheckpointRequest {
                                experiment_hash: hash.clone(),
                            })
                            .await
                            .unwrap();
                    }
                    4 => {
                        // Succeeds or fails (one evaluation at a time): one event either way.
                        client
                            .trigger_evaluation(TriggerEvaluationRequest {
                                split_name: "val".into(),
                                ..Default::default()
                            })
                            .await
                            .unwrap();
                    }
                    _ => {
                        // Read-only: not audited.
                        client
                            .experiment_command(TrainerCommand {
                                get_hyper_parameters: true,
                                ..Default::default()
                            })
                            .await
                            .unwrap();
                        continue;
                    }
                }
                audited += 1;
            }
            audited
        }));
    }
    let mut expected = 0;
    for task in tasks {
        expected += task.await.unwrap();
    }
    let elapsed = started.elapsed();
    let path = server.log_path().unwrap().to_path_buf();
    server.stop().await.unwrap();

    let events = events(&path); // parses the whole file
    assert_eq!(
        events.len(),
        expected,
        "one event per audited call, none lost"
    );
    for c in 0..CLIENTS {
        let actor = format!("user{c}");
        let n = events
            .iter()
            .filter(|e| e["details"]["actor"] == actor.as_str())
            .count();
        assert_eq!(n, expected / CLIENTS, "events of {actor}");
    }
    let summary = audited::AuditLogger::builder(dir.path())
        .format(Format::Json)
        .build()
        .unwrap()
        .get_log_summary()
        .unwrap();
    assert_eq!(summary.total_events as usize, expected);
    eprintln!(
        "load: {} calls ({expected} audited) from {CLIENTS} clients in {elapsed:.2?} ({:.0} calls/s)",
        CLIENTS * CALLS,
        (CLIENTS * CALLS) as f64 / elapsed.as_secs_f64()
    );
}

async fn session(format: Format) -> (tempfile::TempDir, Option<std::path::PathBuf>) {
    let dir = tempfile::tempdir().unwrap();
    let mut options = LocalServerOptions::new(dir.path());
    options.format = format;
    options.tokens = Some(common::TOKENS.to_owned());
    let server = LocalServer::start(options).await.unwrap();
    let mut client = server.client_with_token("bob-token").await.unwrap();
    let r = client
        .edit_data_sample(DataEditsRequest {
            stat_name: "tag".into(),
            string_value: "needs, \"review\"".into(),
            r#type: SampleEditType::EditAccumulate as i32,
            samples_ids: vec!["s1".into(), "s2".into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(r.success);
    let r = client
        .apply_data_query(DataQueryRequest {
            query: "=cmd|' /C calc'!A0".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!r.success);
    let path = server.log_path().map(|p| p.to_path_buf());
    server.stop().await.unwrap();
    (dir, path)
}

#[tokio::test]
async fn json_format() {
    let (_dir, path) = session(Format::Json).await;
    let path = path.unwrap();
    assert!(path.ends_with("audit_log.json"));
    let events = events(&path);
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["action_type"], "tag_add");
    assert_eq!(events[0]["details"]["tag_name"], "needs, \"review\"");
    assert_eq!(events[0]["details"]["actor"], "bob");
    assert_eq!(events[1]["status"], "failed");
}

#[tokio::test]
async fn csv_format() {
    let (dir, path) = session(Format::Csv).await;
    let path = path.unwrap();
    assert!(path.ends_with("audit_log.csv"));
    assert!(!dir.path().join("audit_log.json").exists());
    let mut reader = csv::Reader::from_path(&path).unwrap();
    assert_eq!(
        reader.headers().unwrap(),
        vec!["timestamp", "action_type", "status", "details", "error"]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2);
    // Oldest first in CSV.
    assert_eq!(&rows[0][1], "tag_add");
    assert_eq!(&rows[0][2], "success");
    assert_eq!(&rows[0][4], "");
    let details: serde_json::Value = serde_json::from_str(&rows[0][3]).unwrap();
    assert_eq!(details["tag_name"], "needs, \"review\"");
    assert_eq!(details["actor"], "bob");
    assert_eq!(&rows[1][1], "query_execute");
    assert_eq!(&rows[1][2], "failed");
    assert!(
        rows[1][4].starts_with("Invalid query syntax"),
        "{:?}",
        &rows[1]
    );
}

#[tokio::test]
async fn none_format_writes_nothing_and_serves_normally() {
    let (dir, path) = session(Format::None).await;
    assert_eq!(path, None);
    let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(files.is_empty(), "{files:?}");
}

/// `--fail-closed` over a real connection: with the log's directory gone, a restore is
/// answered `UNAVAILABLE` without running (the model is not rolled back), the refusal is
/// counted, and once the directory is back the same server records again, the first event
/// saying how many calls were refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fail_closed_server_refuses_calls_while_the_log_is_gone() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("run");
    let mut options = LocalServerOptions::new(&dir);
    options.tokens = Some(common::TOKENS.to_owned());
    options.fail_closed = true;
    let server = LocalServer::start(options).await.unwrap();
    let mut client = server.client_with_token("alice-token").await.unwrap();
    let age = server.experiment().model_age();
    let hash = server.experiment().checkpoints()[1].hash.clone();
    let restore = || RestoreCheckpointRequest {
        experiment_hash: hash.clone(),
    };

    std::fs::remove_dir_all(&dir).unwrap();
    for _ in 0..2 {
        let refused = client.restore_checkpoint(restore()).await.unwrap_err();
        assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused:?}");
        assert!(refused.message().contains("audit log"), "{refused:?}");
    }
    assert_eq!(
        server.experiment().model_age(),
        age,
        "nothing ran unrecorded"
    );
    assert_eq!(server.logger().stats().events_refused, 2);

    std::fs::create_dir(&dir).unwrap();
    client.restore_checkpoint(restore()).await.unwrap();
    assert_ne!(server.experiment().model_age(), age);
    let events = logged(&server);
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0]["action_type"], "checkpoint_restore");
    assert_eq!(events[0]["details"]["_audit"]["outage"]["refused"], 2);
}
