//! What `#[audited]` costs per call, and what one event costs through each log file.
//!
//! - `off/*`: auditing off (no logger and no pre-init buffer, or a logger with format
//!   `none`): an audited trivial function against the same function without the attribute.
//!   Target: within 2 ns.
//! - `on/*`: an enabled JSON logger: the audited function against logging the same event by
//!   hand (`AuditLogger::log_details`), so the difference is what the attribute adds beyond
//!   the logger's own per-event cost; with one detail and with five (the event of
//!   `examples/logger_bench.rs` plus one key). Target: under 100 ns.
//! - `on_cheap_sink/*`: the same comparison against a sink that costs almost nothing (the
//!   global pre-init buffer, full, so each event is built, handed over and counted as
//!   dropped): this isolates the attribute's own work (its per-call state, the details
//!   map, the outcome) from the file write, which is noise at this scale.
//! - `log/*`: the five-key event logged by hand to a JSON and to a CSV file: the logger's
//!   per-event cost (encoding, lock, syscalls).
//!
//! Run: `cargo bench -p audit-runtime --bench attribute_overhead`.
//!
//! On a shared machine criterion's one-benchmark-after-another runs drift with the load.
//! `ATTRIBUTE_OVERHEAD_ROUNDS=<r>` instead runs every case for a fixed number of calls, case
//! after case, `r` times, and prints each case's median time per call and the median of its
//! per-round difference from its reference (the plain function, or logging by hand), so the
//! load is the same for both sides of each difference. The counts are fixed, not timed, so
//! that two builds compared with it write the same logs.
//!
//! For instruction counts, `ATTRIBUTE_OVERHEAD_RUN=<case>:<n>` runs one case `n` times
//! without criterion (cases: the function names below, e.g. `audited_none_logger`), so
//! that two runs under `valgrind --tool=callgrind` with different `n` give the per-call
//! count as their difference, free of the set-up:
//! ```text
//! ATTRIBUTE_OVERHEAD_RUN=plain:1000 valgrind --tool=callgrind target/release/deps/attribute_overhead-*
//! ```

use std::hint::black_box;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use audit_runtime::{AuditLogger, Format, Status, audited};
use criterion::{Criterion, criterion_group};
use serde_json::{Map, Value};

static NONE_LOGGER: OnceLock<AuditLogger> = OnceLock::new();
static JSON_LOGGER: OnceLock<(tempfile::TempDir, AuditLogger)> = OnceLock::new();
static CSV_LOGGER: OnceLock<(tempfile::TempDir, AuditLogger)> = OnceLock::new();

fn none_logger() -> &'static AuditLogger {
    NONE_LOGGER.get_or_init(|| {
        AuditLogger::builder(std::env::temp_dir())
            .format(Format::None)
            .build()
            .expect("a format-none logger opens")
    })
}

fn file_logger(
    cell: &'static OnceLock<(tempfile::TempDir, AuditLogger)>,
    format: Format,
) -> &'static AuditLogger {
    &cell
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("temp dir");
            let logger = AuditLogger::builder(dir.path())
                .format(format)
                .build()
                .expect("a log file opens");
            (dir, logger)
        })
        .1
}

fn json_logger() -> &'static AuditLogger {
    file_logger(&JSON_LOGGER, Format::Json)
}

fn csv_logger() -> &'static AuditLogger {
    file_logger(&CSV_LOGGER, Format::Csv)
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

/// `#[audited]` gives every call a request id (`details.request_id`): the by-hand versions
/// add one too, from the same generator, so that they log the same event, the same bytes
/// long, and the difference is the attribute's own work.
fn add_request_id(details: &mut Map<String, Value>) {
    let ids = audit_runtime::request::RequestIds::generate();
    details.insert("request_id".to_owned(), Value::from(ids.request_id()));
}

/// The same event, logged by hand: the logger's own cost.
#[inline(never)]
fn by_hand_json(x: u64) -> Result<u64, String> {
    let result = plain(x);
    let mut details = Map::new();
    details.insert("x".to_owned(), Value::from(x));
    add_request_id(&mut details);
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
    add_request_id(&mut details);
    let (status, error) = match &result {
        Ok(_) => (Status::Success, None),
        Err(e) => (Status::Failed, Some(e.as_str())),
    };
    let _ = audit_runtime::log_details("hp_change", status, details, error);
    result
}

const TAG: &str = "defect";
const IDS: [&str; 5] = ["s1", "s2", "s3", "s4", "s5"];

fn tag(tag_name: &str, ids: &[&str], seq: u64) -> Result<u64, String> {
    if tag_name.is_empty() {
        return Err("no tag".into());
    }
    Ok(seq + ids.len() as u64)
}

