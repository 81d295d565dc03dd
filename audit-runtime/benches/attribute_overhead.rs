//! What `#[audited]` costs per call.
//!
//! - `off/*`: auditing off (no logger and no pre-init buffer, or a logger with format
//!   `none`): an audited trivial function against the same function without the attribute.
//!   Target: within 5 ns.
//! - `on/*`: an enabled JSON logger: the audited function against logging the same event by
//!   hand (`AuditLogger::log_details`), so the difference is what the attribute adds beyond
//!   the logger's own per-event cost. Target: under 1 µs.
//!
//! - `on_cheap_sink/*`: the same comparison against a sink that costs almost nothing (the
//!   global pre-init buffer, full, so each event is built, handed over and counted as
//!   dropped): this isolates the attribute's own work (its per-call state, the details
//!   map, the outcome) from the file write.
//!
//! Run: `cargo bench -p audit-runtime --bench attribute_overhead`.

use std::hint::black_box;
use std::sync::OnceLock;
use std::time::Duration;

use audit_runtime::{AuditLogger, Format, Status, audited};
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Map, Value};

static NONE_LOGGER: OnceLock<AuditLogger> = OnceLock::new();
static JSON_LOGGER: OnceLock<(tempfile::TempDir, AuditLogger)> = OnceLock::new();

fn none_logger() -> &'static AuditLogger {
    NONE_LOGGER.get_or_init(|| {
        AuditLogger::builder(std::env::temp_dir())
            .format(Format::None)
            .build()
            .expect("a format-none logger opens")
    })
}

fn json_logger() -> &'static AuditLogger {
    &JSON_LOGGER
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("temp dir");
            let logger = AuditLogger::builder(dir.path())
                .format(Format::Json)
                .build()
                .expect("a JSON logger opens");
            (dir, logger)
        })
        .1
}

#[inline(never)]
fn plain(x: u64) -> Result<u64, String> {
    if x == u64::MAX {
        return Err("overflow".into());
    }
    Ok(x + 1)
}

#[inline(never)]
#[audited(action = "hp_change", details(x))]
fn audited_global(x: u64) -> Result<u64, String> {
    if x == u64::MAX {
        return Err("overflow".into());
    }
    Ok(x + 1)
}

#[inline(never)]
#[audited(action = "hp_change", logger = none_logger(), details(x))]
fn audited_none_logger(x: u64) -> Result<u64, String> {
    if x == u64::MAX {
        return Err("overflow".into());
    }
    Ok(x + 1)
}

#[inline(never)]
#[audited(action = "hp_change", logger = json_logger(), details(x))]
fn audited_json(x: u64) -> Result<u64, String> {
    if x == u64::MAX {
        return Err("overflow".into());
    }
    Ok(x + 1)
}

/// The same event, logged by hand: the logger's own cost.
#[inline(never)]
fn by_hand_json(x: u64) -> Result<u64, String> {
    let result = plain(x);
    let mut details = Map::new();
    details.insert("x".to_owned(), Value::from(x));
    let (status, error) = match &result {
        Ok(_) => (Status::Success, None),
        Err(e) => (Status::Failed, Some(e.as_str())),
    };
    let _ = json_logger().log_details("hp_change", status, details, error);
    result
}

/// The same event as `audited_global`, handed to the global logger by hand.
#[inline(never)]
fn by_hand_global(x: u64) -> Result<u64, String> {
    let result = plain(x);
    let mut details = Map::new();
    details.insert("x".to_owned(), Value::from(x));
    let (status, error) = match &result {
        Ok(_) => (Status::Success, None),
        Err(e) => (Status::Failed, Some(e.as_str())),
    };
    let _ = audit_runtime::log_details("hp_change", status, details, error);
    result
}

fn off(c: &mut Criterion) {
    audit_runtime::set_pre_init_capacity(0);
    assert!(!audit_runtime::is_active());
    let mut group = c.benchmark_group("off");
    group.bench_function("plain", |b| b.iter(|| plain(black_box(7))));
    group.bench_function("audited_global_inactive", |b| {
        b.iter(|| audited_global(black_box(7)))
    });
    group.bench_function("audited_logger_format_none", |b| {
        b.iter(|| audited_none_logger(black_box(7)))
    });
    group.finish();
}

fn on(c: &mut Criterion) {
    let mut group = c.benchmark_group("on");
    group.bench_function("by_hand_json", |b| b.iter(|| by_hand_json(black_box(7))));
    group.bench_function("audited_json", |b| b.iter(|| audited_json(black_box(7))));
    group.finish();
}

fn on_cheap_sink(c: &mut Criterion) {
    // No global logger; a pre-init buffer of one event, filled, so every later event is
    // built and handed over, then only counted.
    audit_runtime::set_pre_init_capacity(1);
    let _ = audit_runtime::log_event("pause", Status::Success, None, None);
    assert!(audit_runtime::is_active());
    let mut group = c.benchmark_group("on_cheap_sink");
    group.bench_function("by_hand_global", |b| {
        b.iter(|| by_hand_global(black_box(7)))
    });
    group.bench_function("audited_global", |b| {
        b.iter(|| audited_global(black_box(7)))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = off, on, on_cheap_sink
}
criterion_main!(benches);
