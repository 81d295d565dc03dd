//! The JSON log is rewritten with a larger gap in the background (issue #7): a rewrite used
//! to copy the whole log under the lock, stalling every writer (421 ms at 841,524 events, and
//! growing with the log). Now a worker copies the events outside the lock while writers keep
//! filling the old gap, and only what arrived meanwhile is copied under the lock. These tests
//! check that nothing written during a rewrite is lost or duplicated, in one logger, across
//! loggers racing to rewrite one log, and when a logger is dropped mid-rewrite.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use audit_runtime::{AuditLogger, Format, Status};
use serde_json::{Value, json};

/// Two kilobytes of details: a few thousand events make logs of several megabytes, past the
/// size where rewrites move to the background.
fn padding() -> String {
    "p".repeat(2000)
}

fn json_logger(dir: &Path) -> AuditLogger {
    AuditLogger::builder(dir)
        .format(Format::Json)
        .build()
        .expect("open log")
}

/// Logs event `seq` of `writer`, padded to two kilobytes.
fn log_padded(logger: &AuditLogger, writer: u64, seq: u64, pad: &str) {
    logger
        .log_event(
            "tag_add",
            Status::Success,
            json!({"writer": writer, "seq": seq, "pad": pad}),
            None,
        )
        .expect("log");
}

/// The `(writer, seq)` pairs in the log, checking that it is one valid array with strictly
/// decreasing timestamps.
fn logged(dir: &Path) -> Vec<(u64, u64)> {
    let text = fs::read_to_string(dir.join("audit_log.json")).expect("read log");
    let events: Vec<Value> = serde_json::from_str(&text).expect("the log is one JSON array");
    let stamps: Vec<&str> = events
        .iter()
        .map(|e| e["timestamp"].as_str().expect("timestamp"))
        .collect();
    assert!(
        stamps.windows(2).all(|w| w[0] > w[1]),
        "timestamps are not strictly newest first"
    );
    events
        .iter()
        .map(|e| {
            let details = &e["details"];
            (
                details["writer"].as_u64().expect("writer"),
                details["seq"].as_u64().expect("seq"),
            )
        })
        .collect()
}

/// Temporaries next to the log (a rewrite in progress or left behind).
fn temporaries(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .expect("read dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains(".tmp-"))
        .collect()
}

/// Waits (bounded by a count of short sleeps, not by a deadline) for a background worker
/// of a dropped logger to remove what it built.
fn wait_until_no_temporaries(dir: &Path) -> Vec<String> {
    for _ in 0..2_000 {
        let left = temporaries(dir);
        if left.is_empty() {
            return left;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    temporaries(dir)
}

#[test]
fn events_written_while_the_log_is_rewritten_in_the_background_are_all_kept() {
    let dir = tempfile::tempdir().unwrap();
    let logger = Arc::new(json_logger(dir.path()));
    let pad = padding();
    let (threads, per_thread) = (4u64, 1_500u64);
    std::thread::scope(|s| {
        for writer in 0..threads {
            let (logger, pad) = (&logger, &pad);
            s.spawn(move || {
                for seq in 0..per_thread {
                    log_padded(logger, writer, seq, pad);
                }
            });
        }
    });
    // About 12 MB of events in a file that started with 64 KiB of free space: several
    // rewrites, the later ones in the background. (Inode numbers are reused, so the file's
    // size, not its inode, shows that it was rewritten.)
    let size = fs::metadata(dir.path().join("audit_log.json"))
        .unwrap()
        .len();
    assert!(
        size > 12_000_000,
        "the log was never rewritten: {size} bytes"
    );
    let events = logged(dir.path());
    let unique: BTreeSet<_> = events.iter().copied().collect();
    assert_eq!(
        events.len() as u64,
        threads * per_thread,
        "lost or duplicated"
    );
    assert_eq!(unique.len() as u64, threads * per_thread);
    // Each writer's own events are in its order (newest first).
    for writer in 0..threads {
        let seqs: Vec<u64> = events
            .iter()
            .filter(|(w, _)| *w == writer)
            .map(|(_, s)| *s)
            .collect();
        assert!(seqs.windows(2).all(|w| w[0] > w[1]), "writer {writer}");
    }
    drop(logger);
    assert_eq!(wait_until_no_temporaries(dir.path()), Vec::<String>::new());
}

#[test]
fn two_loggers_racing_to_rewrite_one_log_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let loggers = [json_logger(dir.path()), json_logger(dir.path())];
    let pad = padding();
    let per_logger = 2_500u64;
    std::thread::scope(|s| {
        for (writer, logger) in loggers.iter().enumerate() {
            let pad = &pad;
            s.spawn(move || {
                for seq in 0..per_logger {
                    log_padded(logger, writer as u64, seq, pad);
                }
            });
        }
    });
    let events = logged(dir.path());
    let unique: BTreeSet<_> = events.iter().copied().collect();
    assert_eq!(events.len() as u64, 2 * per_logger, "lost or duplicated");
    assert_eq!(unique.len() as u64, 2 * per_logger);
    drop(loggers);
    assert_eq!(wait_until_no_temporaries(dir.path()), Vec::<String>::new());
}

#[test]
fn a_logger_dropped_while_a_rewrite_is_built_leaves_no_temporary_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let pad = padding();
    let mut expected = 0u64;
    // Each round stops at a different point of the rewrite cycle; some drop the logger while
    // its worker is still copying.
    for round in 0..6u64 {
        let logger = json_logger(dir.path());
        for seq in 0..(300 + round * 170) {
            log_padded(&logger, round, seq, &pad);
            expected += 1;
        }
        drop(logger);
    }
    assert_eq!(wait_until_no_temporaries(dir.path()), Vec::<String>::new());
    assert_eq!(logged(dir.path()).len() as u64, expected);
}

#[test]
fn only_temporaries_of_processes_that_are_gone_are_removed_on_open() {
    let dir = tempfile::tempdir().unwrap();
    drop(json_logger(dir.path()));
    let mut child = std::process::Command::new("true")
        .spawn()
        .expect("run true");
    let gone = child.id();
    child.wait().expect("wait for true");
    let dead = format!(".audit_log.json.tmp-{gone}-1");
    // A rewrite another running process (here: this one) is building must survive.
    let live = format!(".audit_log.json.tmp-{}-2", std::process::id());
    fs::write(dir.path().join(&dead), b"[ partial").unwrap();
    fs::write(dir.path().join(&live), b"[ in progress").unwrap();
    let logger = json_logger(dir.path());
    logger
        .log_event("pause", Status::Success, None, None)
        .unwrap();
    let left = temporaries(dir.path());
    assert!(!left.contains(&dead), "a dead writer's temporary was kept");
    assert!(
        left.contains(&live),
        "a live writer's temporary was removed"
    );
}
