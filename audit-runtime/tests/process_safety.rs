//! Tests that need real processes: several writers on one log, a writer killed with SIGKILL
//! mid-stream, and a writer that runs out of space.
//!
//! This binary is its own harness (`harness = false`): run with `child ...` arguments it is
//! a writer process; run by `cargo test` it is the parent that starts writers and checks what
//! they left. It prints a libtest-style summary line.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use audit_runtime::{AuditEvent, AuditLogger, Format, Status, csv_safety};
use serde_json::json;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("child") {
        child(&args[2..]);
        return;
    }
    let filter = args.iter().skip(1).find(|a| !a.starts_with('-')).cloned();
    let tests: Vec<(&str, fn())> = vec![
        ("two_processes_json_lose_nothing", || {
            two_processes(Format::Json)
        }),
        ("two_processes_csv_lose_nothing", || {
            two_processes(Format::Csv)
        }),
        ("sigkill_json_keeps_every_acknowledged_event", || {
            sigkill(Format::Json)
        }),
        ("sigkill_csv_keeps_every_acknowledged_event", || {
            sigkill(Format::Csv)
        }),
        ("disk_full_json_reports_and_keeps_log_valid", || {
            disk_full(Format::Json)
        }),
        ("disk_full_csv_cuts_partial_row", || disk_full(Format::Csv)),
        ("python_reads_json_and_csv", python_reads_both),
    ];
    let mut failed = 0;
    let mut passed = 0;
    for (name, test) in tests {
        if filter.as_deref().is_some_and(|f| !name.contains(f)) {
            continue;
        }
        let result = std::panic::catch_unwind(test);
        match result {
            Ok(()) => {
                passed += 1;
                println!("test {name} ... ok");
            }
            Err(_) => {
                failed += 1;
                println!("test {name} ... FAILED");
            }
        }
    }
    println!();
    println!(
        "test result: {}. {passed} passed; {failed} failed; 0 ignored; 0 measured; 0 filtered out",
        if failed == 0 { "ok" } else { "FAILED" }
    );
    if failed > 0 {
        std::process::exit(101);
    }
}

/// `child writer DIR FORMAT COUNT TAG PAD` logs COUNT events and prints `ack N` after each.
/// `child fsize DIR FORMAT LIMIT` does the same under a file-size limit until a write fails.
fn child(args: &[String]) {
    let mode = args[0].as_str();
    let dir = Path::new(&args[1]);
    let format: Format = args[2].parse().expect("format");
    if mode == "fsize" {
        let limit: u64 = args[3].parse().expect("limit");
        // SAFETY: plain libc calls on this process only; ignoring SIGXFSZ turns the signal
        // that would kill us into EFBIG from write(2), which is what a full disk looks like.
        unsafe {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let rl = libc::rlimit {
                rlim_cur: limit,
                rlim_max: limit,
            };
            assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &rl), 0);
        }
    }
    let logger = AuditLogger::builder(dir)
        .format(format)
        .build()
        .expect("open log");
    let count: u64 = if mode == "writer" {
        args[3].parse().expect("count")
    } else {
        u64::MAX
    };
    let tag = args.get(4).cloned().unwrap_or_default();
    let pad: usize = args.get(5).and_then(|p| p.parse().ok()).unwrap_or(0);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for seq in 0..count {
        let details = json!({"writer": tag, "seq": seq, "pad": "p".repeat(pad)});
        match logger.log_event("hp_change", Status::Success, details, None) {
            Ok(()) => {
                writeln!(out, "ack {seq}").expect("stdout");
                out.flush().expect("stdout");
            }
            Err(e) => {
                writeln!(out, "err {e}").expect("stdout");
                out.flush().expect("stdout");
                return;
            }
        }
    }
}

fn spawn_child(args: &[&str]) -> Child {
    Command::new(std::env::current_exe().expect("own path"))
        .arg("child")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn child")
}

