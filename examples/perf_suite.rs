//! The performance suite (issue 10): everything the README's performance section says, in
//! one run, on this machine, as one table.
//!
//! ```text
//! cargo run --release --example perf_suite              # a few minutes
//! cargo run --release --example perf_suite -- --quick   # small counts, under a minute
//! cargo run --release --example perf_suite -- --huge    # adds logs of 10M events (long, ~6 GB of disk)
//! ```
//! `--only json,csv,reference,attribute,grpc` runs some sections. Logs go to a temporary
//! directory (`$TMPDIR`, else `/tmp`), removed at the end; its file system is in the header.
//!
//! Every section interleaves its contenders in rounds (see `bench.rs`): p50 and ops/s are
//! medians over rounds, p99, p99.9 and max are over every operation of every round, and
//! comparisons are medians of ratios (or differences) taken within each round. The fills
//! (a log from empty to 1M events) run once each, alone.

// The modules live in `examples/perf_suite/`; an example's root looks beside itself.
#[path = "perf_suite/attribute.rs"]
mod attribute;
#[path = "perf_suite/bench.rs"]
mod bench;
#[path = "perf_suite/event.rs"]
mod event;
#[path = "perf_suite/floors.rs"]
mod floors;
#[path = "perf_suite/grpc.rs"]
mod grpc;
#[path = "perf_suite/ours.rs"]
mod ours;
#[path = "perf_suite/reference.rs"]
mod reference;
#[path = "perf_suite/stats.rs"]
mod stats;
#[path = "perf_suite/sys.rs"]
mod sys;
#[path = "perf_suite/table.rs"]
mod table;
#[path = "perf_suite/tracing_json.rs"]
mod tracing_json;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use audited::{Durability, Format, Timestamp};

use crate::bench::{BoxError, Contender, Measured, Metric, find, run_rounds};
use crate::floors::{Discipline, Floor, Target};
use crate::ours::{CallerClone, Log, Ours};
use crate::table::{Row, bytes, count, ns, ratio, thousands};

const USAGE: &str = "usage: perf_suite [--quick | --huge] [--only SECTION,...]

  --quick  small counts (under a minute): checks that every contender runs
  --huge   also logs prefilled with 10M events (long; several GB of disk)
  --only   sections to run: json, csv, reference, attribute, grpc (default: all)";

const THREADS: [usize; 3] = [1, 4, 16];
const SECTIONS: [&str; 5] = ["json", "csv", "reference", "attribute", "grpc"];

/// How much of everything: one of three sizes.
struct Config {
    name: &'static str,
    rounds: usize,
    /// Events per contender per round with `Durability::Written` (and the floors like it).
    written: u64,
    /// Events per contender per round when every event waits for the disk.
    synced: u64,
    /// Sizes of the prefilled logs (besides empty), each filled once from 1 and 16 threads.
    prefills: Vec<u64>,
    /// Reference: events per round at 1k and at 10k, in Rust and in Python.
    reference_rust: [u64; 2],
    reference_python: [u64; 2],
    /// `#[audited]`: calls per round when off (a few ns each) and on.
    attribute_off: u64,
    attribute_on: u64,
    grpc_warmup: Duration,
    grpc_window: Duration,
    sections: Vec<String>,
}

