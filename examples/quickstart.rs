//! The twenty lines a new user starts from: open a logger for an experiment, log what a
//! user did (and what failed), and read the summary back.
//!
//! ```text
//! cargo run --example quickstart            # writes runs/quickstart/audit_log.json
//! AUDIT_LOG_FORMAT=csv cargo run --example quickstart
//! ```

use audit_runtime::{AuditLogger, Status};
use serde_json::json;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let logger = AuditLogger::new("runs/quickstart", "quickstart")?;
    audit_runtime::init(logger.clone())?;

    audit_runtime::log_event(
        "hp_change",
        Status::Success,
        json!({"changed_params": {"learning_rate": 0.001, "batch_size": 32}}),
        None,
    )?;
    audit_runtime::log_event(
        "tag_add",
        Status::Success,
        json!({"tag_name": "defect", "samples_affected": 2, "sample_ids": ["s1", "s2"]}),
        None,
    )?;
    audit_runtime::log_event("pause", Status::Success, None, None)?;
    audit_runtime::log_event(
        "checkpoint_restore",
        Status::Failed,
        json!({"checkpoint_id": "ckpt_001"}),
        Some("Checkpoint file not found"),
    )?;

    let path = logger
        .path()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "(none: AUDIT_LOG_FORMAT=none)".into());
    println!("log: {path}");
    println!(
        "{}",
        serde_json::to_string_pretty(&logger.get_log_summary()?)?
    );
    audit_runtime::shutdown()?;
    Ok(())
}
