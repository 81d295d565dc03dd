//! Generates a JSON audit log of 1,000,000 events in the runtime's layout and times reading
//! it through `audit_runtime::read`: `auditlog summary` (what the README quotes), the spec's
//! `get_log_summary` counts, the event stream and the bare element scan.
//!
//! ```text
//! cargo run --release -p audit-cli --example summary_bench [EVENTS] [DIR]
//! ```
//! Without DIR the log goes to a temporary directory, removed afterwards. To time the binary
//! itself on the same file: `time target/release/auditlog summary DIR/audit_log.json`.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::Instant;

use audit_runtime::read::{JsonScanner, Snapshot, open_events, summarize_file};
use audit_runtime::{AuditEvent, Format, Status, Timestamp};
use serde_json::json;

const ACTIONS: [&str; 6] = [
    "hp_change",
    "tag_add",
    "sample_discard",
    "query_execute",
    "pause",
    "checkpoint_restore",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The runtime reports through `tracing` (target "audit"): recoveries, failed events.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let mut args = std::env::args().skip(1);
    let events: u64 = args.next().map_or(Ok(1_000_000), |a| a.parse())?;
    let temp = tempfile::tempdir()?;
    let dir = args
        .next()
        .map_or_else(|| temp.path().to_owned(), PathBuf::from);
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("audit_log.json");

    let started = Instant::now();
    let mut out = BufWriter::new(std::fs::File::create(&path)?);
    // Our layout: '[', a gap of spaces, then one compact event per line, newest first.
    out.write_all(b"[")?;
    out.write_all(&vec![b' '; 4096])?;
    out.write_all(b"\n")?;
    let base = Timestamp::now().as_micros();
    for i in 0..events {
        let n = events - 1 - i;
        let failed = n.is_multiple_of(17);
        let event = AuditEvent {
            timestamp: Timestamp::from_micros(base - i as i64 * 1000),
            action_type: ACTIONS[(n % ACTIONS.len() as u64) as usize].to_owned(),
            status: if failed {
                Status::Failed
            } else {
                Status::Success
            }
            .into(),
            details: json!({
                "actor": format!("user{}", n % 5),
                "before": {"learning_rate": 0.001, "batch_size": 32},
                "after": {"learning_rate": 0.0005, "batch_size": 64},
                "sample_ids": ["s1", "s2", "s3"],
            })
            .as_object()
            .cloned()
            .unwrap_or_default(),
            error: failed.then(|| "Checkpoint file not found".to_owned()),
        };
        serde_json::to_writer(&mut out, &event)?;
        out.write_all(if i + 1 < events { b",\n" } else { b"\n" })?;
    }
    out.write_all(b"]\n")?;
    out.flush()?;
    drop(out);
    let size = std::fs::metadata(&path)?.len();
    let mb = size as f64 / 1e6;
    println!(
        "generated {events} events, {mb:.1} MB, in {:.2?} at {}",
        started.elapsed(),
        path.display()
    );

    let t = Instant::now();
    let table = audit_cli::summary_text(&path, false)?;
    let secs = t.elapsed().as_secs_f64();
    let counted = table
        .lines()
        .find(|l| l.starts_with("events:"))
        .unwrap_or("");
    println!(
        "auditlog summary:          {secs:.3} s ({:.0} MB/s), {counted}",
        mb / secs
    );

    let t = Instant::now();
    let mut briefs = 0u64;
    Snapshot::take(&path, Format::Json)?
        .events()
        .for_each_brief(|_| briefs += 1)?;
    let secs = t.elapsed().as_secs_f64();
    println!(
        "snapshot, event briefs:    {secs:.3} s ({:.0} MB/s), {briefs} events",
        mb / secs
    );

    let t = Instant::now();
    let summary = summarize_file(&path, Format::Json)?;
    let secs = t.elapsed().as_secs_f64();
    println!(
        "get_log_summary counts:    {secs:.3} s ({:.0} MB/s), {} events",
        mb / secs,
        summary.total_events
    );

    let t = Instant::now();
    let mut n = 0u64;
    for located in open_events(&path)? {
        located?;
        n += 1;
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "event stream (fast path):  {secs:.3} s ({:.0} MB/s), {n} events",
        mb / secs
    );

    let t = Instant::now();
    let mut scanner = JsonScanner::new(std::fs::File::open(&path)?);
    let mut n = 0u64;
    while let Some(element) = scanner.next_element()? {
        element.to_event()?;
        n += 1;
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "full parse (Value+event):  {secs:.3} s ({:.0} MB/s), {n} events",
        mb / secs
    );

    let t = Instant::now();
    let mut scanner = JsonScanner::new(std::fs::File::open(&path)?);
    let mut bytes = 0u64;
    while let Some(raw) = scanner.next_raw()? {
        bytes += raw.bytes.len() as u64;
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "element scan only:         {secs:.3} s ({:.0} MB/s), {bytes} bytes in elements",
        mb / secs
    );
    Ok(())
}