impl Config {
    fn from_args() -> Result<Config, String> {
        let mut size = "default";
        let mut sections: Vec<String> = SECTIONS.iter().map(|s| s.to_string()).collect();
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--quick" | "--huge" if size != "default" => {
                    return Err(format!("{arg}: choose one size\n\n{USAGE}"));
                }
                "--quick" => size = "quick",
                "--huge" => size = "huge",
                "--only" => {
                    let list = args
                        .next()
                        .ok_or(format!("--only needs a list\n\n{USAGE}"))?;
                    sections = list.split(',').map(str::to_owned).collect();
                    if let Some(bad) = sections.iter().find(|s| !SECTIONS.contains(&s.as_str())) {
                        return Err(format!("unknown section {bad:?}\n\n{USAGE}"));
                    }
                }
                "-h" | "--help" => {
                    println!("{USAGE}");
                    std::process::exit(0);
                }
                other => return Err(format!("unknown argument {other:?}\n\n{USAGE}")),
            }
        }
        let mut config = match size {
            "quick" => Config {
                name: "--quick",
                rounds: 3,
                written: 2_000,
                synced: 100,
                prefills: vec![20_000],
                reference_rust: [5, 2],
                reference_python: [3, 1],
                attribute_off: 500_000,
                attribute_on: 2_000,
                grpc_warmup: Duration::from_millis(100),
                grpc_window: Duration::from_millis(300),
                sections: Vec::new(),
            },
            _ => Config {
                name: "default",
                rounds: 5,
                written: 20_000,
                synced: 1_000,
                prefills: vec![1_000_000],
                reference_rust: [20, 5],
                reference_python: [10, 3],
                attribute_off: 5_000_000,
                attribute_on: 20_000,
                grpc_warmup: Duration::from_millis(300),
                grpc_window: Duration::from_millis(1_500),
                sections: Vec::new(),
            },
        };
        if size == "huge" {
            config.name = "--huge";
            config.prefills.push(10_000_000);
        }
        config.sections = sections;
        Ok(config)
    }

    fn runs(&self, section: &str) -> bool {
        self.sections.iter().any(|s| s == section)
    }
}

fn main() -> Result<(), BoxError> {
    let config = Config::from_args().unwrap_or_else(|usage| {
        eprintln!("{usage}");
        std::process::exit(2);
    });
    // No global logger is ever set; with the pre-init buffer off too, `#[audited]` on a
    // function without `logger =` finds auditing off, which is one of the contenders.
    audited::set_pre_init_capacity(0);
    let tmp = tempfile::Builder::new().prefix("perf_suite.").tempdir()?;
    let machine = sys::machine(tmp.path());
    let started = Instant::now();
    if cfg!(debug_assertions) {
        eprintln!("warning: a debug build; the figures mean nothing (use --release)");
    }

    let mut rows = Vec::new();
    for format in [Format::Json, Format::Csv] {
        if config.runs(format.as_str()) {
            rows.extend(log_section(
                format,
                &config,
                &tmp.path().join(format.as_str()),
            )?);
        }
    }
    if config.runs("reference") {
        rows.extend(reference_section(&config, &tmp.path().join("reference"))?);
    }
    if config.runs("attribute") {
        rows.extend(attribute_section(&config, &tmp.path().join("attribute"))?);
    }
    if config.runs("grpc") {
        rows.extend(grpc_section(&config, &tmp.path().join("grpc"))?);
    }
    let took = started.elapsed();

    let date = Timestamp::now().to_string();
    let flags = match config.name {
        "default" => String::new(),
        other => format!(" -- {other}"),
    };
    println!("## Performance: `cargo run --release --example perf_suite{flags}`");
    println!();
    println!(
        "{} (UTC); {} CPUs ({}), {} memory, {}, load average {} at the start; temp dir on {}; \
         {} build; {} rounds; took {:.0} s.",
        date.get(..19).unwrap_or(&date),
        machine.cpus,
        machine.cpu_model,
        machine.memory,
        machine.kernel,
        machine.load,
        machine.filesystem,
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        config.rounds,
        took.as_secs_f64(),
    );
    println!(
        "The event: `{}` with five detail keys, {} B as the JSON log's chunk, {} B as a CSV row; \
         the floors write exactly these bytes.",
        event::ACTION,
        event::json_chunk().len(),
        event::csv_row().len()
    );
    println!();
    table::print(&rows);
    println!();
    println!("{}", LEGEND.trim());
    Ok(())
}

