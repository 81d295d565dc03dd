//! The tour: `cargo run --example demo`.
//!
//! Starts the example experiment server in-process on a free loopback port, drives a scripted
//! session through a real tonic client (all twelve of the spec's actions, plus the failures an
//! auditor wants to see), then prints where the log is, a summary table, and the spec's `jq`
//! recipes to look further. The log stays in `./runs/demo/<time>/audit_log.json`.
//!
//! `--log-dir DIR` writes the log somewhere else.

use std::error::Error;
use std::path::PathBuf;

use audited::{Format, Timestamp};
use experiment_service::experiment::ExperimentConfig;
use experiment_service::proto::{
    DataEditsRequest, DataQueryRequest, DenySamplesOperation, HyperParameterCommand,
    HyperParameters, PlotNoteOperation, RestoreCheckpointRequest, SampleEditType, TrainerCommand,
    TriggerEvaluationRequest,
};
use experiment_service::testing::{LocalServer, LocalServerOptions};

const TOKENS: &str = "alice:alice-demo-token,bob:bob-demo-token";

fn hp(hp: HyperParameters) -> TrainerCommand {
    TrainerCommand {
        hyper_parameter_change: Some(HyperParameterCommand {
            hyper_parameters: Some(hp),
        }),
        ..Default::default()
    }
}

fn say(who: &str, what: &str, ok: bool, message: &str) {
    let mark = if ok { "ok  " } else { "FAIL" };
    println!("  [{mark}] {who:<10} {what:<44} {message}");
}

