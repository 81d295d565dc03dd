//! Extra sinks behind a logger: they get exactly what the file got, with the file's
//! timestamps; their failures are counted and reported but never fail the call.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use audit_runtime::{
    AuditError, AuditLogger, FinishedEvent, Format, MemorySink, Sink, Status, Timestamp,
};
use serde_json::json;

/// A sink that always fails, counting its calls.
#[derive(Default)]
struct Broken {
    writes: AtomicU64,
    flushes: AtomicU64,
}

impl Sink for Broken {
    fn write(&self, _: &FinishedEvent<'_>, _: Timestamp) -> Result<Timestamp, AuditError> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        Err(AuditError::Io {
            action: "send the event to",
            path: "the queue".into(),
            source: std::io::Error::other("the queue is full"),
        })
    }

    fn flush(&self) -> Result<(), AuditError> {
        self.flushes.fetch_add(1, Ordering::Relaxed);
        Err(AuditError::Io {
            action: "flush",
            path: "the queue".into(),
            source: std::io::Error::other("the queue is gone"),
        })
    }
}

fn file_events(logger: &AuditLogger) -> Vec<audit_runtime::AuditEvent> {
    audit_runtime::read::open_events(logger.path().unwrap())
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn memory_sink_holds_what_the_file_holds_with_its_timestamps() {
    for format in [Format::Json, Format::Csv] {
        let dir = tempfile::tempdir().unwrap();
        let copy = MemorySink::new();
        let logger = AuditLogger::builder(dir.path())
            .format(format)
            .sink(copy.clone())
            .build()
            .unwrap();
        logger
            .log_event("hp_change", Status::Success, json!({"lr": 0.1}), None)
            .unwrap();
        audit_runtime::actor::scope("bob", || {
            logger.log_event("pause", Status::Failed, None, Some("busy"))
        })
        .unwrap();
        let mut from_file = file_events(&logger);
        if format == Format::Json {
            from_file.reverse();
        }
        assert_eq!(copy.events(), from_file, "{format:?}");
        assert_eq!(copy.events()[1].details["actor"], "bob");
    }
}

#[test]
fn an_extra_sinks_failure_is_counted_not_returned() {
    let dir = tempfile::tempdir().unwrap();
    let broken = Arc::new(Broken::default());
    let after = MemorySink::new();
    let logger = AuditLogger::builder(dir.path())
        .format(Format::Json)
        .sink(broken.clone())
        .sink(after.clone())
        .build()
        .unwrap();
    logger
        .log_event("pause", Status::Success, None, None)
        .unwrap();
    logger.flush().unwrap();
    // An invalid event reaches no sink.
    assert!(logger.log_event(" ", Status::Success, None, None).is_err());

    assert_eq!(file_events(&logger).len(), 1);
    // A broken sink does not keep the next one from its event.
    assert_eq!(after.events().len(), 1);
    assert_eq!(broken.writes.load(Ordering::Relaxed), 1);
    assert_eq!(broken.flushes.load(Ordering::Relaxed), 1);
    let stats = logger.stats();
    assert_eq!(
        (
            stats.events_written,
            stats.events_failed,
            stats.sink_failures
        ),
        (1, 1, 2)
    );
    assert!(
        stats
            .last_error
            .unwrap()
            .message
            .contains("action type is empty")
    );
}

#[test]
fn an_extra_sinks_failure_is_the_latest_error() {
    let dir = tempfile::tempdir().unwrap();
    let logger = AuditLogger::builder(dir.path())
        .format(Format::Json)
        .sink(Broken::default())
        .build()
        .unwrap();
    logger
        .log_event("pause", Status::Success, None, None)
        .unwrap();
    let stats = logger.stats();
    assert_eq!(stats.sink_failures, 1);
    assert!(
        stats
            .last_error
            .unwrap()
            .message
            .contains("the queue is full")
    );
}

#[test]
fn the_none_format_writes_to_no_sink() {
    let dir = tempfile::tempdir().unwrap();
    let copy = MemorySink::new();
    let logger = AuditLogger::builder(dir.path())
        .format(Format::None)
        .sink(copy.clone())
        .build()
        .unwrap();
    logger
        .log_event("pause", Status::Success, None, None)
        .unwrap();
    assert!(!logger.is_enabled());
    assert!(copy.events().is_empty());
}

#[test]
fn an_in_memory_logger_counts_and_summarises() {
    let sink = MemorySink::new();
    let logger = AuditLogger::in_memory(sink.clone());
    assert!(logger.is_enabled());
    assert_eq!(logger.path(), None);
    logger
        .log_event("pause", Status::Success, None, None)
        .unwrap();
    logger
        .log_event("pause", Status::Failed, None, Some("busy"))
        .unwrap();
    let summary = logger.get_log_summary().unwrap();
    assert_eq!(summary.total_events, 2);
    assert_eq!(summary.by_status["failed"], 1);
    assert_eq!(logger.stats().events_written, 2);
    assert_eq!(sink.take().len(), 2);
    assert!(sink.events().is_empty());
}
