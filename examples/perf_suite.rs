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
#[path = "perf_suite/logs.rs"]
mod logs;
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

use std::time::{Duration, Instant};

use audited::{Format, Timestamp};

use crate::bench::BoxError;

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
            rows.extend(logs::section(
                format,
                &config,
                &tmp.path().join(format.as_str()),
            )?);
        }
    }
    if config.runs("reference") {
        rows.extend(reference::section(&config, &tmp.path().join("reference"))?);
    }
    if config.runs("attribute") {
        rows.extend(attribute::section(&config, &tmp.path().join("attribute"))?);
    }
    if config.runs("grpc") {
        rows.extend(grpc::section(&config, &tmp.path().join("grpc"))?);
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
  (/proc/self/task/*/schedstat) over the measured window ÷ requests; latency is the client's.
  The clients share the 2 cores, so ops/s counts their CPU too; \"server-bound ops/s\" is the
  ratio a server with clients elsewhere would see (none's server CPU ÷ json's, per round).";
