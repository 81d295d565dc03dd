//! The cross-process lock kept from one event to the next while threads of a process queue
//! behind each other: another writer of the same log (here a second logger, which holds the
//! lock through its own descriptor exactly as another process would) must still get its
//! turn, see everything written before, and nothing may be left locked afterwards.

use std::fs::File;
use std::path::Path;

use audit_runtime::{AuditEvent, AuditLogger, Format, Status, csv_safety};
use serde_json::{Map, Value, json};

const LOGGERS: usize = 2;
const THREADS: usize = 3;
const EVENTS: usize = 400;

fn read_events(dir: &Path, format: Format) -> Vec<AuditEvent> {
    match format {
        Format::Json => {
            let bytes = std::fs::read(dir.join("audit_log.json")).unwrap();
            let mut events: Vec<AuditEvent> =
                serde_json::from_slice(&bytes).expect("the JSON log must parse");
            events.reverse();
            events
        }
        _ => csv::Reader::from_path(dir.join("audit_log.csv"))
            .unwrap()
            .records()
            .map(|r| {
                let r = r.expect("every CSV record must parse");
                AuditEvent {
                    timestamp: r[0].parse().unwrap(),
                    action_type: csv_safety::restore(&r[1]).to_owned(),
                    status: r[2].parse().unwrap(),
                    details: serde_json::from_str(&r[3]).unwrap(),
                    error: None,
                }
            })
            .collect(),
    }
}

fn write_from_threads_of_two_loggers(format: Format) {
    let dir = tempfile::tempdir().unwrap();
    let loggers: Vec<AuditLogger> = (0..LOGGERS)
        .map(|_| {
            AuditLogger::builder(dir.path())
                .format(format)
                .build()
                .unwrap()
        })
        .collect();
    std::thread::scope(|s| {
        for (l, logger) in loggers.iter().enumerate() {
            for t in 0..THREADS {
                s.spawn(move || {
                    for seq in 0..EVENTS {
                        let Value::Object(details) =
                            json!({"writer": format!("{l}-{t}"), "seq": seq})
                        else {
                            unreachable!()
                        };
                        logger
                            .log_details("tag_add", Status::Success, details, None)
                            .unwrap();
                    }
                });
            }
        }
    });

    let events = read_events(dir.path(), format);
    assert_eq!(events.len(), LOGGERS * THREADS * EVENTS);
    for pair in events.windows(2) {
        assert!(
            pair[0].timestamp < pair[1].timestamp,
            "file order is time order"
        );
    }
    for l in 0..LOGGERS {
        for t in 0..THREADS {
            let writer = format!("{l}-{t}");
            let seqs: Vec<u64> = events
                .iter()
                .filter(|e| e.details["writer"] == writer.as_str())
                .map(|e| e.details["seq"].as_u64().unwrap())
                .collect();
            assert_eq!(
                seqs,
                (0..EVENTS as u64).collect::<Vec<_>>(),
                "writer {writer}"
            );
        }
    }

    // Every hold ended with the burst: a third descriptor gets the lock at once.
    let name = match format {
        Format::Json => ".audit_log.json.lock",
        _ => ".audit_log.csv.lock",
    };
    let lock = File::open(dir.path().join(name)).unwrap();
    lock.try_lock()
        .expect("no writer may keep the lock once no thread is waiting to write");
    drop(lock);

    // And the loggers go on after someone else held it.
    for logger in &loggers {
        logger
            .log_details("pause", Status::Success, Map::new(), None)
            .unwrap();
    }
    assert_eq!(
        read_events(dir.path(), format).len(),
        LOGGERS * THREADS * EVENTS + LOGGERS
    );
}

#[test]
fn threads_of_two_loggers_on_one_json_log_lose_nothing_and_release_the_lock() {
    write_from_threads_of_two_loggers(Format::Json);
}

#[test]
fn threads_of_two_loggers_on_one_csv_log_lose_nothing_and_release_the_lock() {
    write_from_threads_of_two_loggers(Format::Csv);
}