/// The five-key event built by hand, as a caller of `log_details` would.
fn five_details(tag_name: &str, ids: &[&str], seq: u64) -> Map<String, Value> {
    let mut details = Map::new();
    details.insert("tag_name".to_owned(), Value::from(tag_name));
    details.insert("samples_affected".to_owned(), Value::from(ids.len()));
    details.insert(
        "sample_ids".to_owned(),
        Value::Array(ids.iter().map(|&id| Value::from(id)).collect()),
    );
    details.insert("seq".to_owned(), Value::from(seq));
    details.insert("split".to_owned(), Value::from("train"));
    add_request_id(&mut details);
    details
}

fn by_hand_five(logger: Option<&AuditLogger>, ids: &[&str], seq: u64) -> Result<u64, String> {
    let result = tag(TAG, ids, seq);
    let details = five_details(TAG, ids, seq);
    let (status, error) = match &result {
        Ok(_) => (Status::Success, None),
        Err(e) => (Status::Failed, Some(e.as_str())),
    };
    let _ = match logger {
        Some(logger) => logger.log_details("tag_add", status, details, error),
        None => audit_runtime::log_details("tag_add", status, details, error),
    };
    result
}

#[inline(never)]
fn by_hand_json_5keys(seq: u64) -> Result<u64, String> {
    by_hand_five(Some(json_logger()), &IDS, seq)
}

#[inline(never)]
fn by_hand_csv_5keys(seq: u64) -> Result<u64, String> {
    by_hand_five(Some(csv_logger()), &IDS, seq)
}

#[inline(never)]
fn by_hand_global_5keys(seq: u64) -> Result<u64, String> {
    by_hand_five(None, &IDS, seq)
}

#[inline(never)]
#[audited(
    action = "tag_add",
    logger = json_logger(),
    details(tag_name, samples_affected = ids.len(), sample_ids = ids, seq, split = "train")
)]
fn audited_json_5keys(tag_name: &str, ids: &[&str], seq: u64) -> Result<u64, String> {
    tag(tag_name, ids, seq)
}

#[inline(never)]
#[audited(
    action = "tag_add",
    details(tag_name, samples_affected = ids.len(), sample_ids = ids, seq, split = "train")
)]
fn audited_global_5keys(tag_name: &str, ids: &[&str], seq: u64) -> Result<u64, String> {
    tag(tag_name, ids, seq)
}

fn off(c: &mut Criterion) {
    audit_off();
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
    group.bench_function("by_hand_json_5keys", |b| {
        b.iter(|| by_hand_json_5keys(black_box(7)))
    });
    group.bench_function("audited_json_5keys", |b| {
        b.iter(|| audited_json_5keys(TAG, black_box(&IDS), black_box(7)))
    });
    group.finish();
}

fn on_cheap_sink(c: &mut Criterion) {
    cheap_sink();
    let mut group = c.benchmark_group("on_cheap_sink");
    group.bench_function("by_hand_global", |b| {
        b.iter(|| by_hand_global(black_box(7)))
    });
    group.bench_function("audited_global", |b| {
        b.iter(|| audited_global(black_box(7)))
    });
    group.bench_function("by_hand_global_5keys", |b| {
        b.iter(|| by_hand_global_5keys(black_box(7)))
    });
    group.bench_function("audited_global_5keys", |b| {
        b.iter(|| audited_global_5keys(TAG, black_box(&IDS), black_box(7)))
    });
    group.finish();
}

fn log(c: &mut Criterion) {
    let mut group = c.benchmark_group("log");
    group.bench_function("json_5keys", |b| {
        b.iter(|| by_hand_json_5keys(black_box(7)))
    });
    group.bench_function("csv_5keys", |b| b.iter(|| by_hand_csv_5keys(black_box(7))));
    group.finish();
}

/// No global logger and no pre-init buffer: the global path records nothing.
fn audit_off() {
    audit_runtime::set_pre_init_capacity(0);
    assert!(!audit_runtime::is_active());
}

/// No global logger; a pre-init buffer of one event, filled, so every later event is
/// built and handed over, then only counted.
fn cheap_sink() {
    audit_runtime::set_pre_init_capacity(1);
    let _ = audit_runtime::log_event("pause", Status::Success, None, None);
    assert!(audit_runtime::is_active());
}

