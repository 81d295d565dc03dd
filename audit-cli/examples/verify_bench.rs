//! Writes a tamper-evident, signed log of 1,000,000 events with the runtime's own logger
//! (the chain and a digest every 1,000 events, the defaults), then times `auditlog verify
//! --key` on it and reports the peak memory, for both formats.
//!
//! ```text
//! cargo run --release -p audit-cli --example verify_bench [EVENTS] [KEEP_DIR]
//! ```
//! The logs go to a temporary directory, removed afterwards, or to `KEEP_DIR` (kept, with
//! the key pair, for profiling `auditlog verify` on its own).

use std::time::Instant;

use audit_runtime::integrity::SigningKey;
use audit_runtime::{AuditLogger, Format, Status};
use serde_json::json;

/// The process's peak resident set so far (`VmHWM`), in KiB.
fn peak_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let events: u64 = std::env::args()
        .nth(1)
        .map_or(Ok(1_000_000), |a| a.parse())?;
    let temp = tempfile::tempdir()?;
    let root = std::env::args()
        .nth(2)
        .map_or_else(|| temp.path().to_owned(), std::path::PathBuf::from);
    std::fs::create_dir_all(&root)?;
    let (private, public) = (root.join("k.key"), root.join("k.pub"));
    SigningKey::generate()?.write_files(&private, &public)?;
    for format in [Format::Json, Format::Csv] {
        let dir = root.join(format.as_str());
        let started = Instant::now();
        let logger = AuditLogger::builder(&dir)
            .format(format)
            .signing_key(&private)
            .build()?;
        for i in 0..events {
            let details = json!({"changed_params": {"learning_rate": 0.001, "batch_size": i % 64}, "actor": "alice"});
            logger.log_event("hp_change", Status::Success, details, None)?;
        }
        let path = logger.path().ok_or("no path")?.to_owned();
        drop(logger);
        let written = started.elapsed();
        let size = std::fs::metadata(&path)?.len();
        // One thread and two, alternately, three rounds each: the figures are the medians.
        let mut took = [Vec::new(), Vec::new()];
        let mut peak = [0u64; 2];
        for _round in 0..3 {
            for threads in [1u8, 2] {
                // Reset the peak (Linux: "5" clears VmHWM), so that it is the verify's own.
                let _ = std::fs::write("/proc/self/clear_refs", "5");
                let started = Instant::now();
                let code = audit_cli::verify_with_threads(&path, Some(&public), threads)?;
                let i = usize::from(threads - 1);
                took[i].push(started.elapsed().as_secs_f64());
                peak[i] = peak[i].max(peak_kib());
                if code != 0 {
                    return Err(format!("verify exited {code}").into());
                }
            }
        }
        let median = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let [one, two] = took;
        let (one, two) = (median(one), median(two));
        println!(
            "{format}: {events} events, {:.0} MB, written in {:.1} s; auditlog verify --key: \
             {two:.2} s with 2 threads, {one:.2} s with 1 ({:.2}x); peak RSS {} / {} KiB",
            size as f64 / 1e6,
            written.as_secs_f64(),
            one / two,
            peak[1],
            peak[0],
        );
    }
    Ok(())
}