/// Every event in the log, oldest first, read with serde_json / the csv crate directly.
fn read_events(dir: &Path, format: Format) -> Vec<AuditEvent> {
    match format {
        Format::Json => {
            let bytes = std::fs::read(dir.join("audit_log.json")).expect("read json");
            let mut events: Vec<AuditEvent> =
                serde_json::from_slice(&bytes).expect("the JSON log must parse");
            events.reverse();
            events
        }
        Format::Csv => {
            let mut reader = csv::Reader::from_path(dir.join("audit_log.csv")).expect("open csv");
            assert_eq!(
                reader.headers().expect("header"),
                vec!["timestamp", "action_type", "status", "details", "error"]
            );
            reader
                .records()
                .map(|r| {
                    let r = r.expect("every CSV record must parse");
                    assert_eq!(r.len(), 5, "record with {} fields: {r:?}", r.len());
                    AuditEvent {
                        timestamp: r[0].parse().expect("timestamp"),
                        action_type: csv_safety::restore(&r[1]).to_owned(),
                        status: r[2].parse().expect("status"),
                        details: serde_json::from_str(&r[3]).expect("details JSON"),
                        error: Some(csv_safety::restore(&r[4]).to_owned())
                            .filter(|e| !e.is_empty()),
                    }
                })
                .collect()
        }
        Format::None => Vec::new(),
    }
}

fn seqs_of(events: &[AuditEvent], tag: &str) -> Vec<u64> {
    events
        .iter()
        .filter(|e| e.details["writer"] == tag)
        .map(|e| e.details["seq"].as_u64().expect("seq"))
        .collect()
}

fn assert_strictly_increasing(events: &[AuditEvent]) {
    for pair in events.windows(2) {
        assert!(
            pair[0].timestamp < pair[1].timestamp,
            "timestamps out of order: {} then {}",
            pair[0].timestamp,
            pair[1].timestamp
        );
    }
}

fn two_processes(format: Format) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_str().expect("utf-8 path");
    let per_child = 3000u64;
    // Padding makes the JSON writers regrow the file while the other process is writing.
    let mut children: Vec<Child> = ["a", "b"]
        .iter()
        .map(|tag| {
            spawn_child(&[
                "writer",
                path,
                format.as_str(),
                &per_child.to_string(),
                tag,
                "200",
            ])
        })
        .collect();
    // A third writer in this process, on its own threads.
    let logger = AuditLogger::builder(dir.path())
        .format(format)
        .build()
        .expect("open");
    std::thread::scope(|s| {
        for t in 0..2 {
            let logger = &logger;
            s.spawn(move || {
                for seq in 0..500u64 {
                    logger
                        .log_event(
                            "tag_add",
                            Status::Success,
                            json!({"writer": format!("t{t}"), "seq": seq}),
                            None,
                        )
                        .expect("log");
                }
            });
        }
    });
    for child in &mut children {
        assert!(child.wait().expect("wait").success());
    }
    let events = read_events(dir.path(), format);
    assert_eq!(events.len() as u64, 2 * per_child + 1000);
    for tag in ["a", "b", "t0", "t1"] {
        let seqs = seqs_of(&events, tag);
        let expected: Vec<u64> = (0..seqs.len() as u64).collect();
        assert_eq!(
            seqs, expected,
            "writer {tag}: events lost, duplicated or reordered"
        );
    }
    assert_strictly_increasing(&events);
    assert_eq!(
        logger.get_log_summary().expect("summary").total_events,
        events.len() as u64
    );
}

