//! Helpers shared by the attribute tests: a JSON logger in a temporary directory and a way
//! to read its events back, oldest first; and, for tests about what is logged rather than
//! about the file, an in-memory logger whose events are compared exactly.

#![allow(dead_code)]

use audit_runtime::{AuditEvent, AuditLogger, Format, MemorySink, Status};
use serde_json::Value;

/// A logger whose record of truth is a [`MemorySink`].
pub struct MemLog {
    pub logger: AuditLogger,
    pub sink: MemorySink,
}

/// One event without its timestamp (which no test can know): action, status, details, error.
pub type Entry = (String, Status, Value, Option<String>);

/// An [`Entry`], written the way a test states what it expects.
pub fn entry(action: &str, status: Status, details: Value, error: Option<&str>) -> Entry {
    (action.to_owned(), status, details, error.map(str::to_owned))
}

impl MemLog {
    pub fn new() -> MemLog {
        let sink = MemorySink::new();
        MemLog {
            logger: AuditLogger::in_memory(sink.clone()),
            sink,
        }
    }

    /// The events, oldest first, with their timestamps.
    pub fn events(&self) -> Vec<AuditEvent> {
        self.sink.events()
    }

    /// The events, oldest first, as [`Entry`]s, without `details.request_id`: every
    /// `#[audited]` call generates one, which no test can know (`request_ids.rs` checks
    /// them).
    pub fn entries(&self) -> Vec<Entry> {
        self.events()
            .into_iter()
            .map(|mut e| {
                let status = e.status.known().expect("a status this crate writes");
                e.details.remove("request_id");
                (e.action_type, status, Value::Object(e.details), e.error)
            })
            .collect()
    }

    pub fn only_event(&self) -> AuditEvent {
        let mut events = self.events();
        assert_eq!(events.len(), 1, "expected one event, got {events:#?}");
        events.remove(0)
    }
}

pub struct TestLog {
    pub dir: tempfile::TempDir,
    pub logger: AuditLogger,
}

impl TestLog {
    pub fn new() -> TestLog {
        let dir = tempfile::tempdir().unwrap();
        let logger = AuditLogger::builder(dir.path())
            .format(Format::Json)
            .build()
            .unwrap();
        TestLog { dir, logger }
    }

    pub fn disabled() -> TestLog {
        let dir = tempfile::tempdir().unwrap();
        let logger = AuditLogger::builder(dir.path())
            .format(Format::None)
            .build()
            .unwrap();
        TestLog { dir, logger }
    }

    /// The events, oldest first (the file is newest first).
    pub fn events(&self) -> Vec<AuditEvent> {
        let Some(path) = self.logger.path() else {
            return Vec::new();
        };
        if !path.exists() {
            return Vec::new();
        }
        let mut events: Vec<AuditEvent> =
            serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        events.reverse();
        events
    }

    pub fn only_event(&self) -> AuditEvent {
        let mut events = self.events();
        assert_eq!(events.len(), 1, "expected one event, got {events:#?}");
        events.remove(0)
    }
}