fn log_dir() -> Result<PathBuf, String> {
    let mut args = std::env::args().skip(1);
    match (args.next().as_deref(), args.next()) {
        (None, _) => {
            // One directory per run, so each demo's log starts empty and none is overwritten.
            let stamp: String = Timestamp::now()
                .to_string()
                .chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .take(15)
                .collect();
            Ok(PathBuf::from("runs").join("demo").join(stamp))
        }
        (Some("--log-dir"), Some(dir)) => Ok(PathBuf::from(dir)),
        _ => Err("usage: demo [--log-dir DIR]".to_owned()),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    // The runtime reports through `tracing` (target "audit"): recoveries, failed events.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let dir = log_dir()?;
    // Tamper evidence on: a key pair made for this run (beside the log here; keep a real
    // private key away from the log's readers, see the README's Integrity section).
    let keys = dir.join("keys");
    std::fs::create_dir_all(&keys)?;
    let (private, public) = (
        keys.join("audit_signing.key"),
        keys.join("audit_signing.pub"),
    );
    audited::integrity::SigningKey::generate()?.write_files(&private, &public)?;
    let mut options = LocalServerOptions::new(&dir);
    options.format = Format::Json;
    options.signing_key = Some(private);
    options.tokens = Some(TOKENS.to_owned());
    options.experiment = ExperimentConfig {
        evaluation_duration: std::time::Duration::from_secs(30),
        ..Default::default()
    };
    let server = LocalServer::start(options).await?;
    println!(
        "ExperimentService on {} (tokens for alice and bob)",
        server.addr()
    );
    println!("scripted session:");

    let mut alice = server.client_with_token("alice-demo-token").await?;
    let mut bob = server.client_with_token("bob-demo-token").await?;

    // Read-only: no event.
    let r = alice
        .experiment_command(TrainerCommand {
            get_hyper_parameters: true,
            ..Default::default()
        })
        .await?
        .into_inner();
    say("alice", "read hyperparameters (not audited)", r.success, "");

    let r = alice
        .experiment_command(hp(HyperParameters {
            learning_rate: Some(0.005),
            batch_size: Some(64),
            ..Default::default()
        }))
        .await?
        .into_inner();
    say(
        "alice",
        "lr 0.01 -> 0.005, batch 32 -> 64",
        r.success,
        &r.message,
    );

    let r = alice
        .experiment_command(hp(HyperParameters {
            is_training: Some(false),
            auditor_mode: Some(true),
            ..Default::default()
        }))
        .await?
        .into_inner();
    say(
        "alice",
        "pause + switch to audit mode",
        r.success,
        &r.message,
    );

    let r = alice
        .apply_data_query(DataQueryRequest {
            query: "loss > 1.2 and origin == 'train'".into(),
            accumulate: false,
            is_natural_language: false,
        })
        .await?
        .into_inner();
    say(
        "alice",
        "query: loss > 1.2 and origin == 'train'",
        r.success,
        &r.message,
    );

    // The client picks the samples it saw in the UI; here, the worst ones.
    let mut worst: Vec<_> = server
        .experiment()
        .samples()
        .into_iter()
        .filter(|s| s.origin.as_str() == "train" && s.loss > 1.2)
        .collect();
    worst.sort_by(|a, b| b.loss.total_cmp(&a.loss));
    let worst_ids: Vec<String> = worst.iter().take(5).map(|s| s.id.clone()).collect();

    let r = alice
        .edit_data_sample(DataEditsRequest {
            stat_name: "tag".into(),
            string_value: "defect".into(),
            r#type: SampleEditType::EditAccumulate as i32,
            samples_ids: worst_ids.clone(),
            ..Default::default()
        })
        .await?
        .into_inner();
    say("alice", "tag 5 samples 'defect'", r.success, &r.message);

    let r = bob
        .edit_data_sample(DataEditsRequest {
            stat_name: "tag:defect".into(),
            r#type: SampleEditType::EditRemove as i32,
            samples_ids: worst_ids[..1].to_vec(),
            ..Default::default()
        })
        .await?
        .into_inner();
    say("bob", "untag 1 sample", r.success, &r.message);

    let r = alice
        .edit_data_sample(DataEditsRequest {
            stat_name: "discarded".into(),
            bool_value: true,
            samples_ids: worst_ids[1..4].to_vec(),
            ..Default::default()
        })
        .await?
        .into_inner();
    say("alice", "discard 3 samples", r.success, &r.message);

    let r = bob
        .edit_data_sample(DataEditsRequest {
            stat_name: "discarded".into(),
            bool_value: false,
            samples_ids: worst_ids[3..4].to_vec(),
            ..Default::default()
        })
        .await?
        .into_inner();
    say("bob", "restore 1 sample", r.success, &r.message);

    let r = alice
        .experiment_command(TrainerCommand {
            deny_eval_samples_operation: Some(DenySamplesOperation {
                sample_ids: vec!["s201".into(), "s202".into()],
                accumulate: true,
            }),
            ..Default::default()
        })
        .await?
        .into_inner();
    say("alice", "denylist 2 eval samples", r.success, &r.message);

    let r = alice
        .experiment_command(TrainerCommand {
            plot_note_operation: Some(PlotNoteOperation {
                metric_name: "train/loss".into(),
                experiment_hash: "mnist-cnn".into(),
                model_age: 4200,
                note: "lowered lr, dropped mislabeled samples".into(),
            }),
            ..Default::default()
        })
        .await?
        .into_inner();
    say("alice", "note on train/loss @ 4200", r.success, &r.message);

    let checkpoint = &server.experiment().checkpoints()[3];
    let r = bob
        .restore_checkpoint(RestoreCheckpointRequest {
            experiment_hash: checkpoint.hash.clone(),
        })
        .await?
        .into_inner();
    say(
        "bob",
        &format!("restore checkpoint {}", checkpoint.hash),
        r.success,
        &r.message,
    );

    let r = bob
        .experiment_command(hp(HyperParameters {
            auditor_mode: Some(false),
            is_training: Some(true),
            ..Default::default()
        }))
        .await?
        .into_inner();
    say("bob", "back to train mode + resume", r.success, &r.message);

    let r = alice
        .trigger_evaluation(TriggerEvaluationRequest {
            split_name: "val".into(),
            tags: vec![],
            use_full_set: false,
        })
        .await?
        .into_inner();
    say("alice", "evaluate on val", r.success, &r.message);

    println!("failures an auditor wants to see:");
    let r = bob
        .trigger_evaluation(TriggerEvaluationRequest {
            split_name: "test".into(),
            ..Default::default()
        })
        .await?
        .into_inner();
    say(
        "bob",
        "evaluate on test (one is running)",
        r.success,
        &r.message,
    );

    let r = alice
        .apply_data_query(DataQueryRequest {
            query: "loss >> 0.5".into(),
            accumulate: false,
            is_natural_language: false,
        })
        .await?
        .into_inner();
    say("alice", "query: loss >> 0.5", r.success, &r.message);

    let r = bob
        .restore_checkpoint(RestoreCheckpointRequest {
            experiment_hash: "deadbeef".into(),
        })
        .await?
        .into_inner();
    say("bob", "restore checkpoint deadbeef", r.success, &r.message);

    let r = alice
        .experiment_command(hp(HyperParameters {
            learning_rate: Some(-1.0),
            ..Default::default()
        }))
        .await?
        .into_inner();
    say("alice", "lr -> -1", r.success, &r.message);

    let mut anonymous = server.client().await?;
    let status = anonymous
        .restore_checkpoint(RestoreCheckpointRequest {
            experiment_hash: checkpoint.hash.clone(),
        })
        .await
        .err()
        .map(|s| format!("{:?}: {}", s.code(), s.message()))
        .unwrap_or_default();
    say("(no token)", "restore checkpoint", false, &status);

    let path = server
        .log_path()
        .ok_or("the demo writes a JSON log")?
        .to_path_buf();
    server.stop().await?;

    print_summary(&path)?;
    // What an auditor runs: every event is chained and the digests are signed.
    println!();
    println!(
        "$ auditlog verify {} --key {}",
        path.display(),
        public.display()
    );
    let verified = audit_cli::verify(&path, Some(&public))?;
    if verified != 0 {
        return Err("the demo's own log does not verify".into());
    }
    let shown = path.display();
    println!();
    println!("look further (the spec's recipes):");
    println!("  jq '.[] | .action_type' {shown} | sort | uniq -c");
    println!("  jq '.[] | select(.status == \"failed\")' {shown}");
    println!("  jq '.[] | select(.action_type == \"hp_change\") | .details' {shown}");
    println!("  jq '.[] | select(.details.actor == \"bob\")' {shown}");
    println!();
    println!("or with auditlog (both formats, streaming):");
    println!("  cargo run -q -p audit-cli -- summary {shown}");
    println!("  cargo run -q -p audit-cli -- query {shown} --status failed");
    println!(
        "  cargo run -q -p audit-cli -- verify {shown} --key {}",
        public.display()
    );
    println!(
        "  python3 docs/verify_chain.py {shown} --key {}",
        public.display()
    );
    println!();
    println!("or serve it yourself: cargo run --example experiment_server");
    Ok(())
}

/// The same table `auditlog summary` prints, by the same code.
fn print_summary(path: &std::path::Path) -> Result<(), Box<dyn Error>> {
    println!();
    print!("{}", audit_cli::summary_text(path, false)?);
    Ok(())
}