fn sigkill(format: Format) {
    for (round, kill_after) in [150u64, 1_700, 6_100].into_iter().enumerate() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().to_str().expect("utf-8 path");
        // Large events so that the JSON writer is regrowing the file now and then.
        let mut child = spawn_child(&[
            "writer",
            path,
            format.as_str(),
            "1000000",
            "k",
            &(300 * (round + 1)).to_string(),
        ]);
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut acked = None;
        let deadline = Instant::now() + Duration::from_secs(120);
        while let Some(Ok(line)) = lines.next() {
            if let Some(n) = line.strip_prefix("ack ") {
                let n: u64 = n.parse().expect("ack number");
                acked = Some(n);
                if n >= kill_after {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "writer too slow");
        }
        // SAFETY: signalling our own child by pid.
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGKILL);
        }
        let status = child.wait().expect("wait");
        assert!(
            !status.success(),
            "the writer finished before it was killed"
        );
        let acked = acked.expect("the writer acknowledged nothing");
        let events = read_events(dir.path(), format);
        let seqs = seqs_of(&events, "k");
        assert!(
            seqs.len() as u64 > acked,
            "acknowledged {} events but the log holds {}",
            acked + 1,
            seqs.len()
        );
        let expected: Vec<u64> = (0..seqs.len() as u64).collect();
        assert_eq!(seqs, expected);
        assert_strictly_increasing(&events);
        // A logger opened afterwards continues the log without any recovery.
        let logger = AuditLogger::builder(dir.path())
            .format(format)
            .build()
            .expect("reopen");
        assert!(logger.recovery().is_none(), "{:?}", logger.recovery());
        logger
            .log_event("resume", Status::Success, None, None)
            .expect("log after crash");
        assert_eq!(read_events(dir.path(), format).len(), seqs.len() + 1);
    }
}

fn disk_full(format: Format) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_str().expect("utf-8 path");
    let child = spawn_child(&["fsize", path, format.as_str(), "300000"]);
    let output = child.wait_with_output().expect("wait");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let acked = stdout.lines().filter(|l| l.starts_with("ack ")).count();
    let error = stdout
        .lines()
        .find_map(|l| l.strip_prefix("err "))
        .expect("the writer never saw an error");
    assert!(
        error.contains(dir.path().to_str().expect("utf-8")),
        "error does not name the file: {error}"
    );
    assert!(acked > 100, "only {acked} events before the limit");
    let events = read_events(dir.path(), format);
    assert_eq!(
        events.len(),
        acked,
        "every acknowledged event, and nothing else, is in the log"
    );
    // The log is still usable once space is back.
    let logger = AuditLogger::builder(dir.path())
        .format(format)
        .build()
        .expect("reopen");
    assert!(logger.recovery().is_none(), "{:?}", logger.recovery());
    logger
        .log_event("resume", Status::Success, None, None)
        .expect("log");
    assert_eq!(read_events(dir.path(), format).len(), acked + 1);
}

/// The spec's own analysis snippets, run by Python on files we wrote.
fn python_reads_both() {
    let dir = tempfile::tempdir().expect("tempdir");
    for format in [Format::Json, Format::Csv] {
        let logger = AuditLogger::builder(dir.path())
            .format(format)
            .build()
            .expect("open");
        logger
            .log_event(
                "hp_change",
                Status::Success,
                json!({"learning_rate": 0.001, "note": "line\nbreak, \"quoted\" — ünïcode 🎉"}),
                None,
            )
            .expect("log");
        logger
            .log_event(
                "query_execute",
                Status::Failed,
                json!({"query_text": "=1+1"}),
                Some("-Invalid, query\r\n"),
            )
            .expect("log");
    }
    let script = r#"
import csv, json, sys
from pathlib import Path
root = Path(sys.argv[1])
with open(root / "audit_log.json") as f:
    events = json.load(f)
assert [e["action_type"] for e in events] == ["query_execute", "hp_change"], events
failures = [e for e in events if e["status"] == "failed"]
assert failures[0]["error"] == "-Invalid, query\r\n", failures
with open(root / "audit_log.csv", newline="") as f:
    rows = list(csv.DictReader(f))
assert [r["action_type"] for r in rows] == ["hp_change", "query_execute"], rows
assert json.loads(rows[0]["details"])["note"] == "line\nbreak, \"quoted\" — ünïcode 🎉"
assert json.loads(rows[1]["details"]) == {"query_text": "=1+1"}
assert rows[1]["error"] == "'-Invalid, query\r\n", repr(rows[1]["error"])
print("ok")
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(dir.path())
        .output()
        .expect("python3 is needed for this test");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
