//! The twenty lines a new user starts from: install a logger for the experiment, annotate what
//! users can do, and read the summary back.
//!
//! ```text
//! cargo run --example quickstart            # writes runs/quickstart/audit_log.json
//! AUDIT_LOG_FORMAT=csv cargo run --example quickstart
//! ```

use audited::{AuditLogger, Status, audited};
use serde_json::json;

#[derive(Clone, serde::Serialize)]
struct Hparams {
    learning_rate: f64,
    batch_size: u32,
}

struct Trainer {
    hp: Hparams,
}

impl Trainer {
    // One event per call: before/after of `hp`, `changed` keys, success or the error.
    #[audited(action = "hp_change", capture = self.hp.clone())]
    fn set_learning_rate(&mut self, lr: f64) -> Result<(), String> {
        if lr <= 0.0 {
            return Err(format!("learning_rate must be positive, got {lr}"));
        }
        self.hp.learning_rate = lr;
        Ok(())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The runtime reports through `tracing` (target "audit"): recoveries, failed events.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let logger = AuditLogger::new("runs/quickstart", "quickstart")?; // format from AUDIT_LOG_FORMAT
    audited::init(logger.clone())?;

    let mut trainer = Trainer {
        hp: Hparams {
            learning_rate: 0.01,
            batch_size: 32,
        },
    };
    trainer.set_learning_rate(0.001)?;
    let _ = trainer.set_learning_rate(-1.0); // logged as failed, with the error
    audited::log_event(
        "tag_add",
        Status::Success,
        json!({"tag_name": "defect", "sample_ids": ["s1", "s2"]}),
        None,
    )?;

    let path = logger
        .path()
        .map_or("(none: AUDIT_LOG_FORMAT=none)".into(), |p| {
            p.display().to_string()
        });
    println!("log: {path}");
    println!(
        "{}",
        serde_json::to_string_pretty(&logger.get_log_summary()?)?
    );
    audited::shutdown()?;
    Ok(())
}