/// `ATTRIBUTE_OVERHEAD_RUN=<case>:<n>`: see the module docs.
fn run_case(spec: &str) {
    let (case, n) = spec.split_once(':').unwrap_or((spec, "1000"));
    let n: u64 = n.parse().expect("ATTRIBUTE_OVERHEAD_RUN=<case>:<count>");
    let one: fn(u64) = match case {
        "plain" => |x| drop(black_box(plain(x))),
        "audited_global_inactive" => {
            audit_off();
            |x| drop(black_box(audited_global(x)))
        }
        "audited_none_logger" => |x| drop(black_box(audited_none_logger(x))),
        "by_hand_json" => |x| drop(black_box(by_hand_json(x))),
        "audited_json" => |x| drop(black_box(audited_json(x))),
        "by_hand_json_5keys" => |x| drop(black_box(by_hand_json_5keys(x))),
        "audited_json_5keys" => |x| drop(black_box(audited_json_5keys(TAG, &IDS, x))),
        "by_hand_csv_5keys" => |x| drop(black_box(by_hand_csv_5keys(x))),
        "by_hand_global_5keys" => {
            cheap_sink();
            |x| drop(black_box(by_hand_global_5keys(x)))
        }
        "audited_global_5keys" => {
            cheap_sink();
            |x| drop(black_box(audited_global_5keys(TAG, &IDS, x)))
        }
        other => panic!("unknown case {other:?}"),
    };
    // One call first, so that lazily opened loggers are not counted in either run.
    one(0);
    for i in 0..n {
        one(black_box(i));
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = off, on, on_cheap_sink, log
}

/// A case of the rounds: its name, its reference's name, the calls per round, and the call.
type Timed = (&'static str, &'static str, u64, fn(u64));

const TIMED: &[Timed] = &[
    ("off/plain", "off/plain", 1_000_000, |x| {
        drop(black_box(plain(x)))
    }),
    ("off/audited_global_inactive", "off/plain", 1_000_000, |x| {
        drop(black_box(audited_global(x)))
    }),
    (
        "off/audited_logger_format_none",
        "off/plain",
        1_000_000,
        |x| drop(black_box(audited_none_logger(x))),
    ),
    (
        "on_cheap_sink/by_hand_global",
        "on_cheap_sink/by_hand_global",
        20_000,
        |x| drop(black_box(by_hand_global(x))),
    ),
    (
        "on_cheap_sink/audited_global",
        "on_cheap_sink/by_hand_global",
        20_000,
        |x| drop(black_box(audited_global(x))),
    ),
    (
        "on_cheap_sink/by_hand_global_5keys",
        "on_cheap_sink/by_hand_global_5keys",
        20_000,
        |x| drop(black_box(by_hand_global_5keys(x))),
    ),
    (
        "on_cheap_sink/audited_global_5keys",
        "on_cheap_sink/by_hand_global_5keys",
        20_000,
        |x| drop(black_box(audited_global_5keys(TAG, &IDS, x))),
    ),
    ("on/by_hand_json", "on/by_hand_json", 2_000, |x| {
        drop(black_box(by_hand_json(x)))
    }),
    ("on/audited_json", "on/by_hand_json", 2_000, |x| {
        drop(black_box(audited_json(x)))
    }),
    (
        "on/by_hand_json_5keys",
        "on/by_hand_json_5keys",
        2_000,
        |x| drop(black_box(by_hand_json_5keys(x))),
    ),
    (
        "on/audited_json_5keys",
        "on/by_hand_json_5keys",
        2_000,
        |x| drop(black_box(audited_json_5keys(TAG, &IDS, x))),
    ),
    ("log/csv_5keys", "log/csv_5keys", 2_000, |x| {
        drop(black_box(by_hand_csv_5keys(x)))
    }),
];

/// `ATTRIBUTE_OVERHEAD_ROUNDS=<r>`: see the module docs.
fn run_rounds(rounds: usize) {
    let mut times = vec![Vec::with_capacity(rounds); TIMED.len()];
    for _ in 0..rounds {
        for (i, &(name, _, calls, one)) in TIMED.iter().enumerate() {
            if name.starts_with("off/") {
                audit_off();
            } else if name.starts_with("on_cheap_sink/") {
                cheap_sink();
            }
            let start = std::time::Instant::now();
            for x in 0..calls {
                one(black_box(x));
            }
            times[i].push(start.elapsed().as_secs_f64() * 1e9 / calls as f64);
        }
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    for (i, &(name, reference, _, _)) in TIMED.iter().enumerate() {
        let Some(r) = TIMED.iter().position(|t| t.0 == reference) else {
            continue;
        };
        let diffs = times[i].iter().zip(&times[r]).map(|(a, b)| a - b).collect();
        println!(
            "{name:40} {:10.2} ns  {:+9.2} ns vs {reference}",
            median(times[i].clone()),
            median(diffs)
        );
    }
}

fn main() {
    if let Ok(spec) = std::env::var("ATTRIBUTE_OVERHEAD_RUN") {
        run_case(&spec);
    } else if let Ok(rounds) = std::env::var("ATTRIBUTE_OVERHEAD_ROUNDS") {
        run_rounds(rounds.parse().expect("ATTRIBUTE_OVERHEAD_ROUNDS=<rounds>"));
    } else {
        benches();
        Criterion::default().configure_from_args().final_summary();
    }
    // The statics are never dropped, so their temporary directories (which the file
    // benches fill with hundreds of megabytes) are removed here.
    for cell in [&JSON_LOGGER, &CSV_LOGGER] {
        if let Some((dir, _)) = cell.get() {
            remove(dir.path());
        }
    }
}

fn remove(path: &Path) {
    let _ = std::fs::remove_dir_all(path);
}
