//! Where finished events go: the [`Sink`] trait, the log files as sinks, and [`MemorySink`].
//!
//! A logger has one sink that is the record of truth (its log file, or a [`MemorySink`] for
//! [`AuditLogger::in_memory`](crate::AuditLogger::in_memory)) and any number of extra sinks
//! ([`AuditLoggerBuilder::sink`](crate::AuditLoggerBuilder::sink)) that receive every event
//! the record of truth accepted, with the timestamp it gave.

use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};

use crate::storage::csv::CsvLog;
use crate::storage::encode::Record;
use crate::storage::json::JsonLog;
use crate::{AuditError, AuditEvent, Status, Timestamp};

/// An event ready to be written: its actor added, its redacted keys replaced and checked
/// (see the crate's README, "How an event flows"). Only its timestamp is still to be
/// decided, by the sink that is the record of truth.
///
/// What a [`Sink`] is given. A sink that writes the spec's event shape turns it into an
/// [`AuditEvent`] with the timestamp it was handed:
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use audit_runtime::{AuditError, AuditLogger, FinishedEvent, Sink, Status, Timestamp};
/// use serde_json::json;
///
/// /// One JSON line per event, as a log shipper would want them.
/// #[derive(Default)]
/// struct JsonLines(Mutex<Vec<String>>);
///
/// impl Sink for JsonLines {
///     fn write(&self, event: &FinishedEvent<'_>, wanted: Timestamp) -> Result<Timestamp, AuditError> {
///         let line = serde_json::to_string(&event.to_audit_event(wanted))
///             .map_err(|source| AuditError::Serialize { what: "event", source })?;
///         self.0.lock().unwrap().push(line);
///         Ok(wanted)
///     }
/// }
///
/// # let dir = tempfile::tempdir()?;
/// let lines = Arc::new(JsonLines::default());
/// let logger = AuditLogger::builder(dir.path())
///     .format(audit_runtime::Format::Json)
///     .sink(lines.clone())
///     .build()?;
/// audit_runtime::actor::scope("alice", || {
///     logger.log_event("tag_add", Status::Success, json!({"tag": "defect"}), None)
/// })?;
///
/// let line: serde_json::Value = serde_json::from_str(&lines.0.lock().unwrap()[0])?;
/// assert_eq!(line["action_type"], "tag_add");
/// // Finished: the actor is already in the details.
/// assert_eq!(line["details"], json!({"tag": "defect", "actor": "alice"}));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct FinishedEvent<'a> {
    /// What was done, e.g. `hp_change`.
    pub action_type: &'a str,
    /// Whether it worked.
    pub status: Status,
    /// The details object, as it is to be stored.
    pub details: Map<String, Value>,
    /// Why it failed; never `Some("")`.
    pub error: Option<&'a str>,
}

impl FinishedEvent<'_> {
    /// The event as the spec's five fields, with `timestamp`.
    pub fn to_audit_event(&self, timestamp: Timestamp) -> AuditEvent {
        AuditEvent {
            timestamp,
            action_type: self.action_type.to_owned(),
            status: self.status.into(),
            details: self.details.clone(),
            error: self.error.map(str::to_owned),
        }
    }

    fn record(&self) -> Record<'_> {
        Record {
            action_type: self.action_type,
            status: self.status.as_str(),
            details: &self.details,
            error: self.error,
        }
    }
}

