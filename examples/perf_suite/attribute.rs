//! What `#[audited]` costs per call: off (no logger and no pre-init buffer; a logger with
//! format `none`) against the same function without the attribute, and on (a JSON logger)
//! against logging the same five details by hand.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Instant;

use audited::{AuditLogger, Durability, Format, MemorySink, Status, audited};
use serde_json::{Map, Value};

use crate::Config;
use crate::bench::{Batch, BoxError, Contender, Metric, find, run_rounds, run_threads};
use crate::event::{ACTOR, BATCH_SIZE, LEARNING_RATE, RUN_ID, STEP};
use crate::ours;
use crate::table::Row;

// Each function is kept out of line, so that every contender is one call of the same shape
// and the attribute's code is measured where a real caller would meet it.

#[inline(never)]
fn plain(actor: &str, run_id: &str, step: u64, lr: f64, batch: u32) -> Result<u64, String> {
    if lr <= 0.0 {
        return Err(format!(
            "{actor}: learning rate must be positive ({run_id})"
        ));
    }
    Ok(step + u64::from(batch))
}

#[inline(never)]
#[audited(
    action = "hp_change",
    logger = logger,
    details(actor, run_id, step, learning_rate = lr, batch_size = batch)
)]
fn audited_with(
    logger: &AuditLogger,
    actor: &str,
    run_id: &str,
    step: u64,
    lr: f64,
    batch: u32,
) -> Result<u64, String> {
    if lr <= 0.0 {
        return Err(format!(
            "{actor}: learning rate must be positive ({run_id})"
        ));
    }
    Ok(step + u64::from(batch))
}

/// Logs through the global logger, which this suite never sets (and whose pre-init buffer
/// it turns off at start), so the attribute finds auditing off.
#[inline(never)]
#[audited(
    action = "hp_change",
    details(actor, run_id, step, learning_rate = lr, batch_size = batch)
)]
fn audited_global(
    actor: &str,
    run_id: &str,
    step: u64,
    lr: f64,
    batch: u32,
) -> Result<u64, String> {
    if lr <= 0.0 {
        return Err(format!(
            "{actor}: learning rate must be positive ({run_id})"
        ));
    }
    Ok(step + u64::from(batch))
}

/// The same event as `audited_with`, logged by hand: the logger's own cost. `#[audited]`
/// gives each call a request id (`details.request_id`), so this does too, with the same
/// generator: the events are the same bytes long, and what differs is the attribute's.
#[inline(never)]
fn by_hand(
    logger: &AuditLogger,
    actor: &str,
    run_id: &str,
    step: u64,
    lr: f64,
    batch: u32,
) -> Result<u64, String> {
    let mut details = Map::new();
    details.insert("actor".into(), Value::from(actor));
    details.insert("run_id".into(), Value::from(run_id));
    details.insert("step".into(), Value::from(step));
    details.insert("learning_rate".into(), Value::from(lr));
    details.insert("batch_size".into(), Value::from(batch));
    let ids = audited::request::RequestIds::generate();
    details.insert("request_id".into(), Value::from(ids.request_id()));
    let result = plain(actor, run_id, step, lr, batch);
    let (status, error) = match &result {
        Ok(_) => (Status::Success, None),
        Err(e) => (Status::Failed, Some(e.as_str())),
    };
    // A failure to log is the logger's to report; the call's result stands.
    let _ = logger.log_details("hp_change", status, details, error);
    result
}

/// Checks that the attribute and the hand-written version log the same event, so the
/// difference between them is the attribute's.
pub fn check_same_event() -> Result<(), BoxError> {
    let (a, b) = (MemorySink::new(), MemorySink::new());
    audited_with(
        &AuditLogger::in_memory(a.clone()),
        ACTOR,
        RUN_ID,
        STEP,
        LEARNING_RATE,
        BATCH_SIZE,
    )?;
    by_hand(
        &AuditLogger::in_memory(b.clone()),
        ACTOR,
        RUN_ID,
        STEP,
        LEARNING_RATE,
        BATCH_SIZE,
    )?;
    let (a, b) = (a.events(), b.events());
    // Each call has its own request id: the rest must be the same, and both must have one
    // of the same length.
    let id_len = |e: &audited::AuditEvent| {
        e.details
            .get("request_id")
            .and_then(Value::as_str)
            .map(str::len)
    };
    let without_id = |e: &audited::AuditEvent| {
        let mut details = e.details.clone();
        details.shift_remove("request_id");
        (
            e.action_type.clone(),
            e.status.clone(),
            details,
            e.error.clone(),
        )
    };
    let same = a.len() == 1
        && b.len() == 1
        && id_len(&a[0]).is_some()
        && id_len(&a[0]) == id_len(&b[0])
        && without_id(&a[0]) == without_id(&b[0]);
    if same {
        Ok(())
    } else {
        Err(
            format!("#[audited] and the by-hand version log different events: {a:?} vs {b:?}")
                .into(),
        )
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    Plain,
    OffGlobal,
    OffFormatNone,
    ByHandJson,
    AuditedJson,
}

impl Variant {
    pub fn name(self) -> &'static str {
        match self {
            Variant::Plain => "fn without #[audited]",
            Variant::OffGlobal => "#[audited], no logger set",
            Variant::OffFormatNone => "#[audited], logger with format none",
            Variant::ByHandJson => "same details by hand, JSON logger",
            Variant::AuditedJson => "#[audited], JSON logger",
        }
    }
}

