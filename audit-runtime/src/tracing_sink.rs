//! [`TracingSink`]: every event also as a `tracing` event, for applications that already
//! route `tracing` into a log pipeline or OpenTelemetry.

use crate::{AuditError, FinishedEvent, Sink, Status, Timestamp};

/// An extra sink that emits each event as a `tracing` event with target `audit`, the spec's
/// five fields as structured fields (`timestamp`, `action_type`, `status`, `details` as
/// compact JSON, `error`, absent when there is none), at level INFO (WARN for a failed
/// event). Add it with [`AuditLoggerBuilder::sink`](crate::AuditLoggerBuilder::sink); the
/// timestamp is the log file's.
///
/// ```
/// use audit_runtime::{AuditLogger, Format, Status, TracingSink};
/// let dir = tempfile::tempdir()?;
/// let logger = AuditLogger::builder(dir.path())
///     .format(Format::Json)
///     .sink(TracingSink::new())
///     .build()?;
/// // With a subscriber installed (tracing-subscriber's JSON formatter, an OpenTelemetry
/// // layer), this is also one event with target "audit":
/// logger.log_event("pause", Status::Success, None, None)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Library code of this crate reports its own diagnostics under the same target; an audit
/// event is told apart by its `action_type` field.
#[derive(Debug, Clone, Copy, Default)]
pub struct TracingSink {
    _private: (),
}

impl TracingSink {
    /// The sink.
    pub fn new() -> TracingSink {
        TracingSink::default()
    }
}

impl Sink for TracingSink {
    fn write(&self, event: &FinishedEvent<'_>, wanted: Timestamp) -> Result<Timestamp, AuditError> {
        let details = serde_json::Value::Object(event.details.clone()).to_string();
        // `tracing`'s macros need the level at compile time: one call per level.
        match event.status {
            Status::Failed => tracing::warn!(
                target: "audit",
                timestamp = %wanted,
                action_type = event.action_type,
                status = event.status.as_str(),
                details = details.as_str(),
                error = event.error,
                "audit event"
            ),
            _ => tracing::info!(
                target: "audit",
                timestamp = %wanted,
                action_type = event.action_type,
                status = event.status.as_str(),
                details = details.as_str(),
                error = event.error,
                "audit event"
            ),
        }
        Ok(wanted)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Level, Metadata, Subscriber};

    use crate::{AuditLogger, MemorySink, Status, TracingSink};

    /// An event's target, level and fields.
    type Seen = (String, Level, BTreeMap<String, String>);

    /// Records every event's target, level and fields.
    #[derive(Default, Clone)]
    struct Recorder(Arc<Mutex<Vec<Seen>>>);

    struct Fields<'a>(&'a mut BTreeMap<String, String>);

    impl Visit for Fields<'_> {
        fn record_str(&mut self, field: &Field, value: &str) {
            self.0.insert(field.name().to_owned(), value.to_owned());
        }
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            self.0.insert(field.name().to_owned(), format!("{value:?}"));
        }
    }

    impl Subscriber for Recorder {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            let mut fields = BTreeMap::new();
            event.record(&mut Fields(&mut fields));
            let meta = event.metadata();
            self.0
                .lock()
                .unwrap()
                .push((meta.target().to_owned(), *meta.level(), fields));
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }

    #[test]
    fn each_event_is_a_tracing_event_with_the_five_fields() {
        let recorder = Recorder::default();
        let memory = MemorySink::new();
        let dir = tempfile::tempdir().unwrap();
        let logger = AuditLogger::builder(dir.path())
            .format(crate::Format::Json)
            .sink(TracingSink::new())
            .sink(memory.clone())
            .build()
            .unwrap();
        tracing::subscriber::with_default(recorder.clone(), || {
            logger
                .log_event(
                    "hp_change",
                    Status::Success,
                    serde_json::json!({"lr": 0.1}),
                    None,
                )
                .unwrap();
            logger
                .log_event(
                    "checkpoint_restore",
                    Status::Failed,
                    None,
                    Some("not found"),
                )
                .unwrap();
        });
        let seen = recorder.0.lock().unwrap().clone();
        let events = memory.events();
        assert_eq!(seen.len(), 2, "{seen:?}");
        let (target, level, fields) = &seen[0];
        assert_eq!((target.as_str(), *level), ("audit", Level::INFO));
        assert_eq!(fields["timestamp"], events[0].timestamp.to_string());
        assert_eq!(fields["action_type"], "hp_change");
        assert_eq!(fields["status"], "success");
        assert_eq!(fields["details"], r#"{"lr":0.1}"#);
        assert!(!fields.contains_key("error"));
        let (target, level, fields) = &seen[1];
        assert_eq!((target.as_str(), *level), ("audit", Level::WARN));
        assert_eq!(fields["status"], "failed");
        assert_eq!(fields["error"], "not found");
        assert_eq!(fields["details"], "{}");
    }
}