/// Somewhere finished events are written: a log file, memory, or a destination of your own
/// (a queue, a database) added with
/// [`AuditLoggerBuilder::sink`](crate::AuditLoggerBuilder::sink).
///
/// A logger calls a sink from many threads at once, one event at a time.
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use audit_runtime::{AuditError, AuditLogger, FinishedEvent, Format, Sink, Status, Timestamp};
///
/// /// Counts failed events, e.g. for a metrics endpoint.
/// #[derive(Default)]
/// struct FailedCounter(AtomicU64);
///
/// impl Sink for FailedCounter {
///     fn write(&self, event: &FinishedEvent<'_>, wanted: Timestamp) -> Result<Timestamp, AuditError> {
///         if event.status == Status::Failed {
///             self.0.fetch_add(1, Ordering::Relaxed);
///         }
///         Ok(wanted)
///     }
/// }
///
/// let dir = tempfile::tempdir()?;
/// let counter = std::sync::Arc::new(FailedCounter::default());
/// let logger = AuditLogger::builder(dir.path())
///     .format(Format::Json)
///     .sink(counter.clone())
///     .build()?;
/// logger.log_event("checkpoint_restore", Status::Failed, None, Some("not found"))?;
/// assert_eq!(counter.0.load(Ordering::Relaxed), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Sink: Send + Sync {
    /// Writes `event`, stamped `wanted` or later, and returns the timestamp it was written
    /// with. An extra sink is given the record of truth's timestamp as `wanted`; what it
    /// returns is not used.
    fn write(&self, event: &FinishedEvent<'_>, wanted: Timestamp) -> Result<Timestamp, AuditError>;

    /// Makes every event written so far durable (nothing to do by default).
    fn flush(&self) -> Result<(), AuditError> {
        Ok(())
    }
}

impl<S: Sink + ?Sized> Sink for Arc<S> {
    fn write(&self, event: &FinishedEvent<'_>, wanted: Timestamp) -> Result<Timestamp, AuditError> {
        (**self).write(event, wanted)
    }

    fn flush(&self) -> Result<(), AuditError> {
        (**self).flush()
    }
}

impl Sink for JsonLog {
    fn write(&self, event: &FinishedEvent<'_>, wanted: Timestamp) -> Result<Timestamp, AuditError> {
        self.append(&event.record(), wanted)
    }

    fn flush(&self) -> Result<(), AuditError> {
        self.sign_pending()?;
        self.sync()
    }
}

impl Sink for CsvLog {
    fn write(&self, event: &FinishedEvent<'_>, wanted: Timestamp) -> Result<Timestamp, AuditError> {
        self.append(&event.record(), wanted)
    }

    fn flush(&self) -> Result<(), AuditError> {
        self.sign_pending()?;
        self.sync()
    }
}

/// Keeps every event in memory, exactly as a log file would store it, with its timestamp:
/// for tests (yours and ours) that check what was logged without reading a file back.
///
/// Clones share the events, so keep one handle and give the logger another. Use it as a
/// logger's only destination with [`AuditLogger::in_memory`](crate::AuditLogger::in_memory),
/// or next to the log file with [`AuditLoggerBuilder::sink`](crate::AuditLoggerBuilder::sink)
/// (it then records the file's timestamps).
///
/// ```
/// use audit_runtime::{AuditLogger, MemorySink, Status};
/// use serde_json::json;
///
/// let sink = MemorySink::new();
/// let logger = AuditLogger::in_memory(sink.clone());
/// logger.log_event("hp_change", Status::Success, json!({"learning_rate": 0.01}), None)?;
/// audit_runtime::actor::scope("alice", || logger.log_event("pause", Status::Success, None, None))?;
///
/// let events = sink.events();
/// assert_eq!(events.len(), 2);
/// assert_eq!(events[0].action_type, "hp_change");
/// assert_eq!(events[1].details["actor"], "alice");
/// assert!(events[0].timestamp <= events[1].timestamp);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemorySink {
    events: Arc<Mutex<Vec<AuditEvent>>>,
}

impl MemorySink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// The events written so far, oldest first.
    pub fn events(&self) -> Vec<AuditEvent> {
        self.lock().clone()
    }

    /// Removes and returns the events written so far, oldest first.
    pub fn take(&self) -> Vec<AuditEvent> {
        std::mem::take(&mut *self.lock())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<AuditEvent>> {
        // A panic elsewhere while holding the lock leaves a complete Vec behind.
        self.events.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Sink for MemorySink {
    /// Records the event with `wanted` as its timestamp, unchanged: as an extra sink it thus
    /// holds the file's timestamps exactly.
    fn write(&self, event: &FinishedEvent<'_>, wanted: Timestamp) -> Result<Timestamp, AuditError> {
        self.lock().push(event.to_audit_event(wanted));
        Ok(wanted)
    }
}