pub struct Attribute {
    variant: Variant,
    ops: u64,
    dir: PathBuf,
    round: usize,
    logger: Option<AuditLogger>,
}

impl Attribute {
    pub fn new(variant: Variant, ops: u64, dir: PathBuf) -> Attribute {
        Attribute {
            variant,
            ops,
            dir,
            round: 0,
            logger: None,
        }
    }
}

impl Contender for Attribute {
    fn key(&self) -> String {
        self.variant.name().to_owned()
    }

    /// Off: a format-`none` logger. On: a fresh JSON log each round, so both contenders
    /// write to logs of the same sizes.
    fn prepare(&mut self) -> Result<(), BoxError> {
        // Only a JSON logger has a directory to remove (format `none` creates none).
        if let Some(old) = self.logger.take()
            && old.path().is_some()
        {
            let dir = old.root_log_dir().to_owned();
            drop(old);
            std::fs::remove_dir_all(dir)?;
        }
        self.round += 1;
        let format = match self.variant {
            Variant::ByHandJson | Variant::AuditedJson => Format::Json,
            _ => Format::None,
        };
        let dir = self.dir.join(format!("round-{}", self.round));
        self.logger = Some(ours::open(&dir, format, Durability::Written)?);
        Ok(())
    }

    fn run(&mut self) -> Result<Batch, BoxError> {
        let logger = self.logger.as_ref().ok_or("not prepared")?;
        let call = |logger: &AuditLogger| -> Result<u64, String> {
            let (a, r, s, l, b) = black_box((ACTOR, RUN_ID, STEP, LEARNING_RATE, BATCH_SIZE));
            match self.variant {
                Variant::Plain => plain(a, r, s, l, b),
                Variant::OffGlobal => audited_global(a, r, s, l, b),
                Variant::OffFormatNone | Variant::AuditedJson => {
                    audited_with(logger, a, r, s, l, b)
                }
                Variant::ByHandJson => by_hand(logger, a, r, s, l, b),
            }
        };
        match self.variant {
            // A few ns per call: timed as a batch (two clock reads per call would cost more
            // than the call), so the figure is the mean.
            Variant::Plain | Variant::OffGlobal | Variant::OffFormatNone => {
                let start = Instant::now();
                for _ in 0..self.ops {
                    black_box(call(logger)?);
                }
                Ok(Batch {
                    ops: self.ops,
                    wall: start.elapsed(),
                    ..Batch::default()
                })
            }
            // Microseconds per call: every call timed, so the figure is the median, and a
            // rewrite of the log landing in one contender's batch does not move it.
            Variant::ByHandJson | Variant::AuditedJson => run_threads(
                1,
                self.ops,
                || (),
                |_| {
                    call(logger)?;
                    Ok(())
                },
            ),
        }
    }
}

/// `#[audited]` off and on.
pub fn section(config: &Config, dir: &Path) -> Result<Vec<Row>, BoxError> {
    eprintln!("#[audited]:");
    check_same_event()?;
    let variants = [
        Variant::Plain,
        Variant::OffGlobal,
        Variant::OffFormatNone,
        Variant::ByHandJson,
        Variant::AuditedJson,
    ];
    let contenders: Vec<Box<dyn Contender>> = variants
        .iter()
        .map(|&v| {
            let ops = match v {
                Variant::ByHandJson | Variant::AuditedJson => config.attribute_on,
                _ => config.attribute_off,
            };
            Box::new(Attribute::new(
                v,
                ops,
                dir.join(v.name().replace([' ', '#', '[', ']', ','], "-")),
            )) as Box<dyn Contender>
        })
        .collect();
    let results = run_rounds("#[audited]", contenders, config.rounds)?;
    let group = "#[audited]";
    let get = |v: Variant| find(&results, v.name());
    let plain = get(Variant::Plain)?;
    let by_hand = get(Variant::ByHandJson)?;
    let mut rows = vec![Row::measured(group, Variant::Plain.name(), 1, "", plain)];
    for v in [Variant::OffGlobal, Variant::OffFormatNone] {
        let m = get(v)?;
        rows.push(Row::measured(group, v.name(), 1, "", m).vs(
            m,
            plain,
            Metric::PerOpDiff,
            "without",
        ));
    }
    rows.push(Row::measured(
        group,
        Variant::ByHandJson.name(),
        1,
        "0",
        by_hand,
    ));
    let on = get(Variant::AuditedJson)?;
    rows.push(
        Row::measured(group, Variant::AuditedJson.name(), 1, "0", on)
            .vs(on, by_hand, Metric::PerOpDiff, "by hand")
            .vs(on, by_hand, Metric::PerOp, "by hand"),
    );
    let _ = std::fs::remove_dir_all(dir);
    Ok(rows)
}
