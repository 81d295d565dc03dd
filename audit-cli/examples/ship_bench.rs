//! Shipping into PostgreSQL, measured (issue #13): events per second with batches against
//! one insert per event, and the in-process shipper's lag while a logger writes 10,000
//! events per second. Starts its own throwaway cluster, like the tests (PostgreSQL's
//! server programs must be installed).
//!
//! ```sh
//! cargo run --release -p audit-cli --example ship_bench            # ~1 minute
//! cargo run --release -p audit-cli --example ship_bench -- --quick
//! ```

#[path = "../tests/pg/mod.rs"]
mod pg;

use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use audit_runtime::ship::{ShipConfig, ship_log};
use audit_runtime::{AuditLogger, Format, Status};
use serde_json::json;

fn fill(dir: &std::path::Path, events: u64) -> std::path::PathBuf {
    let logger = AuditLogger::builder(dir)
        .format(Format::Json)
        .build()
        .expect("a logger");
    for i in 0..events {
        log_one(&logger, i);
    }
    logger.path().expect("a file").to_owned()
}

/// An event like the spec's `tag_add` example (~190 bytes).
fn log_one(logger: &AuditLogger, i: u64) {
    logger
        .log_event(
            "tag_add",
            Status::Success,
            json!({"tag_name": "defect", "samples_affected": 5, "step": i,
                   "sample_ids": ["s1", "s2", "s3", "s4", "s5"],
                   "origins": ["train", "train", "val", "val", "test"]}),
            None,
        )
        .expect("logged");
}

/// Ships the log at `path` once and returns events per second.
fn ship_rate(path: &std::path::Path, events: u64, config: ShipConfig) -> f64 {
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let report = ship_log(path, Format::Json, "bench", config, false, &stop).expect("shipped");
    let elapsed = started.elapsed().as_secs_f64();
    assert_eq!(report.stats.shipped_seq, events);
    events as f64 / elapsed
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (batched, single, seconds) = if quick {
        (5_000, 500, 2)
    } else {
        (100_000, 5_000, 10)
    };
    let cluster = pg::Cluster::start();
    let url = cluster.url("audit");
    let dir = tempfile::tempdir().expect("a temporary directory");

    println!("shipping into PostgreSQL (loopback, fsync off, one connection):");
    for batch in [100usize, 1000] {
        let log = fill(&dir.path().join(format!("batched-{batch}")), batched);
        let rate = ship_rate(
            &log,
            batched,
            ShipConfig::new(url.clone()).batch_size(batch),
        );
        println!("  batched ({batch:>4} per insert): {rate:>9.0} events/s ({batched} events)");
    }
    let log = fill(&dir.path().join("single"), single);
    let rate = ship_rate(
        &log,
        single,
        ShipConfig::new(url.clone())
            .batch_size(100)
            .one_insert_per_event(true),
    );
    println!("  one insert per event:        {rate:>9.0} events/s ({single} events)");

    // The in-process shipper while the logger writes 10,000 events/s, paced.
    let logger = AuditLogger::builder(dir.path().join("lag"))
        .format(Format::Json)
        .ship_to_postgres(ShipConfig::new(url.clone()).flush_timeout(Duration::from_secs(120)))
        .build()
        .expect("a logger");
    let rate = 10_000u64;
    let total = rate * seconds;
    let started = Instant::now();
    let mut lag_events = Vec::new();
    let mut lag_ms = Vec::new();
    let mut next_sample = Duration::ZERO;
    for i in 0..total {
        let due = Duration::from_micros(i * 1_000_000 / rate);
        while started.elapsed() < due {
            std::hint::spin_loop();
        }
        log_one(&logger, i);
        if started.elapsed() >= next_sample {
            let s = logger.stats().shipping.expect("shipping");
            lag_events.push(s.lag_events as f64);
            lag_ms.push(s.lag.as_secs_f64() * 1000.0);
            next_sample += Duration::from_millis(50);
        }
    }
    let wrote = started.elapsed().as_secs_f64();
    let flush = Instant::now();
    logger.flush().expect("flushed");
    let flush_ms = flush.elapsed().as_secs_f64() * 1000.0;
    lag_events.sort_by(f64::total_cmp);
    lag_ms.sort_by(f64::total_cmp);
    println!(
        "lag of the in-process shipper at {} events/s for {wrote:.1} s ({} samples, every 50 ms):",
        rate,
        lag_events.len()
    );
    println!(
        "  events behind: median {:.0}, p99 {:.0}, max {:.0}",
        percentile(&lag_events, 0.5),
        percentile(&lag_events, 0.99),
        percentile(&lag_events, 1.0)
    );
    println!(
        "  oldest unshipped event: median {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(&lag_ms, 0.5),
        percentile(&lag_ms, 0.99),
        percentile(&lag_ms, 1.0)
    );
    println!("  flush after the last event: {flush_ms:.1} ms");
    assert_eq!(cluster.count("audit"), 2 * batched + single + total);
}
