//! Helpers shared by the attribute tests: a JSON logger in a temporary directory and a way
//! to read its events back, oldest first.

#![allow(dead_code)]

use audit_runtime::{AuditEvent, AuditLogger, Format};

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