const LEGEND: &str = "
- p50 and ops/s: medians over rounds of each round's value (ops/s counts all threads together);
  p99, p99.9, max: over every operation of every round. `mean`: timed as a batch (too short to
  time one by one). Latency is one call of `log_details` (or the floor's syscalls), clock to clock.
- thr: threads logging at once; log: events in the log when the round starts (`0→1M`: a fill,
  run once). Fresh logs each round for `0`; the prefilled logs grow by the rounds' events.
- disk/op: `write_bytes` of /proc/self/io (pages dirtied, so what writeback will write; a
  page rewritten before writeback counts once, after an fsync it counts again) per operation.
  Fill rows: the total, against the file's final size.
- peak RSS: VmHWM of this process during the batch (freed heap returned and the peak reset
  before each one: malloc_trim, clear_refs), everything resident included (the prefilled
  loggers, other contenders' buffers); for Python, the child's own peak.
- compared: this row ÷ (or −) the named row, the median of the ratios within each round.
- gRPC: the example server in-process (2 tokio workers), 16 client tasks over 4 HTTP/2
  connections on another runtime; server CPU = on-CPU time of the server runtime's threads
  (/proc/self/task/*/schedstat) over the measured window ÷ requests; latency is the client's.";

/// Which contenders a log format's section has, by key.
fn ours_key(format: Format, durability: Durability, threads: usize, log: u64) -> String {
    format!("ours {format} {durability:?} {threads}t {log}")
}

fn floor_key(discipline: Discipline, threads: usize) -> String {
    format!("floor {discipline:?} {threads}t")
}

fn tracing_key(threads: usize) -> String {
    format!("tracing {threads}t")
}

/// Ours (Written, Synced; 1/4/16 threads; empty and prefilled), the floors, and for JSON
/// tracing-subscriber, all in the same rounds; then the fill rows.
fn log_section(format: Format, config: &Config, dir: &Path) -> Result<Vec<Row>, BoxError> {
    let group = format.as_str().to_ascii_uppercase();
    eprintln!("{group}:");
    let (target, bytes) = match format {
        Format::Json => (Target::Gap, event::json_chunk()),
        _ => (Target::Append, event::csv_row()),
    };
    check_same_bytes(format, &dir.join("check"), bytes.len() as u64)?;

    // Fills first, each alone: the 16-thread ones are measured and deleted, then the
    // 1-thread ones are kept as the prefilled logs (so at most one big extra file exists).
    let mut rows = Vec::new();
    let mut prefilled = Vec::new();
    for threads in [16, 1] {
        for &size in &config.prefills {
            eprintln!("  filling 0 → {} from {threads} thread(s)", count(size));
            let fill_dir = dir.join(format!("fill-{threads}t-{}", count(size)));
            let (logger, fill) = ours::fill(&fill_dir, format, size, threads)?;
            rows.push(fill_row(&group, threads, size, &fill));
            if threads == 1 {
                let synced = ours::open(&fill_dir, format, Durability::Synced)?;
                prefilled.push((size, logger, synced));
            } else {
                drop(logger);
                std::fs::remove_dir_all(&fill_dir)?;
            }
        }
    }

    let mut contenders: Vec<Box<dyn Contender>> = Vec::new();
    for durability in [Durability::Written, Durability::Synced] {
        let ops = match durability {
            Durability::Written => config.written,
            Durability::Synced => config.synced,
        };
        for &threads in &THREADS {
            let key = ours_key(format, durability, threads, 0);
            let fresh = dir.join(format!("ours-{durability:?}-{threads}t"));
            let log = Log::fresh(fresh, format, durability, 0);
            contenders.push(Box::new(Ours::new(key, log, threads, ops)));
            for (size, written, synced) in &prefilled {
                let key = ours_key(format, durability, threads, *size);
                let logger = match durability {
                    Durability::Written => written.clone(),
                    Durability::Synced => synced.clone(),
                };
                contenders.push(Box::new(Ours::new(
                    key,
                    Log::Prefilled(logger),
                    threads,
                    ops,
                )));
            }
        }
    }
    let disciplines = [
        Discipline::Bare,
        Discipline::Flock,
        Discipline::FsyncUnderMutex,
        Discipline::FdatasyncOutside,
    ];
    for discipline in disciplines {
        for &threads in &THREADS {
            let ops = if discipline.durable() {
                config.synced
            } else {
                config.written
            };
            contenders.push(Box::new(Floor::new(
                floor_key(discipline, threads),
                target,
                discipline,
                threads,
                ops,
                bytes.clone(),
                event::csv_header(),
                dir.join(format!("floor-{discipline:?}-{threads}t")),
            )));
        }
    }
    if format == Format::Json {
        for &threads in &THREADS {
            std::fs::create_dir_all(dir)?;
            let path = dir.join(format!("tracing-{threads}t.log"));
            contenders.push(Box::new(tracing_json::TracingJson::new(
                tracing_key(threads),
                threads,
                config.written,
                path,
            )));
        }
        contenders.push(Box::new(CallerClone::new(config.written)));
    }
    let results = run_rounds(&group, contenders, config.rounds)?;

    // The rows, in reading order: ours, then what it is compared with.
    let mut measured_rows = Vec::new();
    let mut sizes = vec![0];
    sizes.extend(prefilled.iter().map(|(size, ..)| *size));
    for durability in [Durability::Written, Durability::Synced] {
        for &size in &sizes {
            for &threads in &THREADS {
                let m = find(&results, &ours_key(format, durability, threads, size))?;
                let name = format!("ours, {durability:?}");
                let mut row = Row::measured(&group, &name, threads, &count(size), m);
                if durability == Durability::Written {
                    let locked = find(&results, &floor_key(Discipline::Flock, threads))?;
                    let bare = find(&results, &floor_key(Discipline::Bare, threads))?;
                    row = row.vs(m, locked, Metric::PerOp, &locked_name(target)).vs(
                        m,
                        bare,
                        Metric::PerOp,
                        &bare_name(target),
                    );
                } else {
                    let naive = find(&results, &floor_key(Discipline::FsyncUnderMutex, threads))?;
                    let outside =
                        find(&results, &floor_key(Discipline::FdatasyncOutside, threads))?;
                    row = row.vs(m, naive, Metric::Rate, "fsync under mutex").vs(
                        m,
                        outside,
                        Metric::Rate,
                        "fdatasync outside mutex",
                    );
                }
                if threads > 1 {
                    let one = find(&results, &ours_key(format, durability, 1, size))?;
                    row = row.vs(m, one, Metric::Rate, "1 thread");
                }
                if size > 0 {
                    let empty = find(&results, &ours_key(format, durability, threads, 0))?;
                    row = row.vs(m, empty, Metric::PerOp, "empty log");
                }
                measured_rows.push(row);
            }
        }
    }
    for discipline in disciplines {
        for &threads in &THREADS {
            let m = find(&results, &floor_key(discipline, threads))?;
            let mut row = Row::measured(&group, discipline.name(target), threads, "", m);
            if discipline == Discipline::Flock {
                let bare = find(&results, &floor_key(Discipline::Bare, threads))?;
                row = row.vs(m, bare, Metric::PerOp, &bare_name(target));
            }
            if discipline == Discipline::FdatasyncOutside {
                let naive = find(&results, &floor_key(Discipline::FsyncUnderMutex, threads))?;
                row = row.vs(m, naive, Metric::Rate, "fsync under mutex");
            }
            measured_rows.push(row);
        }
    }
    if format == Format::Json {
        for &threads in &THREADS {
            let m = find(&results, &tracing_key(threads))?;
            let ours = find(&results, &ours_key(format, Durability::Written, threads, 0))?;
            let line = std::fs::metadata(dir.join(format!("tracing-{threads}t.log")))
                .map(|meta| meta.len() as f64 / config.written as f64)
                .unwrap_or(0.0);
            let row = Row::measured(
                &group,
                "tracing-subscriber fmt().json() to a file",
                threads,
                "",
                m,
            )
            .vs(m, ours, Metric::PerOp, "ours, Written")
            .with_note(&format!("{line:.0} B per line"));
            measured_rows.push(row);
        }
        let m = find(&results, "caller clone")?;
        let ours = find(&results, &ours_key(format, Durability::Written, 1, 0))?;
        measured_rows.push(
            Row::measured(&group, "caller: clone the details map (in ours)", 1, "", m).vs(
                m,
                ours,
                Metric::PerOp,
                "ours, Written",
            ),
        );
    }
    measured_rows.extend(rows);
    drop(prefilled);
    std::fs::remove_dir_all(dir)?;
    Ok(measured_rows)
}

fn locked_name(target: Target) -> String {
    Discipline::Flock
        .name(target)
        .trim_start_matches("floor: ")
        .to_owned()
}

fn bare_name(target: Target) -> String {
    Discipline::Bare
        .name(target)
        .trim_start_matches("floor: ")
        .to_owned()
}

/// The floors are only a floor if they write what the logger writes: one event through a
/// fresh logger must count exactly the floor's bytes.
fn check_same_bytes(format: Format, dir: &Path, floor_bytes: u64) -> Result<(), BoxError> {
    let logger = ours::open(dir, format, Durability::Written)?;
    let details = event::details();
    // The second event: the first of a JSON log ends at the `]` (no comma).
    ours::log_one(&logger, &details)?;
    let before = logger.stats().bytes_written;
    ours::log_one(&logger, &details)?;
    let ours = logger.stats().bytes_written - before;
    drop(logger);
    std::fs::remove_dir_all(dir)?;
    if ours == floor_bytes {
        Ok(())
    } else {
        Err(
            format!("{format}: the logger writes {ours} B per event, the floor {floor_bytes} B")
                .into(),
        )
    }
}

fn fill_row(group: &str, threads: usize, size: u64, fill: &ours::Fill) -> Row {
    let h = &fill.latencies;
    let mut row = Row::new(
        group,
        "ours, Written: fill",
        &threads.to_string(),
        &format!("0→{}", count(size)),
    );
    row.cells[4] = ns(h.quantile(0.5) as f64);
    row.cells[5] = ns(h.quantile(0.99) as f64);
    row.cells[6] = ns(h.quantile(0.999) as f64);
    row.cells[7] = ns(h.max() as f64);
    row.cells[8] = table::rate(h.count() as f64 / fill.wall.as_secs_f64().max(1e-9));
    row.cells[10] = fill.peak_rss.map(|b| bytes(b as f64)).unwrap_or_default();
    match fill.disk_bytes {
        Some(disk) => {
            row.cells[9] = bytes(disk as f64 / size as f64);
            row.note(&format!(
                "disk {} = {} the final file ({})",
                bytes(disk as f64),
                ratio(disk as f64 / fill.final_size as f64),
                bytes(fill.final_size as f64)
            ));
        }
        None => row.note(&format!(
            "no /proc/self/io: event bytes {} (rewrites not counted), final file {}",
            bytes(fill.event_bytes as f64),
            bytes(fill.final_size as f64)
        )),
    }
    if threads == 1 {
        row.note(&format!("slowest: event #{}", thousands(h.max_at() + 1)));
    }
    row.note(&format!(
        "{} events over 1 ms",
        thousands(h.count_above(1_000_000))
    ));
    row
}

/// The reference's algorithm at 1k and 10k events against ours on logs of those sizes.
fn reference_section(config: &Config, dir: &Path) -> Result<Vec<Row>, BoxError> {
    eprintln!("reference:");
    std::fs::create_dir_all(dir)?;
    let python = reference::python_available();
    if !python {
        eprintln!("  no python3: the Python reference is skipped");
    }
    let sizes = [1_000u64, 10_000];
    let mut contenders: Vec<Box<dyn Contender>> = Vec::new();
    for (i, &size) in sizes.iter().enumerate() {
        let start = Arc::new(reference::prefilled(size)?);
        let log = Log::fresh(
            dir.join(format!("ours-{size}")),
            Format::Json,
            Durability::Written,
            size,
        );
        let ours_ops = (config.written / 20).max(100);
        contenders.push(Box::new(Ours::new(
            format!("ours {size}"),
            log,
            1,
            ours_ops,
        )));
        contenders.push(Box::new(reference::Reference::new(
            format!("rust {size}"),
            reference::Runtime::Rust,
            start.clone(),
            config.reference_rust[i],
            dir.join(format!("rust-{size}.json")),
        )));
        if python {
            contenders.push(Box::new(reference::Reference::new(
                format!("python {size}"),
                reference::Runtime::Python,
                start,
                config.reference_python[i],
                dir.join(format!("python-{size}.json")),
            )));
        }
    }
    let results = run_rounds("reference", contenders, config.rounds)?;
    let group = "reference";
    let mut rows = Vec::new();
    for size in sizes {
        let ours = find(&results, &format!("ours {size}"))?;
        let rust = find(&results, &format!("rust {size}"))?;
        let mut row = Row::measured(group, "ours, JSON, Written", 1, &count(size), ours).vs(
            ours,
            rust,
            Metric::PerOp,
            "Rust reference",
        );
        let python = python
            .then(|| find(&results, &format!("python {size}")))
            .transpose()?;
        if let Some(py) = python {
            row = row.vs(ours, py, Metric::PerOp, "Python reference");
        }
        rows.push(row);
        rows.push(Row::measured(
            group,
            "reference algorithm, Rust (serde_json)",
            1,
            &count(size),
            rust,
        ));
        if let Some(py) = python {
            rows.push(Row::measured(
                group,
                "reference algorithm, Python 3 (json)",
                1,
                &count(size),
                py,
            ));
        }
    }
    std::fs::remove_dir_all(dir)?;
    Ok(rows)
}

/// `#[audited]` off and on.
fn attribute_section(config: &Config, dir: &Path) -> Result<Vec<Row>, BoxError> {
    use attribute::{Attribute, Variant};
    eprintln!("#[audited]:");
    attribute::check_same_event()?;
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

/// Requests/s through the example server, JSON log against format `none`.
fn grpc_section(config: &Config, dir: &Path) -> Result<Vec<Row>, BoxError> {
    use grpc::Grpc;
    eprintln!("gRPC:");
    let runtimes = grpc::Runtimes::new()?;
    let results = {
        let contenders: Vec<Box<dyn Contender + '_>> = [Format::None, Format::Json]
            .into_iter()
            .map(|format| {
                Box::new(Grpc::new(
                    format,
                    &runtimes,
                    dir.join(format.as_str()),
                    config.grpc_warmup,
                    config.grpc_window,
                )) as Box<dyn Contender + '_>
            })
            .collect();
        run_rounds("gRPC", contenders, config.rounds)?
    };
    let group = "gRPC";
    let none = find(&results, &Grpc::key(Format::None))?;
    let json = find(&results, &Grpc::key(Format::Json))?;
    let cpu = |m: &Measured| {
        m.cpu_per_op()
            .map(|c| format!("server CPU {}/req", ns(c)))
            .unwrap_or_default()
    };
    let rows = vec![
        Row::measured(
            group,
            "example server, --format none",
            grpc::CLIENT_TASKS,
            "",
            none,
        )
        .with_note(&cpu(none)),
        Row::measured(
            group,
            "example server, --format json",
            grpc::CLIENT_TASKS,
            "0",
            json,
        )
        .with_note(&cpu(json))
        .vs(json, none, Metric::Rate, "none")
        .vs(json, none, Metric::CpuDiff, "none"),
    ];
    let _ = std::fs::remove_dir_all(dir);
    Ok(rows)
}
