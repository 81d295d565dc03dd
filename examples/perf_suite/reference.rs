//! The reference's algorithm, per event: read the whole JSON file, parse it, insert the new
//! event at the front, write the whole array again with `indent=2`. Once in Rust with
//! serde_json (the algorithm at its fastest), and once in Python, as the reference runs.
//!
//! The spec describes the reference's behaviour, not its code; the Python below does what
//! its files show it does (a lock, `json.load`, `insert(0, ..)`, `json.dump(indent=2)`).

use std::fs::{self, File};
use std::io::{BufWriter, ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use audited::{Durability, Format, Timestamp};
use serde_json::{Value, json};

use crate::Config;
use crate::bench::{Batch, BoxError, Contender, Metric, find, run_rounds, run_threads};
use crate::event;
use crate::ours::{Log, Ours};
use crate::table::{Row, count};

const PYTHON_REFERENCE: &str = r#"
import datetime, json, resource, sys, threading, time

path, count, details = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
lock = threading.Lock()

def log_event(action_type, status, details=None, error=None):
    event = {
        "timestamp": datetime.datetime.now(datetime.timezone.utc)
            .strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "action_type": action_type,
        "status": status,
        "details": details or {},
        "error": error,
    }
    with lock:
        try:
            with open(path, "r") as f:
                events = json.load(f)
        except (FileNotFoundError, json.JSONDecodeError):
            events = []
        events.insert(0, event)
        with open(path, "w") as f:
            json.dump(events, f, indent=2)

def write_bytes():
    with open("/proc/self/io") as f:
        for line in f:
            if line.startswith("write_bytes:"):
                return int(line.split()[1])
    return -1

before = write_bytes()
for _ in range(count):
    start = time.perf_counter_ns()
    log_event("hp_change", "success", details)
    print(time.perf_counter_ns() - start)
print("write_bytes", write_bytes() - before)
print("maxrss_kb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"#;

/// Whether `python3` runs here.
pub fn python_available() -> bool {
    Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success())
}

fn event_value() -> Value {
    json!({
        "timestamp": Timestamp::now().to_string(),
        "action_type": event::ACTION,
        "status": "success",
        "details": Value::Object(event::details()),
        "error": null,
    })
}

/// The file the reference would have written after `events` events: newest first, indent 2.
pub fn prefilled(events: u64) -> Result<Vec<u8>, BoxError> {
    let all: Vec<Value> = (0..events).map(|_| event_value()).collect();
    Ok(serde_json::to_vec_pretty(&all)?)
}

pub enum Runtime {
    Rust,
    Python,
}

pub struct Reference {
    pub key: String,
    runtime: Runtime,
    /// The log as it is before each round (shared by the contenders of one size).
    start: Arc<Vec<u8>>,
    ops: u64,
    path: PathBuf,
}

impl Reference {
    pub fn new(
        key: String,
        runtime: Runtime,
        start: Arc<Vec<u8>>,
        ops: u64,
        path: PathBuf,
    ) -> Reference {
        Reference {
            key,
            runtime,
            start,
            ops,
            path,
        }
    }
}

impl Contender for Reference {
    fn key(&self) -> String {
        self.key.clone()
    }

    /// Back to the starting size every round, so the log's size is the one the row names.
    fn prepare(&mut self) -> Result<(), BoxError> {
        fs::write(&self.path, &*self.start)?;
        Ok(())
    }

    fn run(&mut self) -> Result<Batch, BoxError> {
        match self.runtime {
            Runtime::Rust => {
                let path = &self.path;
                run_threads(1, self.ops, || (), |_| log_event_rust(path))
            }
            Runtime::Python => self.run_python(),
        }
    }
}

fn log_event_rust(path: &PathBuf) -> Result<(), BoxError> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == ErrorKind::NotFound => "[]".to_owned(),
        Err(e) => return Err(e.into()),
    };
    // A file it cannot parse starts a new array, as the reference does.
    let mut events: Vec<Value> = serde_json::from_str(&text).unwrap_or_default();
    events.insert(0, event_value());
    let mut out = BufWriter::new(File::create(path)?);
    serde_json::to_writer_pretty(&mut out, &events)?;
    out.flush()?;
    Ok(())
}

impl Reference {
    /// One Python process per round; its start-up is not timed (it times each event itself
    /// and reports its own disk bytes and peak memory).
    fn run_python(&self) -> Result<Batch, BoxError> {
        let details = serde_json::to_string(&event::details())?;
        let out = Command::new("python3")
            .arg("-c")
            .arg(PYTHON_REFERENCE)
            .arg(&self.path)
            .arg(self.ops.to_string())
            .arg(details)
            .output()?;
        if !out.status.success() {
            return Err(format!(
                "python3 failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )
            .into());
        }
        let mut batch = Batch::default();
        let mut total = 0u64;
        for line in String::from_utf8(out.stdout)?.lines() {
            match line.split_once(' ') {
                Some(("write_bytes", n)) => batch.disk_bytes = n.parse().ok(),
                Some(("maxrss_kb", n)) => {
                    batch.peak_rss = n.parse::<u64>().ok().map(|kb| kb * 1024)
                }
                _ => {
                    let nanos: u64 = line.parse()?;
                    batch.latencies.record(nanos);
                    total += nanos;
                }
            }
        }
        batch.ops = batch.latencies.count();
        batch.wall = Duration::from_nanos(total);
        Ok(batch)
    }
}

/// The reference's algorithm at 1k and 10k events against ours on logs of those sizes.
pub fn section(config: &Config, dir: &Path) -> Result<Vec<Row>, BoxError> {
    eprintln!("reference:");
    std::fs::create_dir_all(dir)?;
    let python = python_available();
    if !python {
        eprintln!("  no python3: the Python reference is skipped");
    }
    let sizes = [1_000u64, 10_000];
    let mut contenders: Vec<Box<dyn Contender>> = Vec::new();
    for (i, &size) in sizes.iter().enumerate() {
        let start = Arc::new(prefilled(size)?);
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
        contenders.push(Box::new(Reference::new(
            format!("rust {size}"),
            Runtime::Rust,
            start.clone(),
            config.reference_rust[i],
            dir.join(format!("rust-{size}.json")),
        )));
        if python {
            contenders.push(Box::new(Reference::new(
                format!("python {size}"),
                Runtime::Python,
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
