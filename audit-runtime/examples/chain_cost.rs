//! What the hash chain costs per event, in parts: the content hash (canonical JSON and
//! SHA-256, outside the lock), the link (one SHA-256 of 100 bytes, under it), and the median
//! `log_event` with and without the chain, and with the default redaction and size cap or
//! without them, JSON and CSV, the loggers taking turns event by event; and what
//! one signed digest costs (the mean event with a digest after every event, less the mean
//! chained event), so what signing at the default interval adds per event.
//!
//! ```text
//! cargo run --release -p audit-runtime --example chain_cost [EVENTS]
//! ```

use std::time::Instant;

use audit_runtime::integrity::{content_hash, link_hash};
use audit_runtime::{AuditLogger, Format, Redaction, Status};
use serde_json::{Map, Value, json};

fn details() -> Map<String, Value> {
    json!({"actor": "alice", "run_id": "run-2026-05-27-a1b2c3", "step": 12_345,
           "learning_rate": 0.001, "batch_size": 32})
    .as_object()
    .cloned()
    .unwrap_or_default()
}

fn per_op(n: u64, f: impl FnMut()) -> f64 {
    let mut f = f;
    let started = Instant::now();
    for _ in 0..n {
        f();
    }
    started.elapsed().as_nanos() as f64 / n as f64
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: u64 = std::env::args().nth(1).map_or(Ok(200_000), |a| a.parse())?;
    let d = details();
    let content = per_op(n, || {
        std::hint::black_box(content_hash(
            "hp_change",
            "success",
            std::hint::black_box(&d),
            None,
        ));
    });
    let canonical = per_op(n, || {
        std::hint::black_box(audit_runtime::integrity::canonical::object_to_vec(
            std::hint::black_box(&d),
        ));
    });
    let text = audit_runtime::integrity::canonical::object_to_vec(&d);
    let sha = per_op(n, || {
        std::hint::black_box(<sha2::Sha256 as sha2::Digest>::digest(
            std::hint::black_box(&text),
        ));
    });
    let c = content_hash("hp_change", "success", &d, None);
    let link = per_op(n, || {
        std::hint::black_box(link_hash(
            &[1; 32],
            7,
            false,
            b"2026-05-27T14:30:00.123456Z",
            &c,
        ));
    });
    println!(
        "content hash {content:.0} ns (of which the details' canonical text {canonical:.0} ns, \
         SHA-256 of its {} bytes {sha:.0} ns), link hash {link:.0} ns",
        text.len()
    );
    let temp = tempfile::tempdir()?;
    for format in [Format::Json, Format::Csv] {
        for round in 0..5 {
            // The loggers take turns event by event, so that whatever the machine does
            // meanwhile (the other core's load, frequency, migrations) falls on all alike.
            let dirs = ["plain", "chained", "policy-off"]
                .map(|what| temp.path().join(format!("{format}-{round}-{what}")));
            let loggers = [
                AuditLogger::builder(&dirs[0]).format(format).build()?,
                AuditLogger::builder(&dirs[1])
                    .format(format)
                    .tamper_evident(true)
                    .build()?,
                AuditLogger::builder(&dirs[2])
                    .format(format)
                    .redaction(Redaction::none())
                    .max_event_bytes(usize::MAX)
                    .max_csv_details_chars(usize::MAX)
                    .build()?,
            ];
            let mut times = [Vec::new(), Vec::new(), Vec::new()];
            for _ in 0..n / 4 {
                for (logger, times) in loggers.iter().zip(&mut times) {
                    let started = Instant::now();
                    let _ = logger.log_details("hp_change", Status::Success, d.clone(), None);
                    times.push(started.elapsed().as_nanos() as u64);
                }
            }
            let [plain, chained, policy_off] = times.map(|mut times| {
                times.sort_unstable();
                times[times.len() / 2] as f64
            });
            println!(
                "{format} round {round}, events taking turns: log_event p50 {plain:.0} ns; \
                 chained {chained:.0} ns (+{:.0} ns); redaction and size cap off {policy_off:.0} \
                 ns (so they cost {:+.0} ns)",
                chained - plain,
                plain - policy_off
            );
            drop(loggers);
            for dir in dirs {
                std::fs::remove_dir_all(dir)?;
            }
        }
    }
    let key_dir = temp.path().join("key");
    std::fs::create_dir_all(&key_dir)?;
    let key = key_dir.join("k.key");
    audit_runtime::integrity::SigningKey::generate()?.write_files(&key, &key_dir.join("k.pub"))?;
    let events = (n / 20).max(100);
    for round in 0..5 {
        let mut mean = Vec::new();
        for every in [None, Some(1)] {
            let dir = temp.path().join(format!("signed-{round}-{every:?}"));
            let builder = AuditLogger::builder(&dir)
                .format(Format::Json)
                .tamper_evident(true);
            let builder = match every {
                Some(every) => builder
                    .signing_key(&key)
                    .digest_every(every, std::time::Duration::from_secs(3600)),
                None => builder,
            };
            let logger = builder.build()?;
            let started = Instant::now();
            for _ in 0..events {
                let _ = logger.log_details("hp_change", Status::Success, d.clone(), None);
            }
            mean.push(started.elapsed().as_nanos() as f64 / events as f64);
            drop(logger);
            std::fs::remove_dir_all(&dir)?;
        }
        let digest = mean[1] - mean[0];
        println!(
            "round {round}: one signed digest {:.1} µs (mean event {:.0} ns with a digest after \
             each, {:.0} ns chained only); at the default {} events per digest: {:.0} ns per event",
            digest / 1000.0,
            mean[1],
            mean[0],
            audit_runtime::integrity::DEFAULT_DIGEST_EVENTS,
            digest / audit_runtime::integrity::DEFAULT_DIGEST_EVENTS as f64
        );
    }
    Ok(())
}
